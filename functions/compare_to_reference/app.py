"""CompareToReference: the capture's faces and their similarity to the student's checked reference,
in one CompareFaces (no DetectFaces of the capture, none of the reference)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from proctoring.analysis import get_analyzer
from proctoring.config import get_settings
from proctoring.observability import about, count, logger, metrics, step_handler
from proctoring.payloads import ComparedFaces, StepInput
from proctoring.pipeline import compare_to_reference
from proctoring.storage import get_storage

__all__ = ["lambda_handler", "metrics"]


@step_handler
def lambda_handler(event: StepInput, context: LambdaContext) -> ComparedFaces:
    capture = event["capture"]
    about(capture.get("exam_id"), capture.get("user_id"))
    result = compare_to_reference(get_storage(), get_analyzer(), capture, get_settings().face_min_confidence)
    if "rejection" in result:
        logger.warning("image rejected", extra={"code": result["rejection"]["code"]})
        count("ImagesRejected")
    else:
        count("FaceComparisons")
        logger.info(
            "compared", extra={"face_count": result["face_count"], "similarity": result["comparison"]["similarity"]}
        )
    return result
