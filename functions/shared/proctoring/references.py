"""Reference photos, checked once: when uploaded, or by the first capture that finds one unchecked.

The check is stored beside the photos, at ``reference-checks/{name}.json`` for
``reference/{name}``: whether the photo can be compared with, and if not why (no face, several
faces, a face too small, an image that cannot be read). It names the ETag and the analyzer it was
made with, so a replaced photo, or one checked by the other analyzer, is checked again; while
neither changes, no capture analyses the reference again.

Plain functions of the storage and the analyzer: the CheckReference step, ParseKey and the local
tools call them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .payloads import Face, ReferenceState, StoredReferenceCheck
from .policy import by_prominence, confident_faces
from .storage import ObjectInfo, Storage

if TYPE_CHECKING:
    from .analysis.base import FaceAnalyzer

CHECKS_PREFIX = "reference-checks/"
# Rekognition finds faces from about 40 px; a smaller one in a reference compares poorly.
MIN_FACE_PIXELS = 40


def check_key(reference_key: str, reference_prefix: str) -> str:
    """Where the check of ``reference_key`` is stored: ``reference/u1.jpg`` -> ``reference-checks/u1.jpg.json``."""
    return f"{CHECKS_PREFIX}{reference_key.removeprefix(reference_prefix)}.json"


def check_reference(
    storage: Storage,
    analyzer: FaceAnalyzer,
    bucket: str,
    reference_key: str,
    *,
    reference_prefix: str,
    analyzer_name: str,
    min_face_confidence: float = 90.0,
) -> ReferenceState:
    """Analyse the reference once (one DetectFaces), store the check, and return it.

    ``analyzer_name`` is the configured one (ANALYZER), which ParseKey compares the check's with.

    Raises FileNotFoundError when the photo is not there (deleted since its upload).
    """
    # The image code, which ParseKey (a caller of stored_check) never needs.
    from .images import ImageRejected
    from .pipeline import load_image

    info = storage.head(bucket, reference_key)
    if info is None:
        raise FileNotFoundError(f"s3://{bucket}/{reference_key} does not exist")
    # The ETag and the version come from one HEAD: the version read is the photo the ETag names.
    version_id = info.version_id
    state: ReferenceState = {
        "key": reference_key,
        "etag": info.etag,
        "version_id": version_id,
        "size": info.size,
        "status": "usable",
    }
    try:
        image = load_image(storage, bucket, reference_key, etag=info.etag, version_id=version_id, size=info.size)
    except ImageRejected as exc:
        problem: tuple[str, str] | None = (exc.code, exc.message)
    else:
        faces = confident_faces(by_prominence(analyzer.detect_faces(image)), min_face_confidence)
        state["face_count"] = len(faces)
        problem = _why_unusable(faces, image.width, image.height)
    if problem is not None:
        state["status"] = "unusable"
        state["code"], state["reason"] = problem
    check: StoredReferenceCheck = {
        **state,  # type: ignore[typeddict-item]  # ReferenceState's keys, all of them StoredReferenceCheck's
        "analyzer": analyzer_name,
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    storage.write_json(bucket, check_key(reference_key, reference_prefix), dict(check))
    return state


def _why_unusable(faces: list[Face], width: int, height: int) -> tuple[str, str] | None:
    """The code and sentence saying why these faces make the photo unusable; None: usable."""
    if not faces:
        return "NO_FACE", "no face was found in it"
    if len(faces) > 1:
        return "SEVERAL_FACES", f"it shows {len(faces)} faces; a reference must show the student alone"
    box = faces[0]["BoundingBox"]
    side = min(float(box["Width"]) * width, float(box["Height"]) * height)
    if side < MIN_FACE_PIXELS:
        return "FACE_TOO_SMALL", f"the face is {side:.0f} px across; at least {MIN_FACE_PIXELS} px are needed"
    return None


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
    for field in ("code", "reason", "face_count"):
        if field in check:
            state[field] = check[field]
    return state
