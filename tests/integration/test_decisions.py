"""A proctor's decisions through the real state machines, in moto: the upload machine judges, the
decision machine applies what a proctor wrote under decisions/."""

from __future__ import annotations

import json
from typing import Any

import pytest

from proctoring_local.stand_ins.engine import LocalStepFunctions
from proctoring_local.stand_ins.events import object_created_event
from proctoring_local.stand_ins.stack import AUDIT_BUCKET
from proctoring_local.stand_ins.webhook_receiver import WebhookReceiver
from tests.builders import BUCKET, OK_ANSWERS, WEBHOOK_SECRET, assert_valid, synthetic_jpeg

MISMATCH = {
    "detect_faces": "detect_faces_one",
    "compare_faces": "compare_faces_mismatch",
    "detect_labels": "detect_labels_person",
}


def key(index: int) -> str:
    return f"images/exam1/ana/capture_{index:03d}.jpg"


def result_key(index: int) -> str:
    return f"results/exam1/ana/capture_{index:03d}.json"


class Proctor:
    """Writes decision documents as the proctoring platform would, and runs the decision machine
    on the event EventBridge would deliver."""

    def __init__(self, pipeline: Any, webhook: bool) -> None:
        self.pipeline = pipeline
        self.machine = LocalStepFunctions(
            state_machine="DecisionStateMachine", retry_sleep=lambda seconds: None, mock=False, webhook_enabled=webhook
        )
        self.machine.__enter__()
        self.written = 0

    def decide(self, capture_key: str, action: str, by: str = "Dr. Rivera", reason: str = "checked the video", **extra):
        self.written += 1
        document = {"capture_key": capture_key, "action": action, "by": by, "reason": reason, **extra}
        return self.write(f"decisions/exam1/ana/{self.written:03d}.json", json.dumps(document).encode())

    def write(self, decision_key: str, body: bytes):
        s3 = self.pipeline.s3
        response = s3.put_object(Bucket=BUCKET, Key=decision_key, Body=body)
        event = object_created_event(
            BUCKET, decision_key, size=len(body), etag=response["ETag"].strip('"'), version_id=response["VersionId"]
        )
        return self.machine.run(event)


@pytest.fixture
def proctored(make_aws_pipeline):
    made: list[Proctor] = []

    def build(webhook_url: str = "") -> tuple[Any, Proctor]:
        pipeline = make_aws_pipeline(webhook_url=webhook_url)
        pipeline.reference("ana", synthetic_jpeg(500))
        proctor = Proctor(pipeline, webhook=bool(webhook_url))
        made.append(proctor)
        return pipeline, proctor

    yield build
    for proctor in made:
        proctor.machine.__exit__(None, None, None)


def audit_entries(pipeline: Any) -> list[dict[str, Any]]:
    listed = pipeline.s3.list_object_versions(Bucket=AUDIT_BUCKET, Prefix="audit/").get("Versions", [])
    return [
        json.loads(
            pipeline.s3.get_object(Bucket=AUDIT_BUCKET, Key=item["Key"], VersionId=item["VersionId"])["Body"].read()
        )
        for item in listed
    ]


def test_a_dismissed_alert_stops_counting_and_keeps_the_systems_verdict(proctored):
    with WebhookReceiver(secret=WEBHOOK_SECRET) as receiver:
        pipeline, proctor = proctored(receiver.url)
        for index in (0, 1):
            pipeline.sfn.run(pipeline.upload(key(index), synthetic_jpeg(index), **MISMATCH))
        assert [pipeline.result(result_key(i))["status"] for i in (0, 1)] == ["ALERT", "ALERT"]

        execution = proctor.decide(key(0), "dismiss", reason="the second face is a poster")
        assert execution.status == "SUCCEEDED"
        for index in (2, 3):
            pipeline.sfn.run(pipeline.upload(key(index), synthetic_jpeg(index), **MISMATCH))

    statuses = [pipeline.result(result_key(i))["status"] for i in range(4)]
    assert statuses == ["ALERT", "ALERT", "ALERT", "ALERT_FINAL"]
    assert [pipeline.result(result_key(i))["alert_count"] for i in (2, 3)] == [2, 3]

    dismissed = pipeline.result(result_key(0))
    assert dismissed["status"] == "ALERT" and dismissed["reason"] == "FACE_MISMATCH"
    (decision,) = dismissed["decisions"]
    assert (decision["action"], decision["by"], decision["counts_as_alert"]) == ("dismiss", "Dr. Rivera", False)
    assert decision["reason"] == "the second face is a poster"
    assert dismissed["notification"]["status"] == "delivered"  # the delivery record survived the decision

    # Once in the audit record, once on the webhook (as its own kind of event, signed).
    entries = audit_entries(pipeline)
    assert [entry["kind"] for entry in entries].count("decision") == 1
    assert sorted(entry["status"] for entry in entries if entry["kind"] == "verdict") == [
        "ALERT",
        "ALERT",
        "ALERT",
        "ALERT_FINAL",
    ]
    (audited,) = [entry for entry in entries if entry["kind"] == "decision"]
    assert audited["decision"]["by"] == "Dr. Rivera" and audited["system_status"] == "ALERT"
    assert audited["standing_alerts"] == 1
    events = [delivery for delivery in receiver.distinct() if delivery.payload.get("type") == "decision"]
    assert len(events) == 1
    assert events[0].signature_valid
    assert events[0].headers["webhook-id"] == f"decision-{decision['id']}"
    assert_valid(events[0].payload, "decision-event")
    assert all(d.payload["type"] == "verdict" for d in receiver.distinct() if d not in events)


