"""The real statemachine/proctoring.asl.json, executed end to end from an S3 "Object Created" event,
with moto's S3 and DynamoDB, hand-written Rekognition answers in the service's shapes and a real webhook receiver."""

from __future__ import annotations

import pytest

from proctoring_local.services.burst import throttling_policies
from proctoring_local.stand_ins.canned_rekognition import fixture
from proctoring_local.stand_ins.webhook_receiver import WebhookReceiver
from tests.builders import BUCKET, CAPTURE_KEY, OK_ANSWERS, RESULT_KEY, WEBHOOK_SECRET, synthetic_jpeg
from tests.fakes import crowd_responses

STEP_FUNCTIONS_STATE_LIMIT = 256 * 1024

CAPTURE, RESULT = CAPTURE_KEY, RESULT_KEY


@pytest.fixture
def pipeline(make_aws_pipeline):
    return make_aws_pipeline()


def with_reference(pipeline, user_id="user_456", seed=1000):
    pipeline.reference(user_id, synthetic_jpeg(seed))


def test_ok_capture_compares_in_parallel_and_writes_ok(pipeline):
    with_reference(pipeline)
    event = pipeline.upload(CAPTURE, synthetic_jpeg(1), **OK_ANSWERS)

    execution = pipeline.sfn.run(event)

    assert execution.status == "SUCCEEDED"
    states = execution.entered_states()
    # The student's first capture checks the reference, once; then one comparison, with the labels.
    assert states[:5] == ["ParseKey", "RouteCapture", "CheckReference", "RouteCapture", "CompareAndDetectLabels"]
    assert {"CompareToReference", "DetectLabels"} <= set(states) and "DetectFaces" not in states
    assert states[-4:] == ["IsWebhookConfigured", "PersistResultWithoutWebhook", "Finish", "Done"]
    document = pipeline.result(RESULT)
    assert document["status"] == "OK"
    assert document["reason"] == ""
    assert document["reasons"] == []
    assert document["exam_id"] == "exam_123" and document["user_id"] == "user_456"
    assert document["s3_input"] == f"s3://{BUCKET}/{CAPTURE}"
    assert document["face"]["Confidence"] == pytest.approx(99.99)
    assert set(document["face"]["BoundingBox"]) == {"Width", "Height", "Left", "Top"}
    assert document["analysis"]["similarity"] == pytest.approx(99.46)
    assert document["analysis"]["objects_checked"] is True
    assert document["object_version"]["version_id"]
    assert document["notification"] == {"status": "not_configured"}
    assert pipeline.result_keys() == [RESULT]


def test_no_face_refused_by_compare_faces_is_settled_by_detect_faces(pipeline):
    # CompareFaces answers a capture without a face with InvalidParameterException (as the service
    # does: the canned service raises it for a target whose DetectFaces answer has no face).
    with_reference(pipeline)
    event = pipeline.upload(
        CAPTURE, synthetic_jpeg(2), detect_faces="detect_faces_none", detect_labels="detect_labels_person"
    )

    execution = pipeline.sfn.run(event)

    assert execution.status == "SUCCEEDED"
    states = execution.entered_states()
    assert states[states.index("HasFace") + 1] == "DetectFaces"
    assert pipeline.rekognition.calls.count("compare_faces") == 1
    assert execution.task_failures() == []  # the refusal is an answer, not a failure
    document = pipeline.result(RESULT)
    assert document["status"] == "ALERT"
    assert document["reason"] == "NO_FACE"
    assert document["alert_count"] == 1


def test_a_faint_detection_alone_is_no_face(pipeline):
    # CompareFaces may answer a pattern or a poster as a face at low confidence: listed, not counted.
    compare = fixture("compare_faces_match")
    compare["FaceMatches"][0]["Face"]["Confidence"] = 41.5
    compare["FaceMatches"][0]["Similarity"] = 3.0
    with_reference(pipeline)
    event = pipeline.upload(CAPTURE, synthetic_jpeg(2), compare_faces=compare, detect_labels="detect_labels_person")

    execution = pipeline.sfn.run(event)

    assert execution.status == "SUCCEEDED"
    assert "DetectFaces" not in execution.entered_states()  # a count of 0 is an answer: nothing to settle
    document = pipeline.result(RESULT)
    assert (document["reason"], document["analysis"]["face_count"]) == ("NO_FACE", 0)
    assert document["analysis"]["image_quality"] is not None  # judged as a picture without a face


