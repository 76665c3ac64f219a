"""Offline face analysis with dlib and the models of the ``face-recognition-models`` wheel.

Nothing is downloaded at run time: the HOG detector is built into dlib, and the 68-point
landmark and ResNet embedding models ship inside the ``face-recognition-models`` wheel.
The models are used through dlib directly rather than through the ``face_recognition``
wrapper, whose import also loads the (unused) CNN detector and switches Pillow to accept
truncated images, which would hide corrupt uploads.

Conventions (so the policy can treat both analyzers alike):

* Confidence: dlib's detection score ``s`` (about 0 at the decision threshold, 2+ for clear
  faces) is mapped through ``100 / (1 + exp(-(2 s + 1.1)))``: s=0 -> 75, s=1 -> 95.7, s=2 -> 99.4.
* Similarity: the embedding distance ``d`` is mapped through ``100 / (1 + exp(12 (d - 0.783)))``,
  which puts similarity 90 at d = 0.60, the distance threshold measured on real photos
  (same person 0.06-0.51 -> similarity 99.7-96; different people 0.69-1.11 -> 75-2).
* Pose: yaw, pitch, roll in degrees from ``cv2.solvePnP`` on six landmarks against a generic
  3-D face; 0/0/0 is a frontal face. Yaw > 0 when the face turns towards the image's right,
  pitch > 0 when it tilts down, roll > 0 when it tilts clockwise in the image. The policy only
  uses absolute values, so a sign difference from Rekognition cannot change a verdict.
* Labels: there is no object model, so ``checked`` is False and ``person_count`` is the number of
  faces found at or above both MinConfidence and FACE_MIN_CONFIDENCE.
* Detection: HOG at the picture's own size, and at twice the size (of at most ``DETECT_MAX_SIDE``)
  only when no face of FACE_MIN_CONFIDENCE was found (docs/accuracy.md: what each costs and finds).
"""

from __future__ import annotations

import importlib.util
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from cachetools import LRUCache, cachedmethod

from ..images import PreparedImage, image_quality
from ..payloads import DetectedLabels, Face, FaceMatch, Pose
from .base import FaceAnalyzer, FaceComparison

DETECT_MAX_SIDE = 1024
DISTANCE_AT_THRESHOLD = 0.60
_SIMILARITY_SLOPE = 12.0
_SIMILARITY_MIDPOINT = DISTANCE_AT_THRESHOLD + math.log(9) / _SIMILARITY_SLOPE  # similarity(0.60) == 90

# Generic 3-D face (nose tip, chin, eye outer corners, mouth corners), y up, arbitrary units.
_MODEL_POINTS = np.array(
    [
        (0.0, 0.0, 0.0),
        (0.0, -330.0, -65.0),
        (-225.0, 170.0, -135.0),
        (225.0, 170.0, -135.0),
        (-150.0, -150.0, -125.0),
        (150.0, -150.0, -125.0),
    ],
    dtype=np.float64,
)
_LANDMARKS = (30, 8, 36, 45, 48, 54)


def models_dir() -> Path:
    """The folder of model files inside the installed ``face_recognition_models`` package.

    Found without importing the package, whose ``__init__`` needs the deprecated pkg_resources.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the offline analyzer needs the face-recognition-models package: pip install face-recognition-models"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def similarity_from_distance(distance: float) -> float:
    """Map an embedding distance to Rekognition's 0-100 similarity (90 at distance 0.60)."""
    return 100.0 / (1.0 + math.exp(_SIMILARITY_SLOPE * (distance - _SIMILARITY_MIDPOINT)))


def confidence_from_score(score: float) -> float:
    return 100.0 / (1.0 + math.exp(-(2.0 * score + 1.1)))


