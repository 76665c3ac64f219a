"""DetectLabels: objects and people in the capture (phones, books, a second person)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from proctoring.analysis import get_analyzer
from proctoring.config import get_settings
from proctoring.pipeline import detect_capture_labels
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
    result = detect_capture_labels(get_storage(), get_analyzer(), capture, get_settings())
    outcome = "LabelDetections" if result["checked"] else "LabelsNotChecked"  # the offline analyzer has no objects
    metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=1)
    logger.info("labels detected", extra={"checked": result["checked"], "count": len(result["labels"])})
    return result
