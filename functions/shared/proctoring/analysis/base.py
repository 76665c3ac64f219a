"""The face analyzer interface. Answers use Rekognition's shapes and conventions.

* ``detect_faces`` returns FaceDetail-like dicts: ``BoundingBox`` (ratios of width/height),
  ``Confidence`` (0-100), ``Pose`` (``Yaw``/``Pitch``/``Roll`` in degrees) and ``Quality``
  (``Brightness``/``Sharpness`` 0-100).
* ``compare_faces`` returns the best similarity (0-100) between the reference's face and the
  faces of the capture, ``face_matches``: each face's ``Similarity`` and ``BoundingBox``, so
  that the policy can judge the main face rather than the best one, and ``faces``: the capture's
  faces as ``detect_faces`` describes them.
* ``detect_labels`` returns Rekognition-like labels plus ``checked``: an analyzer that has no
  object model says ``checked: False``; it never claims that no object was there.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from concurrent.futures import Future
from threading import RLock
from typing import TypedDict

from cachetools import LRUCache

from ..images import PreparedImage
from ..payloads import DetectedLabels, Face, FaceMatch


class FaceComparison(TypedDict):
    """What an analyzer answers for one comparison: the best similarity and each face's, and the
    capture's faces as described while comparing (None: the analyzer cannot tell whether it
    found none, as CompareFaces cannot)."""

    similarity: float | None
    face_matches: list[FaceMatch]
    faces: list[Face] | None


class FaceAnalyzer(ABC):
    """Base class: caches detections per image identity (bucket/key@etag) within the process.

    An image is analysed once per process, and again only when its ETag (its content) changes; two
    threads asking for the same image at once (a Parallel state's branches: CompareToReference and
    DetectLabels both look at the capture's faces offline) share one detection.
    """

    name: str = "abstract"

    def __init__(self, cache_size: int = 256) -> None:
        self._faces: LRUCache[str, list[Face]] = LRUCache(maxsize=cache_size)
        self._cache_lock = RLock()
        self._detecting: dict[str, Future[list[Face]]] = {}

    def detect_faces(self, image: PreparedImage) -> list[Face]:
        key = image.identity
        with self._cache_lock:
            cached = self._faces.get(key)
            if cached is not None:
                return cached
            pending = self._detecting.get(key)
            owner = pending is None
            if pending is None:
                pending = self._detecting[key] = Future()
        if not owner:
            return pending.result()
        try:
            faces = self._detect_faces(image)
        except BaseException as exc:
            with self._cache_lock:
                self._detecting.pop(key, None)
            pending.set_exception(exc)  # the threads waiting on it see the same error
            raise
        with self._cache_lock:  # cached before it stops being pending: no third thread starts over
            self._faces[key] = faces
            self._detecting.pop(key, None)
        pending.set_result(faces)
        return faces

    @abstractmethod
    def _detect_faces(self, image: PreparedImage) -> list[Face]: ...

    @abstractmethod
    def compare_faces(self, reference: PreparedImage, capture: PreparedImage) -> FaceComparison:
        """``{"similarity": float|None, "face_matches": [{"Similarity", "BoundingBox"}], "faces": [...]|None}``."""

    @abstractmethod
    def detect_labels(self, image: PreparedImage, max_labels: int, min_confidence: float) -> DetectedLabels:
        """``{"checked": bool, "labels": [...], "person_count": int|None}``, each label
        ``{"Name", "Confidence", "Aliases", "Instances"}`` as Rekognition names them."""
