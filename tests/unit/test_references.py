"""Reference photos checked once (CheckReference), and the check found again by ParseKey while the
photo's ETag is unchanged."""

from __future__ import annotations

import json

import pytest

from proctoring.analysis import set_analyzer
from tests.builders import context, face, handler, put, synthetic_jpeg
from tests.fakes import CannedAnalyzer

REFERENCE = "reference/u.jpg"
CHECK = "reference-checks/u.jpg.json"


def check(root, data=None, faces=None):
    """Upload the reference and run CheckReference on it as the enrolment rule does."""
    analyzer = CannedAnalyzer({"reference": [face()] if faces is None else faces})
    set_analyzer(analyzer)
    put(root, REFERENCE, synthetic_jpeg(2) if data is None else data)
    return handler("check_reference")({"bucket": "local", "key": REFERENCE}, context()), analyzer


def locate(root):
    """ParseKey's reference for a capture of student ``u``."""
    event = put(root, "images/e/u/c1.jpg", synthetic_jpeg(1))
    return handler("parse_key")(event, context())["reference"]


@pytest.mark.parametrize(
    ("faces", "status", "code"),
    [
        ([face()], "usable", None),
        ([], "unusable", "NO_FACE"),
        ([face(), face(box=(0.6, 0.2, 0.2, 0.3))], "unusable", "SEVERAL_FACES"),
        ([face(confidence=50.0)], "unusable", "NO_FACE"),  # a faint detection is no face
        ([face(box=(0.5, 0.5, 0.05, 0.05))], "unusable", "FACE_TOO_SMALL"),  # 32 x 24 px of 640 x 480
    ],
)
def test_a_reference_is_judged_usable_or_why_not(local_env, faces, status, code):
    reference, analyzer = check(local_env, faces=faces)
    assert (reference["status"], reference.get("code")) == (status, code)
    assert [call[0] for call in analyzer.calls] == ["detect_faces"]
    stored = json.loads((local_env / CHECK).read_text())
    assert (stored["status"], stored.get("code"), stored["etag"]) == (status, code, reference["etag"])
    assert stored["analyzer"] == "rekognition" and stored["checked_at"].endswith("Z")
    if code:
        assert stored["reason"] and stored["reason"] == reference["reason"]


@pytest.mark.parametrize(
    ("data", "code"),
    [(b"not an image at all" * 10, "IMAGE_UNREADABLE"), (synthetic_jpeg(3, size=(60, 60)), "IMAGE_TOO_SMALL")],
)
def test_an_image_that_cannot_be_read_is_unusable_without_calling_the_analyzer(local_env, data, code):
    reference, analyzer = check(local_env, data=data)
    assert (reference["status"], reference["code"]) == ("unusable", code)
    assert analyzer.calls == []


def test_an_oversized_reference_is_refused_without_downloading_it(local_env, monkeypatch):
    from proctoring.images import MAX_SOURCE_BYTES
    from proctoring.storage import LocalStorage

    original, read = LocalStorage.read, []
    monkeypatch.setattr(
        LocalStorage, "read", lambda self, *args, **kw: read.append(args[1]) or original(self, *args, **kw)
    )
    reference, _ = check(local_env, data=b"\0" * (MAX_SOURCE_BYTES + 1))
    assert (reference["status"], reference["code"]) == ("unusable", "IMAGE_TOO_LARGE")
    assert REFERENCE not in read


def test_parse_key_finds_the_check_of_the_photo_as_it_is(local_env):
    checked, _ = check(local_env)
    assert locate(local_env) == {**checked, "face_count": 1}


def test_a_replaced_reference_is_unchecked_until_checked_again(local_env):
    check(local_env)
    put(local_env, REFERENCE, synthetic_jpeg(9))  # a new photo: a new ETag
    reference = locate(local_env)
    assert reference["status"] == "unchecked" and "code" not in reference
    again, analyzer = check(local_env, data=synthetic_jpeg(9), faces=[])
    assert again["status"] == "unusable" and analyzer.calls  # analysed again
    assert locate(local_env)["status"] == "unusable"


def test_a_check_by_another_analyzer_or_a_damaged_one_is_not_trusted(local_env, monkeypatch):
    check(local_env)
    from proctoring.config import get_settings

    monkeypatch.setenv("ANALYZER", "local")
    get_settings.cache_clear()
    assert locate(local_env)["status"] == "unchecked"
    monkeypatch.setenv("ANALYZER", "rekognition")
    get_settings.cache_clear()
    (local_env / CHECK).write_text("{not json")
    assert locate(local_env)["status"] == "unchecked"


def test_a_student_without_a_reference_has_none(local_env):
    set_analyzer(CannedAnalyzer({}))
    assert locate(local_env) is None


def test_check_reference_refuses_a_key_outside_the_reference_prefix(local_env):
    from proctoring.errors import InvalidEvent

    set_analyzer(CannedAnalyzer({}))
    with pytest.raises(InvalidEvent, match="reference/"):
        handler("check_reference")({"bucket": "local", "key": "images/e/u/c1.jpg"}, context())
