"""Reference photos, checked once: when uploaded, or by the first capture that finds one unchecked.

The check is stored beside the photos, at ``reference-checks/{name}.json`` for
``reference/{name}``: whether the photo can be compared with, and if not why (no face, several
faces, a face too small, an image that cannot be read). It names the ETag and the analyzer it was
made with, so a replaced photo, or one checked by the other analyzer, is checked again; while
neither changes, no capture analyses the reference again.

This module reads and names the stored checks (ParseKey reads them on every capture, so it stays
free of image code); :mod:`proctoring.enrolment` makes them.
"""

from __future__ import annotations

import json

from .payloads import ReferenceState
from .storage import ObjectInfo, Storage

CHECKS_PREFIX = "reference-checks/"


def check_key(reference_key: str, reference_prefix: str) -> str:
    """Where the check of ``reference_key`` is stored: ``reference/u1.jpg`` -> ``reference-checks/u1.jpg.json``."""
    return f"{CHECKS_PREFIX}{reference_key.removeprefix(reference_prefix)}.json"


def stored_check(
    storage: Storage, bucket: str, info: ObjectInfo, *, reference_prefix: str, analyzer: str
) -> ReferenceState:
    """The reference as found (``info``, from a HEAD) with its stored check when that check is of
    this very photo (same ETag) by this analyzer; ``unchecked`` otherwise."""
    state: ReferenceState = {
        "key": info.key,
        "etag": info.etag,
        "version_id": info.version_id,
        "size": info.size,
        "status": "unchecked",
    }
    try:
        check = json.loads(storage.read(bucket, check_key(info.key, reference_prefix)))
    except (FileNotFoundError, ValueError):
        return state  # none yet, or damaged: checked again, never trusted
    if not isinstance(check, dict) or check.get("status") not in {"usable", "unusable"}:
        return state
    if check.get("etag") != info.etag or check.get("analyzer") != analyzer or check.get("key") != info.key:
        return state
    state["status"] = check["status"]
    for field in ("code", "reason", "face_count", "pose", "fingerprint"):
        if field in check:
            state[field] = check[field]
    return state
