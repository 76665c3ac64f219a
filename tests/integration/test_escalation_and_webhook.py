"""Escalation and exactly-once effects through the real state machine: duplicates, concurrency,
retried and failed webhook deliveries."""

from __future__ import annotations

import json

import pytest

from proctoring.keys import idempotency_key
from proctoring.notify import delivery_key
from proctoring_local.stand_ins.webhook_receiver import WebhookReceiver
from tests.builders import BUCKET, OK_ANSWERS, WEBHOOK_SECRET, assert_valid, synthetic_jpeg

MISMATCH = {
    "detect_faces": "detect_faces_one",
    "compare_faces": "compare_faces_mismatch",
    "detect_labels": "detect_labels_person",
}
OK = OK_ANSWERS


def key(index: int, user: str = "ana") -> str:
    return f"images/exam1/{user}/capture_{index:03d}.jpg"


def result_key(index: int, user: str = "ana") -> str:
    return f"results/exam1/{user}/capture_{index:03d}.json"


def test_third_alert_is_final_once_and_later_alerts_keep_counting(make_aws_pipeline):
    pipeline = make_aws_pipeline()
    pipeline.reference("ana", synthetic_jpeg(500))
    statuses = []
    for index in range(5):
        answers = OK if index == 1 else MISMATCH
        pipeline.sfn.run(pipeline.upload(key(index), synthetic_jpeg(index), **answers))
        document = pipeline.result(result_key(index))
        statuses.append((document["status"], document["alert_count"]))
    assert statuses == [("ALERT", 1), ("OK", 1), ("ALERT", 2), ("ALERT_FINAL", 3), ("ALERT", 4)]


def test_a_duplicate_event_counts_once_and_rewrites_the_same_document(make_aws_pipeline):
    with WebhookReceiver(secret=WEBHOOK_SECRET) as receiver:
        pipeline = make_aws_pipeline(webhook_url=receiver.url)
        pipeline.reference("ana", synthetic_jpeg(500))
        event = pipeline.upload(key(0), synthetic_jpeg(0), **MISMATCH)

        first = pipeline.sfn.run(event)
        before = pipeline.s3.get_object(Bucket="proctoring-test-bucket", Key=result_key(0))["Body"].read()
        second = pipeline.sfn.run(event)  # the same object version delivered again
        after = pipeline.s3.get_object(Bucket="proctoring-test-bucket", Key=result_key(0))["Body"].read()

    assert first.status == second.status == "SUCCEEDED"
    assert before == after
    assert pipeline.result(result_key(0))["alert_count"] == 1
    assert len(receiver.distinct()) == 1
    assert receiver.requests == 1
    # Every write is a version of the result key: the first run wrote "pending", then "delivered";
    # the duplicate only rewrote the delivered document, never "pending" over it.
    written = [
        json.loads(
            pipeline.s3.get_object(Bucket=BUCKET, Key=result_key(0), VersionId=version["VersionId"])["Body"].read()
        )
        for version in reversed(pipeline.s3.list_object_versions(Bucket=BUCKET, Prefix=result_key(0))["Versions"])
    ]
    assert [document["notification"]["status"] for document in written] == ["pending", "delivered", "delivered"]


def test_a_new_version_of_the_same_key_is_a_new_capture(make_aws_pipeline):
    pipeline = make_aws_pipeline()
    pipeline.reference("ana", synthetic_jpeg(500))
    pipeline.sfn.run(pipeline.upload(key(0), synthetic_jpeg(0), **MISMATCH))
    pipeline.sfn.run(pipeline.upload(key(0), synthetic_jpeg(1), **MISMATCH))
    assert pipeline.result(result_key(0))["alert_count"] == 2


def test_an_earlier_uploads_execution_finishing_last_leaves_the_later_uploads_document(make_aws_pipeline):
    # The key is uploaded again while its first upload is still being processed, and the first
    # upload's execution is the one to finish last.
    with WebhookReceiver(secret=WEBHOOK_SECRET) as receiver:
        pipeline = make_aws_pipeline(webhook_url=receiver.url)
        pipeline.reference("ana", synthetic_jpeg(500))
        first = pipeline.upload(key(0), synthetic_jpeg(0), **MISMATCH)
        second = pipeline.upload(key(0), synthetic_jpeg(1), **OK)

        executions = [pipeline.sfn.run(second), pipeline.sfn.run(first)]

    assert [execution.status for execution in executions] == ["SUCCEEDED", "SUCCEEDED"]
    document = pipeline.result(result_key(0))
    assert document["status"] == "OK"
    assert document["object_version"]["version_id"] == second["detail"]["object"]["version-id"]
    assert document["object_version"]["sequencer"] == second["detail"]["object"]["sequencer"]
    assert document["notification"]["status"] == "delivered"
    # Each upload was judged and its verdict delivered once; only the stored document is the later one's.
    assert sorted(delivery.payload["status"] for delivery in receiver.distinct()) == ["ALERT", "OK"]
    assert executions[1].output["notified"]["persisted"]["superseded"] is True


