"""A proctor's decision on one capture's verdict: what it may say, and what then stands.

A proctor confirms or dismisses a verdict, or flags a capture the system passed. The result
document keeps the system's verdict and gains the decision; what counts toward ALERT_FINAL is
what stands after the latest decision (:func:`counts_as_alert`). Pure functions over plain data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from .errors import DecisionRefused
from .keys import InvalidCaptureKey, parse_capture_key

DECISIONS_PREFIX = "decisions/"
# A decision is a few hundred bytes; anything much larger is not one.
MAX_DECISION_BYTES = 64 * 1024
CONFIRM, DISMISS, FLAG = "confirm", "dismiss", "flag"
ALERT_STATUSES = ("ALERT", "ALERT_FINAL")


@dataclass(frozen=True)
class Decision:
    capture_key: str
    action: str
    by: str
    reason: str
    decided_at: str | None = None

    def as_document(self) -> dict[str, Any]:
        """The decision document (``decisions.schema.json``)."""
        document = {"capture_key": self.capture_key, "action": self.action, "by": self.by, "reason": self.reason}
        if self.decided_at:
            document["decided_at"] = self.decided_at
        return document


@lru_cache(maxsize=1)
def _validator() -> Any:
    import fastjsonschema

    schema = json.loads(resources.files("proctoring").joinpath("schemas/decision.schema.json").read_text())
    return fastjsonschema.compile(schema)


def read_decision(raw: bytes) -> Decision:
    """The decision in a decision document; :class:`DecisionRefused` saying what is wrong."""
    import fastjsonschema

    if len(raw) > MAX_DECISION_BYTES:
        raise DecisionRefused(f"a decision document holds at most {MAX_DECISION_BYTES} bytes; this one {len(raw)}")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise DecisionRefused(f"the decision is not JSON: {exc}") from None
    if isinstance(document, dict) and not str(document.get("by") or "").strip():
        raise DecisionRefused("the decision names no person: 'by' must say who decided")
    try:
        _validator()(document)
    except fastjsonschema.JsonSchemaException as exc:
        raise DecisionRefused(f"the decision does not match its schema: {exc.message}") from None
    return Decision(
        capture_key=document["capture_key"],
        action=document["action"],
        by=document["by"].strip(),
        reason=document["reason"].strip(),
        decided_at=document.get("decided_at"),
    )


def check_placement(decision_key: str, decision: Decision, images_prefix: str) -> tuple[str, str]:
    """The (exam, student) of the decision's capture, which its own key must name as
    ``decisions/{exam}/{student}/...``: a student's decisions are found (and erased) with them."""
    try:
        capture = parse_capture_key(decision.capture_key, images_prefix)
    except InvalidCaptureKey as exc:
        raise DecisionRefused(f"the decision's capture_key is not a capture's key: {exc}") from None
    expected = f"{DECISIONS_PREFIX}{capture.exam_id}/{capture.user_id}/"
    if not decision_key.startswith(expected) or "/" in decision_key.removeprefix(expected):
        raise DecisionRefused(
            f"a decision about {decision.capture_key} belongs under {expected}, not at {decision_key}"
        )
    return capture.exam_id, capture.user_id


def decision_id(s3_input: str, object_version: Mapping[str, Any] | None, decision: Decision) -> str:
    """One id per capture upload, action, person and reason: the same decision written twice (or
    delivered twice by EventBridge) has the same id, and changes nothing the second time."""
    version = object_version or {}
    identity = [s3_input, version.get("version_id"), version.get("etag"), decision.action, decision.by, decision.reason]
    return hashlib.sha256(json.dumps(identity, ensure_ascii=False).encode("utf-8")).hexdigest()[:32]


def system_counts(document: Mapping[str, Any], escalation_excludes: Sequence[str] = ()) -> bool:
    """Whether the system's own verdict counted toward ALERT_FINAL (``policy.counts_toward_escalation``)."""
    if document.get("status") not in ALERT_STATUSES:
        return False
    return any(reason.get("code") not in escalation_excludes for reason in document.get("reasons") or [])


def counts_as_alert(system: bool, decisions: Sequence[Mapping[str, Any]]) -> bool:
    """What stands after the latest decision: dismissed, no alert; flagged, an alert; confirmed,
    the system's verdict."""
    standing = system
    for decision in decisions:
        action = decision.get("action")
        standing = {CONFIRM: system, DISMISS: False, FLAG: True}.get(str(action), standing)
    return standing


def decision_record(decision: Decision, identifier: str, source: str, applied_at: str, counts: bool) -> dict[str, Any]:
    """The decision as the result document, the audit record and the webhook name it."""
    return {
        "id": identifier,
        "action": decision.action,
        "by": decision.by,
        "reason": decision.reason,
        "decided_at": decision.decided_at or applied_at,
        "applied_at": applied_at,
        "source": source,
        "counts_as_alert": counts,
    }
