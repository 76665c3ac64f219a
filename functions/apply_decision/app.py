"""ApplyDecision: a proctor's decision document, checked and applied.

Started (through the decision state machine) by the EventBridge rule on uploads under
``decisions/``. The decision is checked against its JSON Schema, must name a person, and must be
about a capture with a verdict; anything else is refused (``DecisionRefused``, not retried) with
nothing changed. Applied, it changes the student's standing alerts, is written to the audit
record, and is added to the capture's result document beside the system's verdict.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from proctoring.alerts import get_alert_history
from proctoring.audit import get_audit_log
from proctoring.config import get_settings
from proctoring.errors import InvalidEvent
from proctoring.observability import count, logger, metrics, step_handler
from proctoring.oversight import AppliedDecision, apply_decision
from proctoring.storage import get_storage

__all__ = ["lambda_handler", "metrics"]


@step_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> AppliedDecision:
    detail = event.get("detail") or {}
    bucket, key = (detail.get("bucket") or {}).get("name"), (detail.get("object") or {}).get("key")
    if not bucket or not key:
        raise InvalidEvent("expected an S3 'Object Created' event for a decision document")
    settings = get_settings()
    if settings.capture_bucket and bucket != settings.capture_bucket:
        raise InvalidEvent("the event names another bucket than the one this stack serves")
    applied = apply_decision(get_storage(), get_alert_history(), get_audit_log(bucket, settings), settings, bucket, key)
    count("DecisionsRepeated" if applied["repeat"] else "DecisionsApplied")
    logger.info("decision", extra={"id": applied["id"], "repeat": applied["repeat"]})
    return applied
