"""The rescore state machine (statemachine/rescore.asl.json), executed in moto after the main one
judged an exam: a Distributed Map over the exam's captures that reuses the stored analyses."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from proctoring_local.stand_ins.canned_rekognition import compared
from proctoring_local.stand_ins.engine import LocalStepFunctions
from tests.builders import BUCKET, OK_ANSWERS, synthetic_jpeg

EXAM = "exam_123"


def capture(student: str, index: int) -> str:
    return f"images/{EXAM}/{student}/capture_{index:03d}.jpg"


def rescore_machine(*, webhook: bool = False) -> LocalStepFunctions:
    """The rescore state machine, in process, on the moto bucket the main one judged into."""
    return LocalStepFunctions(
        state_machine="RescoreStateMachine",
        substitutions={"CaptureBucket": BUCKET, "ImagesPrefix": "images"},
        retry_sleep=lambda seconds: None,
        mock=False,
        webhook_enabled=webhook,
    )


def result(student: str, index: int) -> str:
    return f"results/{EXAM}/{student}/capture_{index:03d}.json"


@pytest.fixture
def judged(make_aws_pipeline):
    """An exam judged by the main state machine: ana (3 captures matching at 99.46), ben (2, one
    matching at 88.0, one with a phone)."""
    pipeline = make_aws_pipeline()
    for student, seed in (("ana", 1000), ("ben", 1001)):
        pipeline.reference(student, synthetic_jpeg(seed))
    near = compared("detect_faces_one", 88.0)
    uploads = [
        (capture("ana", 0), 1, OK_ANSWERS),
        (capture("ana", 1), 2, OK_ANSWERS),
        (capture("ana", 2), 3, OK_ANSWERS),
        (capture("ben", 0), 4, {**OK_ANSWERS, "compare_faces": near}),
        (capture("ben", 1), 5, {**OK_ANSWERS, "detect_labels": "detect_labels_phone"}),
    ]
    for key, seed, answers in uploads:
        assert pipeline.sfn.run(pipeline.upload(key, synthetic_jpeg(seed), **answers)).status == "SUCCEEDED"
    return pipeline


def rescore(pipeline, **request):
    with rescore_machine() as sfn:
        before = len(pipeline.rekognition.calls)
        execution = sfn.run({"exam_id": EXAM, **request}, timeout=600)
        return execution, pipeline.rekognition.calls[before:]


def test_the_first_run_keeps_each_captures_analysis(judged):
    stored = json.loads(
        judged.s3.get_object(Bucket=BUCKET, Key=f"analyses/{EXAM}/ana/capture_000.jpg.json")["Body"].read()
    )
    assert stored["capture"]["key"] == capture("ana", 0)
    assert stored["reference"]["key"] == "reference/ana.jpg" and stored["reference"]["status"] == "usable"
    assert stored["faces"]["comparison"]["similarity"] == pytest.approx(99.46)
    assert stored["labels"]["checked"] is True


def test_a_lower_threshold_changes_exactly_the_verdicts_it_should_without_analysing_anything(judged):
    assert judged.result(result("ben", 0))["reason"] == "FACE_MISMATCH"  # 88.0 < 90

    execution, calls = rescore(judged, overrides={"SIMILARITY_THRESHOLD": "85"})

    assert execution.status == "SUCCEEDED", execution.cause
    assert calls == []  # nothing analysed again
    assert judged.result(result("ben", 0))["status"] == "OK"
    assert judged.result(result("ben", 1))["reason"] == "FORBIDDEN_OBJECT"  # the phone is still a phone
    assert {judged.result(result("ana", i))["status"] for i in range(3)} == {"OK"}
    summary = json.loads(
        judged.s3.get_object(Bucket=BUCKET, Key=f"rescores/{EXAM}/{execution.output['request']['run']}/summary.json")[
            "Body"
        ].read()
    )
    assert summary["captures"] == 5 and summary["rejudged"] == 1  # the only document written again
    assert summary["changes"] == {"ALERT -> OK": 1}
    assert [change["capture"] for change in summary["changed"]] == [capture("ben", 0)]
    assert judged.result(result("ben", 0))["rejudged"]["previous_status"] == "ALERT"


def test_a_replaced_reference_repeats_only_the_comparisons_of_its_student(judged):
    judged.reference("ben", synthetic_jpeg(2001))  # a new photo of ben: his captures are compared again
    judged.enrol("ben")  # what the enrolment rule does on the upload

    execution, calls = rescore(judged)

    assert execution.status == "SUCCEEDED", execution.cause
    # One CompareFaces per capture of ben; no DetectFaces, no DetectLabels, nothing for ana.
    assert Counter(calls) == {"compare_faces": 2}


def test_a_bad_request_stops_before_any_capture(judged):
    execution, calls = rescore(judged, overrides={"MIN_CONFIDENCE": "10"})
    assert (execution.status, execution.error) == ("FAILED", "InvalidRescoreRequest")
    assert "only the verdict's settings" in execution.cause
    assert calls == []


def test_a_rescore_of_200_captures_that_changes_no_setting_writes_and_sends_nothing(make_aws_pipeline):
    from datetime import UTC, datetime, timedelta

    from proctoring_local.stand_ins.webhook_receiver import WebhookReceiver
    from tests.builders import WEBHOOK_SECRET

    start = datetime(2026, 12, 5, 9, tzinfo=UTC)
    near = compared("detect_faces_one", 88.0)
    with WebhookReceiver(secret=WEBHOOK_SECRET) as receiver:
        pipeline = make_aws_pipeline(webhook_url=receiver.url)
        students = [f"s{n:02d}" for n in range(40)]
        for n, student in enumerate(students):
            pipeline.reference(student, synthetic_jpeg(5000 + n))
        for n, student in enumerate(students):
            for index in range(5):
                answers = dict(OK_ANSWERS)
                if n % 4 == 0 and index >= 2:
                    answers["compare_faces"] = near  # alerts, escalating
                elif n % 5 == 1 and index in (1, 2, 3):
                    answers = {"detect_faces": "detect_faces_none", "detect_labels": "detect_labels_person"}
                at = start + timedelta(seconds=30 * index)
                event = pipeline.upload(capture(student, index), synthetic_jpeg(6000 + 5 * n + index), at=at, **answers)
                assert pipeline.sfn.run(event).status == "SUCCEEDED"
        keys = pipeline.result_keys()
        before = {key: pipeline.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys}
        sent = len(receiver.distinct())
        assert len(keys) == 200 and sent == 200
        assert any("AWAY" in [r["code"] for r in pipeline.result(key)["reasons"]] for key in keys)

        with rescore_machine(webhook=True) as sfn:
            execution = sfn.run({"exam_id": EXAM}, timeout=900)

        assert execution.status == "SUCCEEDED", execution.cause
        assert execution.output["summary"]["changes"] == {} and execution.output["summary"]["captures"] == 200
        after = {key: pipeline.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys}
        assert after == before  # byte for byte, window reasons (AWAY) included
        assert len(receiver.distinct()) == sent


def test_a_class_of_120_captures_is_rescored_and_only_changed_verdicts_are_sent(make_aws_pipeline):
    from proctoring_local.stand_ins.webhook_receiver import WebhookReceiver
    from tests.builders import WEBHOOK_SECRET

    near = compared("detect_faces_one", 88.0)
    with WebhookReceiver(secret=WEBHOOK_SECRET) as receiver:
        pipeline = make_aws_pipeline(webhook_url=receiver.url)
        students = [f"s{n:02d}" for n in range(40)]
        for n, student in enumerate(students):
            pipeline.reference(student, synthetic_jpeg(3000 + n))
        # Every fourth student is matched at 88 in all three captures: ALERT, ALERT, ALERT_FINAL.
        for n, student in enumerate(students):
            for index in range(3):
                answers = {**OK_ANSWERS, "compare_faces": near} if n % 4 == 0 else OK_ANSWERS
                event = pipeline.upload(capture(student, index), synthetic_jpeg(4000 + 3 * n + index), **answers)
                assert pipeline.sfn.run(event).status == "SUCCEEDED"
        first_deliveries = len(receiver.distinct())
        assert pipeline.result(result("s00", 2))["status"] == "ALERT_FINAL"

        with rescore_machine(webhook=True) as sfn:
            before = len(pipeline.rekognition.calls)
            execution = sfn.run({"exam_id": EXAM, "overrides": {"SIMILARITY_THRESHOLD": "85"}}, timeout=900)

        assert execution.status == "SUCCEEDED", execution.cause
        assert pipeline.rekognition.calls[before:] == []
        changed = len(receiver.distinct()) - first_deliveries
    assert first_deliveries == 120
    assert changed == 30  # the 30 verdicts that changed, each sent once; the 90 others not again
    assert execution.output["summary"]["changes"] == {"ALERT -> OK": 20, "ALERT_FINAL -> OK": 10}
    # Counts never go down: the alerts were raised and sent; the escalation stands as counted.
    document = pipeline.result(result("s00", 2))
    assert (document["status"], document["alert_count"]) == ("OK", 3)
