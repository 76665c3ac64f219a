"""Judging an exam again from its stored analyses: the rescore state machine's work.

* :func:`check_request`: the run's input, refused whole before any capture is touched.
* :func:`item_state`: one capture, located as ParseKey locates it, with its stored analysis and
  what must be done again (``proctoring.analyses.plan``), in the shape of the main state machine's
  state, so that DecideVerdict, PersistResult and Notify judge, write and send it as always.
* :func:`summarise`: the run's counts by status and what changed, from the documents themselves.

Escalation in a re-score: an alert is counted once per capture version, as for a redrive. A capture
that alerted keeps its number; one that alerts now and did not before is counted next (in the
order the run judges them, which a Distributed Map does not keep to capture order); one that
no longer alerts leaves its number counted (counts never go down: they record alerts that were
raised and sent). ``ALERT_FINAL`` is the alert whose number is the threshold, so a lower
``ALERT_FINAL_THRESHOLD`` in a re-score makes the capture with that number final if it still
alerts, and never makes two.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .analyses import load_analysis, plan, reused_analysis
from .config import Settings, with_overrides
from .errors import InvalidRescoreRequest
from .locate import locate_capture
from .payloads import ReferenceState, RescoreRequest
from .result import verdict_digest
from .result_store import find_result
from .storage import Storage

SUMMARIES_PREFIX = "rescores/"
MAX_CHANGES_LISTED = 1000


def check_request(raw: Mapping[str, Any], settings: Settings) -> RescoreRequest:
    """``{"exam_id", "students"?, "overrides"?}`` checked; the run is the execution's name."""
    exam_id = raw.get("exam_id")
    if not isinstance(exam_id, str) or not exam_id.strip() or "/" in exam_id:
        raise InvalidRescoreRequest(f"exam_id must be an exam's folder name, got {exam_id!r}")
    students = raw.get("students") or []
    if not isinstance(students, list) or not all(isinstance(s, str) and s and "/" not in s for s in students):
        raise InvalidRescoreRequest(f"students must be a list of student ids, got {students!r}")
    overrides = raw.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise InvalidRescoreRequest(f"overrides must map setting names to values, got {overrides!r}")
    overrides = {str(name).upper(): str(value) for name, value in overrides.items()}
    try:
        with_overrides(settings, overrides)
    except ValueError as exc:
        raise InvalidRescoreRequest(str(exc)) from exc
    run = raw.get("run")
    if not isinstance(run, str) or not run:
        raise InvalidRescoreRequest("run (the execution's name) is missing")
    return {"exam_id": exam_id, "students": students, "overrides": overrides, "run": run}


def item_state(
    storage: Storage,
    bucket: str,
    key: str,
    settings: Settings,
    request: RescoreRequest,
    check_reference: Callable[[str], ReferenceState],
) -> dict[str, Any]:
    """The state a re-score's item goes on with (``skip`` for a student left out of the run)."""
    capture = locate_capture(storage, bucket, key, etag=None, version_id=None, size=None, settings=settings)
    if request["students"] and capture.get("user_id") not in request["students"]:
        return {"skip": True, "key": key}
    reference = capture.get("reference")
    if reference is not None and reference["status"] == "unchecked":
        capture["reference"] = check_reference(reference["key"])
    found = find_result(storage, bucket, capture["result_key"], capture["s3_input"])
    previous: Mapping[str, Any] = found[1] if found else {}
    judged = previous.get("object_version") or {}
    if judged.get("etag") == capture.get("etag"):
        # The same upload: its place among the key's uploads stays the event's.
        capture["sequencer"] = judged.get("sequencer")
    if previous.get("captured_at") and not capture.get("captured_at"):
        # The capture's time is its upload event's: the window reasons are judged on it again.
        capture["captured_at"] = previous["captured_at"]
    record = load_analysis(storage, bucket, capture)
    todo = "analyse" if capture.get("rejection") else plan(record, capture, settings.analyzer)
    state: dict[str, Any] = {
        "capture": capture,
        "plan": todo,
        "rescore": {
            "run": request["run"],
            "previous_status": previous.get("status"),
            "previous_reason": previous.get("reason"),
            "previous_digest": verdict_digest(previous) if previous else None,
        },
        "policy_overrides": request["overrides"],
    }
    if record is not None and todo != "analyse":
        state["analysis"] = reused_analysis(record, capture, todo)
    return state


def summarise(storage: Storage, bucket: str, settings: Settings, request: RescoreRequest) -> dict[str, Any]:
    """Counts by status, and every capture whose verdict the run changed, read from the documents;
    written to ``rescores/{exam}/{run}/summary.json``."""
    from .keys import capture_identity

    prefix = f"{settings.images_prefix}{request['exam_id']}/"
    keys = [key for key in storage.list_keys(bucket, prefix) if not key.endswith("/")]

    def document_of(key: str) -> tuple[str, Mapping[str, Any] | None]:
        identity = capture_identity(
            bucket,
            key,
            etag=None,
            version_id=None,
            images_prefix=settings.images_prefix,
            results_prefix=settings.results_prefix,
        )
        if request["students"] and identity.get("user_id") not in request["students"]:
            return key, None
        found = find_result(storage, bucket, identity["result_key"], identity["s3_input"])
        return key, (found[1] if found else {})

    with ThreadPoolExecutor(max_workers=32) as pool:  # thousands of small GETs: in parallel
        documents = [(key, doc) for key, doc in pool.map(document_of, keys) if doc is not None]
    statuses: Counter[str] = Counter()
    changes: Counter[str] = Counter()
    changed: list[dict[str, Any]] = []
    missing: list[str] = []
    rejudged = 0
    for key, document in documents:
        if not document:
            missing.append(key)
            continue
        statuses[document["status"]] += 1
        mark = document.get("rejudged") or {}
        if mark.get("run") != request["run"]:
            continue
        # Only a document whose verdict changed is written (``verdict_digest``): its reasons, its
        # evidence or its count, if not its status ("ALERT -> ALERT" then).
        rejudged += 1
        changes[f"{mark.get('previous_status')} -> {document['status']}"] += 1
        if len(changed) < MAX_CHANGES_LISTED:
            changed.append(
                {
                    "capture": key,
                    "previous_status": mark.get("previous_status"),
                    "previous_reason": mark.get("previous_reason"),
                    "status": document["status"],
                    "reason": document["reason"],
                }
            )
    summary = {
        "run": request["run"],
        "exam_id": request["exam_id"],
        "students": request["students"],
        "overrides": request["overrides"],
        "captures": len(documents),
        "rejudged": rejudged,
        "without_document": missing[:MAX_CHANGES_LISTED],
        "by_status": dict(sorted(statuses.items())),
        "changes": dict(sorted(changes.items())),
        "changed": changed,
    }
    storage.write_json(bucket, f"{SUMMARIES_PREFIX}{request['exam_id']}/{request['run']}/summary.json", summary)
    return summary
