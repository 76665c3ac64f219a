"""PersistResult: write the result document, with the webhook delivery record when there is one."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from proctoring.result import notification_from_error, with_notification
from proctoring.result_store import store_result
from proctoring.storage import get_storage

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    document = event["document"]
    if "notification_error" in event:
        document = with_notification(document, notification_from_error(event["notification_error"]))
        # The execution still succeeds (the document stands): this metric is what raises the alarm.
        metrics.add_metric(name="WebhookFailed", unit=MetricUnit.Count, value=1)
    elif "notification" in event:
        document = with_notification(document, event["notification"])
    # The early "pending" write only fills an empty place: a duplicate event or a redrive must not
    # turn a document an earlier execution finished back into "pending".
    pending = bool(event.get("only_if_absent"))
    stored = store_result(
        get_storage(), event["bucket"], event["key"], document, only_if_absent=pending, sequencer=event.get("sequencer")
    )
    outcome = "ResultsWritten"  # the final document: one per capture, as ParseKey's CapturesReceived
    if pending:
        outcome = "PendingResultsWritten" if stored.written else "PendingResultsKept"
    elif stored.superseded:  # a later upload of the key was judged first; its document stands
        outcome = "ResultsSuperseded"
    metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=1)
    if stored.key != event["key"]:
        logger.warning("another capture's result has this name; written beside it", extra={"key": stored.key})
    logger.info("result written" if stored.written else "a result is already there; kept", extra={"key": stored.key})
    return {
        "uri": stored.uri,
        "key": stored.key,
        "status": document["status"],
        "written": stored.written,
        "superseded": stored.superseded,
    }
