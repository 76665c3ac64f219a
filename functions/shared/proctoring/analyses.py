"""Each capture's analysis, kept so that a re-score judges it again without analysing it again.

``analyses/{exam_id}/{user_id}/{file}.json`` holds what the image steps found (faces with their
boxes, pose and quality, the comparison with the reference and which photo it was, labels, or why
the image could not be read), for the capture version and reference version it is about. No
embedding is stored: Rekognition returns none, and the offline analyzer's never leave its process.
Biometric data all the same: the bucket's lifecycle rule expires it with the captures.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from .payloads import Analysis, Capture, ExecutionState, ReferenceState
from .storage import Storage

ANALYSES_PREFIX = "analyses/"
RECORD_VERSION = "1.0"
Plan = Literal["reuse", "compare", "analyse"]


def analysis_key(capture: Mapping[str, Any]) -> str | None:
    """Where the capture's analysis is kept; None for a key outside the convention."""
    if not (capture.get("exam_id") and capture.get("user_id") and capture.get("file_name")):
        return None
    return f"{ANALYSES_PREFIX}{capture['exam_id']}/{capture['user_id']}/{capture['file_name']}.json"


def analysis_record(state: ExecutionState, analyzer: str) -> dict[str, Any] | None:
    """The record of an execution's analysis; None when nothing was analysed (a key outside the
    convention, a capture gone before it could be read)."""
    capture: Mapping[str, Any] = state.get("capture") or {}
    analysis: Mapping[str, Any] = state.get("analysis") or {}
    faces = analysis.get("faces")
    if capture.get("rejection") or not faces or analysis_key(capture) is None:
        return None
    if (faces.get("rejection") or {}).get("code") == "CAPTURE_NOT_FOUND":
        return None
    reference = capture.get("reference")
    return {
        "record_version": RECORD_VERSION,
        "analyzer": analyzer,
        "capture": {"key": capture["key"], "etag": capture.get("etag"), "version_id": capture.get("version_id")},
        # The photo the faces were compared with (its check's verdict included), or None: none was.
        "reference": None
        if reference is None
        else {key: reference.get(key) for key in ("key", "etag", "version_id", "status", "code", "reason")},
        "faces": faces,
        "labels": analysis.get("labels"),
    }


def store_analysis(storage: Storage, bucket: str, state: ExecutionState, analyzer: str) -> str | None:
    record = analysis_record(state, analyzer)
    key = analysis_key(state.get("capture") or {})
    if record is None or key is None:
        return None
    return storage.write_json(bucket, key, record)


def load_analysis(storage: Storage, bucket: str, capture: Capture) -> dict[str, Any] | None:
    key = analysis_key(capture)
    if key is None:
        return None
    try:
        record = json.loads(storage.read(bucket, key))
    except (FileNotFoundError, ValueError):
        return None  # none yet, or damaged: analysed again
    return record if isinstance(record, dict) and record.get("record_version") == RECORD_VERSION else None


def plan(record: Mapping[str, Any] | None, capture: Capture, analyzer: str) -> Plan:
    """What a re-score must do again: nothing (the capture and its reference are as analysed),
    the comparison alone (another reference photo, or its check changed), or everything."""
    if record is None or record.get("analyzer") != analyzer:
        return "analyse"
    stored = record.get("capture") or {}
    if stored.get("etag") != capture.get("etag") or stored.get("key") != capture.get("key"):
        return "analyse"
    faces = record.get("faces") or {}
    if faces.get("rejection") or faces.get("face_count") is None:
        return "analyse"  # an image refused, or a face count CompareFaces left open: look again
    reference = capture.get("reference")
    if _same_reference(record.get("reference"), reference):
        return "reuse"
    # Another photo, or its check changed: compare again when there is a usable one to compare
    # with; otherwise the faces stand as found, without a comparison.
    return "compare" if reference is not None and reference.get("status") == "usable" else "reuse"


def _same_reference(stored: Mapping[str, Any] | None, current: ReferenceState | None) -> bool:
    if stored is None or current is None:
        return stored is None and current is None
    return stored.get("etag") == current.get("etag") and stored.get("status") == current.get("status")


def reused_analysis(record: Mapping[str, Any], capture: Capture, plan_: Plan) -> Analysis:
    """The stored analysis as the state machine's ``$.analysis``: whole, or without the comparison
    when only that is done again (and without one at all when the student now has no usable reference)."""
    faces = dict(record["faces"])
    reference = capture.get("reference")
    if plan_ == "compare" or reference is None or reference.get("status") != "usable":
        faces.pop("comparison", None)
    return {"faces": faces, "labels": record.get("labels") or {"checked": False, "labels": [], "person_count": None}}  # type: ignore[typeddict-item]
