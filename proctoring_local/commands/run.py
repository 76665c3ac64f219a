"""``proctoring run``: its options and what it prints."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from proctoring_local.commands.options import (
    Commands,
    capture_pattern,
    pipeline_options,
    positive_int,
    use_configured_webhook,
    webhook_secret,
    workers_option,
)
from proctoring_local.services.checks import UsageError
from proctoring_local.services.run.summary import print_summary
from proctoring_local.services.run.workers import (
    run_folder,
)

BUCKET_OPTIONS = ("exam", "student", "limit", "out", "write_results", "yes")


def cmd_run(args: argparse.Namespace) -> int:
    use_configured_webhook(args)
    on_bucket = args.dir.startswith("s3://")
    # A bucket's captures are judged by the service they were meant for, unless told otherwise.
    args.analyzer = args.analyzer or ("rekognition" if on_bucket else "local")
    if on_bucket:
        from proctoring_local.services.bucket_run import run_bucket

        if args.only:
            raise UsageError("--only is for a folder; choose a bucket's captures with --exam, --student and --limit")
        report = run_bucket(args, webhook_secret(args))
    else:
        given = [f"--{name.replace('_', '-')}" for name in BUCKET_OPTIONS if getattr(args, name)]
        if given:
            raise UsageError(f"{', '.join(given)}: only with s3://BUCKET (a folder's captures: --only)")
        report = run_folder(
            Path(args.dir),
            only=args.only,
            analyzer=args.analyzer,
            webhook=args.webhook,
            secret=webhook_secret(args),
            workers=args.workers,
            progress=not args.no_progress,
            in_flight=args.in_flight,
            analyses="refresh" if args.reanalyse else "reuse",
            webhook_origin=args.webhook_origin,
        )
    print_summary(report)
    if not report.complete:
        print("some captures have no result document (see above)", file=sys.stderr)
        return 1
    if report.failed:
        # Each has its ERROR document, but a step broke rather than the input being bad.
        print("some executions FAILED after their retries (see above)", file=sys.stderr)
        return 1
    if report.undelivered:
        # The documents stand and record the failure; the proctoring system never got them.
        print("some webhook deliveries failed after their retries (see above)", file=sys.stderr)
        return 1
    return 0


def register(commands: Commands) -> None:
    run = commands.add_parser(
        "run", help="process every capture under DIR/images against DIR/reference, or a bucket's (s3://BUCKET)"
    )
    run.add_argument(
        "dir",
        metavar="DIR|s3://BUCKET",
        help="the run folder, holding images/{exam}/{student}/ and reference/; or a bucket, whose chosen captures "
        "are copied into --out and judged there with your credentials",
    )
    run.add_argument(
        "--only",
        action="append",
        type=capture_pattern,
        metavar="GLOB",
        help="process only matching captures (a path, a folder or a glob on the key, e.g. 'exam1/ana/*'); repeatable",
    )
    pipeline_options(run)
    workers_option(run)
    run.add_argument(
        "--in-flight",
        type=positive_int,
        default=None,
        metavar="N",
        help="students each worker runs at once (default: 1 with the local analyzer, which keeps a core busy; "
        "4 with rekognition, whose calls mostly wait on the network)",
    )
    run.add_argument(
        "--reanalyse",
        action="store_true",
        help="analyse every capture again; by default a capture whose image, reference and analysis settings "
        "are unchanged since an earlier run reuses that run's analyses (every other step runs as always)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    bucket = run.add_argument_group("with s3://BUCKET")
    bucket.add_argument("--exam", metavar="ID", help="only this exam's captures")
    bucket.add_argument("--student", metavar="ID", help="only this student's captures")
    bucket.add_argument("--limit", type=positive_int, metavar="N", help="at most N captures (by key)")
    bucket.add_argument("--out", metavar="DIR", help="the local run folder (default: runs/BUCKET)")
    bucket.add_argument(
        "--write-results", action="store_true", help="put the documents under the bucket's results prefix too"
    )
    bucket.add_argument("--yes", action="store_true", help="do not ask before calling Rekognition")
    run.set_defaults(handler=cmd_run, finishes_on_interrupt=True)
