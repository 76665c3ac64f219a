"""Notify: POST the result document to the proctoring system's webhook, once per verdict, and
record the delivery in the document.

Powertools idempotency keys the delivery on the object version and the verdict (status and
reasons), so a duplicate event or a redrive never sends the same verdict twice, while a changed
verdict (an ERROR turned into a verdict by a redrive, a re-run after a new reference) is sent. The
record is written after the delivery, outside it: when that write fails, the step's retry answers
the delivery from the idempotency store and writes the record again, without a second POST.
"""

from __future__ import annotations

from typing import Any, cast

from aws_lambda_powertools.utilities.typing import LambdaContext

from proctoring.idempotency import ConfiguredPersistenceLayer, idempotency_config, once_per_payload, replay_counter
from proctoring.notify import get_notifier
from proctoring.observability import count, logger, metrics, step_handler
from proctoring.payloads import Delivery, Notification, Notified, NotifyRequest
from proctoring.result import utc_now
from proctoring.result_store import persist
from proctoring.storage import get_storage

__all__ = ["lambda_handler", "metrics"]

persistence_layer = ConfiguredPersistenceLayer()
once_per_verdict = idempotency_config(
    "[idempotency_key, document.status, document.reasons]", on_replay=replay_counter(metrics, "DeliveriesReplayed")
)


@step_handler
def lambda_handler(event: NotifyRequest, context: LambdaContext) -> Notified:
    once_per_verdict.register_lambda_context(context)
    attempt = int(event.get("retry_count") or 0) + 1
    delivery = deliver(
        request={"document": event["document"], "idempotency_key": event["idempotency_key"]}, attempt=attempt
    )
    persisted, outcome = persist(
        get_storage(),
        {
            "bucket": event["bucket"],
            "key": event["key"],
            "document": event["document"],
            "sequencer": event.get("sequencer"),
            # A Delivery is a delivered Notification (TypedDicts are invariant, so mypy needs telling).
            "notification": cast(Notification, delivery),
        },
    )
    count(outcome)
    return {"delivery": delivery, "persisted": persisted}


@once_per_payload(data_keyword_argument="request", persistence_store=persistence_layer, config=once_per_verdict)
def deliver(request: dict[str, Any], attempt: int) -> Delivery:
    """One signed POST of the document (the idempotency payload is ``request``)."""
    outcome = get_notifier().send(request["document"], request["idempotency_key"], attempt=attempt)
    count("WebhookDelivered")
    logger.info("webhook delivered", extra={"attempts": attempt, "http_status": outcome["http_status"]})
    return {**outcome, "delivered_at": utc_now()}  # type: ignore[typeddict-item]  # send() answers a Delivery
