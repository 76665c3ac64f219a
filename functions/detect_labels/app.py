"""DetectLabels: objects and people in the capture (phones, books, a second person)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from proctoring.analysis import get_analyzer
from proctoring.config import get_settings
from proctoring.observability import about, count, logger, metrics, step_handler
from proctoring.payloads import DetectedLabels, StepInput
from proctoring.pipeline import detect_capture_labels
from proctoring.storage import get_storage

__all__ = ["lambda_handler", "metrics"]


@step_handler
def lambda_handler(event: StepInput, context: LambdaContext) -> DetectedLabels:
    capture = event["capture"]
    about(capture.get("exam_id"), capture.get("user_id"))
    result = detect_capture_labels(get_storage(), get_analyzer(), capture, get_settings())
    count("LabelDetections" if result["checked"] else "LabelsNotChecked")  # the offline analyzer has no objects
    logger.info("labels detected", extra={"checked": result["checked"], "count": len(result["labels"])})
    return result
