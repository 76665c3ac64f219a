"""Notify: POST the result document to the proctoring system's webhook, once per document.

Powertools idempotency keys the delivery on the object version and the verdict (status and
reasons), so a duplicate event or a redrive never sends the same verdict twice, while a changed
verdict (an ERROR turned into a verdict by a redrive, a re-run after a new reference) is sent.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.idempotency import idempotent
from aws_lambda_powertools.utilities.typing import LambdaContext

from proctoring.idempotency import ConfiguredPersistenceLayer, idempotency_config, replay_counter
from proctoring.notify import get_notifier
from proctoring.observability import count, logger, metrics, step_handler
from proctoring.payloads import Delivery, NotifyRequest
from proctoring.result import utc_now

__all__ = ["lambda_handler", "metrics"]

persistence_layer = ConfiguredPersistenceLayer()


@step_handler
@idempotent(
    persistence_store=persistence_layer,
    config=idempotency_config(
        "[idempotency_key, document.status, document.reasons]", on_replay=replay_counter(metrics, "DeliveriesReplayed")
    ),
)
def lambda_handler(event: NotifyRequest, context: LambdaContext) -> Delivery:
    attempt = int(event.get("retry_count") or 0) + 1
    outcome = get_notifier().send(event["document"], event["idempotency_key"], attempt=attempt)
    count("WebhookDelivered")
    logger.info("webhook delivered", extra={"attempts": attempt, "http_status": outcome["http_status"]})
    return {**outcome, "delivered_at": utc_now()}
