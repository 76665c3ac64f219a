"""NotifyDecision: POST a decision event to the proctoring webhook, once per decision.

Powertools idempotency keys the delivery on the decision's id, so a retried step or a redrive
never sends it twice; its ``webhook-id`` is ``decision-`` + that id, the same on every attempt.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from proctoring.idempotency import ConfiguredPersistenceLayer, idempotency_config, once_per_payload, replay_counter
from proctoring.notify import get_notifier
from proctoring.observability import count, logger, metrics, step_handler
from proctoring.result import utc_now

__all__ = ["lambda_handler", "metrics"]

persistence_layer = ConfiguredPersistenceLayer()
once_per_decision = idempotency_config("id", on_replay=replay_counter(metrics, "DecisionDeliveriesReplayed"))


@step_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    once_per_decision.register_lambda_context(context)
    attempt = int(event.get("retry_count") or 0) + 1
    return deliver(decision={"id": event["id"], "event": event["event"]}, attempt=attempt)


@once_per_payload(data_keyword_argument="decision", persistence_store=persistence_layer, config=once_per_decision)
def deliver(decision: dict[str, Any], attempt: int) -> dict[str, Any]:
    outcome = get_notifier().deliver(decision["event"], f"decision-{decision['id']}", attempt=attempt)
    count("DecisionDelivered")
    logger.info("decision delivered", extra={"attempts": attempt, "http_status": outcome["http_status"]})
    return {**outcome, "delivered_at": utc_now()}
