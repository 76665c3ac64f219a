"""Face analyzers: Rekognition on AWS, dlib offline. Chosen by ``ANALYZER=rekognition|local``."""

from __future__ import annotations

import threading

from .base import FaceAnalyzer

_analyzer: FaceAnalyzer | None = None
_lock = threading.Lock()


def get_analyzer() -> FaceAnalyzer:
    """The analyzer this process was configured for, with its models loaded once."""
    global _analyzer
    if _analyzer is None:
        with _lock:
            if _analyzer is None:
                from ..config import get_settings

                settings = get_settings()
                _analyzer = create_analyzer(settings.analyzer, settings.face_min_confidence, settings.local_max_faces)
    return _analyzer


def create_analyzer(kind: str, face_min_confidence: float = 90.0, local_max_faces: int = 20) -> FaceAnalyzer:
    if kind == "local":
        from .local import LocalAnalyzer

        return LocalAnalyzer(face_min_confidence=face_min_confidence, max_faces=local_max_faces)
    if kind == "rekognition":
        from .rekognition import RekognitionAnalyzer

        return RekognitionAnalyzer()
    from ..errors import ConfigurationError

    raise ConfigurationError(f"ANALYZER must be 'rekognition' or 'local', got {kind!r}")


def set_analyzer(analyzer: FaceAnalyzer | None) -> None:
    """Replace the process's analyzer (tests, the local runner, the benchmark)."""
    global _analyzer
    _analyzer = analyzer


__all__ = ["FaceAnalyzer", "create_analyzer", "get_analyzer", "set_analyzer"]
