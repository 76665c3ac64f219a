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
from .images import MAX_SOURCE_BYTES, ImageRejected, PreparedImage, image_quality, prepare_image
from .locate import capture_gone
from .payloads import Capture, Comparison, DetectedFaces, DetectedLabels, FaceMatch, Label
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


def detect_capture_faces(
    storage: Storage,
    analyzer: FaceAnalyzer,
    capture: Capture,
    min_face_confidence: float = Settings.face_min_confidence,
) -> DetectedFaces:
    """Faces of the capture, or a ``rejection`` when the image cannot be analysed.

    ``face_count`` counts the faces the policy counts (at or above ``min_face_confidence``): the
    state machine compares with the reference only when there is one, so a faint detection (a
    poster, a pattern) never reaches CompareFaces, which refuses an image it finds no face in.
    """
    try:
        image = load_capture(storage, capture)
    except ImageRejected as exc:
        return {"face_count": 0, "faces": [], "rejection": exc.as_dict()}
    except FileNotFoundError:
        return {"face_count": 0, "faces": [], "rejection": capture_gone(capture)}
    faces = by_prominence(analyzer.detect_faces(image))[:MAX_FACES]
    face_count = len(confident_faces(faces, min_face_confidence))
    return {
        "face_count": face_count,
        "faces": faces,
        # Each face carries its own quality; the whole picture's only matters when there is none.
        "image_quality": None if face_count else image_quality(image.image),
        "image": {"width": image.source_size[0], "height": image.source_size[1], "format": image.source_format},
    }


def compare_to_reference(
    storage: Storage,
    analyzer: FaceAnalyzer,
    capture: Capture,
    min_face_confidence: float = Settings.face_min_confidence,
) -> Comparison:
    """Best similarity between the reference's face and the capture's faces.

    The reference must hold exactly one face; otherwise it is reported invalid and CompareFaces
    is never called (Rekognition raises InvalidParameterException on a faceless image).
    """
    reference_key = capture.get("reference_key")
    if not reference_key:  # the state machine's HasReference sends no such capture here
        return {"reference": {"status": "missing"}, "similarity": None}
    try:
        reference = load_image(
            storage,
            capture["bucket"],
            reference_key,
            etag=capture.get("reference_etag"),
            version_id=capture.get("reference_version_id"),
            size=capture.get("reference_size"),  # an oversized reference is refused before download
        )
    except ImageRejected as exc:
        return {"reference": {"status": "invalid", "error_code": exc.code, "error": exc.message}, "similarity": None}
    except FileNotFoundError:
        return {"reference": {"status": "missing"}, "similarity": None}
    # Count faces as the policy does: low-confidence detections (a patch, a poster) are not faces.
    reference_faces = confident_faces(analyzer.detect_faces(reference), min_face_confidence)
    if len(reference_faces) != 1:
        return {"reference": {"status": "invalid", "face_count": len(reference_faces)}, "similarity": None}
    try:
        image = load_capture(storage, capture)
    except ImageRejected as exc:
        return {"reference": {"status": "ok", "face_count": 1}, "similarity": None, "rejection": exc.as_dict()}
    comparison = analyzer.compare_faces(reference, image)
    return {
        "reference": {"status": "ok", "face_count": 1},
        "similarity": comparison.get("similarity"),
        "face_matches": [_score_and_box(match) for match in comparison["face_matches"]],
    }


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
    image = load_capture(storage, capture)
    return bounded_labels(analyzer.detect_labels(image, settings.max_labels, settings.min_confidence))
