"""The face analyzer interface. Answers use Rekognition's shapes and conventions.

* ``detect_faces`` returns FaceDetail-like dicts: ``BoundingBox`` (ratios of width/height),
  ``Confidence`` (0-100), ``Pose`` (``Yaw``/``Pitch``/``Roll`` in degrees) and ``Quality``
  (``Brightness``/``Sharpness`` 0-100).
* ``compare_faces`` returns the best similarity (0-100) between the reference's face and the
  faces of the capture.
* ``detect_labels`` returns Rekognition-like labels plus ``checked``: an analyzer that has no
  object model says ``checked: False``; it never claims that no object was there.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import OrderedDict
from threading import Lock
from typing import Any

from ..images import PreparedImage


class _LRU:
    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = Lock()

    def get(self, key: str) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


class FaceAnalyzer(ABC):
    """Base class: caches detections per image identity (bucket/key@etag) within the process.

    References are looked at for every capture of their student; the cache means a reference is
    analysed once per process and again only when its ETag (its content) changes.
    """

    name: str = "abstract"

    def __init__(self, cache_size: int = 256) -> None:
        self._faces = _LRU(cache_size)

    def detect_faces(self, image: PreparedImage) -> list[dict[str, Any]]:
        cached = self._faces.get(image.identity)
        if cached is None:
            cached = self._detect_faces(image)
            self._faces.put(image.identity, cached)
        return cached

    @abstractmethod
    def _detect_faces(self, image: PreparedImage) -> list[dict[str, Any]]: ...

    @abstractmethod
    def compare_faces(self, reference: PreparedImage, capture: PreparedImage) -> dict[str, Any]:
        """``{"similarity": float|None, "face_matches": [{"Similarity", "BoundingBox"}]}``."""

    @abstractmethod
    def detect_labels(self, image: PreparedImage, max_labels: int, min_confidence: float) -> dict[str, Any]:
        """``{"checked": bool, "labels": [{"Name", "Confidence", "Instances"}], "person_count": int|None}``."""