def test_a_repeated_decision_changes_nothing(proctored):
    with WebhookReceiver(secret=WEBHOOK_SECRET) as receiver:
        pipeline, proctor = proctored(receiver.url)
        pipeline.sfn.run(pipeline.upload(key(0), synthetic_jpeg(0), **MISMATCH))
        proctor.decide(key(0), "dismiss")
        before = pipeline.s3.get_object(Bucket=BUCKET, Key=result_key(0))["Body"].read()
        item_before = pipeline.dynamodb.get_item(TableName=pipeline.alert_table, Key={"pk": {"S": "exam1/ana"}})
        again = proctor.decide(key(0), "dismiss")  # the same decision, written a second time
        deliveries = receiver.distinct()

    assert again.status == "SUCCEEDED"
    assert "RepeatedDecision" in again.entered_states()
    assert pipeline.s3.get_object(Bucket=BUCKET, Key=result_key(0))["Body"].read() == before
    item_after = pipeline.dynamodb.get_item(TableName=pipeline.alert_table, Key={"pk": {"S": "exam1/ana"}})
    assert item_after["Item"] == item_before["Item"]
    assert [entry["kind"] for entry in audit_entries(pipeline)].count("decision") == 1
    assert [d.payload["type"] for d in deliveries].count("decision") == 1


def test_reversing_a_dismissal_and_flagging_an_ok_capture_count_again(proctored):
    pipeline, proctor = proctored()
    pipeline.sfn.run(pipeline.upload(key(0), synthetic_jpeg(0), **MISMATCH))
    pipeline.sfn.run(pipeline.upload(key(1), synthetic_jpeg(1), **OK_ANSWERS))
    proctor.decide(key(0), "dismiss")
    proctor.decide(key(0), "confirm", reason="on review, it was another person")
    proctor.decide(key(1), "flag", reason="a phone is visible at the edge")
    pipeline.sfn.run(pipeline.upload(key(2), synthetic_jpeg(2), **MISMATCH))

    assert pipeline.result(result_key(1))["status"] == "OK"
    assert pipeline.result(result_key(1))["decisions"][0]["counts_as_alert"] is True
    assert [d["action"] for d in pipeline.result(result_key(0))["decisions"]] == ["dismiss", "confirm"]
    # The original alert and the flagged capture stand: the third is the third alert.
    assert pipeline.result(result_key(2))["status"] == "ALERT_FINAL"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"capture_key": "images/exam1/ana/capture_404.jpg", "action": "dismiss"}, "no capture"),
        ({"capture_key": "images/exam1/ana/capture_000.jpg", "action": "forgive"}, "schema"),
        ({"capture_key": "images/exam1/ana/capture_000.jpg", "action": "dismiss", "by": "  "}, "names no person"),
        ({"capture_key": "images/exam1/ana/capture_000.jpg", "action": "dismiss", "extra": 1}, "schema"),
    ],
    ids=["no-capture", "bad-action", "no-person", "unknown-field"],
)
def test_a_bad_decision_is_refused_and_changes_nothing(proctored, body, error):
    with WebhookReceiver(secret=WEBHOOK_SECRET) as receiver:
        pipeline, proctor = proctored(receiver.url)
        pipeline.sfn.run(pipeline.upload(key(0), synthetic_jpeg(0), **MISMATCH))
        before = pipeline.s3.get_object(Bucket=BUCKET, Key=result_key(0))["Body"].read()
        audited = len(audit_entries(pipeline))
        delivered = len(receiver.distinct())
        document = {"by": "Dr. Rivera", "reason": "checked", **body}
        execution = proctor.write("decisions/exam1/ana/bad.json", json.dumps(document).encode())
        after_deliveries = len(receiver.distinct())

    assert execution.status == "FAILED"
    assert execution.error == "DecisionRefused"
    assert error in execution.cause
    assert pipeline.s3.get_object(Bucket=BUCKET, Key=result_key(0))["Body"].read() == before
    assert len(audit_entries(pipeline)) == audited
    assert after_deliveries == delivered
    item = pipeline.dynamodb.get_item(TableName=pipeline.alert_table, Key={"pk": {"S": "exam1/ana"}})["Item"]
    assert item["alert_count"]["N"] == "1"


def test_a_decision_filed_under_another_student_is_refused(proctored):
    pipeline, proctor = proctored()
    pipeline.sfn.run(pipeline.upload(key(0), synthetic_jpeg(0), **MISMATCH))
    body = {"capture_key": key(0), "action": "dismiss", "by": "Dr. Rivera", "reason": "checked"}
    execution = proctor.write("decisions/exam1/bob/1.json", json.dumps(body).encode())
    assert execution.status == "FAILED" and "belongs under decisions/exam1/ana/" in execution.cause
    assert "decisions" not in pipeline.result(result_key(0))
