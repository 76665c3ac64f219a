"""PersistResult: write the result document, with the webhook delivery record when there is one."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from proctoring.observability import count, logger, metrics, step_handler
from proctoring.payloads import Persisted, PersistRequest
from proctoring.result import notification_from_error, with_notification
from proctoring.result_store import store_result
from proctoring.storage import get_storage

__all__ = ["lambda_handler", "metrics"]


@step_handler
def lambda_handler(event: PersistRequest, context: LambdaContext) -> Persisted:
    document = event["document"]
    if "notification_error" in event:
        document = with_notification(document, notification_from_error(event["notification_error"]))
        # The execution still succeeds (the document stands): this metric is what raises the alarm.
        count("WebhookFailed")
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
    count(outcome)
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
