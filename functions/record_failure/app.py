"""RecordFailure: build the ERROR document for a step that failed for good.

Reached through the state machine's Catch, after the Retry policy gave up. The execution still
writes a result document, then ends FAILED so it shows in the console.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from proctoring.config import get_settings
from proctoring.result import capture_from_event, failure_document, utc_now

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    capture = event.get("capture") or capture_from_event(event, settings.images_prefix, settings.results_prefix)
    error = event.get("error") or {}
    document = failure_document(capture, error, analyzer=settings.analyzer, processed_at=utc_now())
    logger.error("processing failed", extra={"error": error.get("Error"), "key": capture.get("key")})
    metrics.add_metric(name="ProcessingFailed", unit=MetricUnit.Count, value=1)
    return {
        "bucket": capture["bucket"],
        "key": capture["result_key"],
        "idempotency_key": capture["idempotency_key"],
        "failed": True,
        "document": document,
        "sequencer": capture.get("sequencer"),
    }
