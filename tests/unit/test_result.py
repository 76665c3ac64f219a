from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from proctoring.notify import payload_of
from proctoring.policy import PolicyConfig, decide
from proctoring.result import (
    analysis_input,
    build_document,
    capture_from_event,
    failure_document,
    notification_from_error,
    with_notification,
)
from tests.builders import assert_valid, face
from tests.strategies import analyses

CAPTURE = {
    "bucket": "b",
    "key": "images/e/u/c.jpg",
    "exam_id": "e",
    "user_id": "u",
    "file_name": "c.jpg",
    "s3_input": "s3://b/images/e/u/c.jpg",
    "etag": "abc",
    "version_id": "v1",
    "reference": {"key": "reference/u.jpg", "etag": "r", "version_id": None, "size": 1, "status": "usable"},
    "result_key": "results/e/u/c.json",
    "idempotency_key": "k",
}


def test_analysis_input_reads_each_branch_of_the_state():
    missing = {**CAPTURE, "reference": None, "reference_expected": "reference/u.jpg"}
    assert analysis_input({"capture": missing})["reference"] == {"status": "missing", "expected_key": "reference/u.jpg"}
    unusable = {
        **CAPTURE,
        "reference": {**CAPTURE["reference"], "status": "unusable", "code": "NO_FACE", "reason": "r"},
    }
    assert analysis_input({"capture": unusable})["reference"] == {
        "status": "invalid",
        "key": "reference/u.jpg",
        "error": "r",
        "error_code": "NO_FACE",
    }
    compared = analysis_input(
        {
            "capture": CAPTURE,
            "analysis": {
                "faces": {"faces": [face()], "comparison": {"similarity": 97.0, "face_matches": []}},
                "labels": {"checked": True},
            },
        }
    )
    assert compared["similarity"] == 97.0
    assert compared["reference"] == {"status": "ok", "face_count": 1, "key": "reference/u.jpg"}
    rejected = analysis_input(
        {"capture": CAPTURE, "analysis": {"faces": {"rejection": {"code": "IMAGE_EMPTY", "message": "m"}}}}
    )
    assert rejected["rejection"]["code"] == "IMAGE_EMPTY"


def document_for(analysis, alert_count=1):
    """The document the policy's verdict on ``analysis`` gives, as DecideVerdict builds it."""
    verdict = decide(analysis, PolicyConfig())
    return build_document(
        CAPTURE,
        verdict,
        status=verdict.status,
        alert_count=alert_count,
        analyzer="rekognition",
        processed_at="2026-11-27T10:00:00.000Z",
        analysis=analysis,
    )


def test_documents_for_every_status_follow_the_schema():
    for analysis, status in [
        ({"faces": [face()], "reference": {"status": "ok"}, "similarity": 99.0}, "OK"),
        ({"faces": [], "reference": {"status": "missing"}}, "ALERT"),
        ({"rejection": {"code": "IMAGE_CORRUPT", "message": "truncated"}}, "ERROR"),
    ]:
        document = document_for(analysis)
        assert document["status"] == status
        assert_valid(document)
        assert_valid(with_notification(document, {"status": "not_configured"}))


def test_face_count_is_the_faces_the_verdict_counted():
    # A poster behind the student, detected at 60%: not a face for the verdict, nor in the count.
    analysis = {
        "faces": [face(), face(confidence=60.0, box=(0.7, 0.1, 0.1, 0.1))],
        "reference": {"status": "ok"},
        "similarity": 99.0,
    }
    document = document_for(analysis, alert_count=0)
    assert (document["status"], document["analysis"]["face_count"]) == ("OK", 1)


def test_failure_document_names_the_error_from_a_lambda_cause():
    cause = json.dumps({"errorType": "RekognitionThrottled", "errorMessage": "detect_faces: ThrottlingException"})
    document = failure_document(
        CAPTURE,
        {"Error": "RekognitionThrottled", "Cause": cause},
        analyzer="rekognition",
        processed_at="2026-11-27T10:00:00.000Z",
    )
    assert document["error"] == {"name": "RekognitionThrottled", "message": "detect_faces: ThrottlingException"}
    assert_valid(document)
    plain = failure_document(
        CAPTURE,
        {"Error": "States.Timeout", "Cause": "timed out"},
        analyzer="local",
        processed_at="2026-11-27T10:00:00.000Z",
    )
    assert plain["error"]["message"] == "timed out"
    sentence = "Processing failed after retries: States.Timeout: timed out."
    assert (plain["reasons"][0]["message"], plain["details"]) == (sentence, [sentence])


def test_capture_from_event_for_a_bad_key():
    event = {"detail": {"bucket": {"name": "b"}, "object": {"key": "images/x+y.jpg", "etag": "e"}}}
    capture = capture_from_event(event, "images/", "results/")
    assert capture["key"] == "images/x y.jpg"
    assert capture["result_key"] == "results/_invalid/x%20y.jpg.json"
    assert capture["exam_id"] is None


def test_notification_from_error_reads_attempts_and_status():
    message = json.dumps({"attempt": 5, "http_status": 503, "error": "HTTP 503"})
    cause = json.dumps({"errorType": "WebhookTransientError", "errorMessage": message})
    assert notification_from_error({"Error": "WebhookTransientError", "Cause": cause}) == {
        "status": "failed",
        "attempts": 5,
        "http_status": 503,
        "last_error": "WebhookTransientError: HTTP 503",
    }
    odd = notification_from_error({"Error": "Lambda.ServiceException", "Cause": "Lambda unavailable"})
    assert odd["status"] == "failed" and odd["attempts"] is None
    assert "Lambda unavailable" in odd["last_error"]


@settings(max_examples=200, deadline=None)
@given(analyses(), st.one_of(st.none(), st.integers(min_value=0, max_value=10_000)))
def test_any_verdict_makes_a_document_and_a_payload_that_follow_the_schemas(analysis, alert_count):
    """Whatever the analysis, the document and the webhook payload are what the published schemas
    promise the proctoring system (a reason the schema does not know would break its parser)."""
    document = document_for(analysis, alert_count=alert_count)
    assert_valid(document)
    assert_valid(payload_of(with_notification(document, {"status": "pending"})), "webhook")
    codes = [reason["code"] for reason in document["reasons"]]
    assert codes[:1] == ([document["reason"]] if document["reason"] else [])  # `reason` is the first, most serious
