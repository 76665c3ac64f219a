"""Reasons over a window of captures through the real ASL: the capture's time from the S3 event,
the student's timeline in DynamoDB (moto), and Rekognition's answers in its own shapes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from proctoring_local.stand_ins.canned_rekognition import compared
from tests.builders import OK_ANSWERS, synthetic_jpeg

START = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
NO_FACE = {"detect_faces": "detect_faces_none", "detect_labels": "detect_labels_person"}


@pytest.fixture
def pipeline(make_aws_pipeline):
    built = make_aws_pipeline()
    built.reference("ana", synthetic_jpeg(1000))
    built.enrol("ana")
    return built


def judge(pipeline, index: int, answers: dict, minutes: float | None = None) -> dict:
    key = f"images/exam/ana/c{index:02d}.jpg"
    at = START + timedelta(minutes=index if minutes is None else minutes)
    assert pipeline.sfn.run(pipeline.upload(key, synthetic_jpeg(index), at=at, **answers)).status == "SUCCEEDED"
    return pipeline.result(f"results/exam/ana/c{index:02d}.json")


def codes(document: dict) -> list[str]:
    return [reason["code"] for reason in document["reasons"]]


def test_three_captures_without_a_face_are_away_with_their_evidence(pipeline):
    judge(pipeline, 0, OK_ANSWERS)
    documents = [judge(pipeline, i, NO_FACE) for i in (1, 2, 3)]
    assert [codes(d) for d in documents] == [["NO_FACE"], ["NO_FACE"], ["AWAY", "NO_FACE"]]
    away = documents[2]["reasons"][0]
    assert away["evidence"]["captures"] == [f"images/exam/ana/c0{i}.jpg" for i in (1, 2, 3)]
    assert away["evidence"]["absent_seconds"] == 180.0
    assert documents[2]["captured_at"] == "2026-12-05T09:03:00Z"


def test_a_near_match_that_drifts_from_the_students_own_captures_is_identity_changed(pipeline):
    for i in range(3):
        assert judge(pipeline, i, {**OK_ANSWERS, "compare_faces": compared("detect_faces_one", 99.4)})["status"] == "OK"
    near = [judge(pipeline, i, {**OK_ANSWERS, "compare_faces": compared("detect_faces_one", 91.0)}) for i in (3, 4, 5)]
    # Each alone is above the threshold (90): OK, OK, then the third in a row is a changed identity.
    assert [codes(d) for d in near] == [[], [], ["IDENTITY_CHANGED"]]
    assert near[2]["reasons"][0]["evidence"]["baseline"] == 99.4
    assert near[2]["alert_count"] == 1  # it counts toward escalation like any reason


def test_a_capture_arriving_late_is_judged_on_what_was_taken_before_it(pipeline):
    judge(pipeline, 0, OK_ANSWERS)
    judge(pipeline, 3, NO_FACE)
    judge(pipeline, 2, NO_FACE)  # taken before capture 3, arrives after it
    late = judge(pipeline, 1, NO_FACE)  # the earliest of the three, arriving last: nothing before it was absent
    assert codes(late) == ["NO_FACE"]
    assert codes(judge(pipeline, 4, NO_FACE)) == ["AWAY", "NO_FACE"]  # 1, 2, 3, 4 in a row by their times


def test_a_duplicate_event_changes_nothing(pipeline):
    judge(pipeline, 0, OK_ANSWERS)
    for i in (1, 2):
        judge(pipeline, i, NO_FACE)
    key, at = "images/exam/ana/c03.jpg", START + timedelta(minutes=3)
    event = pipeline.upload(key, synthetic_jpeg(3), at=at, **NO_FACE)
    first = pipeline.sfn.run(event)
    document = pipeline.result("results/exam/ana/c03.json")
    again = pipeline.sfn.run(event)
    assert (first.status, again.status) == ("SUCCEEDED", "SUCCEEDED")
    assert pipeline.result("results/exam/ana/c03.json") == document
    assert codes(document) == ["AWAY", "NO_FACE"] and document["alert_count"] == 3