def test_a_photo_of_the_student_held_up_by_someone_else_is_a_mismatch(pipeline):
    # The held-up photo is a faint, small detection that CompareFaces matches to the reference; the
    # live face, the main one, is another person's. The verdict judges the main face.
    faces, compare = fixture("detect_faces_two"), fixture("compare_faces_mismatch")
    live, photo = faces["FaceDetails"]
    photo.update(Confidence=58.2, BoundingBox={"Width": 0.06, "Height": 0.09, "Left": 0.8, "Top": 0.7})
    compare["FaceMatches"] = [
        {"Similarity": 99.1, "Face": {"BoundingBox": photo["BoundingBox"], "Confidence": 58.2}},
        {"Similarity": 11.4, "Face": {"BoundingBox": live["BoundingBox"], "Confidence": 99.99}},
    ]
    with_reference(pipeline)
    event = pipeline.upload(
        CAPTURE, synthetic_jpeg(2), detect_faces=faces, compare_faces=compare, detect_labels="detect_labels_person"
    )

    execution = pipeline.sfn.run(event)

    assert execution.status == "SUCCEEDED"
    assert "CompareToReference" in execution.entered_states()
    document = pipeline.result(RESULT)
    assert [reason["code"] for reason in document["reasons"]] == ["FACE_MISMATCH"]
    assert document["reasons"][0]["evidence"]["similarity"] == 11.4
    assert (document["analysis"]["similarity"], document["analysis"]["face_count"]) == (11.4, 1)
    assert document["face"]["BoundingBox"] == live["BoundingBox"]


def test_several_faces_alert_with_count_and_boxes(pipeline):
    with_reference(pipeline)
    two, compare = fixture("detect_faces_two"), fixture("compare_faces_match")
    compare["UnmatchedFaces"] = [two["FaceDetails"][1]]  # CompareFaces describes every face it finds
    event = pipeline.upload(
        CAPTURE, synthetic_jpeg(3), detect_faces=two, compare_faces=compare, detect_labels="detect_labels_two_people"
    )

    execution = pipeline.sfn.run(event)

    assert execution.status == "SUCCEEDED"
    assert "CompareAndDetectLabels" in execution.entered_states()
    document = pipeline.result(RESULT)
    assert document["status"] == "ALERT"
    assert document["reason"] == "MULTIPLE_FACES"
    codes = [reason["code"] for reason in document["reasons"]]
    assert codes == ["MULTIPLE_FACES", "EXTRA_PERSON"]
    assert document["reasons"][0]["evidence"]["count"] == 2
    assert len(document["reasons"][0]["evidence"]["boxes"]) == 2


def test_a_crowd_stays_within_the_state_size_step_functions_allows(make_aws_pipeline):
    # 100 faces (DetectFaces' maximum) and the most labels the template allows, each boxing all of
    # them: carried whole, the labels alone would be over 1 MB of state.
    pipeline = make_aws_pipeline(MAX_LABELS="100")
    with_reference(pipeline)
    event = pipeline.upload(CAPTURE, synthetic_jpeg(3), **crowd_responses(people=100, labels=100))

    execution = pipeline.sfn.run(event)

    assert execution.status == "SUCCEEDED"
    assert execution.largest_state_bytes() < STEP_FUNCTIONS_STATE_LIMIT
    document = pipeline.result(RESULT)
    evidence = {reason["code"]: reason["evidence"] for reason in document["reasons"]}
    assert evidence["MULTIPLE_FACES"]["count"] == 100
    assert len(evidence["MULTIPLE_FACES"]["boxes"]) == 100
    assert evidence["EXTRA_PERSON"]["count"] == 100
    # The main face's similarity (all are one size: the first is main), not the best of the crowd's.
    assert evidence["FACE_MISMATCH"]["similarity"] == pytest.approx(10.0)


