"""``proctoring pause|resume s3://BUCKET``: the stop button (EU AI Act Art. 14(4)(e)).

Pause switches the stack's capture rule off: uploads keep landing in the bucket, and no
judgement starts. Resume switches it on again, then starts one execution for every capture
uploaded before that moment that has no finished document (``services.reconcile``), so nothing
uploaded while paused goes unjudged. Each is written to the audit record.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from proctoring_local.services.checks import UsageError
from proctoring_local.services.reconcile import PROBLEMS, bucket_captures, check_capture, start_executions


def capture_rule(events: Any, bucket: str, images_prefix: str) -> str:
    """The name of the EventBridge rule that starts a judgement for uploads under ``images_prefix`` of ``bucket``."""
    found = []
    for page in events.get_paginator("list_rules").paginate():
        for rule in page.get("Rules", []):
            try:
                pattern = json.loads(rule.get("EventPattern") or "{}")
            except ValueError:
                continue
            detail = pattern.get("detail") or {}
            buckets = (detail.get("bucket") or {}).get("name") or []
            keys = (detail.get("object") or {}).get("key") or []
            if (
                "Object Created" in (pattern.get("detail-type") or [])
                and bucket in buckets
                and {"prefix": images_prefix} in keys
            ):
                found.append(rule["Name"])
    if len(found) != 1:
        what = "no EventBridge rule" if not found else f"{len(found)} EventBridge rules ({', '.join(found)})"
        raise UsageError(f"{what} start judgements for s3://{bucket}/{images_prefix}; is the stack deployed here?")
    return str(found[0])


def pause(events: Any, bucket: str, images_prefix: str) -> str:
    rule = capture_rule(events, bucket, images_prefix)
    events.disable_rule(Name=rule)
    return rule


def resume(events: Any, sfn: Any, s3: Any, storage: Any, bucket: str, settings: Any) -> tuple[str, int]:
    """Switch the rule on; judge what was uploaded before that and has no finished document.
    The rule's name and how many executions were started."""
    rule = capture_rule(events, bucket, settings.images_prefix)
    targets = [target["Arn"] for target in events.list_targets_by_rule(Rule=rule).get("Targets", [])]
    machines = [arn for arn in targets if ":states:" in arn]
    if not machines:
        raise UsageError(f"the rule {rule} has no state machine as its target")
    events.enable_rule(Name=rule)
    now = datetime.now(UTC)
    missed = [
        check
        for capture in bucket_captures(s3, bucket, settings.images_prefix)
        if capture.modified <= now
        for check in [check_capture(storage, bucket, capture, settings, now=now, settle=timedelta(0))]
        if check.state in PROBLEMS
    ]
    return rule, start_executions(sfn, machines[0], bucket, missed)
