"""S3 "Object Created" events as EventBridge delivers them, and matching them to the upload rule."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from proctoring_local.stand_ins import template as tpl
from proctoring_local.stand_ins.ids import fast_uuid4


def object_created_event(
    bucket: str,
    key: str,
    *,
    size: int,
    etag: str | None,
    version_id: str | None = None,
    region: str = "us-east-1",
    account: str = "123456789012",
    at: datetime | None = None,
) -> dict[str, Any]:
    """The event S3 sends to EventBridge for a PutObject (shape of the S3 user guide's example)."""
    # Grows with time, as S3's does for the uploads of one key: a later run's event is the later upload.
    obj: dict[str, Any] = {"key": key, "size": size, "sequencer": f"{time.time_ns():018X}"}
    if etag:
        obj["etag"] = etag
    if version_id:
        obj["version-id"] = version_id
    return {
        "version": "0",
        "id": str(fast_uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": account,
        "time": (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": obj,
            "request-id": fast_uuid4().hex[:16].upper(),
            "requester": account,
            "source-ip-address": "203.0.113.15",
            "reason": "PutObject",
        },
    }


class UploadRule:
    """The upload rule's pattern from template.yaml, matched with moto's EventBridge pattern engine.

    (moto does not implement the TestEventPattern API; its rule matcher is the same code that
    routes events to rules under moto.)
    """

    def __init__(self, bucket: str, parameters: dict[str, str] | None = None) -> None:
        from moto.events.models import EventPattern

        self.pattern = tpl.upload_rule_pattern(bucket, parameters)
        self._matcher = EventPattern.load(json.dumps(self.pattern))

    def matches(self, event: dict[str, Any]) -> bool:
        return bool(self._matcher.matches_event(event))  # type: ignore[arg-type]  # moto types it as its own message
