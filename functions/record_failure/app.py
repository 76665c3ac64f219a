"""RecordFailure: build the ERROR document for a step that failed for good.

Reached through the state machine's Catch, after the Retry policy gave up. The execution still
writes a result document, then ends FAILED so it shows in the console.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from proctoring.audit import get_audit_log, verdict_entry
from proctoring.config import get_settings
from proctoring.observability import count, logger, metrics, step_handler
from proctoring.payloads import ExecutionState, JudgedResult
from proctoring.result import capture_from_event, failure_document, utc_now

__all__ = ["lambda_handler", "metrics"]


@step_handler
def lambda_handler(event: ExecutionState, context: LambdaContext) -> JudgedResult:
    settings = get_settings()
    capture = event.get("capture") or capture_from_event(event, settings.images_prefix, settings.results_prefix)
    error = event.get("error") or {}
    document = failure_document(capture, error, analyzer=settings.analyzer, processed_at=utc_now())
    logger.error("processing failed", extra={"error": error.get("Error"), "key": capture.get("key")})
    count("ProcessingFailed")
    if capture["bucket"]:  # an event that names no bucket has nowhere to be recorded
        get_audit_log(capture["bucket"], settings).record(verdict_entry(document, settings))
    return {
        "bucket": capture["bucket"],
        "key": capture["result_key"],
        "idempotency_key": capture["idempotency_key"],
        "failed": True,
        "document": document,
        "sequencer": capture.get("sequencer"),
    }
