"""CheckRescoreRequest: the rescore run's input checked whole, before any capture is touched."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from proctoring.config import get_settings
from proctoring.observability import count, logger, metrics, step_handler
from proctoring.payloads import RescoreRequest
from proctoring.rescore import check_request

__all__ = ["lambda_handler", "metrics"]


@step_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> RescoreRequest:
    # The execution's input, and its name as the run's (the ASL passes both).
    request = check_request({**(event.get("input") or {}), "run": event.get("run")}, get_settings())
    count("RescoresStarted")
    logger.info("rescore", extra={"exam_id": request["exam_id"], "overrides": request["overrides"]})
    return request