class LocalAnalyzer(FaceAnalyzer):
    """dlib HOG detection, 68-point landmarks, 128-d embeddings and solvePnP head pose."""

    name = "local"

    def __init__(
        self,
        cache_size: int = 256,
        detect_max_side: int = DETECT_MAX_SIDE,
        face_min_confidence: float = 90.0,
        max_faces: int = 20,
    ) -> None:
        """``face_min_confidence``: FACE_MIN_CONFIDENCE, what the policy counts as a face. Detection
        looks again, at twice the size, only when none such was found; and a person is counted only
        for such a face. ``max_faces`` (LOCAL_MAX_FACES): only the largest faces found are described
        (landmarks, pose, quality, embedding), so a picture of a crowd costs what a few faces do."""
        super().__init__(cache_size)
        self._face_min_confidence = face_min_confidence
        self._max_faces = max_faces
        import dlib

        directory = models_dir()
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(directory / "shape_predictor_68_face_landmarks.dat"))
        self._encoder = dlib.face_recognition_model_v1(str(directory / "dlib_face_recognition_resnet_model_v1.dat"))
        self._dlib = dlib
        self._detect_max_side = detect_max_side
        # Per image: the landmark shapes (for embeddings later) and the embeddings themselves.
        self._shapes: LRUCache[str, list[Any]] = LRUCache(maxsize=cache_size)
        self._embeddings: LRUCache[str, list[np.ndarray]] = LRUCache(maxsize=cache_size)
        # Every dlib call runs on this one long-lived thread: dlib's objects are not documented as
        # thread-safe (Parallel branches run in threads), and per-thread setup is paid once, not on
        # every short-lived interpreter thread (measured: about 4% of the analysis time).
        self._dlib_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dlib")

    # -- detection -------------------------------------------------------------------------
    def _detect_faces(self, image: PreparedImage) -> list[Face]:
        pixels = np.asarray(image.image)
        height, width = pixels.shape[:2]

        def detect() -> list[tuple[Any, float, Any]]:
            # HOG at the picture's own size finds faces from 80 px: a webcam face, and a person
            # behind the student, in a quarter of the time of a doubled 640x480 frame. Only when no
            # usable face is found is the picture searched again at twice the size (at most
            # DETECT_MAX_SIDE before doubling), for faces from 40 px.
            found = self._detections(pixels, 1.0, upsample=0)
            if not any(confidence_from_score(score) >= self._face_min_confidence for _rect, score in found):
                scale = min(1.0, self._detect_max_side / max(width, height))
                small = pixels if scale == 1.0 else np.asarray(image.image.resize(_scaled(width, height, scale)))
                found = self._detections(small, scale, upsample=1)
            largest = sorted(found, key=lambda detection: detection[0].area(), reverse=True)[: self._max_faces]
            return [(rect, score, self._predictor(pixels, rect)) for rect, score in largest]

        faces = self._dlib_thread.submit(detect).result()
        shapes = [shape for _full, _score, shape in faces]
        details: list[Face] = []
        for full, score, shape in faces:
            left, top = max(0, full.left()), max(0, full.top())
            right, bottom = min(width, full.right()), min(height, full.bottom())
            detail: Face = {
                "BoundingBox": {
                    "Width": round((right - left) / width, 6),
                    "Height": round((bottom - top) / height, 6),
                    "Left": round(left / width, 6),
                    "Top": round(top / height, 6),
                },
                "Confidence": round(confidence_from_score(float(score)), 3),
                "Quality": image_quality(image.image, (left, top, right, bottom)),
            }
            pose = head_pose(shape, width, height)
            if pose is not None:  # no pose rather than a made-up frontal one
                detail["Pose"] = pose
            details.append(detail)
        with self._cache_lock:
            self._shapes[image.identity] = shapes
        return details

    def _detections(self, pixels: np.ndarray, scale: float, *, upsample: int) -> list[tuple[Any, float]]:
        """HOG's boxes on ``pixels`` (the picture scaled by ``scale``), in the picture's pixels."""
        rects, scores, _ = self._detector.run(pixels, upsample, 0.0)
        return [
            (
                self._dlib.rectangle(
                    round(rect.left() / scale),
                    round(rect.top() / scale),
                    round(rect.right() / scale),
                    round(rect.bottom() / scale),
                ),
                float(score),
            )
            for rect, score in zip(rects, scores, strict=True)
        ]

    # -- comparison ------------------------------------------------------------------------
    @cachedmethod(
        lambda self: self._embeddings, key=lambda self, image: image.identity, lock=lambda self: self._cache_lock
    )
    def _face_embeddings(self, image: PreparedImage) -> list[np.ndarray]:
        self.detect_faces(image)
        with self._cache_lock:
            shapes = self._shapes.get(image.identity)
        if shapes is None:  # detections came from cache but the shapes were evicted
            self._detect_faces(image)
            with self._cache_lock:
                shapes = self._shapes[image.identity]
        pixels = np.asarray(image.image)

        def embed() -> list[np.ndarray]:
            return [np.array(self._encoder.compute_face_descriptor(pixels, shape, 1)) for shape in shapes]

        return self._dlib_thread.submit(embed).result()

    def compare_faces(self, reference: PreparedImage, capture: PreparedImage) -> FaceComparison:
        reference_embeddings = self._face_embeddings(reference)
        capture_embeddings = self._face_embeddings(capture)
        faces = self.detect_faces(capture)
        if not reference_embeddings or not capture_embeddings:
            return {"similarity": None, "face_matches": [], "faces": faces}
        # As CompareFaces does, the reference's largest face is the one compared.
        reference_faces = self.detect_faces(reference)
        largest = max(range(len(reference_faces)), key=lambda i: _box_area(reference_faces[i]))
        source = reference_embeddings[largest]
        matches: list[FaceMatch] = []
        for face, embedding in zip(faces, capture_embeddings, strict=True):
            distance = float(np.linalg.norm(embedding - source))
            matches.append(
                {
                    "Similarity": round(similarity_from_distance(distance), 3),
                    "Distance": round(distance, 4),
                    "BoundingBox": face["BoundingBox"],
                }
            )
        matches.sort(key=lambda match: match.get("Similarity", 0.0), reverse=True)
        return {"similarity": matches[0].get("Similarity"), "face_matches": matches, "faces": faces}

    # -- labels ----------------------------------------------------------------------------
    def detect_labels(self, image: PreparedImage, max_labels: int, min_confidence: float) -> DetectedLabels:
        person_confidence = max(min_confidence, self._face_min_confidence)
        return {
            "checked": False,
            "labels": [],
            # A person is a face the policy counts (FACE_MIN_CONFIDENCE), and at or above MinConfidence
            # as DetectLabels reports a Person instance: a faint detection in sensor grain is no one.
            "person_count": sum(face["Confidence"] >= person_confidence for face in self.detect_faces(image)),
            "note": "the offline analyzer has no object model: phones, books and other objects were not checked",
        }


