"""python -m dev cost: transitions, Rekognition calls and Lambda time counted from real executions."""

from __future__ import annotations

import argparse
import json

import pytest

from dev.__main__ import main
from dev.cost import ANSWERS, PRICE_REKOGNITION_CALL, PRICE_TRANSITION, _kinds, measure, parse_mix, summarise


@pytest.fixture(scope="module")
def costs():
    return measure(24, {"ok": 2, "no_face": 1, "mismatch": 1}, students=4, rekognition_ms=200)


def test_each_path_is_counted_from_its_execution(costs):
    by_kind = {cost.kind: cost for cost in costs}
    assert set(by_kind) == {"ok", "no_face", "mismatch"}
    for cost in costs:
        assert cost.transitions == len(cost.path.split(" > "))
        assert cost.path.startswith("Configuration > ParseKey") and cost.path.endswith("Finish > Done")
        assert "Notify" in cost.path  # the webhook is on
    # No face: no comparison, so no Parallel state and its two branches.
    assert "CompareAndDetectLabels" not in by_kind["no_face"].path
    assert by_kind["no_face"].transitions < by_kind["ok"].transitions == by_kind["mismatch"].transitions


def test_rekognition_calls_are_those_the_analyzer_made(costs):
    for cost in costs:
        assert cost.rekognition["detect_labels"] == 1
        assert cost.rekognition["compare_faces"] == (0 if cost.kind == "no_face" else 1)
        assert cost.rekognition["detect_faces"] in (1, 2)  # 2: the first comparison of a student's reference
    # This one warm process analyses each student's reference once (4 students, each compared).
    assert sum(cost.rekognition["detect_faces"] - 1 for cost in costs) == 4


def test_lambda_time_is_each_steps_duration_times_its_memory_plus_the_calls_wait(costs):
    for cost in costs:
        assert cost.invocations == sum(1 for state in cost.path.split(" > ") if state in _TASKS)
        calls = sum(cost.rekognition.values())
        assert cost.gb_seconds >= calls * 0.2 * 1.0  # the image steps' 1 GB for 200 ms a call, at least


_TASKS = {
    "ParseKey",
    "DetectFaces",
    "CompareToReference",
    "DetectLabels",
    "DetectLabelsOnly",
    "DecideVerdict",
    "PersistResult",
    "Notify",
    "RecordNotification",
}


def test_dollars_follow_the_counts(costs):
    summary = summarise(costs)
    dollars = summary.dollars_per_thousand()
    assert dollars["Step Functions"] == pytest.approx(1000 * summary.transitions * PRICE_TRANSITION)
    assert dollars["Rekognition"] == pytest.approx(1000 * sum(summary.rekognition.values()) * PRICE_REKOGNITION_CALL)


def test_the_mix_is_honoured_and_checked():
    kinds = _kinds(200, {"ok": 85, "no_face": 5, "mismatch": 5, "phone": 5})
    assert {kind: kinds.count(kind) for kind in set(kinds)} == {"ok": 170, "no_face": 10, "mismatch": 10, "phone": 10}
    assert parse_mix("ok=9, phone=1") == {"ok": 9, "phone": 1}
    for bad in ("ok=0", "ok=x", "tea=3", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_mix(bad)
    assert set(ANSWERS) == {"ok", "no_face", "mismatch", "phone"}


def test_the_command_prints_per_path_calls_and_dollars(capsys):
    assert main(["cost", "-n", "8", "--students", "2", "--mix", "ok=3,phone=1"]) == 0
    out = capsys.readouterr().out
    for expected in ("state transitions per capture, by path:", "Rekognition calls per capture", "dollars per 1,000"):
        assert expected in out
    assert main(["cost", "-n", "4", "--students", "2", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["captures"] == 4 and summary["transitions"] > 10
