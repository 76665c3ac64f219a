"""``proctoring accuracy``: how often the verdicts are wrong on webcam-like captures of real photos.

It builds the labelled set (``cases``), runs it through the whole local pipeline (the real ASL),
and prints the false-alert rate on genuine captures by reason, the miss rate of every kind of
capture that must alert, a confusion table of expected against given reason, and the throughput:
the pipeline's, and the analyzer's alone on one core. ``--html`` writes the misjudged captures as a
review page. See docs/accuracy.md for the set and the figures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from proctoring_local.services.accuracy.cases import load_labels
from proctoring_local.services.accuracy.scoring import Score, judge

# Escalation is not what is measured: every alert stays an ALERT, whatever the student's count.
SETTINGS = {"ALERT_FINAL_THRESHOLD": "1000000"}


def measure(
    root: Path, *, analyzer: str = "local", workers: int | None = None, progress: bool = True
) -> tuple[Score, Any]:
    """Run the set built in ``root`` through the pipeline; its score and the run's report."""
    from proctoring_local.services.run.captures import stored_result_path
    from proctoring_local.services.run.workers import BUILT_LAYOUT, run_folder

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


def write_page(root: Path, score: Score, path: str) -> None:
    """The misjudged captures as the review page shows them, each captioned with what was expected."""
    from proctoring.storage import LocalStorage
    from proctoring_local.services.review_page import render_page
    from proctoring_local.services.targets import Target
    from proctoring_local.services.verdicts import as_verdict, write_file
    from proctoring_local.stand_ins.stack import LOCAL_BUCKET

    wrong = [item for item in score.judged if item.wrong]
    verdicts = [as_verdict(item.case.key, item.document) for item in wrong]
    notes = {
        item.case.key: f"expected {item.case.expected} ({item.case.category}, {item.case.condition})" for item in wrong
    }
    target = Target(f"accuracy set in {root}", LOCAL_BUCKET, LocalStorage(root), root=root)
    page = render_page(target, verdicts, ("OK", "ALERT", "ALERT_FINAL", "ERROR"), "images/", "reference/", notes)
    write_file(path, page, owner_only=True)
    print(f"{len(wrong)} misjudged capture(s) written to {path} (it holds faces: keep it as the captures)")