def test_ten_alerting_captures_at_once_give_one_alert_final(make_aws_pipeline):
    pipeline = make_aws_pipeline()
    pipeline.reference("ana", synthetic_jpeg(500))
    events = [pipeline.upload(key(index), synthetic_jpeg(index), **MISMATCH) for index in range(10)]

    arns = [pipeline.sfn.start(event) for event in events]  # all running together
    executions = [pipeline.sfn.wait(arn) for arn in arns]

    assert all(execution.status == "SUCCEEDED" for execution in executions)
    documents = [pipeline.result(result_key(index)) for index in range(10)]
    assert [document["status"] for document in documents].count("ALERT_FINAL") == 1
    assert sorted(document["alert_count"] for document in documents) == list(range(1, 11))
    item = pipeline.dynamodb.get_item(TableName=pipeline.alert_table, Key={"pk": {"S": "exam1/ana"}})["Item"]
    assert item["alert_count"]["N"] == "10"


def test_webhook_answering_500_twice_gets_exactly_one_delivery(make_aws_pipeline):
    with WebhookReceiver(secret=WEBHOOK_SECRET, responses=[500, 500]) as receiver:
        pipeline = make_aws_pipeline(webhook_url=receiver.url)
        pipeline.reference("ana", synthetic_jpeg(500))
        event = pipeline.upload(key(0), synthetic_jpeg(0), **OK)
        execution = pipeline.sfn.run(event)

    assert execution.status == "SUCCEEDED"
    assert execution.task_failures().count("WebhookTransientError") == 2
    assert receiver.requests == 3
    assert len(receiver.distinct()) == 1
    delivery = receiver.deliveries[0]
    assert delivery.signature_valid
    assert_valid(delivery.payload, "webhook")
    obj = event["detail"]["object"]
    upload = idempotency_key("proctoring-test-bucket", obj["key"], obj["version-id"], obj["etag"])
    assert delivery.headers["webhook-id"] == delivery_key(upload, delivery.payload)
    notification = pipeline.result(result_key(0))["notification"]
    assert notification["status"] == "delivered"
    assert notification["attempts"] == 3
    # backoff from the ASL: 5 s, then 10 s (jitter may shorten them)
    assert len(pipeline.sfn.retry_sleeps) == 2
    assert all(0 <= seconds <= 10 for seconds in pipeline.sfn.retry_sleeps)


def test_a_4xx_is_not_retried_and_is_recorded(make_aws_pipeline):
    with WebhookReceiver(secret=WEBHOOK_SECRET, responses=[422]) as receiver:
        pipeline = make_aws_pipeline(webhook_url=receiver.url)
        pipeline.reference("ana", synthetic_jpeg(500))
        execution = pipeline.sfn.run(pipeline.upload(key(0), synthetic_jpeg(0), **OK))

    assert execution.status == "SUCCEEDED"
    assert receiver.requests == 1
    assert "RecordNotificationFailure" in execution.entered_states()
    assert pipeline.result(result_key(0))["notification"] == {
        "status": "failed",
        "attempts": 1,
        "http_status": 422,
        "last_error": "WebhookRejected: HTTP 422",
    }


def test_a_dead_webhook_leaves_the_document_with_the_failure(make_aws_pipeline, unused_port):
    pipeline = make_aws_pipeline(webhook_url=f"http://127.0.0.1:{unused_port}/hook?token=url-secret")
    pipeline.reference("ana", synthetic_jpeg(500))
    execution = pipeline.sfn.run(pipeline.upload(key(0), synthetic_jpeg(0), **MISMATCH))

    assert execution.status == "SUCCEEDED"  # the verdict stands; only the delivery failed
    assert execution.task_failures().count("WebhookTransientError") == 5  # first try + 4 retries
    document = pipeline.result(result_key(0))
    assert document["status"] == "ALERT"
    assert document["notification"]["status"] == "failed"
    assert document["notification"]["attempts"] == 5
    last_error = document["notification"]["last_error"]
    assert "connection failed: ConnectionError (ConnectionRefusedError)" in last_error
    assert "url-secret" not in json.dumps(document) and "/hook" not in last_error  # the URL is never echoed


def test_a_slow_webhook_times_out_and_is_recorded(make_aws_pipeline):
    with WebhookReceiver(secret=WEBHOOK_SECRET, delay=1.5) as receiver:
        pipeline = make_aws_pipeline(webhook_url=receiver.url, WEBHOOK_READ_TIMEOUT="0.2")
        pipeline.reference("ana", synthetic_jpeg(500))
        execution = pipeline.sfn.run(pipeline.upload(key(0), synthetic_jpeg(0), **OK))

    assert execution.status == "SUCCEEDED"
    notification = pipeline.result(result_key(0))["notification"]
    assert notification["status"] == "failed"
    assert "timed out" in notification["last_error"]


