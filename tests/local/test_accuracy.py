"""proctoring accuracy: the labelled set, its scoring, and the goals on a small version of it."""

from __future__ import annotations

import json

import pytest

from proctoring_local.__main__ import main
from proctoring_local.services.accuracy.cases import Case, build_set, load_labels
from proctoring_local.services.accuracy.measure import measure
from proctoring_local.services.accuracy.scoring import MAX_FALSE_ALERT_RATE, judge, report_lines

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    """The small set from the photos that ship in wheels (what a clean clone has), judged once."""
    root = tmp_path_factory.mktemp("accuracy")
    cases = build_set(root, use_shared=False, small=True)
    score, report = measure(root, workers=2, progress=False)
    return root, cases, score, report


def test_every_case_is_labelled_beside_its_capture_with_its_source(small_set):
    root, cases, _score, _report = small_set
    assert load_labels(root) == cases
    assert {case.category for case in cases} == {
        "genuine",
        "glance",
        "impostor",
        "no_face",
        "two_faces",
        "person_behind",
        "turned_away",
    }
    for case in cases:
        assert (root / case.key).is_file()
        assert case.source and case.expected and case.condition


def test_the_small_set_meets_every_goal(small_set):
    _root, _cases, score, _report = small_set
    assert score.goal_problems() == [], "\n".join(report_lines(score, "local"))
    assert score.false_alert_rate() <= MAX_FALSE_ALERT_RATE
    assert all(not item.alerted for item in score.of("genuine", "glance"))


def test_a_capture_that_must_alert_and_passes_is_a_miss_and_a_missed_goal():
    case = Case("images/accuracy/ana/x.jpg", "ana", "FACE_MISMATCH", "impostor", "mid", "test")
    genuine = Case("images/accuracy/ana/y.jpg", "ana", "OK", "genuine", "dim", "test")
    ok = {"status": "OK", "reason": "", "reasons": []}
    dark = {"status": "ALERT", "reason": "LOW_QUALITY", "reasons": [{"code": "LOW_QUALITY"}]}
    score = judge([case, genuine], {case.key: ok, genuine.key: dark})
    assert score.misses("impostor") == (1, 0, 1)
    assert score.false_alerts_by_reason() == {"LOW_QUALITY": 1}
    problems = score.goal_problems()
    assert any("impostor" in problem and "passed as OK" in problem for problem in problems)
    assert any("LOW_QUALITY" in problem for problem in problems)
    assert any("false alerts on genuine captures: 100.0%, over 2%" in problem for problem in problems)


def test_the_command_prints_the_rates_the_confusion_table_and_the_throughput(tmp_path, capsys):
    page = tmp_path / "misjudged.html"
    status = main(["accuracy", "--small", "--no-shared", "--keep", str(tmp_path / "set"), "--html", str(page)])
    out = capsys.readouterr().out
    assert status == 0, out
    for expected in (
        "false alerts on genuine captures: 0 of",
        "impostor       missed (passed as OK) 0 of",
        "confusion: expected (rows)",
        "images/s with 2 worker(s)",
        "ms per capture",
        "every goal met",
    ):
        assert expected in out
    assert page.stat().st_mode & 0o777 == 0o600
    assert "misjudged capture(s) written" in out
    labels = json.loads((tmp_path / "set" / "labels.json").read_text())
    assert all({"key", "expected", "category", "source"} <= set(case) for case in labels)


@pytest.mark.slow
def test_whole_exams_are_measured_by_behaviour_against_their_goals(tmp_path):
    from proctoring_local.services.accuracy.exams import (
        BEHAVIOURS,
        CAPTURES,
        build_exams,
        exam_goal_problems,
        exam_lines,
        measure_exams,
    )

    students = build_exams(tmp_path, use_shared=False, small=True)
    assert {student.behaviour for student in students} == set(BEHAVIOURS)
    captures = sorted((tmp_path / "images" / "accuracy_exams").rglob("*.jpg"))
    assert len(captures) == len(students) * CAPTURES
    times = sorted({path.stat().st_mtime for path in captures})
    assert times[1] - times[0] == 30  # 30 s apart
    scores = {score.behaviour: score for score in measure_exams(tmp_path, workers=1)}
    assert all(score.final == 0 for score in scores.values() if score.honest)
    assert scores["replayed_camera"].by == ["REPLAYED_CAPTURE"] and scores["replayed_camera"].after == [1]
    assert scores["seat_taken"].after == [1] and scores["away"].within == 1
    lines = exam_lines(list(scores.values()))
    assert lines[-1].startswith("goals: honest students reaching ALERT_FINAL 0 (goal 0)")
    # A goal missed is named, with its numbers.
    from proctoring_local.services.accuracy.exams import BehaviourScore

    missed = [
        BehaviourScore("glances", True, 0, students=20, alerted=2, final=1),
        BehaviourScore("away", False, 3, students=2, flagged=2, within=1, after=[1, 4], by=["AWAY", "AWAY"]),
    ]
    assert exam_goal_problems(missed) == [
        "1 honest student(s) reached ALERT_FINAL (goal: none)",
        "2 of 20 honest students had an alert (goal: at most 1 in 20)",
        "away: flagged within 3 capture(s) for 1 of 2 students",
    ]
