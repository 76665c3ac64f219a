"""DetectFaces: decode the capture and find the faces in it."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from proctoring.analysis import get_analyzer
from proctoring.config import get_settings
from proctoring.observability import about, count, logger, metrics, step_handler
from proctoring.payloads import DetectedFaces, StepInput
from proctoring.pipeline import detect_capture_faces
from proctoring.storage import get_storage

__all__ = ["lambda_handler", "metrics"]


@step_handler
def lambda_handler(event: StepInput, context: LambdaContext) -> DetectedFaces:
    capture = event["capture"]
    about(capture.get("exam_id"), capture.get("user_id"))
    result = detect_capture_faces(get_storage(), get_analyzer(), capture, get_settings().face_min_confidence)
    if "rejection" in result:
        logger.warning("image rejected", extra={"code": result["rejection"]["code"]})
        count("ImagesRejected")
    else:
        count("ImagesAnalysed")
        logger.info("faces detected", extra={"face_count": result["face_count"]})
    return result