@pytest.mark.parametrize("url", ["http://example.com/hook", "ftp://example.com/hook"])
def test_plain_http_is_refused_unless_allowed(make_aws_pipeline, url):
    pipeline = make_aws_pipeline(webhook_url=url, WEBHOOK_ALLOW_HTTP="false")
    pipeline.reference("ana", synthetic_jpeg(500))
    execution = pipeline.sfn.run(pipeline.upload(key(0), synthetic_jpeg(0), **OK))

    notification = pipeline.result(result_key(0))["notification"]
    assert notification["status"] == "failed"
    assert "ConfigurationError" in notification["last_error"]
    assert "https" in notification["last_error"]
    assert execution.task_failures() == ["ConfigurationError"]  # not retried


def test_reprocessing_after_a_new_reference_gives_a_new_verdict_and_one_new_delivery(make_aws_pipeline):
    with WebhookReceiver(secret=WEBHOOK_SECRET) as receiver:
        pipeline = make_aws_pipeline(webhook_url=receiver.url)
        event = pipeline.upload(key(0), synthetic_jpeg(0), **OK)
        pipeline.sfn.run(event)
        assert pipeline.result(result_key(0))["reason"] == "REFERENCE_MISSING"

        pipeline.reference("ana", synthetic_jpeg(500))  # the proctor uploads the missing reference
        pipeline.sfn.run(event)  # and processes the same capture again
        pipeline.sfn.run(event)  # twice, by mistake

    document = pipeline.result(result_key(0))
    assert document["status"] == "OK"
    assert document["alert_count"] == 1  # the earlier alert of this capture is not counted again
    assert [delivery.payload["status"] for delivery in receiver.distinct()] == ["ALERT", "OK"]
    # A receiver that drops repeated webhook-ids must not drop the corrected verdict.
    assert len(set(receiver.idempotency_keys())) == 2


def test_a_students_captures_judged_again_from_their_keys_alone_after_a_late_reference(make_aws_pipeline):
    # The README's recipe: an event built from each key under the student's folder (no size, ETag
    # or version: ParseKey reads them from the bucket), one execution each.
    pipeline = make_aws_pipeline()
    for index in range(3):
        pipeline.sfn.run(pipeline.upload(key(index), synthetic_jpeg(index), **OK))
    assert [pipeline.result(result_key(i))["status"] for i in range(3)] == ["ALERT", "ALERT", "ALERT_FINAL"]

    pipeline.reference("ana", synthetic_jpeg(500))
    listed = pipeline.s3.list_objects_v2(Bucket=BUCKET, Prefix="images/exam1/ana/")["Contents"]
    for item in listed:
        event = {"detail-type": "Object Created", "source": "aws.s3"}
        event["detail"] = {"bucket": {"name": BUCKET}, "object": {"key": item["Key"]}}
        assert pipeline.sfn.run(event).status == "SUCCEEDED"

    documents = [pipeline.result(result_key(i)) for i in range(3)]
    assert [d["status"] for d in documents] == ["OK"] * 3
    assert [d["alert_count"] for d in documents] == [3] * 3  # the earlier alerts stay counted, once


@pytest.mark.parametrize("step", ["decide_verdict", "notify"])
def test_a_throttled_idempotency_table_is_retried_not_turned_into_an_error(make_aws_pipeline, monkeypatch, step):
    """DynamoDB throttling the idempotency table (a burst on an on-demand table) reaches the state
    machine as IdempotencyPersistenceLayerError; the ASL retries it, and the effect happens once."""
    from botocore.exceptions import ClientError

    from proctoring_local.stand_ins.lambdas import load_handler_module
    from tests.builders import ROOT

    with WebhookReceiver(secret=WEBHOOK_SECRET) as receiver:
        pipeline = make_aws_pipeline(webhook_url=receiver.url)
        store = load_handler_module(ROOT / "functions" / step).persistence_layer.delegate
        put_record, failures = store._put_record, ["throttled"]

        def throttled_once(data_record):
            if failures:
                failures.pop()
                raise ClientError(
                    {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "Rate exceeded"}},
                    "PutItem",
                )
            return put_record(data_record)

        monkeypatch.setattr(store, "_put_record", throttled_once)
        pipeline.reference("ana", synthetic_jpeg(500))
        execution = pipeline.sfn.run(pipeline.upload(key(0), synthetic_jpeg(0), **MISMATCH))

    assert execution.status == "SUCCEEDED"
    assert execution.task_failures() == ["IdempotencyPersistenceLayerError"]
    document = pipeline.result(result_key(0))
    assert (document["status"], document["alert_count"]) == ("ALERT", 1)
    assert document["notification"]["status"] == "delivered"
    assert len(receiver.deliveries) == receiver.requests == 1
