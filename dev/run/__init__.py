"""``python -m dev run DIR``: the whole pipeline on a folder of images, on this machine.

The folder is the bucket: ``DIR/images/{exam_id}/{user_id}/*`` are the captures,
``DIR/reference/{user_id}.jpg`` the references, and results land in ``DIR/results/`` with the same
keys as on S3 (other folders when IMAGES_PREFIX, REFERENCE_PREFIX or RESULTS_PREFIX say so). Each
capture becomes the S3 "Object Created" event EventBridge would deliver; the event is matched
against the upload rule declared in template.yaml and, when it matches, starts an execution of the
real ``statemachine/proctoring.asl.json`` in-process.

Students are spread over worker processes (both cores by default). A student's captures stay in
one worker, in file-name order, so escalation to ALERT_FINAL is reproducible.

``captures`` finds the captures and runs one, ``workers`` runs them all, ``report`` summarises.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dev.cli import Commands, capture_pattern, pipeline_options, positive_int, webhook_secret, workers_option
from dev.run.captures import (
    LOCAL_BUCKET,
    CaptureOutcome,
    find_captures,
    key_name_problem,
    not_files_under,
    printable_key,
    process_capture,
    result_key_for,
    result_name_problem,
    shared_results,
    stored_result_path,
    student_of,
)
from dev.run.process import drain_groups
from dev.run.report import STATUSES, RunReport, print_summary, review_command, this_python
from dev.run.workers import (
    BUILT_LAYOUT,
    DEFAULT_SECRET,
    RunInterrupted,
    WorkerCrashed,
    run_folder,
    step_environment,
)

__all__ = [
    "BUILT_LAYOUT",
    "DEFAULT_SECRET",
    "LOCAL_BUCKET",
    "STATUSES",
    "CaptureOutcome",
    "RunInterrupted",
    "RunReport",
    "WorkerCrashed",
    "drain_groups",
    "find_captures",
    "key_name_problem",
    "not_files_under",
    "print_summary",
    "printable_key",
    "process_capture",
    "register",
    "result_key_for",
    "result_name_problem",
    "review_command",
    "run_folder",
    "shared_results",
    "step_environment",
    "stored_result_path",
    "student_of",
    "this_python",
]


def cmd_run(args: argparse.Namespace) -> int:
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
    run = commands.add_parser("run", help="process every capture under DIR/images against DIR/reference")
    run.add_argument("dir", metavar="DIR", help="the run folder, holding images/{exam}/{student}/ and reference/")
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
    run.set_defaults(handler=cmd_run, finishes_on_interrupt=True)