def test_mismatch_with_reference(pipeline):
    with_reference(pipeline)
    event = pipeline.upload(
        CAPTURE,
        synthetic_jpeg(4),
        detect_faces="detect_faces_one",
        compare_faces="compare_faces_mismatch",
        detect_labels="detect_labels_person",
    )

    execution = pipeline.sfn.run(event)

    assert execution.status == "SUCCEEDED"
    states = execution.entered_states()
    assert "CompareToReference" in states
    assert states[-3:] == ["PersistResultWithoutWebhook", "Finish", "Done"]
    document = pipeline.result(RESULT)
    assert document["status"] == "ALERT"
    assert document["reason"] == "FACE_MISMATCH"
    assert document["reasons"][0]["evidence"]["similarity"] == pytest.approx(7.83)


def test_phone_label_is_a_forbidden_object(pipeline):
    with_reference(pipeline)
    event = pipeline.upload(
        CAPTURE,
        synthetic_jpeg(5),
        detect_faces="detect_faces_one",
        compare_faces="compare_faces_match",
        detect_labels="detect_labels_phone",
    )

    execution = pipeline.sfn.run(event)

    assert execution.status == "SUCCEEDED"
    assert {"CompareAndDetectLabels", "DetectLabels", "DecideVerdict"} <= set(execution.entered_states())
    document = pipeline.result(RESULT)
    assert document["status"] == "ALERT"
    assert document["reason"] == "FORBIDDEN_OBJECT"
    labels = {reason["evidence"]["label"] for reason in document["reasons"] if reason["code"] == "FORBIDDEN_OBJECT"}
    assert "Mobile Phone" in labels


def test_missing_reference_skips_compare(pipeline):
    event = pipeline.upload(
        CAPTURE, synthetic_jpeg(6), detect_faces="detect_faces_one", detect_labels="detect_labels_person"
    )

    execution = pipeline.sfn.run(event)

    assert execution.status == "SUCCEEDED"
    states = execution.entered_states()
    assert states[states.index("RouteCapture") + 1] == "DetectFacesAndLabels"
    assert "CompareToReference" not in states
    document = pipeline.result(RESULT)
    assert document["status"] == "ALERT"
    assert document["reason"] == "REFERENCE_MISSING"
    assert document["reasons"][0]["evidence"] == {"expected_key": "reference/user_456.jpg"}


@pytest.mark.parametrize("code", ["ThrottlingException", "ProvisionedThroughputExceededException"])
def test_throttled_once_then_succeeds_through_asl_retry(pipeline, code):
    with_reference(pipeline)
    event = pipeline.upload(CAPTURE, synthetic_jpeg(7), **OK_ANSWERS)
    pipeline.rekognition.fail("compare_faces", code, times=1)

    execution = pipeline.sfn.run(event)

    assert execution.status == "SUCCEEDED"
    assert execution.task_failures() == ["RekognitionThrottled"]
    assert execution.entered_states().count("CompareToReference") == 1  # one state, two attempts
    assert pipeline.sfn.retry_sleeps[:1] == [pytest.approx(2, abs=2)]  # the ASL's backoff, not the SDK's
    assert pipeline.result(RESULT)["status"] == "OK"


def test_failing_for_good_writes_error_document_and_fails_execution(pipeline):
    with_reference(pipeline)
    event = pipeline.upload(CAPTURE, synthetic_jpeg(8), **OK_ANSWERS)
    pipeline.rekognition.fail("detect_faces", "ThrottlingException", times=50)

    execution = pipeline.sfn.run(event)

    assert execution.status == "FAILED"
    assert execution.error == "ProcessingFailed"
    retries = throttling_policies()["DetectFaces"].max_attempts  # the ASL's own
    assert execution.task_failures() == ["RekognitionThrottled"] * (1 + retries)
    states = execution.entered_states()
    assert states[-5:] == [
        "RecordFailure",
        "IsWebhookConfigured",
        "PersistResultWithoutWebhook",
        "Finish",
        "ProcessingFailed",
    ]
    document = pipeline.result(RESULT)
    assert document["status"] == "ERROR"
    assert document["reason"] == "PROCESSING_FAILED"
    assert document["error"]["name"] == "RekognitionThrottled"
    assert "ThrottlingException" in document["error"]["message"]


