"""Applying a proctor's decision (``proctoring.decisions``) to the stores: the student's standing
alerts, the audit record and the capture's result document, in that order.

Every part is idempotent, so a retried step or a decision delivered twice converges on the same
state: the alert history changes only a capture's own mark, the audit entry is written
create-only under the decision's id, and a document that already names the decision is left as
it is (a repeat, which sends nothing).
"""

from __future__ import annotations

import json
from typing import Any, TypedDict

from .alerts import AlertHistory
from .audit import AuditLog, decision_entry
from .config import Settings
from .decisions import (
    DECISIONS_PREFIX,
    MAX_DECISION_BYTES,
    check_placement,
    counts_as_alert,
    decision_id,
    decision_record,
    read_decision,
    system_counts,
)
from .errors import DecisionRefused, ObjectTooLarge, StorageUnavailable
from .keys import alert_subject, idempotency_key, parse_capture_key
from .result import utc_now
from .result_store import find_result
from .storage import Storage

_ATTEMPTS = 4


class AppliedDecision(TypedDict):
    id: str
    repeat: bool
    result_key: str
    event: dict[str, Any]  # the webhook payload of a decision event


def decision_event(record: dict[str, Any], document: dict[str, Any], standing_alerts: int) -> dict[str, Any]:
    """The webhook payload for a decision: ``type`` tells it from a verdict."""
    return {
        "type": "decision",
        "schema_version": "1.0",
        "exam_id": document.get("exam_id"),
        "user_id": document.get("user_id"),
        "capture": document.get("capture"),
        "s3_input": document.get("s3_input"),
        "object_version": document.get("object_version"),
        "system": {
            "status": document.get("status"),
            "reason": document.get("reason"),
            "alert_count": document.get("alert_count"),
        },
        "decision": record,
        "standing_alerts": standing_alerts,
    }


def apply_decision(
    storage: Storage,
    history: AlertHistory,
    audit: AuditLog,
    settings: Settings,
    bucket: str,
    decision_key: str,
) -> AppliedDecision:
    """Apply the decision document at ``decision_key``; :class:`DecisionRefused` when it cannot
    be, before anything changed."""
    if not decision_key.startswith(DECISIONS_PREFIX):
        raise DecisionRefused(f"{decision_key} is not under {DECISIONS_PREFIX}")
    try:
        raw = storage.read(bucket, decision_key, max_bytes=MAX_DECISION_BYTES)
    except FileNotFoundError:
        raise DecisionRefused(f"no decision document at {decision_key}") from None
    except ObjectTooLarge as exc:
        raise DecisionRefused(f"{decision_key}: {exc}") from None
    decision = read_decision(raw)
    exam_id, user_id = check_placement(decision_key, decision, settings.images_prefix)
    if storage.head(bucket, decision.capture_key) is None:
        raise DecisionRefused(f"no capture {decision.capture_key} in {bucket}: nothing to decide about")
    s3_input = f"s3://{bucket}/{decision.capture_key}"
    result_key = parse_capture_key(decision.capture_key, settings.images_prefix).result_key(settings.results_prefix)
    found = find_result(storage, bucket, result_key, s3_input)
    if found is None or found[1].get("status") not in {"OK", "ALERT", "ALERT_FINAL", "ERROR"}:
        raise DecisionRefused(f"{decision.capture_key} has no verdict yet: decide once its result document is written")
    result_key, document = found
    version = document.get("object_version") or {}
    identifier = decision_id(s3_input, version, decision)
    if any(earlier.get("id") == identifier for earlier in document.get("decisions") or []):
        return {"id": identifier, "repeat": True, "result_key": result_key, "event": {}}

    applied_at = utc_now()
    counts = counts_as_alert(
        system_counts(document, settings.escalation_excludes),
        [*(document.get("decisions") or []), {"action": decision.action}],
    )
    record = decision_record(decision, identifier, decision_key, applied_at, counts)
    capture_id = idempotency_key(bucket, decision.capture_key, version.get("version_id"), version.get("etag"))
    standing = history.stand(*alert_subject(exam_id, user_id), capture_id, counts)
    audit.record(decision_entry(record, document, standing))
    result_key = _add_to_document(storage, bucket, result_key, s3_input, record)
    return {
        "id": identifier,
        "repeat": False,
        "result_key": result_key,
        "event": decision_event(record, document, standing),
    }


def _add_to_document(storage: Storage, bucket: str, result_key: str, s3_input: str, record: dict[str, Any]) -> str:
    """Append ``record`` to the document's ``decisions``; every other field stays as the system
    wrote it. Conditional on what was read, so a delivery record written meanwhile is kept."""
    for _ in range(_ATTEMPTS):
        there = storage.fetch(bucket, result_key)
        document = json.loads(there.body)
        if document.get("s3_input") != s3_input:
            raise StorageUnavailable(f"{result_key} no longer holds the result for {s3_input}")
        decisions = document.get("decisions") or []
        if any(earlier.get("id") == record["id"] for earlier in decisions):
            return result_key
        if storage.replace_json(bucket, result_key, {**document, "decisions": [*decisions, record]}, there.etag):
            return result_key
    raise StorageUnavailable(f"{result_key} kept changing while a decision was added to it")
