"""Each step handler on its own, as ``sam local invoke`` would run it: plain event in, plain dict out."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from proctoring.errors import InvalidEvent, WebhookRejected, WebhookTransientError
from proctoring.notify import delivery_key
from proctoring.storage import file_etag
from proctoring_local.stand_ins.events import object_created_event
from proctoring_local.stand_ins.lambdas import environment, reset_backends
from proctoring_local.stand_ins.webhook_receiver import WebhookReceiver
from tests.builders import (
    LOCAL_BUCKET,
    ROOT,
    WEBHOOK_SECRET,
    capture_state,
    context,
    emitted_metrics,
    face,
    handler,
    put,
    synthetic_jpeg,
)


# -- ParseKey ---------------------------------------------------------------------------------------
def test_parse_key_finds_capture_and_reference(local_env):
    capture = capture_state(local_env, "images/exam_123/user_456/capture_001.jpg", synthetic_jpeg(1), synthetic_jpeg(2))
    assert capture["exam_id"] == "exam_123"
    assert capture["user_id"] == "user_456"
    assert capture["result_key"] == "results/exam_123/user_456/capture_001.json"
    assert capture["reference"]["key"] == "reference/user_456.jpg"
    assert capture["reference"]["etag"] and capture["reference"]["status"] == "unchecked"
    assert "rejection" not in capture


def test_parse_key_without_reference(local_env):
    capture = capture_state(local_env, "images/e/u/c.jpg", synthetic_jpeg(1))
    assert capture["reference"] is None


@pytest.mark.parametrize("name", ["u.png", "u.JPG", "u.PNG"])
def test_parse_key_accepts_other_reference_extensions(local_env, name):
    put(local_env, f"reference/{name}", synthetic_jpeg(2))
    capture = capture_state(local_env, "images/e/u/c.jpg", synthetic_jpeg(1))
    # lower(): on a case-insensitive disk (macOS) the first candidate, "u.jpg", already finds it.
    assert capture["reference"]["key"].lower() == f"reference/{name}".lower()


@pytest.mark.parametrize(
    ("stored", "in_event"),
    [
        ("images/final exam/ana maría/foto 1.jpg", "images/final+exam/ana+mar%C3%ADa/foto+1.jpg"),
        ("images/e/u/a+b.jpg", "images/e/u/a+b.jpg"),
        ("images/e/u/a+b.jpg", "images/e/u/a%2Bb.jpg"),
        ("images/e/u/100%.jpg", "images/e/u/100%25.jpg"),
        ("images/考试/学生/截图.jpg", "images/考试/学生/截图.jpg"),
    ],
)
def test_parse_key_resolves_encoded_and_raw_keys(local_env, stored, in_event):
    data = synthetic_jpeg(3)
    put(local_env, stored, data)
    event = object_created_event(LOCAL_BUCKET, in_event, size=len(data), etag=None)
    capture = handler("parse_key")(event, context())
    assert capture["key"] == stored
    assert "rejection" not in capture
    assert capture["etag"] == file_etag(local_env / stored)


@pytest.mark.parametrize("uploaded", ["images/e/u/a b.jpg", "images/e/u/a+b.jpg"])
def test_parse_key_tells_two_spellings_apart_by_the_events_etag(local_env, uploaded):
    # "a+b.jpg" arrives as "a+b.jpg" raw, which also decodes to "a b.jpg": both objects exist.
    other = "images/e/u/a+b.jpg" if uploaded.endswith("a b.jpg") else "images/e/u/a b.jpg"
    put(local_env, other, synthetic_jpeg(4))
    event = put(local_env, uploaded, synthetic_jpeg(5))
    event["detail"]["object"]["key"] = "images/e/u/a+b.jpg"
    capture = handler("parse_key")(event, context())
    assert capture["key"] == uploaded
    assert capture["etag"] == file_etag(local_env / uploaded)


@pytest.mark.parametrize("key", ["images/x.jpg", "images/e/../x.jpg", "images//u/x.jpg"])
def test_parse_key_rejects_keys_outside_the_convention(local_env, key):
    event = object_created_event(LOCAL_BUCKET, key, size=10, etag="abc")
    capture = handler("parse_key")(event, context())
    assert capture["rejection"]["code"] == "INVALID_KEY"
    assert capture["result_key"].startswith("results/_invalid/")


def test_parse_key_reports_a_capture_deleted_before_processing(local_env):
    event = object_created_event(LOCAL_BUCKET, "images/e/u/gone.jpg", size=10, etag="abc")
    capture = handler("parse_key")(event, context())
    assert capture["rejection"]["code"] == "CAPTURE_NOT_FOUND"
    assert capture["result_key"] == "results/e/u/gone.json"


@pytest.mark.parametrize(
    "detail",
    [
        {"bucket": {"name": LOCAL_BUCKET}},
        {"bucket": {"name": LOCAL_BUCKET}, "object": {}},
        {"bucket": None, "object": {"key": "k"}},
        {"bucket": {"name": 5}, "object": {"key": ["k"]}},
        {"bucket": {"name": LOCAL_BUCKET}, "object": {"key": ""}},
        {"bucket": {"name": ""}, "object": {"key": "k"}},
        None,
    ],
)
def test_parse_key_refuses_an_input_that_is_no_upload_event_by_name(local_env, detail):
    """An execution started by hand with the wrong input: a named error, not a KeyError."""
    event = {**object_created_event(LOCAL_BUCKET, "images/e/u/c.jpg", size=10, etag="abc"), "detail": detail}
    with pytest.raises(InvalidEvent, match=r"needs detail\.bucket\.name and detail\.object\.key"):
        handler("parse_key")(event, context())


def test_parse_key_refuses_an_event_about_another_bucket(local_env, monkeypatch):
    monkeypatch.setenv("CAPTURE_BUCKET", "proctoring-captures")
    reset_backends()
    event = object_created_event("someone-elses-bucket", "images/e/u/c.jpg", size=10, etag="abc")
    with pytest.raises(InvalidEvent, match="bucket 'someone-elses-bucket'; this pipeline serves 'proctoring-captures'"):
        handler("parse_key")(event, context())


# -- DecideVerdict ----------------------------------------------------------------------------------
def decide_state(local_env, name: str, faces: list, similarity: float | None = 99.0) -> dict:
    capture = capture_state(
        local_env, f"images/exam/user/{name}.jpg", synthetic_jpeg(sum(map(ord, name))), synthetic_jpeg(5)
    )
    capture["reference"]["status"] = "usable"
    return {
        "capture": capture,
        "analysis": {
            "faces": {
                "face_count": len(faces),
                "faces": faces,
                "image_quality": {"Brightness": 60, "Sharpness": 60},
                "comparison": {"similarity": similarity, "face_matches": []},
            },
            "labels": {"checked": True, "labels": [], "person_count": 1},
        },
    }


def test_decide_verdict_ok(local_env):
    result = handler("decide_verdict")(decide_state(local_env, "c1", [face()]), context("decide"))
    assert result["failed"] is False
    assert result["key"] == "results/exam/user/c1.json"
    assert result["document"]["status"] == "OK"
    assert result["document"]["alert_count"] == 0


def test_decide_verdict_escalates_at_the_third_alert_and_is_idempotent(local_env, monkeypatch, capsys):
    decide = handler("decide_verdict")
    states = [decide_state(local_env, f"c{i}", [], similarity=None) for i in range(1, 5)]
    documents = [decide(state, context("decide"))["document"] for state in states]
    assert [d["status"] for d in documents] == ["ALERT", "ALERT", "ALERT_FINAL", "ALERT"]
    assert [d["alert_count"] for d in documents] == [1, 2, 3, 4]
    again = decide(states[2], context("decide"))["document"]
    assert again == documents[2]  # same verdict, same processed_at: the document is rewritten identically
    assert set(emitted_metrics("decide_verdict", states[2], monkeypatch, capsys)) == {"VerdictsReplayed"}
    assert decide(states[3], context("decide"))["document"]["alert_count"] == 4


def test_decide_verdict_leaves_alerts_of_excluded_reasons_out_of_the_count(local_env):
    def without_reference(name: str, faces: list) -> dict:
        state = decide_state(local_env, name, faces, similarity=None)
        state["capture"]["reference"] = None  # judged before the reference was uploaded
        del state["analysis"]["faces"]["comparison"]
        return state

    decide = handler("decide_verdict")
    with environment({"ESCALATION_EXCLUDES": "REFERENCE_MISSING,REFERENCE_INVALID"}):
        late = [decide(without_reference(f"m{i}", [face()]), context("decide"))["document"] for i in range(4)]
        away = decide(without_reference("away", []), context("decide"))["document"]
    assert [d["reason"] for d in late] == ["REFERENCE_MISSING"] * 4
    assert [(d["status"], d["alert_count"]) for d in late] == [("ALERT", 0)] * 4
    # Another reason beside the excluded one: this alert counts.
    assert [r["code"] for r in away["reasons"]] == ["NO_FACE", "REFERENCE_MISSING"]
    assert (away["status"], away["alert_count"]) == ("ALERT", 1)


def test_decide_verdict_judges_again_under_a_changed_policy_but_counts_the_alert_once(local_env):
    decide = handler("decide_verdict")
    state = decide_state(local_env, "c1", [face()], similarity=85.0)
    first = decide(state, context("decide"))["document"]
    assert (first["status"], first["reason"], first["alert_count"]) == ("ALERT", "FACE_MISMATCH", 1)
    with environment({"SIMILARITY_THRESHOLD": "80"}):
        relaxed = decide(state, context("decide"))["document"]
    assert relaxed["status"] == "OK"  # not the stored verdict of the old policy
    assert relaxed["alert_count"] == 1  # the alert already counted stays counted, once
    again = decide(state, context("decide"))["document"]
    assert again == first  # back under the first policy: its stored verdict, rewritten identically


def test_decide_verdict_judges_again_under_new_rules(local_env, monkeypatch):
    import proctoring.policy

    decide = handler("decide_verdict")
    state = decide_state(local_env, "c1", [face()], similarity=85.0)
    first = decide(state, context("decide"))["document"]
    assert decide(state, context("decide"))["document"] == first  # stored: same rules, same thresholds
    time.sleep(0.002)  # processed_at has millisecond resolution
    monkeypatch.setattr(proctoring.policy, "RULES_VERSION", proctoring.policy.RULES_VERSION + 1)
    upgraded = decide(state, context("decide"))["document"]
    assert upgraded["processed_at"] != first["processed_at"]  # judged again, not the stored verdict
    assert upgraded["alert_count"] == 1  # and its alert still counted once


def test_decide_verdict_writes_where_results_now_go_after_the_prefix_changed(local_env):
    decide = handler("decide_verdict")
    first = decide(decide_state(local_env, "c1", [face()], similarity=85.0), context("decide"))
    assert first["key"] == "results/exam/user/c1.json"
    with environment({"RESULTS_PREFIX": "verdicts"}):
        moved = decide(decide_state(local_env, "c1", [face()], similarity=85.0), context("decide"))
    assert moved["key"] == "verdicts/exam/user/c1.json"  # not the stored verdict's old place
    assert moved["document"]["alert_count"] == first["document"]["alert_count"] == 1  # counted once


def test_decide_verdict_for_a_rejected_key_is_an_error_document(local_env):
    capture = handler("parse_key")(object_created_event(LOCAL_BUCKET, "images/x.jpg", size=1, etag="e"), context())
    result = handler("decide_verdict")({"capture": capture}, context("decide"))
    document = result["document"]
    assert document["status"] == "ERROR"
    assert document["reason"] == "INVALID_KEY"
    assert document["error"]["name"] == "INVALID_KEY"
    assert result["key"].startswith("results/_invalid/")


# -- RecordFailure ----------------------------------------------------------------------------------
def test_record_failure_builds_the_error_document_from_the_catch(local_env):
    event = json.loads((ROOT / "events" / "record_failure.json").read_text())
    result = handler("record_failure")(event, context())
    assert result["failed"] is True
    document = result["document"]
    assert document["status"] == "ERROR"
    assert document["error"] == {"name": "RekognitionThrottled", "message": "detect_faces: ThrottlingException"}
    assert result["key"] == "results/exam_123/user_456/capture_001.json"
    (entry,) = [json.loads(path.read_text()) for path in (local_env / "audit").rglob("*.json")]
    assert (entry["kind"], entry["status"], entry["reason"]) == ("verdict", "ERROR", "PROCESSING_FAILED")


def test_record_failure_without_a_parsed_capture_uses_the_event(local_env):
    event = json.loads((ROOT / "events" / "s3_object_created.json").read_text())
    event["error"] = {"Error": "Lambda.ServiceException", "Cause": "Lambda was unavailable"}
    result = handler("record_failure")(event, context())
    assert result["document"]["exam_id"] == "exam_123"
    assert result["document"]["error"]["message"] == "Lambda was unavailable"
    assert result["key"] == "results/exam_123/user_456/capture_001.json"


# -- PersistResult ----------------------------------------------------------------------------------
def test_persist_writes_the_document_with_its_notification(local_env, monkeypatch, capsys):
    event = json.loads((ROOT / "events" / "persist_result.json").read_text())
    assert set(emitted_metrics("persist_result", event, monkeypatch, capsys)) == {"PendingResultsWritten"}
    written = json.loads((local_env / event["key"]).read_text())
    assert written["notification"] == {"status": "pending"}
    assert written["status"] == "OK"


def test_persist_never_writes_pending_over_a_finished_document(local_env, monkeypatch, capsys):
    # A duplicate event or a redrive runs PersistResult again after the delivery was recorded.
    event = json.loads((ROOT / "events" / "persist_result.json").read_text())
    assert set(emitted_metrics("persist_result", event, monkeypatch, capsys)) == {"PendingResultsWritten"}
    delivered = {**event, "notification": {"status": "delivered", "attempts": 1}, "only_if_absent": False}
    assert handler("persist_result")(delivered, context())["written"] is True
    assert handler("persist_result")(event, context())["written"] is False
    # Metrics: the final write is the one counted against CapturesReceived; the kept one is not.
    assert set(emitted_metrics("persist_result", delivered, monkeypatch, capsys)) == {"ResultsWritten"}
    assert set(emitted_metrics("persist_result", event, monkeypatch, capsys)) == {"PendingResultsKept"}
    assert json.loads((local_env / event["key"]).read_text())["notification"] == {"status": "delivered", "attempts": 1}


def test_persist_keeps_a_later_uploads_document_and_counts_it_apart(local_env, monkeypatch, capsys):
    event = json.loads((ROOT / "events" / "persist_result.json").read_text())
    final = {**event, "notification": {"status": "delivered", "attempts": 1}, "only_if_absent": False}
    later = json.loads(json.dumps(final))
    later["document"]["object_version"] = {"version_id": "v2", "etag": "e2", "sequencer": "00617F08299329D200"}
    handler("persist_result")(later, context())

    assert set(emitted_metrics("persist_result", final, monkeypatch, capsys)) == {"ResultsSuperseded"}
    assert handler("persist_result")(final, context())["superseded"] is True
    assert json.loads((local_env / event["key"]).read_text())["object_version"]["version_id"] == "v2"


def test_persist_records_a_failed_delivery(local_env, monkeypatch, capsys):
    event = json.loads((ROOT / "events" / "persist_result.json").read_text())
    del event["notification"]
    message = json.dumps({"attempt": 5, "http_status": 503, "error": "HTTP 503"})
    event["notification_error"] = {
        "Error": "WebhookTransientError",
        "Cause": json.dumps({"errorType": "WebhookTransientError", "errorMessage": message}),
    }
    metrics = emitted_metrics("persist_result", event, monkeypatch, capsys)
    written = json.loads((local_env / event["key"]).read_text())
    # The execution succeeds, so this metric is what the WebhookFailuresAlarm watches.
    assert metrics["WebhookFailed"] == {"namespace": "Proctoring", "dimensions": {"service": "proctoring"}}
    assert written["notification"] == {
        "status": "failed",
        "attempts": 5,
        "http_status": 503,
        "last_error": "WebhookTransientError: HTTP 503",
    }


# -- Notify -----------------------------------------------------------------------------------------
def notify_env(local_env, url, monkeypatch):
    from proctoring_local.stand_ins.lambdas import reset_backends

    monkeypatch.setenv("WEBHOOK_URL", url)
    monkeypatch.setenv("WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("WEBHOOK_ALLOW_HTTP", "true")
    monkeypatch.setenv("WEBHOOK_READ_TIMEOUT", "0.5")
    reset_backends()


def test_notify_posts_once_records_the_delivery_and_replays_the_stored_outcome(local_env, monkeypatch, capsys):
    event = json.loads((ROOT / "events" / "notify.json").read_text())
    with WebhookReceiver(secret=WEBHOOK_SECRET) as receiver:
        notify_env(local_env, receiver.url, monkeypatch)
        first = handler("notify")(event, context("notify"))
        second = handler("notify")({**event, "retry_count": 3}, context("notify"))
        replayed = emitted_metrics("notify", event, monkeypatch, capsys)
    assert first["delivery"]["status"] == "delivered"
    assert first["delivery"] == second["delivery"]
    assert set(replayed) == {"DeliveriesReplayed", "ResultsWritten"}
    assert len(receiver.deliveries) == 1
    assert receiver.idempotency_keys() == [delivery_key(event["idempotency_key"], event["document"])]
    recorded = json.loads((local_env / event["key"]).read_text())
    assert recorded["notification"] == first["delivery"]
    assert {k: v for k, v in recorded.items() if k != "notification"} | {"type": "verdict"} == receiver.deliveries[
        0
    ].payload


def test_notify_whose_record_fails_posts_once_when_the_state_machine_retries(local_env, monkeypatch):
    from proctoring.errors import StorageUnavailable
    from proctoring.storage import LocalStorage

    event = json.loads((ROOT / "events" / "notify.json").read_text())
    original, failures = LocalStorage.create_json, [StorageUnavailable("PutObject: SlowDown")]

    def failing_once(self, *args, **kwargs):
        if failures:
            raise failures.pop()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LocalStorage, "create_json", failing_once)
    with WebhookReceiver(secret=WEBHOOK_SECRET) as receiver:
        notify_env(local_env, receiver.url, monkeypatch)
        with pytest.raises(StorageUnavailable):
            handler("notify")(event, context("notify"))
        retried = handler("notify")({**event, "retry_count": 1}, context("notify"))
    assert len(receiver.deliveries) == 1  # the retry answered the delivery from the idempotency store
    assert json.loads((local_env / event["key"]).read_text())["notification"] == retried["delivery"]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, WebhookTransientError),
        (503, WebhookTransientError),
        (429, WebhookTransientError),
        (408, WebhookTransientError),
        (404, WebhookRejected),
        (400, WebhookRejected),
        (301, WebhookRejected),  # redirects are not followed: the signed body goes where it was told
    ],
)
def test_notify_classifies_failures_for_the_state_machine(local_env, monkeypatch, status, error):
    event = json.loads((ROOT / "events" / "notify.json").read_text())
    with WebhookReceiver(secret=WEBHOOK_SECRET, responses=[status]) as receiver:
        notify_env(local_env, receiver.url, monkeypatch)
        with pytest.raises(error) as raised:
            handler("notify")({**event, "retry_count": 1}, context("notify"))
    details = json.loads(str(raised.value))
    assert {**details, "error": details["error"].split(",")[0]} == {
        "attempt": 2,
        "http_status": status,
        "error": f"HTTP {status}",
    }


@pytest.mark.parametrize("step", ["parse_key", "decide_verdict", "persist_result", "notify", "record_failure"])
def test_the_json_only_steps_do_not_load_the_image_libraries(step):
    # They run at 256 MB and start cold often: Pillow has no business in their import time.
    code = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import app; "
        "print(sorted(m for m in ('PIL', 'dlib', 'numpy') if m in sys.modules))"
    )
    shared, folder = ROOT / "functions" / "shared", ROOT / "functions" / step
    loaded = subprocess.run([sys.executable, "-c", code, str(shared), str(folder)], capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "[]"
