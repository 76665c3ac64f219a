"""Fixtures of the local tools' tests."""

from __future__ import annotations

import os

import pytest

from tests.builders import build_exam, synthetic_jpeg


@pytest.fixture
def exam(tmp_path):
    build_exam(tmp_path)
    (tmp_path / "images" / "stray.jpg").write_bytes(synthetic_jpeg(9))
    return tmp_path


@pytest.fixture
def latin1_named_capture(exam):
    """A capture whose file name is Latin-1, not UTF-8 (``café``, copied from an old system)."""
    folder = os.fsencode(exam / "images/exam1/ana")
    try:
        with open(folder + b"/caf\xe9.jpg", "wb") as file:
            file.write(synthetic_jpeg(3))
    except OSError:
        pytest.skip("this file system refuses file names that are not UTF-8")
    return exam
