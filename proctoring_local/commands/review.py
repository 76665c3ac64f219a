"""``proctoring review``: its options and what it prints."""

from __future__ import annotations

import io
import sys

from proctoring_local.commands.options import Commands
from proctoring_local.services.checks import UsageError
from proctoring_local.services.targets import aws_refusals, open_target
from proctoring_local.services.verdicts import (
    NEEDS_A_LOOK,
    STATUSES,
    bucket_results,
    folder_results,
    print_review,
    read_verdicts,
    write_csv,
    write_file,
)


def run(
    target: str,
    *,
    csv_path: str | None = None,
    html_path: str | None = None,
    statuses: list[str] | None = None,
    exam: str | None = None,
    references: bool = False,
    analyzer: str = "local",
) -> int:
    from proctoring.config import Settings

    settings = Settings.from_env()
    opened = open_target(target, "review", settings.images_prefix)
    if references:
        from proctoring_local.services.reference_checks import run_references

        with aws_refusals(target):
            return run_references(opened, settings.reference_prefix, analyzer)
    if opened.root is not None:
        keys = folder_results(opened.root, settings.results_prefix)
    else:
        keys = bucket_results(opened.s3, opened.bucket, settings.results_prefix)
    with aws_refusals(target):
        verdicts, unreadable = read_verdicts(opened, keys)
    if exam is not None:
        verdicts = [verdict for verdict in verdicts if verdict.exam_id == exam]
        if not verdicts:
            raise UsageError(f"no result document of exam {exam!r} in {target}")
    wanted = tuple(statuses) if statuses else None
    if csv_path:
        rows = [verdict for verdict in verdicts if wanted is None or verdict.status in wanted]
        if csv_path == "-":
            write_csv(rows, sys.stdout)
        else:
            buffer = io.StringIO()
            write_csv(rows, buffer)
            # utf-8-sig: spreadsheets then read accented names as UTF-8, not as their locale's code page.
            write_file(csv_path, buffer.getvalue(), encoding="utf-8-sig", owner_only=True)
            print(f"{len(rows)} row(s) written to {csv_path}", file=sys.stderr)
    if html_path:
        from proctoring_local.services.review_page import render_page

        shown = wanted or NEEDS_A_LOOK
        with aws_refusals(target):  # the pictures are read from the bucket too
            page = render_page(opened, verdicts, shown, settings.images_prefix, settings.reference_prefix)
        # The page holds students' faces, fetched from a private bucket: no other local user reads it.
        write_file(html_path, page, owner_only=True)
        count = sum(verdict.status in shown for verdict in verdicts)
        print(
            f"{count} capture(s) on {html_path} (readable by you only); it shows students' faces: "
            "keep it as safe as the captures",
            file=sys.stderr,
        )
    if not csv_path and not html_path:
        print_review(verdicts, target, wanted or NEEDS_A_LOOK)
    for line in unreadable:
        print(f"note: {line}", file=sys.stderr)
    return 0


def register(commands: Commands) -> None:
    review = commands.add_parser(
        "review",
        help="the captures a proctor has to look at: a table, CSV, or a page with the pictures (a run folder or "
        "s3://BUCKET)",
    )
    review.add_argument("target", metavar="DIR|s3://BUCKET", help="a run folder, or the deployed bucket")
    review.add_argument("--exam", metavar="EXAM", help="only this exam's documents")
    review.add_argument(
        "--status",
        action="append",
        choices=STATUSES,
        help="only documents with this status; repeatable (default: ALERT_FINAL, ALERT and ERROR on the "
        "terminal and the page, every status in --csv)",
    )
    review.add_argument("--csv", metavar="FILE", help="write the documents as CSV rows to FILE ('-': standard output)")
    review.add_argument(
        "--html",
        metavar="FILE",
        help="write a page of the captures to look at, beside each student's reference, faces boxed "
        "(it holds students' faces)",
    )
    review.add_argument(
        "--references",
        action="store_true",
        help="list the reference photos that cannot be used, and why (in a folder, unchecked ones are checked first)",
    )
    review.add_argument(
        "--analyzer",
        choices=("local", "rekognition"),
        default="local",
        help="what checks a folder's unchecked references with --references (default: local)",
    )
    review.set_defaults(
        handler=lambda args: run(
            args.target,
            csv_path=args.csv,
            html_path=args.html,
            statuses=args.status,
            exam=args.exam,
            references=args.references,
            analyzer=args.analyzer,
        )
    )
