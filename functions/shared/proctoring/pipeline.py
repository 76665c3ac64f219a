"""What the image steps (DetectFaces, CompareToReference, DetectLabels) do, as plain functions of
their inputs and the injected backends. ParseKey's work is in ``locate``, DecideVerdict's in
``judgement``: neither needs the image code.

Handlers call these; tests call them with a local storage and a fake analyzer.
"""

from __future__ import annotations

import threading

from cachetools import LRUCache

from .analysis.base import FaceAnalyzer
from .config import Settings
from .images import MAX_SOURCE_BYTES, ImageRejected, PreparedImage, image_quality, pixel_fingerprint, prepare_image
from .locate import capture_gone
from .payloads import (
    Capture,
    ComparedFaces,
    Comparison,
    DetectedFaces,
    DetectedLabels,
    Face,
    FaceMatch,
    Label,
    Rejection,
)
from .policy import by_prominence, confident_faces
from .storage import Storage

# A step's output travels in the execution's state, which Step Functions caps at 256 KB; going over
# is States.DataLimitExceeded, which no Catch can take: the capture would end with no document.
# So what the analysis steps pass on is bounded whatever the image: the 100 largest faces (what
# Rekognition's DetectFaces returns at most) and, per label, its most confident few boxes and a count.
MAX_FACES = 100
MAX_INSTANCES_PER_LABEL = 5


def bounded_labels(result: DetectedLabels) -> DetectedLabels:
    """Labels with at most ``MAX_INSTANCES_PER_LABEL`` boxes each; ``InstanceCount`` keeps the total."""
    labels: list[Label] = []
    for label in result.get("labels") or []:
        instances = sorted(label.get("Instances") or [], key=lambda inst: inst.get("Confidence") or 0, reverse=True)
        labels.append({**label, "Instances": instances[:MAX_INSTANCES_PER_LABEL], "InstanceCount": len(instances)})
    return {**result, "labels": labels}


# Steps that share a process (the local runner, a warm Lambda) decode each image version once.
_prepared: LRUCache[str, PreparedImage] = LRUCache(maxsize=32)
_prepared_lock = threading.Lock()


def load_image(
    storage: Storage, bucket: str, key: str, *, etag: str | None, version_id: str | None = None, size: int | None = None
) -> PreparedImage:
    """Read and normalise one image; identity changes whenever the object's content does."""
    if size is not None and size > MAX_SOURCE_BYTES:
        # Refuse before downloading: Rekognition reads at most 15 MB even from S3.
        raise ImageRejected(
            "IMAGE_TOO_LARGE", f"the file is {size / 1048576:.1f} MB; the limit is {MAX_SOURCE_BYTES // 1048576} MB"
        )
    version = etag or version_id
    if version:
        with _prepared_lock:
            cached = _prepared.get(f"s3://{bucket}/{key}@{version}")
        if cached is not None:
            return cached
    data = storage.read(bucket, key, version_id)
    prepared = prepare_image(data, identity=f"s3://{bucket}/{key}@{version or len(data)}")
    if version:
        with _prepared_lock:
            _prepared[prepared.identity] = prepared
    return prepared


def load_capture(storage: Storage, capture: Capture) -> PreparedImage:
    return load_image(
        storage,
        capture["bucket"],
        capture["key"],
        etag=capture.get("etag"),
        version_id=capture.get("version_id"),
        size=capture.get("size"),
    )


def readable_capture(storage: Storage, capture: Capture) -> PreparedImage | Rejection:
    """The capture ready for analysis, or why it cannot be analysed (refused, or gone meanwhile)."""
    try:
        return load_capture(storage, capture)
    except ImageRejected as exc:
        return exc.as_dict()
    except FileNotFoundError:
        return capture_gone(capture)


def detect_capture_faces(
    storage: Storage,
    analyzer: FaceAnalyzer,
    capture: Capture,
    min_face_confidence: float = Settings.face_min_confidence,
) -> DetectedFaces:
    """Faces of the capture, or a ``rejection`` when the image cannot be analysed.

    ``face_count`` counts the faces the policy counts (at or above ``min_face_confidence``).
    """
    image = readable_capture(storage, capture)
    if not isinstance(image, PreparedImage):
        return {"face_count": 0, "faces": [], "rejection": image}
    return _described(image, analyzer.detect_faces(image), min_face_confidence)


def _described(image: PreparedImage, faces: list[Face] | None, min_face_confidence: float) -> DetectedFaces:
    """The capture's faces as the policy reads them; ``faces`` None: not known (see DetectedFaces)."""
    ordered = by_prominence(faces or [])[:MAX_FACES]
    face_count = None if faces is None else len(confident_faces(ordered, min_face_confidence))
    return {
        "face_count": face_count,
        "faces": ordered,
        # Each face carries its own quality; the whole picture's only matters when there is none.
        "image_quality": None if face_count else image_quality(image.image),
        "image": {"width": image.source_size[0], "height": image.source_size[1], "format": image.source_format},
        "fingerprint": pixel_fingerprint(image.image),
    }


def compare_to_reference(
    storage: Storage,
    analyzer: FaceAnalyzer,
    capture: Capture,
    min_face_confidence: float = Settings.face_min_confidence,
) -> ComparedFaces:
    """The capture's faces and their similarity to the student's reference, in one comparison.

    Only for a reference its check found usable (one face, large enough): CompareFaces describes
    every face of the capture as DetectFaces would (box, confidence, pose, quality), so the capture
    needs no DetectFaces of its own.
    """
    image = readable_capture(storage, capture)
    if not isinstance(image, PreparedImage):
        return {
            "face_count": 0,
            "faces": [],
            "rejection": image,
            "comparison": {"similarity": None, "face_matches": []},
        }
    reference = capture.get("reference")
    if not reference or reference["status"] != "usable":  # the state machine sends no such capture here
        raise ValueError("CompareToReference needs a capture whose reference is checked and usable")
    reference_image = load_image(
        storage,
        capture["bucket"],
        reference["key"],
        etag=reference.get("etag"),
        version_id=reference.get("version_id"),
        size=reference.get("size"),
    )
    compared = analyzer.compare_faces(reference_image, image)
    comparison: Comparison = {
        "similarity": compared["similarity"],
        "face_matches": [_score_and_box(match) for match in compared["face_matches"]],
    }
    return {**_described(image, compared["faces"], min_face_confidence), "comparison": comparison}


def _score_and_box(match: FaceMatch) -> FaceMatch:
    """What the policy needs of a compared face (not the local analyzer's distance)."""
    kept: FaceMatch = {}
    if "Similarity" in match:
        kept["Similarity"] = match["Similarity"]
    if "BoundingBox" in match:
        kept["BoundingBox"] = match["BoundingBox"]
    return kept


def detect_capture_labels(
    storage: Storage, analyzer: FaceAnalyzer, capture: Capture, settings: Settings
) -> DetectedLabels:
    """Objects and people in the capture; nothing is asked of an image that cannot be analysed (the
    face step beside this one says why)."""
    image = readable_capture(storage, capture)
    if not isinstance(image, PreparedImage):
        return {"checked": False, "labels": [], "person_count": None, "rejection": image}
    return bounded_labels(analyzer.detect_labels(image, settings.max_labels, settings.min_confidence))