@pytest.mark.parametrize(
    "detail",
    [
        {"bucket": {"name": BUCKET}},  # no object
        {"object": {"key": CAPTURE}},  # no bucket
        {"bucket": {"name": 5}, "object": {"key": ["x"]}},
        {"bucket": {"name": "someone-elses-bucket"}, "object": {"key": CAPTURE}},
    ],
)
def test_an_execution_started_by_hand_with_no_upload_event_fails_saying_so(pipeline, detail):
    """No upload, so no document to write (and no bucket to write it to): the execution fails
    with InvalidEvent, and ParseKey's error in the history says what is wrong."""
    execution = pipeline.sfn.run({"detail-type": "Object Created", "source": "aws.s3", "detail": detail})

    assert execution.status == "FAILED"
    assert (execution.error, execution.entered_states()[-2:]) == ("InvalidEvent", ["ParseKey", "NotAnUploadEvent"])
    assert "events/s3_object_created.json" in execution.cause
    assert execution.task_failures() == ["InvalidEvent"]  # not retried: the same input fails the same way
    assert pipeline.result_keys() == []


def test_unexpected_exception_in_a_step_is_caught(pipeline, monkeypatch):
    from proctoring_local.stand_ins.lambdas import load_handler_module
    from tests.builders import ROOT

    module = load_handler_module(ROOT / "functions" / "detect_labels")

    def broken(*args, **kwargs):
        raise KeyError("bug in the labels step")

    monkeypatch.setattr(module, "detect_capture_labels", broken)
    with_reference(pipeline)
    event = pipeline.upload(CAPTURE, synthetic_jpeg(9), **OK_ANSWERS)

    execution = pipeline.sfn.run(event)

    assert execution.status == "FAILED"
    document = pipeline.result(RESULT)
    assert document["status"] == "ERROR"
    assert document["error"]["name"] == "KeyError"
    assert "RecordFailure" in execution.entered_states()


def test_s3_write_failing_once_is_retried(pipeline):
    from botocore.exceptions import ClientError

    from proctoring.storage import S3Storage, set_storage

    class FlakyS3:
        def __init__(self, client, failures):
            self._client, self.failures = client, failures

        def put_object(self, **kwargs):
            if self.failures:
                self.failures -= 1
                raise ClientError(
                    {
                        "Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."},
                        "ResponseMetadata": {"HTTPStatusCode": 503},
                    },
                    "PutObject",
                )
            return self._client.put_object(**kwargs)

        def __getattr__(self, name):
            return getattr(self._client, name)

    set_storage(S3Storage(client=FlakyS3(pipeline.s3, failures=1)))
    with_reference(pipeline)
    event = pipeline.upload(CAPTURE, synthetic_jpeg(10), **OK_ANSWERS)

    execution = pipeline.sfn.run(event)

    assert execution.status == "SUCCEEDED"
    assert execution.task_failures() == ["StorageUnavailable"]
    assert pipeline.result(RESULT)["status"] == "OK"


def test_webhook_configured_delivers_once_signed(make_aws_pipeline):
    with WebhookReceiver(secret=WEBHOOK_SECRET) as receiver:
        pipeline = make_aws_pipeline(webhook_url=receiver.url)
        with_reference(pipeline)
        event = pipeline.upload(CAPTURE, synthetic_jpeg(11), **OK_ANSWERS)

        execution = pipeline.sfn.run(event)

    assert execution.status == "SUCCEEDED"
    states = execution.entered_states()
    assert states[-4:] == ["PersistResult", "Notify", "Finish", "Done"]
    assert len(receiver.distinct()) == 1
    delivery = receiver.deliveries[0]
    assert delivery.signature_valid
    assert delivery.payload["status"] == "OK"
    assert "notification" not in delivery.payload
    document = pipeline.result(RESULT)
    assert document["notification"]["status"] == "delivered"
    assert document["notification"]["attempts"] == 1
    assert {k: v for k, v in document.items() if k != "notification"} | {"type": "verdict"} == delivery.payload


def test_webhook_not_configured_takes_the_plain_path(pipeline):
    with_reference(pipeline)
    event = pipeline.upload(CAPTURE, synthetic_jpeg(12), **OK_ANSWERS)

    execution = pipeline.sfn.run(event)

    assert "Notify" not in execution.entered_states()
    assert "PersistResultWithoutWebhook" in execution.entered_states()
    assert pipeline.result(RESULT)["notification"] == {"status": "not_configured"}


