"""``proctoring reconcile (DIR | s3://BUCKET)``: does every capture have its one finished document?

The pipeline's promise is one result document per upload under the images prefix. This checks it
after the fact, on a run folder or on the deployed bucket (with the user's credentials), capture by
capture, and names what breaks it:

* ``missing``: no document (the upload event was lost, or sits in the dead-letter queue);
* ``stale``: the document judged other bytes than the capture has now (it was uploaded again, and
  that upload's execution has not finished or never ran);
* ``stuck``: the document still says ``notification: pending`` long after any execution could
  still be running (the state machine's 4-hour timeout): the delivery never finished;
* ``undelivered``: the webhook never accepted the document (``notification: failed``, after the
  state machine's retries or on a 4xx); processing again delivers it once the receiver is back;
* ``failed``: an ``ERROR`` document whose cause was the pipeline, not the input (``PROCESSING_FAILED``:
  a step failed after its retries), which processing again can mend.

Uploads younger than ``--settle`` minutes are counted as in progress, not as problems. With
``--start STATE_MACHINE_ARN`` (S3 only) one execution is started for each problem capture, from
the same minimal event the README's re-judging loop uses; processing again is safe (see Redrive).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proctoring_local.services.targets import bucket_listing
from proctoring_local.services.terminal import as_cell, printable_key
from proctoring_local.services.verdicts import natural_order

if TYPE_CHECKING:
    from proctoring.config import Settings
    from proctoring.storage import Storage

# The state machine's TimeoutSeconds: past it, no execution about a capture is still running.
EXECUTION_TIMEOUT = timedelta(hours=4)
# What processing again can mend: the pipeline failed, not the input.
RETRYABLE_ERRORS = frozenset({"PROCESSING_FAILED"})
PROBLEMS = ("missing", "stale", "stuck", "undelivered", "failed")


@dataclass(frozen=True)
class ListedCapture:
    """One object under the images prefix, as a listing gives it."""

    key: str
    etag: str | None
    modified: datetime


@dataclass(frozen=True)
class CaptureCheck:
    key: str
    state: str  # "done", "in_progress", or one of PROBLEMS
    status: str | None = None  # the document's status, when there is one
    result_key: str | None = None
    detail: str = ""


def check_capture(
    storage: Storage, bucket: str, capture: ListedCapture, settings: Settings, *, now: datetime, settle: timedelta
) -> CaptureCheck:
    """Where ``capture`` stands: its document found as PersistResult placed it, and compared with
    the capture's current bytes (by ETag) and the time."""
    from proctoring.keys import capture_identity
    from proctoring.result_store import find_result

    identity = capture_identity(
        bucket,
        capture.key,
        etag=capture.etag,
        version_id=None,
        images_prefix=settings.images_prefix,
        results_prefix=settings.results_prefix,
    )
    recent = now - capture.modified < settle
    found = find_result(storage, bucket, identity["result_key"], identity["s3_input"])
    if found is None:
        if recent:
            return CaptureCheck(capture.key, "in_progress", detail="uploaded moments ago, no document yet")
        return CaptureCheck(capture.key, "missing", detail=f"no document at {identity['result_key']}")
    result_key, document = found
    status = document.get("status")
    # Both as capture_identity writes them, quotes stripped.
    judged = (document.get("object_version") or {}).get("etag")
    if identity["etag"] and judged and judged != identity["etag"]:
        state = "in_progress" if recent else "stale"
        return CaptureCheck(capture.key, state, status, result_key, "the document judged an earlier upload of this key")
    notification = document.get("notification") or {}
    if notification.get("status") == "pending":
        written = _parse_time(document.get("processed_at"))
        if written is not None and now - written < EXECUTION_TIMEOUT:
            return CaptureCheck(capture.key, "in_progress", status, result_key, "webhook delivery under way")
        return CaptureCheck(
            capture.key,
            "stuck",
            status,
            result_key,
            f"notification still pending since {document.get('processed_at')}: the delivery never finished",
        )
    if notification.get("status") == "failed":
        detail = f"the webhook never accepted it after {notification.get('attempts')} attempt(s): "
        return CaptureCheck(
            capture.key, "undelivered", status, result_key, detail + str(notification.get("last_error"))
        )
    if status == "ERROR" and document.get("reason") in RETRYABLE_ERRORS:
        error = document.get("error") or {}
        return CaptureCheck(capture.key, "failed", status, result_key, f"{error.get('name')}: {error.get('message')}")
    return CaptureCheck(capture.key, "done", status, result_key)


