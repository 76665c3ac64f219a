"""The audit record: one entry per verdict, decision, erasure and pause, written once, never changed.

Entries are JSON objects under ``audit/`` in the audit bucket (on AWS a bucket of its own with
S3 Object Lock in compliance mode, so no role can change or delete an entry before its retention
ends; locally the run folder). Each entry's key is derived from what it records, and it is written
create-only: a repeated verdict or decision, a redrive or a retried step find their entry there
and add none. Entries hold identifiers, verdicts and decisions, never images.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict
from typing import Any

from .config import Settings, get_settings
from .policy import RULES_VERSION, PolicyConfig
from .result import utc_now, verdict_digest
from .storage import Storage, get_storage

AUDIT_PREFIX = "audit/"
EXAMS = f"{AUDIT_PREFIX}exams/"
OPERATIONS = f"{AUDIT_PREFIX}operations/"
KINDS = ("verdict", "decision", "erasure", "pause", "resume")


def entry_key(entry: Mapping[str, Any]) -> str:
    """``audit/exams/{exam}/{student}/{kind}-{id}.json`` for what is about one student;
    ``audit/operations/{kind}-{id}.json`` for the rest (pauses, erasures of every exam)."""
    kind, identifier = entry["kind"], entry["id"]
    exam, user = entry.get("exam_id"), entry.get("user_id")
    if exam and user:
        return f"{EXAMS}{exam}/{user}/{kind}-{identifier}.json"
    if exam:
        return f"{EXAMS}{exam}/{kind}-{identifier}.json"
    return f"{OPERATIONS}{kind}-{identifier}.json"


class AuditLog:
    """Append-only: :meth:`record` never replaces an entry."""

    def __init__(self, storage: Storage, bucket: str) -> None:
        self.storage = storage
        self.bucket = bucket

    def record(self, entry: Mapping[str, Any]) -> str:
        """Write ``entry`` unless an entry with its key is there; its key either way."""
        key = entry_key(entry)
        self.storage.create_json(self.bucket, key, dict(entry))
        return key

    def entries(self, exam_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Every entry (of one exam), in key order."""
        prefix = f"{EXAMS}{exam_id}/" if exam_id else AUDIT_PREFIX
        for key in self.storage.list_keys(self.bucket, prefix):
            if key.endswith(".json"):
                yield json.loads(self.storage.read(self.bucket, key))


def verdict_entry(
    document: Mapping[str, Any], settings: Settings, policy: PolicyConfig | None = None
) -> dict[str, Any]:
    """What the system saw and decided about one capture: its verdict with every reason, the
    rules version, the analyzer and the settings the verdict was made under."""
    version = document.get("object_version") or {}
    identity = f"{document.get('s3_input')}#{version.get('version_id')}#{verdict_digest(document)}"
    analysis = document.get("analysis") or {}
    return {
        "kind": "verdict",
        "id": hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32],
        "at": document.get("processed_at") or utc_now(),
        "exam_id": document.get("exam_id"),
        "user_id": document.get("user_id"),
        "capture": document.get("s3_input"),
        "object_version": dict(version),
        "captured_at": document.get("captured_at"),
        "status": document.get("status"),
        "reason": document.get("reason"),
        "reasons": [
            {"code": reason.get("code"), "message": reason.get("message"), "evidence": reason.get("evidence")}
            for reason in document.get("reasons") or []
        ],
        "alert_count": document.get("alert_count"),
        "face_count": analysis.get("face_count"),
        "similarity": analysis.get("similarity"),
        "analyzer": document.get("analyzer"),
        "rules_version": RULES_VERSION,
        "settings": {
            **asdict(policy or PolicyConfig.from_settings(settings)),
            "alert_final_threshold": settings.alert_final_threshold,
        },
        "rejudged": document.get("rejudged"),
    }


def decision_entry(record: Mapping[str, Any], document: Mapping[str, Any], standing_alerts: int) -> dict[str, Any]:
    """Who decided what about which verdict, and the student's standing alerts afterwards."""
    return {
        "kind": "decision",
        "id": record["id"],
        "at": record["applied_at"],
        "exam_id": document.get("exam_id"),
        "user_id": document.get("user_id"),
        "capture": document.get("s3_input"),
        "object_version": dict(document.get("object_version") or {}),
        "system_status": document.get("status"),
        "system_reason": document.get("reason"),
        "decision": dict(record),
        "standing_alerts": standing_alerts,
    }


def operation_entry(kind: str, by: str, details: Mapping[str, Any], exam_id: str | None = None) -> dict[str, Any]:
    """An erasure's receipt, a pause or a resume: what, when and by whom."""
    import uuid

    at = utc_now()
    entry: dict[str, Any] = {"kind": kind, "id": uuid.uuid4().hex, "at": at, "by": by, **details}
    if exam_id:
        entry["exam_id"] = exam_id
    return entry


def audit_bucket(settings: Settings, bucket: str) -> str:
    return settings.audit_bucket or bucket


def get_audit_log(bucket: str, settings: Settings | None = None) -> AuditLog:
    """The audit record beside ``bucket`` (the capture bucket), where the settings put it."""
    settings = settings or get_settings()
    return AuditLog(get_storage(), audit_bucket(settings, bucket))
