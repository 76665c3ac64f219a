"""``proctoring reconcile``: its options and what it prints."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from proctoring_local.commands.options import Commands, non_negative_minutes
from proctoring_local.services.checks import UsageError
from proctoring_local.services.targets import READERS, aws_refusals, open_target

if TYPE_CHECKING:
    from proctoring.config import Settings
    from proctoring.storage import Storage
from proctoring_local.services.reconcile import (
    PROBLEMS,
    CaptureCheck,
    ListedCapture,
    bucket_captures,
    check_capture,
    folder_captures,
    print_report,
    start_executions,
    summary_rows,
)


def reconcile(
    storage: Storage,
    bucket: str,
    captures: Iterable[ListedCapture],
    settings: Settings,
    *,
    now: datetime | None = None,
    settle: timedelta = timedelta(0),
    threads: int = READERS,
) -> list[CaptureCheck]:
    """Every capture's check, in listing order; ``threads`` documents are read at once (each read
    is a round trip to S3)."""
    now = now or datetime.now(UTC)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(
            pool.map(
                lambda capture: check_capture(storage, bucket, capture, settings, now=now, settle=settle), captures
            )
        )


def run(target: str, *, settle_minutes: float | None, start: str | None, as_json: bool) -> int:
    from proctoring.config import Settings

    settings = Settings.from_env()
    images_prefix = settings.images_prefix
    if start and not target.startswith("s3://"):
        raise UsageError("--start needs s3://BUCKET; for a run folder, run `proctoring run DIR` again")
    opened = open_target(target, "reconcile", images_prefix)
    on_s3, bucket = opened.on_s3, opened.bucket
    if opened.root is not None:
        listing = folder_captures(opened.root, images_prefix)
        settle = timedelta(minutes=settle_minutes or 0)
    else:
        listing = bucket_captures(opened.s3, bucket, images_prefix)
        settle = timedelta(minutes=15 if settle_minutes is None else settle_minutes)
    with aws_refusals(target):
        checks = reconcile(opened.storage, bucket, listing, settings, settle=settle)
    problems = [check for check in checks if check.state in PROBLEMS]
    if as_json:
        json.dump(
            {"target": target, "summary": summary_rows(checks, images_prefix), "captures": [asdict(c) for c in checks]},
            sys.stdout,
            indent=2,
        )
        print()
    else:
        print_report(checks, images_prefix, target)
    if start and problems:
        import boto3

        with aws_refusals(start):
            started = start_executions(boto3.client("stepfunctions"), start, bucket, problems)
        print(f"started {started} execution(s) on {start}", file=sys.stderr)
    elif problems and on_s3:
        print(f"{len(problems)} capture(s) need processing again: --start STATE_MACHINE_ARN does it", file=sys.stderr)
    elif problems:
        print(
            f"{len(problems)} capture(s) need processing again: `proctoring run {target}` does it "
            "(captures already judged are answered from their stored verdicts, not counted or sent again)",
            file=sys.stderr,
        )
    return 1 if problems else 0


def register(commands: Commands) -> None:
    reconcile = commands.add_parser(
        "reconcile", help="check that every capture has its one finished document (a run folder or s3://BUCKET)"
    )
    reconcile.add_argument("target", metavar="DIR|s3://BUCKET", help="a run folder, or the deployed bucket")
    reconcile.add_argument(
        "--settle",
        type=non_negative_minutes,
        default=None,
        metavar="MINUTES",
        help="uploads younger than this are in progress, not problems (default: 15 for a bucket, 0 for a folder)",
    )
    reconcile.add_argument(
        "--start",
        metavar="STATE_MACHINE_ARN",
        help="start one execution per missing, stale, stuck or failed capture (s3://BUCKET only)",
    )
    reconcile.add_argument("--json", action="store_true", help="every capture's state as JSON on stdout")
    reconcile.set_defaults(
        handler=lambda args: run(args.target, settle_minutes=args.settle, start=args.start, as_json=args.json)
    )
