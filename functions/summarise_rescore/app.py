"""SummariseRescore: the run's counts by status and what it changed, written beside the exam's runs."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from proctoring.config import get_settings
from proctoring.observability import count, logger, metrics, step_handler
from proctoring.rescore import summarise
from proctoring.storage import get_storage

__all__ = ["lambda_handler", "metrics"]


@step_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    summary = summarise(get_storage(), event["bucket"], get_settings(), event["request"])
    count("RescoresFinished")
    logger.info("rescored", extra={"captures": summary["captures"], "changes": summary["changes"]})
    # The document is in S3; the execution's output stays small whatever the exam's size.
    return {key: summary[key] for key in ("run", "exam_id", "captures", "rejudged", "by_status", "changes")}
