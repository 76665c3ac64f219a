"""Checking a reference photo: one face analysis of the photo, stored as its check
(:mod:`proctoring.references`) for every later capture of the student to read.

Called by the CheckReference step (on upload, or for the first capture that finds the photo
unchecked), the rescore machine's LoadAnalysis and the local tools.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .images import ImageRejected, pixel_fingerprint
from .payloads import Face, ReferenceState, StoredReferenceCheck
from .pipeline import load_image
from .policy import by_prominence, confident_faces
from .references import check_key
from .storage import Storage

if TYPE_CHECKING:
    from .analysis.base import FaceAnalyzer

# Rekognition finds faces from about 40 px; a smaller one in a reference compares poorly.
MIN_FACE_PIXELS = 40


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
        state["fingerprint"] = pixel_fingerprint(image.image)
        faces = confident_faces(by_prominence(analyzer.detect_faces(image)), min_face_confidence)
        state["face_count"] = len(faces)
        problem = _why_unusable(faces, image.width, image.height)
        pose = faces[0].get("Pose") if faces else None
        if problem is None and pose and "Yaw" in pose:  # angles only: no box, no landmark
            state["pose"] = {"Yaw": round(float(pose["Yaw"]), 1), "Pitch": round(float(pose.get("Pitch", 0.0)), 1)}
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
