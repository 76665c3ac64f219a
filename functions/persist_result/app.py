"""PersistResult: write the result document, with the webhook delivery record when there is one."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from proctoring.observability import count, logger, metrics, step_handler
from proctoring.payloads import Persisted, PersistRequest
from proctoring.result_store import persist
from proctoring.storage import get_storage

__all__ = ["lambda_handler", "metrics"]


@step_handler
def lambda_handler(event: PersistRequest, context: LambdaContext) -> Persisted:
    persisted, outcome = persist(get_storage(), event)
    count(outcome)
    if "notification_error" in event:
        # The execution still succeeds (the document stands): this metric is what raises the alarm.
        count("WebhookFailed")
    if persisted["key"] != event["key"]:
        logger.warning("another capture's result has this name; written beside it", extra={"key": persisted["key"]})
    written = "result written" if persisted["written"] else "a result is already there; kept"
    logger.info(written, extra={"key": persisted["key"]})
    return persisted
