"""The one seam between the local engine and moto's interpreter: pinned, guarded, undone on exit."""

from __future__ import annotations

import importlib
from collections import OrderedDict

import pytest

from proctoring_local.stand_ins import moto_seam
from proctoring_local.stand_ins.moto_seam import json_copy


def test_moto_still_has_what_the_engine_patches_as_it_was_checked():
    """Fails, naming the point and what to do, when a moto upgrade moves or rewrites a patched object."""
    assert moto_seam.changes() == [], "\n".join(moto_seam.changes())


def test_the_installed_moto_is_one_the_seam_was_checked_on():
    assert moto_seam.moto_version() in moto_seam.CHECKED_ON, (
        f"moto {moto_seam.moto_version()} is installed; proctoring_local/stand_ins/moto_seam.py was checked on "
        f"{moto_seam.CHECKED_ON}: "
        "run tests/local/test_moto_seam.py, read what changed, then add the version"
    )


def test_a_moved_patch_point_is_named_with_what_to_do(monkeypatch):
    monkeypatch.setitem(
        moto_seam.PATCH_POINTS, "dispatch", (moto_seam.PATCH_POINTS["dispatch"][0], "gone_in_a_new_moto")
    )
    with pytest.raises(
        moto_seam.MotoSeamChanged,
        match=r"has no .*gone_in_a_new_moto.*\(dispatch\).*adapt proctoring_local/stand_ins/moto_seam.py",
    ):
        moto_seam.resolve("dispatch")
    assert any("gone_in_a_new_moto" in change for change in moto_seam.changes())


def test_a_rewritten_patched_function_is_named(monkeypatch):
    monkeypatch.setitem(moto_seam.SOURCE_DIGESTS, "parse_once", "0" * 16)
    [change] = moto_seam.changes()
    assert "changed" in change and "(parse_once)" in change and "record the new digest" in change


def _current(point: str):
    module_name, attribute = moto_seam.PATCH_POINTS[point]
    owner = importlib.import_module(module_name)
    *parents, name = attribute.split(".")
    for part in parents:
        owner = getattr(owner, part)
    return owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)


def test_every_patch_is_undone_on_exit():
    before = {point: _current(point) for point in moto_seam.PATCH_POINTS}
    with moto_seam.patched(lambda *args: {}, retry_sleep=lambda seconds: None):
        during = {point: _current(point) for point in moto_seam.PATCH_POINTS}
    after = {point: _current(point) for point in moto_seam.PATCH_POINTS}
    assert after == before
    changed = {point for point in before if during[point] is not before[point]}
    # Read-only points (the backend, the thread list) are never replaced.
    assert changed == set(moto_seam.PATCH_POINTS) - {"backend", "threads"}


def test_speedups_left_out_are_not_applied():
    before = _current("parse_once")
    with moto_seam.patched(lambda *args: {}, speedups=()):
        assert _current("parse_once") is before
        assert _current("dispatch") is not None


def test_json_copy_is_deep_and_keeps_shared_parts_shared():
    shared = {"face": [1.5, 2]}
    state = {"a": shared, "b": shared, "flags": [True, None, "x"], "n": 3}
    copied = json_copy(state)
    assert copied == state
    copied["a"]["face"].append(9)
    assert shared == {"face": [1.5, 2]}, "the original changed through the copy"
    assert copied["a"] is copied["b"], "shared sub-objects became two objects (deepcopy keeps them one)"


def test_json_copy_falls_back_to_deepcopy_for_other_types():
    class Marker:
        def __init__(self, value):
            self.value = value

    state = {"ordered": OrderedDict(x=1), "marker": Marker([1])}
    copied = json_copy(state)
    assert type(copied["ordered"]) is OrderedDict
    assert copied["marker"] is not state["marker"] and copied["marker"].value == [1]
    copied["marker"].value.append(2)
    assert state["marker"].value == [1]
