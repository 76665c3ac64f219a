"""``proctoring load``: its options and what it prints."""

from __future__ import annotations

import resource
import shutil
import tempfile
from pathlib import Path

from proctoring_local.commands.options import Commands, positive_int, workers_option
from proctoring_local.services.checks import claim_build_folder
from proctoring_local.services.load import run_load_check


def run_load(captures: int = 1000, students: int = 50, workers: int | None = None, keep: str | None = None) -> int:
    from proctoring_local.services.bench import build_captures

    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="proctoring-load-"))
    claim_build_folder(root, "load")
    try:
        print(f"building {captures} captures of {students} students in {root} ...", flush=True)
        build_captures(root, captures, (640, 480), students=students)
        report = run_load_check(root, workers=workers, progress=True)
        rate = report.captures / report.seconds if report.seconds else 0.0
        print(f"captures:            {report.captures}  ({report.seconds:.0f} s, {rate:.2f} images/s)")
        print(f"result documents:    {report.documents}")
        print(
            f"webhook deliveries:  {report.deliveries}  (duplicates {report.duplicate_deliveries}, "
            f"bad signatures {report.bad_signatures})"
        )
        print(f"alert counts:        {'exact' if not report.alert_problems else report.alert_problems[:5]}")
        print(f"ERROR documents:     {len(report.error_documents)}  {report.error_documents[:5] or ''}".rstrip())
        print(
            f"second run:          {report.second_run_deliveries} deliveries, "
            f"{report.second_run_changed} documents changed  ({report.second_run_seconds:.0f} s, "
            f"{report.second_run_reused} captures' analyses reused)"
        )
        for problem in report.second_run_problems[:10]:
            print(f"  {problem}")
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak RSS:            runner {own:.0f} MB, largest worker {child:.0f} MB")
        print("PASS" if report.ok else "FAIL")
        return 0 if report.ok else 1
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def register(commands: Commands) -> None:
    load = commands.add_parser("load", help="many captures in one run: nothing lost, nothing sent twice")
    load.add_argument("-n", "--captures", type=positive_int, default=1000, help="captures (default 1000)")
    load.add_argument("--students", type=positive_int, default=50, help="students they are spread over (default 50)")
    workers_option(load)
    load.add_argument("--keep", metavar="DIR", help="build the captures in DIR and keep them")
    load.set_defaults(
        handler=lambda args: run_load(
            captures=args.captures, students=args.students, workers=args.workers, keep=args.keep
        )
    )
