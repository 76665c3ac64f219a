"""CompareToReference: similarity between the student's reference photo and the capture."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from proctoring.analysis import get_analyzer
from proctoring.config import get_settings
from proctoring.observability import about, count, logger, metrics, step_handler
from proctoring.payloads import Comparison, StepInput
from proctoring.pipeline import compare_to_reference
from proctoring.storage import get_storage

__all__ = ["lambda_handler", "metrics"]


@step_handler
def lambda_handler(event: StepInput, context: LambdaContext) -> Comparison:
    capture = event["capture"]
    about(capture.get("exam_id"), capture.get("user_id"))
    result = compare_to_reference(get_storage(), get_analyzer(), capture, get_settings().face_min_confidence)
    if "face_matches" in result:
        count("FaceComparisons")
    else:  # nothing compared: the reference (or, replaced since DetectFaces, the capture) is unusable
        count("ReferenceUnusable" if result["reference"]["status"] != "ok" else "ImagesRejected")
    logger.info("compared", extra={"reference": result["reference"]["status"], "similarity": result["similarity"]})
    return result