def test_each_step_runs_with_its_functions_timeout_and_memory_from_the_template(make_aws_pipeline, monkeypatch):
    # The time left that a handler sees is what Powertools gives an in-progress idempotency record.
    import proctoring_local.stand_ins.engine as engine

    seen: dict[str, float] = {}
    memory: dict[str, int] = {}
    original = engine.invoke_handler

    def recording(module, name, payload, timeout_seconds=900.0, memory_mb=128):
        seen[name], memory[name] = timeout_seconds, memory_mb
        return original(module, name, payload, timeout_seconds, memory_mb)

    monkeypatch.setattr(engine, "invoke_handler", recording)
    with WebhookReceiver(secret=WEBHOOK_SECRET) as receiver:
        pipeline = make_aws_pipeline(webhook_url=receiver.url)
        with_reference(pipeline)
        execution = pipeline.sfn.run(pipeline.upload(CAPTURE, synthetic_jpeg(11), **OK_ANSWERS))

    assert execution.status == "SUCCEEDED"
    assert seen.pop("NotifyFunction") == 20
    assert set(seen.values()) == {30}
    assert {"ParseKeyFunction", "DecideVerdictFunction", "PersistResultFunction"} <= set(seen)
    # The image steps have room to decode the largest image accepted; the JSON steps need little.
    image_steps = {"CheckReferenceFunction", "CompareToReferenceFunction", "DetectLabelsFunction"}
    assert {memory[name] for name in image_steps} == {1024}
    assert {size for name, size in memory.items() if name not in image_steps} == {256}


def test_the_event_names_the_version_that_is_judged_even_after_a_newer_upload(pipeline):
    # Two uploads to one key before the first event is processed: each event judges its own version.
    with_reference(pipeline)
    first = pipeline.upload(CAPTURE, synthetic_jpeg(31), **OK_ANSWERS)
    pipeline.upload(CAPTURE, synthetic_jpeg(32, size=(320, 200)), detect_faces="detect_faces_none")

    execution = pipeline.sfn.run(first)

    assert execution.status == "SUCCEEDED"
    assert execution.output["capture"]["size"] == first["detail"]["object"]["size"]
    document = pipeline.result(RESULT)
    assert document["status"] == "OK"  # the first version's face, not the later empty frame
    assert document["object_version"]["version_id"] == first["detail"]["object"]["version-id"]


def test_the_reference_version_found_by_parse_key_is_the_one_compared(pipeline, monkeypatch):
    # The reference is replaced between ParseKey and CompareToReference: this execution compares
    # the version it found and checked; the next capture finds the new one unchecked and checks it.
    from proctoring_local.stand_ins.lambdas import load_handler_module
    from tests.builders import ROOT

    step = load_handler_module(ROOT / "functions" / "compare_to_reference")  # the module the engine runs
    pipeline.reference("user_456", synthetic_jpeg(1000))
    first = pipeline.s3.head_object(Bucket=BUCKET, Key="reference/user_456.jpg")
    original, compared = step.compare_to_reference, []

    def replaced_meanwhile(storage, analyzer, capture, *args, **kwargs):
        pipeline.reference("user_456", synthetic_jpeg(1001), faces="detect_faces_two")
        compared.append(capture["reference"])
        return original(storage, analyzer, capture, *args, **kwargs)

    monkeypatch.setattr(step, "compare_to_reference", replaced_meanwhile)
    execution = pipeline.sfn.run(pipeline.upload(CAPTURE, synthetic_jpeg(33), **OK_ANSWERS))

    assert execution.status == "SUCCEEDED"
    assert pipeline.result(RESULT)["status"] == "OK"
    [checked] = compared
    assert (checked["version_id"], checked["etag"]) == (first["VersionId"], first["ETag"].strip('"'))
    monkeypatch.setattr(step, "compare_to_reference", original)
    later = "images/exam_123/user_456/capture_002.jpg"
    execution = pipeline.sfn.run(pipeline.upload(later, synthetic_jpeg(34), **OK_ANSWERS))
    assert "CheckReference" in execution.entered_states()
    document = pipeline.result("results/exam_123/user_456/capture_002.json")
    assert (document["reason"], document["reasons"][0]["evidence"]["error_code"]) == (
        "REFERENCE_INVALID",
        "SEVERAL_FACES",
    )
