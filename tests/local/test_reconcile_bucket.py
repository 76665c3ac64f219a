"""proctoring reconcile s3://BUCKET against the real ASL run under moto: it finds the uploads
left without their document, and --start's executions give them one."""

from __future__ import annotations

import time

import boto3
import pytest

from proctoring_local.__main__ import main
from proctoring_local.stand_ins.webhook_receiver import WebhookReceiver
from tests.builders import BUCKET, WEBHOOK_SECRET, synthetic_jpeg

ANSWERS = {
    "detect_faces": "detect_faces_one",
    "compare_faces": "compare_faces_match",
    "detect_labels": "detect_labels_person",
}


@pytest.fixture
def pipeline(make_aws_pipeline):
    pipeline = make_aws_pipeline()
    pipeline.reference("ana", synthetic_jpeg(1000))
    return pipeline


def started_by_reconcile(sfn, count, timeout=60.0):
    """The executions reconcile started, once ``count`` of them have finished."""
    client = boto3.client("stepfunctions", region_name="us-east-1")
    deadline = time.monotonic() + timeout
    while True:
        listed = client.list_executions(stateMachineArn=sfn.state_machine_arn)["executions"]
        listed = [item for item in listed if item["name"].startswith("reconcile-")]
        if len(listed) >= count and all(item["status"] != "RUNNING" for item in listed):
            return listed
        assert time.monotonic() < deadline, f"executions still running: {listed}"
        time.sleep(0.05)


def test_uploads_without_their_document_are_found_and_started(pipeline, capsys):
    judged = pipeline.upload("images/exam1/ana/c0.jpg", synthetic_jpeg(1), **ANSWERS)
    assert pipeline.sfn.run(judged).status == "SUCCEEDED"
    # An upload whose event was lost, and a capture uploaded again after its document was written.
    pipeline.upload("images/exam1/ana/c1.jpg", synthetic_jpeg(2), **ANSWERS)
    pipeline.upload("images/exam1/ana/c0.jpg", synthetic_jpeg(3), **ANSWERS)

    assert main(["reconcile", f"s3://{BUCKET}", "--settle", "0"]) == 1
    captured = capsys.readouterr()
    out = captured.out
    assert "2 capture(s) need processing again: --start STATE_MACHINE_ARN does it" in captured.err
    assert "missing (1):\n  images/exam1/ana/c1.jpg: no document at results/exam1/ana/c1.json" in out
    assert "stale (1):\n  images/exam1/ana/c0.jpg: the document judged an earlier upload of this key" in out
    # Within the default settling time both are taken for executions still on their way.
    assert main(["reconcile", f"s3://{BUCKET}"]) == 0

    arguments = ["reconcile", f"s3://{BUCKET}", "--settle", "0", "--start", pipeline.sfn.state_machine_arn]
    assert main(arguments) == 1
    assert f"started 2 execution(s) on {pipeline.sfn.state_machine_arn}" in capsys.readouterr().err

    assert [item["status"] for item in started_by_reconcile(pipeline.sfn, 2)] == ["SUCCEEDED", "SUCCEEDED"]
    assert main(["reconcile", f"s3://{BUCKET}", "--settle", "0"]) == 0
    assert pipeline.result("results/exam1/ana/c1.json")["status"] == "OK"
    current = pipeline.s3.head_object(Bucket=BUCKET, Key="images/exam1/ana/c0.jpg")["ETag"].strip('"')
    assert pipeline.result("results/exam1/ana/c0.json")["object_version"]["etag"] == current


def test_a_document_the_webhook_refused_is_delivered_by_a_started_execution(make_aws_pipeline, capsys):
    # The receiver refuses the first delivery (a 4xx is not retried), then is fixed.
    with WebhookReceiver(secret=WEBHOOK_SECRET, responses=[422]) as receiver:
        pipeline = make_aws_pipeline(webhook_url=receiver.url)
        pipeline.reference("ana", synthetic_jpeg(1000))
        assert pipeline.sfn.run(pipeline.upload("images/exam1/ana/c0.jpg", synthetic_jpeg(1), **ANSWERS)).status == (
            "SUCCEEDED"
        )
        assert pipeline.result("results/exam1/ana/c0.json")["notification"]["status"] == "failed"

        assert main(["reconcile", f"s3://{BUCKET}", "--settle", "0"]) == 1
        assert (
            "undelivered (1):\n  images/exam1/ana/c0.jpg: the webhook never accepted it after 1 attempt(s): "
            "WebhookRejected: HTTP 422"
        ) in capsys.readouterr().out
        assert main(["reconcile", f"s3://{BUCKET}", "--settle", "0", "--start", pipeline.sfn.state_machine_arn]) == 1
        assert [item["status"] for item in started_by_reconcile(pipeline.sfn, 1)] == ["SUCCEEDED"]

    assert (receiver.requests, len(receiver.deliveries)) == (2, 1)
    assert receiver.deliveries[0].signature_valid
    notification = pipeline.result("results/exam1/ana/c0.json")["notification"]
    assert (notification["status"], notification["attempts"], notification["http_status"]) == ("delivered", 1, 200)
    assert main(["reconcile", f"s3://{BUCKET}", "--settle", "0"]) == 0


def test_a_bucket_that_is_not_there_is_a_usage_error(pipeline, capsys):
    assert main(["reconcile", "s3://no-such-bucket-here"]) == 2
    assert "error: s3://no-such-bucket-here: AWS answered NoSuchBucket:" in capsys.readouterr().err


def test_a_state_machine_that_is_not_there_is_a_usage_error(pipeline, capsys):
    pipeline.upload("images/exam1/ana/c1.jpg", synthetic_jpeg(2), **ANSWERS)
    arn = pipeline.sfn.state_machine_arn + "-gone"
    assert main(["reconcile", f"s3://{BUCKET}", "--settle", "0", "--start", arn]) == 2
    assert f"error: {arn}: AWS answered StateMachineDoesNotExist:" in capsys.readouterr().err