def _scaled(width: int, height: int, scale: float) -> tuple[int, int]:
    return max(1, round(width * scale)), max(1, round(height * scale))


def _box_area(face: Face) -> float:
    return float(face["BoundingBox"]["Width"]) * float(face["BoundingBox"]["Height"])


def head_pose(shape: Any, width: int, height: int) -> Pose | None:
    """Yaw, pitch and roll in degrees from six of the 68 landmarks (see the module docstring);
    None when the solver does not converge."""
    points = np.array([(shape.part(i).x, shape.part(i).y) for i in _LANDMARKS], dtype=np.float64)
    all_points = np.array([(shape.part(i).x, shape.part(i).y) for i in range(68)], dtype=np.float64)
    return pose_from_points(points, all_points.mean(axis=0), float(np.ptp(all_points[:, 0])), width, height)


def pose_from_points(points: np.ndarray, centre: np.ndarray, face_width: float, width: int, height: int) -> Pose | None:
    """The pose from the six landmarks ``_LANDMARKS`` (nose tip, chin, outer eye corners, mouth
    corners) in picture pixels; ``centre`` and ``face_width`` of all 68 (benchmarked on its own in
    ``proctoring_local.services.accuracy.pose``)."""
    import cv2

    face_width = face_width or 1.0
    focal = float(max(width, height))
    # Principal point on the face centre: off-centre faces otherwise gain 10-20 degrees of false pitch.
    camera = np.array([[focal, 0, centre[0]], [0, focal, centre[1]], [0, 0, 1]], dtype=np.float64)
    rvec = np.array([[math.pi], [0.0], [0.0]])
    tvec = np.array([[0.0], [0.0], [focal * 450.0 / face_width]])
    ok, rvec, tvec = cv2.solvePnP(
        _MODEL_POINTS, points, camera, np.zeros((4, 1)), rvec, tvec, True, cv2.SOLVEPNP_ITERATIVE
    )
    if not ok:
        return None
    rotation, _ = cv2.Rodrigues(rvec)
    # Undo the model's y-up to the camera's y-down flip, leaving the head's own rotation.
    head = rotation @ np.diag([1.0, -1.0, -1.0])
    pitch = math.degrees(math.atan2(head[2, 1], head[2, 2]))
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, -head[2, 0]))))
    roll = math.degrees(math.atan2(head[1, 0], head[0, 0]))
    return {"Yaw": round(-yaw, 2), "Pitch": round(-pitch, 2), "Roll": round(roll, 2)}
