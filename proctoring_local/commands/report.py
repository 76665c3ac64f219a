"""``proctoring report``: its options and what it prints."""

from __future__ import annotations

import argparse
import sys

from proctoring_local.commands.options import Commands, positive_int
from proctoring_local.services.checks import UsageError
from proctoring_local.services.report_page import DEFAULT_MAX_PICTURES, render_report, report_model


def cmd_report(args: argparse.Namespace) -> int:
    from proctoring.config import Settings
    from proctoring_local.services.targets import aws_refusals, open_target
    from proctoring_local.services.verdicts import write_file

    target = open_target(args.target, "report", Settings.from_env().images_prefix)
    with aws_refusals(args.target):
        model = report_model(target, args.exam, args.max_pictures)
    if not model["students"]:
        raise UsageError(f"no result document of exam {args.exam!r} in {args.target}")
    out = args.out or f"report-{args.exam}.html"
    write_file(out, render_report(model), owner_only=True)
    holds = model["holds"]
    print(
        f"{out}: {holds['students']} students, {holds['captures']} captures, {holds['pictures']} pictures "
        "(readable by you only; it shows students' faces)",
        file=sys.stderr,
    )
    return 0


def register(commands: Commands) -> None:
    report = commands.add_parser("report", help="an exam as one HTML page: each student's captures as a timeline")
    report.add_argument("target", metavar="DIR|s3://BUCKET", help="a run folder, or the deployed bucket")
    report.add_argument("--exam", required=True, metavar="ID", help="the exam")
    report.add_argument("--out", metavar="FILE", help="the page to write (default: report-EXAM.html)")
    report.add_argument(
        "--max-pictures",
        type=positive_int,
        default=DEFAULT_MAX_PICTURES,
        metavar="N",
        help=f"thumbnails of at most N captures that need a look (default {DEFAULT_MAX_PICTURES})",
    )
    report.set_defaults(handler=cmd_report)
