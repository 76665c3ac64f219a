"""``proctoring accuracy``: its options and what it prints."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from proctoring_local.commands.options import Commands, workers_option
from proctoring_local.services.accuracy.cases import build_set
from proctoring_local.services.accuracy.exams import (
    CAPTURES,
    build_exams,
    exam_goal_problems,
    exam_lines,
    measure_exams,
)
from proctoring_local.services.accuracy.measure import measure, write_page
from proctoring_local.services.accuracy.scoring import report_lines
from proctoring_local.services.checks import claim_build_folder


def run_accuracy(
    *,
    analyzer: str = "local",
    workers: int | None = None,
    keep: str | None = None,
    html: str | None = None,
    shared: bool = True,
    small: bool = False,
    exams: bool = True,
) -> int:
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="proctoring-accuracy-"))
    try:
        if keep:
            claim_build_folder(root, "accuracy")
        cases = build_set(root, use_shared=shared, small=small)
        people = sorted({case.student for case in cases})
        print(f"set: {len(cases)} captures of {len(people)} students ({', '.join(people)}); labels in labels.json")
        score, report = measure(root, analyzer=analyzer, workers=workers)
        for line in report_lines(score, analyzer):
            print(line)
        print(f"pipeline: {report.rate:.2f} images/s with {report.workers} worker(s)")
        if analyzer == "local":
            from proctoring_local.services.bench import raw_analyzer_rate

            paths = [root / case.key for case in cases if case.category in ("genuine", "impostor")]
            rate, seconds = raw_analyzer_rate(root, paths)
            print(f"offline analyzer alone, one core: {seconds * 1000:.0f} ms per capture ({rate:.2f} images/s)")
        from proctoring.config import get_settings
        from proctoring_local.services.accuracy import pose

        for line in pose.report_lines(get_settings().max_yaw):
            print(line)
        if html:
            write_page(root, score, html)
        problems = score.goal_problems()
        if exams:
            exams_root = root / "exams"
            built = build_exams(exams_root, use_shared=shared, small=small)
            print(f"exams: {len(built)} students, {len(built) * CAPTURES} captures; labels in exams/exam_labels.json")
            exam_scores = measure_exams(exams_root, analyzer=analyzer, workers=workers)
            for line in exam_lines(exam_scores):
                print(line)
            problems += exam_goal_problems(exam_scores)
        for problem in problems:
            print(f"goal missed: {problem}", file=sys.stderr)
        print("every goal met" if not problems else f"{len(problems)} goal(s) missed")
        return 1 if problems else 0
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def register(commands: Commands) -> None:
    accuracy = commands.add_parser(
        "accuracy", help="error rates of the verdicts on a labelled set of webcam-like captures of real photos"
    )
    accuracy.add_argument(
        "--analyzer", choices=["local", "rekognition"], default="local", help="the analyzer measured (default local)"
    )
    workers_option(accuracy)
    accuracy.add_argument("--keep", metavar="DIR", help="build the set in DIR and keep it (with labels.json)")
    accuracy.add_argument("--html", metavar="FILE", help="write the misjudged captures as a review page")
    accuracy.add_argument("--small", action="store_true", help="a few conditions per photo (what the tests run)")
    accuracy.add_argument("--no-exams", action="store_true", help="single captures only, not the whole exams")
    accuracy.add_argument(
        "--no-shared", action="store_true", help="only the photos that ship in wheels, not ../shared/faces"
    )
    accuracy.set_defaults(
        handler=lambda args: run_accuracy(
            analyzer=args.analyzer,
            workers=args.workers,
            keep=args.keep,
            html=args.html,
            shared=not args.no_shared,
            small=args.small,
            exams=not args.no_exams,
        )
    )