def _parse_time(text: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def folder_captures(root: Path, images_prefix: str) -> Iterator[ListedCapture]:
    """The captures of a run folder, as the local runner finds them."""
    from proctoring.storage import file_etag
    from proctoring_local.services.run.captures import find_captures, key_name_problem

    for key in find_captures(root, images_prefix=images_prefix):
        if key_name_problem(key):
            continue  # not a name S3 could hold; the runner names these and never runs them
        path = root / key
        yield ListedCapture(key, file_etag(path), datetime.fromtimestamp(path.stat().st_mtime, UTC))


def bucket_captures(client: Any, bucket: str, images_prefix: str) -> Iterator[ListedCapture]:
    """Every object under the images prefix, as S3 lists it (ETags as HeadObject gives them)."""
    for item in bucket_listing(client, bucket, images_prefix):
        yield ListedCapture(item["Key"], (item.get("ETag") or "").strip('"') or None, item["LastModified"])


def upload_event(bucket: str, key: str) -> dict[str, Any]:
    """The minimal "Object Created" event: ParseKey reads size, ETag and version from the bucket."""
    detail = {"bucket": {"name": bucket}, "object": {"key": key}}
    return {"detail-type": "Object Created", "source": "aws.s3", "detail": detail}


def start_executions(client: Any, state_machine_arn: str, bucket: str, checks: list[CaptureCheck]) -> int:
    """One execution per problem capture; how many were started.

    Each is named ``reconcile-{time}-{digest of the key}``: found in the console by where it came
    from, and new on every run (a name is refused for 90 days once used).
    """
    started = 0
    moment = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    for check in checks:
        if check.state in PROBLEMS:
            digest = hashlib.sha256(check.key.encode("utf-8")).hexdigest()[:16]
            client.start_execution(
                stateMachineArn=state_machine_arn,
                name=f"reconcile-{moment}-{digest}",
                input=json.dumps(upload_event(bucket, check.key)),
            )
            started += 1
    return started


def summary_rows(checks: list[CaptureCheck], images_prefix: str) -> dict[str, Counter[str]]:
    """Per exam: captures, the documents' statuses, in progress and each problem."""
    from proctoring_local.services.run.captures import student_of

    rows: dict[str, Counter[str]] = defaultdict(Counter)
    for check in checks:
        student = student_of(check.key, images_prefix)
        exam = student[0] if student else "(invalid key)"
        rows[exam]["captures"] += 1
        if check.status and check.state != "stale":
            rows[exam][check.status] += 1
        rows[exam][check.state] += 1
    return dict(sorted(rows.items(), key=lambda item: natural_order(item[0])))


def print_report(checks: list[CaptureCheck], images_prefix: str, where: str, *, shown: int = 20) -> None:
    from rich.console import Console
    from rich.table import Table

    # The verdicts themselves are the runner's table; this one is about the documents being there.
    # A problem gets its column where some capture has it, so that the table fits a terminal.
    rows = summary_rows(checks, images_prefix)
    found = {state for counts in rows.values() for state in counts}
    columns = ("captures", "done", "in_progress", *(problem for problem in PROBLEMS if problem in found))
    table = Table(title=f"Result documents in {where}")
    table.add_column("exam")
    for column in columns:
        table.add_column(column.replace("_", " "), justify="right")
    for exam, counts in rows.items():
        table.add_row(as_cell(exam), *(str(counts[column]) for column in columns))
    totals = sum(rows.values(), Counter())
    table.add_section()
    table.add_row("total", *(str(totals[column]) for column in columns))
    Console().print(table)
    for problem in PROBLEMS:
        having = [check for check in checks if check.state == problem]
        if having:
            print(f"{problem} ({len(having)}):")
            for check in having[:shown]:
                print(printable_key(f"  {check.key}: {check.detail}"))
            if len(having) > shown:
                print(f"  ... and {len(having) - shown} more (--json lists them all)")
