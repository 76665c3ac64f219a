"""A smaller version of ``proctoring load``: many captures in one local run, nothing lost or doubled."""

from __future__ import annotations

import random
import shutil

from proctoring_local.services.load import check_alert_counts, run_load_check
from tests.builders import synthetic_jpeg


def build(root, captures: int, students: int, seed: int = 5) -> dict[str, int]:
    rng = random.Random(seed)
    alerts: dict[str, int] = {}
    for student in range(students):
        (root / "reference").mkdir(parents=True, exist_ok=True)
        (root / "reference" / f"s{student:02d}.jpg").write_bytes(synthetic_jpeg(1000 + student))
    for index in range(captures):
        student = f"s{index % students:02d}"
        alerting = rng.random() < 0.3
        alerts[student] = alerts.get(student, 0) + alerting
        name = f"capture_{index:04d}{'_alert' if alerting else ''}.jpg"
        path = root / "images" / "exam" / student / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(synthetic_jpeg(index))
    return alerts


def test_many_captures_one_run_nothing_lost_nothing_doubled(tmp_path):
    expected_alerts = build(tmp_path, captures=120, students=8)

    report = run_load_check(tmp_path, workers=2, analyzer_factory="tests.fakes:alert_by_name_analyzer")

    assert report.documents == report.captures == 120
    assert report.deliveries == 120
    assert report.duplicate_deliveries == 0
    assert report.bad_signatures == 0
    assert report.alert_problems == []
    assert report.error_documents == []
    assert report.second_run_deliveries == 0, report.second_run_problems
    assert report.second_run_changed == 0, report.second_run_problems
    assert report.second_run_reused == 120  # the second run analysed nothing again
    assert report.ok
    import json

    for student, alerts in expected_alerts.items():
        documents = [json.loads(p.read_text()) for p in (tmp_path / "results/exam" / student).glob("*.json")]
        counted = max((d["alert_count"] or 0) for d in documents)
        assert counted == alerts, student


def test_alert_count_checker_catches_gaps_repeats_and_double_finals():
    def doc(status, count, user="ana"):
        return {"exam_id": "e", "user_id": user, "status": status, "alert_count": count}

    good = {"a": doc("ALERT", 1), "b": doc("ALERT", 2), "c": doc("ALERT_FINAL", 3), "d": doc("OK", 3)}
    assert check_alert_counts(good, 3) == []
    assert check_alert_counts({**good, "e": doc("ALERT", 3)}, 3)  # a number given twice
    assert check_alert_counts({"a": doc("ALERT", 1), "b": doc("ALERT", 3)}, 3)  # a gap
    assert check_alert_counts({"a": doc("ALERT", 1), "b": doc("ALERT", 2), "c": doc("ALERT", 3)}, 3)  # no final


def test_second_run_damage_is_reported_capture_by_capture(tmp_path):
    """The check can fail: with the idempotency records lost between the runs, every capture is
    sent again and every document rewritten, and the report names them and what changed; a capture
    that could not be judged is named too."""
    build(tmp_path, captures=6, students=2)
    unreadable = sorted((tmp_path / "images").rglob("*.jpg"))[0]
    unreadable.write_bytes(b"not an image at all")
    state = tmp_path / ".proctoring"

    report = run_load_check(
        tmp_path,
        workers=1,
        analyzer_factory="tests.fakes:alert_by_name_analyzer",
        between_runs=lambda: shutil.rmtree(state),
    )

    assert not report.ok
    key = unreadable.relative_to(tmp_path).as_posix()
    assert report.error_documents == [f"{key}: IMAGE_UNREADABLE"]
    assert report.documents == report.deliveries == 6
    assert report.second_run_deliveries == 6
    assert report.second_run_changed == 6
    sent_again = sorted(p for p in report.second_run_problems if p.startswith("sent again: exam/"))
    rewritten = [p for p in report.second_run_problems if p.startswith("rewritten differently: images/exam/")]
    assert len(sent_again) == len(rewritten) == 6
    # A fresh judgement has a new time, and a fresh delivery a new delivery time.
    assert all("processed_at" in p and "notification" in p for p in rewritten)
