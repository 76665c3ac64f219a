"""CompareToReference: similarity between the student's reference photo and the capture."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from proctoring.analysis import get_analyzer
from proctoring.config import get_settings
from proctoring.pipeline import compare_to_reference
from proctoring.storage import get_storage

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    capture = event["capture"]
    logger.append_keys(exam_id=capture.get("exam_id"), user_id=capture.get("user_id"))
    settings = get_settings()
    result = compare_to_reference(get_storage(), get_analyzer(), capture, settings.face_min_confidence)
    if "face_matches" in result:
        outcome = "FaceComparisons"
    else:  # nothing compared: the reference (or, replaced since DetectFaces, the capture) is unusable
        outcome = "ReferenceUnusable" if result["reference"]["status"] != "ok" else "ImagesRejected"
    metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=1)
    logger.info("compared", extra={"reference": result["reference"]["status"], "similarity": result["similarity"]})
    return result
