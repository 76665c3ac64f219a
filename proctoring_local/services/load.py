"""``proctoring load``: one run over many captures, then checks that nothing was lost or doubled.

Builds N captures of S students from the demo's real photos (one in eight shows the other person,
so students collect alerts), runs the local pipeline with a webhook receiver on loopback, and checks:

* one result document per capture, at the key mirroring the capture, and no ERROR among them;
* one webhook delivery per capture, no idempotency key twice, every signature valid;
* exact alert counts: each student's alerting captures are numbered 1..n with no gap or repeat,
  and exactly one is ALERT_FINAL when n reaches the threshold;
* a second run over the same folder sends nothing and rewrites identical documents.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proctoring.notify import new_secret
from proctoring_local.services.run.captures import find_captures, stored_result_path
from proctoring_local.services.run.workers import BUILT_LAYOUT, run_folder
from proctoring_local.stand_ins.webhook_receiver import WebhookReceiver

SECRET = new_secret()  # a loopback receiver's key for this run only


@dataclass
class LoadReport:
    captures: int
    documents: int
    deliveries: int
    duplicate_deliveries: int
    bad_signatures: int
    alert_problems: list[str] = field(default_factory=list)
    # Captures the first run could not judge: none are expected, every generated capture is valid.
    error_documents: list[str] = field(default_factory=list)
    second_run_deliveries: int = 0
    second_run_changed: int = 0
    seconds: float = 0.0
    second_run_seconds: float = 0.0
    second_run_reused: int = 0  # captures whose analyses the second run took from the first
    # What the second run did, capture by capture, so that a failure says where to look.
    second_run_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.documents == self.captures
            and self.deliveries == self.captures
            and self.duplicate_deliveries == 0
            and self.bad_signatures == 0
            and not self.alert_problems
            and not self.error_documents
            and self.second_run_deliveries == 0
            and self.second_run_changed == 0
        )


def check_alert_counts(documents: dict[str, dict[str, Any]], threshold: int) -> list[str]:
    """Every student's alerting captures numbered 1..n exactly once; one ALERT_FINAL iff n >= threshold."""
    by_student: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for document in documents.values():
        if document.get("exam_id"):
            by_student[(document["exam_id"], document["user_id"])].append(document)
    problems = []
    for student, docs in sorted(by_student.items()):
        alerting = [d for d in docs if d["status"] in {"ALERT", "ALERT_FINAL"}]
        numbers = sorted(d["alert_count"] for d in alerting)
        if numbers != list(range(1, len(alerting) + 1)):
            problems.append(f"{student}: alert numbers {numbers}")
        finals = sum(d["status"] == "ALERT_FINAL" for d in docs)
        if finals != (1 if len(alerting) >= threshold else 0):
            problems.append(f"{student}: {finals} ALERT_FINAL for {len(alerting)} alerts")
    return problems


def run_load_check(
    root: Path,
    *,
    workers: int | None = None,
    analyzer_factory: str | None = None,
    threshold: int = 3,
    progress: bool = False,
    between_runs: Callable[[], None] | None = None,
) -> LoadReport:
    """Run the folder twice with a receiver on loopback; ``between_runs`` is called in between
    (the tests use it to take state away and check that the second run's damage is reported)."""
    keys = find_captures(root)
    with WebhookReceiver(secret=SECRET) as receiver:

        def run(show_progress: bool) -> Any:
            return run_folder(
                root,
                workers=workers,
                webhook=receiver.url,
                secret=SECRET,
                analyzer_factory=analyzer_factory,
                progress=show_progress,
                extra_env=BUILT_LAYOUT,
            )

        first = run(progress)
        found = {key: stored_result_path(root, key) for key in keys}
        written = {key: path for key, path in found.items() if path is not None}
        snapshot = {key: path.read_bytes() for key, path in written.items()}
        documents = {key: json.loads(data) for key, data in snapshot.items()}
        delivered = len(receiver.deliveries)
        idempotency_keys = receiver.idempotency_keys()
        if between_runs:
            between_runs()
        second = run(False)  # the same folder again: nothing may be sent, nothing may change
        resent = receiver.deliveries[delivered:]
        rewritten = {key: written[key].read_bytes() for key in snapshot}
        changed = sorted(key for key, data in snapshot.items() if rewritten[key] != data)
        bad = sum(not delivery.signature_valid for delivery in receiver.deliveries)
    problems = [f"sent again: {_capture_of(d.payload)} ({d.payload.get('status')})" for d in resent]
    for key in changed:
        fields = _changed_fields(json.loads(snapshot[key]), json.loads(rewritten[key]))
        problems.append(f"rewritten differently: {key} ({'; '.join(fields)})")
    return LoadReport(
        captures=len(keys),
        documents=len(documents),
        deliveries=delivered,
        duplicate_deliveries=len(idempotency_keys) - len(set(idempotency_keys)),
        bad_signatures=bad,
        alert_problems=check_alert_counts(documents, threshold),
        error_documents=[
            _error_of(key, document) for key, document in sorted(documents.items()) if document["status"] == "ERROR"
        ],
        second_run_deliveries=len(resent),
        second_run_changed=len(changed),
        seconds=first.seconds,
        second_run_seconds=second.seconds,
        second_run_reused=second.analyses_reused,
        second_run_problems=problems,
    )


def _error_of(key: str, document: dict[str, Any]) -> str:
    """``key: REASON``, with the error's name when it says more (PROCESSING_FAILED (KeyError))."""
    reason, name = document.get("reason"), (document.get("error") or {}).get("name")
    return f"{key}: {reason}" + (f" ({name})" if name and name != reason else "")


def _capture_of(document: dict[str, Any]) -> str:
    return f"{document.get('exam_id')}/{document.get('user_id')}/{document.get('capture')}"


def _changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The top-level fields that differ, with the old and new value of the short ones."""
    fields = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before != after:
            shown = json.dumps([before, after], sort_keys=True)
            fields.append(f"{name}: {shown}" if len(shown) <= 300 else name)
    return fields
