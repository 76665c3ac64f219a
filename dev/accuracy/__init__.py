"""``python -m dev accuracy``: how often the verdicts are wrong on webcam-like captures of real photos.

It builds the labelled set (``cases``), runs it through the whole local pipeline (the real ASL),
and prints the false-alert rate on genuine captures by reason, the miss rate of every kind of
capture that must alert, a confusion table of expected against given reason, and the throughput:
the pipeline's, and the analyzer's alone on one core. ``--html`` writes the misjudged captures as a
review page. See docs/accuracy.md for the set and the figures.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from dev.accuracy.cases import build_set, load_labels
from dev.accuracy.scoring import Score, judge, report_lines
from dev.checks import claim_build_folder
from dev.cli import Commands, workers_option

# Escalation is not what is measured: every alert stays an ALERT, whatever the student's count.
SETTINGS = {"ALERT_FINAL_THRESHOLD": "1000000"}


def measure(
    root: Path, *, analyzer: str = "local", workers: int | None = None, progress: bool = True
) -> tuple[Score, Any]:
    """Run the set built in ``root`` through the pipeline; its score and the run's report."""
    from dev.run import BUILT_LAYOUT, run_folder, stored_result_path

    cases = load_labels(root)
    report = run_folder(
        root, analyzer=analyzer, workers=workers, progress=progress, extra_env={**BUILT_LAYOUT, **SETTINGS}
    )
    documents = {}
    for case in cases:
        path = stored_result_path(root, case.key)
        if path is not None:
            documents[case.key] = json.loads(path.read_text())
    return judge(cases, documents), report


def run_accuracy(
    *,
    analyzer: str = "local",
    workers: int | None = None,
    keep: str | None = None,
    html: str | None = None,
    shared: bool = True,
    small: bool = False,
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
            from dev.bench import raw_analyzer_rate

            paths = [root / case.key for case in cases if case.category in ("genuine", "impostor")]
            rate, seconds = raw_analyzer_rate(root, paths)
            print(f"offline analyzer alone, one core: {seconds * 1000:.0f} ms per capture ({rate:.2f} images/s)")
        from dev.accuracy import pose
        from proctoring.config import get_settings

        for line in pose.report_lines(get_settings().max_yaw):
            print(line)
        if html:
            write_page(root, score, html)
        problems = score.goal_problems()
        for problem in problems:
            print(f"goal missed: {problem}", file=sys.stderr)
        print("every goal met" if not problems else f"{len(problems)} goal(s) missed")
        return 1 if problems else 0
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def write_page(root: Path, score: Score, path: str) -> None:
    """The misjudged captures as the review page shows them, each captioned with what was expected."""
    from dev.review import as_verdict, write_file
    from dev.review_page import render_page
    from dev.run import LOCAL_BUCKET
    from dev.targets import Target
    from proctoring.storage import LocalStorage

    wrong = [item for item in score.judged if item.wrong]
    verdicts = [as_verdict(item.case.key, item.document) for item in wrong]
    notes = {
        item.case.key: f"expected {item.case.expected} ({item.case.category}, {item.case.condition})" for item in wrong
    }
    target = Target(f"accuracy set in {root}", LOCAL_BUCKET, LocalStorage(root), root=root)
    page = render_page(target, verdicts, ("OK", "ALERT", "ALERT_FINAL", "ERROR"), "images/", "reference/", notes)
    write_file(path, page, owner_only=True)
    print(f"{len(wrong)} misjudged capture(s) written to {path} (it holds faces: keep it as the captures)")


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
        )
    )
