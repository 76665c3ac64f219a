"""``proctoring decide``: a proctor's decision written where the pipeline applies it.

On a run folder, the decision document is written under ``decisions/`` and the decision state
machine (the same ASL as on AWS) applies it in this process. On a bucket, it is checked here
(schema, person, capture, verdict) and written with the caller's credentials, create-only; the
stack's EventBridge rule starts the decision state machine, as for the proctoring platform's own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from proctoring_local.services.checks import UsageError
from proctoring_local.services.targets import Target, aws_refusals


@dataclass(frozen=True)
class Recorded:
    decision_key: str
    where: str
    applied: dict[str, Any] | None  # what the decision machine answered (a folder); None on a bucket


def decision_document(capture_key: str, action: str, by: str, reason: str) -> dict[str, Any]:
    from proctoring.decisions import read_decision

    document = {
        "capture_key": capture_key,
        "action": action,
        "by": by,
        "reason": reason,
        "decided_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    from proctoring.errors import DecisionRefused

    try:
        read_decision(json.dumps(document).encode("utf-8"))  # the schema the stack checks
    except DecisionRefused as exc:
        raise UsageError(str(exc)) from None
    return document


def decision_key_for(capture_key: str, images_prefix: str, action: str) -> str:
    from proctoring.decisions import DECISIONS_PREFIX
    from proctoring.keys import InvalidCaptureKey, parse_capture_key

    try:
        capture = parse_capture_key(capture_key, images_prefix)
    except InvalidCaptureKey as exc:
        raise UsageError(
            f"CAPTURE_KEY must be a capture's key such as {images_prefix}exam_1/user_2/cap_001.jpg: {exc}"
        ) from None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{DECISIONS_PREFIX}{capture.exam_id}/{capture.user_id}/{stamp}-{action}.json"


def check_decidable(target: Target, capture_key: str, settings: Any) -> None:
    """Refuse, before anything is written, a decision about a capture that is not there or has no verdict."""
    from proctoring.keys import parse_capture_key
    from proctoring.result_store import find_result

    capture = parse_capture_key(capture_key, settings.images_prefix)
    if target.storage.head(target.bucket, capture_key) is None:
        raise UsageError(f"no capture {capture_key} in {target.text}: nothing to decide about")
    s3_input = f"s3://{target.bucket}/{capture_key}"
    found = find_result(target.storage, target.bucket, capture.result_key(settings.results_prefix), s3_input)
    if found is None:
        raise UsageError(f"{capture_key} has no result document yet: decide once it is judged")


def decide(
    target: Target, capture_key: str, action: str, by: str, reason: str, *, webhook: str | None, secret: str
) -> Recorded:
    from proctoring.config import Settings

    settings = Settings.from_env()
    document = decision_document(capture_key, action, by, reason)
    key = decision_key_for(capture_key, settings.images_prefix, action)
    if target.on_s3:
        with aws_refusals(f"deciding on {target.text}"):
            check_decidable(target, capture_key, settings)
            body = json.dumps(document, ensure_ascii=False).encode("utf-8")
            target.s3.put_object(
                Bucket=target.bucket, Key=key, Body=body, ContentType="application/json", IfNoneMatch="*"
            )
        return Recorded(key, f"s3://{target.bucket}/{key}", None)
    assert target.root is not None
    check_decidable(target, capture_key, settings)
    return Recorded(key, str(target.root / key), apply_in_folder(target.root, key, document, webhook, secret))


def apply_in_folder(root: Path, key: str, document: dict[str, Any], webhook: str | None, secret: str) -> dict[str, Any]:
    """Write the decision and run the decision state machine on it; a refused decision's file is
    removed again, so nothing changed."""
    from moto import mock_aws

    from proctoring.storage import LocalStorage, file_etag
    from proctoring_local.services.run.workers import step_environment
    from proctoring_local.stand_ins.engine import LocalStepFunctions
    from proctoring_local.stand_ins.events import object_created_event
    from proctoring_local.stand_ins.lambdas import environment, reset_backends
    from proctoring_local.stand_ins.stack import LOCAL_BUCKET

    path = root / key
    LocalStorage(root).create_json(LOCAL_BUCKET, key, document)
    event = object_created_event(LOCAL_BUCKET, key, size=path.stat().st_size, etag=file_etag(path))
    env = step_environment(root, "local", webhook, secret)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), environment(env):
        try:
            with LocalStepFunctions(
                state_machine="DecisionStateMachine", webhook_enabled=bool(webhook), mock=False
            ) as sfn:
                execution = sfn.run(event)
        finally:
            reset_backends()
    if execution.status != "SUCCEEDED":
        if execution.error == "DecisionRefused":
            path.unlink(missing_ok=True)
        raise UsageError(f"the decision was not applied: {execution.error}: {_message(execution.cause)}")
    return dict((execution.output or {}).get("applied") or {})


def _message(cause: str | None) -> str:
    try:
        return str(json.loads(cause or "")["errorMessage"])
    except (ValueError, KeyError, TypeError):
        return str(cause)
