"""proctoring cost: transitions, Rekognition calls and Lambda time counted from real executions."""

from __future__ import annotations

import argparse
import json

import pytest

from proctoring_local.__main__ import main
from proctoring_local.commands.cost import parse_mix
from proctoring_local.services.cost import ANSWERS, PRICE_REKOGNITION_CALL, PRICE_TRANSITION, _kinds, measure, summarise


@pytest.fixture(scope="module")
def measured():
    return measure(24, {"ok": 2, "no_face": 1, "mismatch": 1}, students=4, rekognition_ms=200)


@pytest.fixture(scope="module")
def costs(measured):
    return measured[1]


def test_each_path_is_counted_from_its_execution(costs):
    by_kind = {cost.kind: cost for cost in costs}
    assert set(by_kind) == {"ok", "no_face", "mismatch"}
    for cost in costs:
        assert cost.transitions == len(cost.path.split(" > "))
        assert cost.path.startswith("ParseKey > RouteCapture > CompareAndDetectLabels")  # references enrolled
        assert cost.path.endswith("Notify > Finish > Done")  # the webhook is on
    assert by_kind["ok"].transitions == by_kind["mismatch"].transitions == 12  # the goal: at most 12
    # No face: CompareFaces refuses the capture, DetectFaces settles it: one more state.
    assert by_kind["no_face"].transitions == 13 and "HasFace > DetectFaces" in by_kind["no_face"].path


def test_rekognition_calls_are_those_the_analyzer_made(measured):
    enrolment, costs = measured
    for cost in costs:
        assert cost.rekognition["detect_labels"] == 1
        assert cost.rekognition["compare_faces"] == 1
        assert cost.rekognition["detect_faces"] == (1 if cost.kind == "no_face" else 0)
    # Each student's reference was analysed once, at enrolment, never again by a capture.
    assert enrolment.rekognition == {"detect_faces": 4} and enrolment.students == 4


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
    "DecideVerdict",
    "PersistResult",
    "Notify",
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
    for expected in (
        "state transitions per capture, by path:",
        "Rekognition calls per capture",
        "once per student at enrolment",
        "dollars per 1,000",
    ):
        assert expected in out
    assert main(["cost", "-n", "4", "--students", "2", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["captures"] == 4 and summary["transitions"] > 10
