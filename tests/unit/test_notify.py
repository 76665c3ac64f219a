"""Webhook signing, the secret from SSM through Powertools parameters, and the local receiver."""

from __future__ import annotations

import base64
import http.client
import http.server
import json
import re
import subprocess
import sys
import threading
import time

import boto3
import pytest
import requests
from moto import mock_aws

from proctoring.errors import ConfigurationError, WebhookRejected, WebhookTransientError
from proctoring.notify import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ParameterSecret,
    StaticSecret,
    WebhookNotifier,
    delivery_key,
    encode_payload,
    new_secret,
    payload_of,
    secret_problem,
    sign,
    verify,
)
from proctoring_local.stand_ins.webhook_receiver import WebhookReceiver
from tests.builders import ROOT, WEBHOOK_SECRET

BODY = b'{"status":"ALERT"}'
K = WEBHOOK_SECRET
OTHER = "whsec_" + base64.b64encode(b"another-secret-of-thirty-two-byt").decode()


def signed(secret: str, body: bytes, message_id: str = "msg-1", timestamp: int | None = None) -> dict[str, str]:
    """The headers a sender signing with ``secret`` sends."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        IDEMPOTENCY_HEADER: message_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, message_id, timestamp, body),
    }


def test_the_signature_is_the_standard_webhooks_one():
    """v1, and the base64 HMAC-SHA256 of "id.timestamp.body" keyed with the secret's base64 bytes."""
    import hashlib
    import hmac

    key = base64.b64decode(K.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, b"msg-1.1700000000." + BODY, hashlib.sha256).digest()).decode()
    assert sign(K, "msg-1", 1700000000, BODY) == f"v1,{expected}"


def test_verify_accepts_a_fresh_signature_and_rejects_tampering_and_replays():
    headers = signed(K, BODY)
    assert verify(K, headers, BODY)
    assert not verify(K, headers, BODY + b" ")
    assert not verify(OTHER, headers, BODY)
    assert not verify(K, {**headers, IDEMPOTENCY_HEADER: "msg-2"}, BODY)  # the id is signed too
    assert not verify(K, signed(K, BODY, timestamp=int(time.time()) - 301), BODY)  # replayed later
    assert not verify(K, {key: value for key, value in headers.items() if key != TIMESTAMP_HEADER}, BODY)


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("s3cr3t", "must be a Standard Webhooks secret"),
        ("whsec_not base64!", "not base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "holds 5 bytes"),
    ],
)
def test_a_secret_that_is_not_a_standard_webhooks_one_is_refused_with_what_to_do(secret, problem):
    assert problem in secret_problem(secret)
    with pytest.raises(ConfigurationError, match=problem):
        sign(secret, "msg-1", 1700000000, BODY)


def test_a_new_secret_is_a_valid_one_of_32_random_bytes():
    first, second = new_secret(), new_secret()
    assert first != second and secret_problem(first) == ""
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32


def test_a_receiver_using_the_standardwebhooks_library_verifies_a_delivery_over_http():
    """The receiver a proctoring system would write: the library, its own HTTP server, our POST."""
    from standardwebhooks.webhooks import Webhook

    verified = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            verified.append(Webhook(K).verify(body, dict(self.headers.items())))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None: ...

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        notifier = WebhookNotifier(url, StaticSecret(K), allow_http=True)
        outcome = notifier.send({"status": "ALERT", "reasons": [], "notification": None}, "upload-1")
    finally:
        server.shutdown()
        server.server_close()
    assert outcome["status"] == "delivered" and outcome["http_status"] == 204
    assert verified == [{"type": "verdict", "status": "ALERT", "reasons": []}]


def test_the_delivery_key_is_one_per_upload_and_verdict():
    alert = {"status": "ALERT", "reasons": [{"code": "NO_FACE", "message": "No face.", "evidence": {}}], "x": 1}
    same_verdict = {**alert, "x": 2, "notification": {"status": "pending"}}  # other fields do not count
    assert delivery_key("upload-1", alert) == delivery_key("upload-1", same_verdict)
    assert delivery_key("upload-1", alert) != delivery_key("upload-2", alert)  # another upload
    assert delivery_key("upload-1", alert) != delivery_key("upload-1", {"status": "OK", "reasons": []})
    assert len(delivery_key("upload-1", alert)) == 64


def test_payload_leaves_out_the_delivery_record_and_is_canonical():
    document = {"status": "OK", "notification": {"status": "pending"}, "b": 1, "a": "é"}
    payload = payload_of(document)
    assert "notification" not in payload
    assert encode_payload(payload) == '{"a":"é","b":1,"status":"OK","type":"verdict"}'.encode()


@pytest.mark.parametrize("url", ["http://proctor.example/hook", "ftp://proctor.example/hook", "proctor.example/hook"])
def test_only_https_unless_allowed(url):
    with pytest.raises(ConfigurationError, match="https"):
        WebhookNotifier(url, StaticSecret(K))
    if url.startswith("http://"):
        assert WebhookNotifier(url, StaticSecret(K), allow_http=True).url == url


def test_a_failed_connection_names_its_cause_and_never_the_url(tmp_path):
    """An https URL pointed at a plain-HTTP server: the TLS handshake fails, and the error says so
    by class name only (a webhook URL can carry a token; the message lands in the document)."""
    with WebhookReceiver(secret=K) as receiver:
        url = receiver.url.replace("http://", "https://") + "?token=url-secret"
        with pytest.raises(WebhookTransientError) as error:
            WebhookNotifier(url, StaticSecret(K)).send({"status": "OK"}, "key")
    failure = json.loads(str(error.value))
    # The TLS layer's own class and reason (WRONG_VERSION_NUMBER, say; it varies with OpenSSL).
    assert re.fullmatch(r"connection failed: SSLError \(SSL\w*Error: [A-Z_]+\)", failure["error"]), failure
    assert "url-secret" not in str(error.value) and "127.0.0.1" not in str(error.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://proctor.example:notaport/hook?token=url-secret", "invalid port"),
        ("https:///hook", "no host"),
        ("https://user:url-secret@proctor.example/hook", "carries credentials"),
    ],
)
def test_a_url_that_cannot_work_is_a_configuration_error_that_does_not_echo_it(url, message):
    with pytest.raises(ConfigurationError, match=message) as error:
        WebhookNotifier(url, StaticSecret(K))
    assert "url-secret" not in str(error.value)


def test_an_answer_broken_off_mid_way_is_transient():
    """The receiver promises a longer body than it sends, then hangs up: retried, by class name."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))

    def answer_short() -> None:
        connection, _ = server.accept()
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                request += connection.recv(65536)
            head, _, body = request.partition(b"\r\n\r\n")
            length = int(
                next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")).split(b":")[1]
            )
            while len(body) < length:  # read the whole request: closing on unread data would reset instead
                body += connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
            connection.shutdown(socket.SHUT_WR)  # an orderly end, 93 bytes short
            while connection.recv(65536):
                pass

    threading.Thread(target=answer_short, daemon=True).start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}/hook?token=url-secret"
    with server, pytest.raises(WebhookTransientError) as error:
        WebhookNotifier(url, StaticSecret(K), allow_http=True).send({"status": "OK"}, "key")
    failure = json.loads(str(error.value))
    assert failure["error"] == "request failed: ChunkedEncodingError (IncompleteRead)"
    assert "url-secret" not in str(error.value)


@pytest.mark.parametrize(
    ("location", "where"),
    [
        ("https://proctor.example.edu/hooks/verdicts?token=moved-secret", "https://proctor.example.edu"),
        ("/hook/?token=moved-secret", "another path on the same host"),
        (None, "a redirect without a Location"),
    ],
)
def test_a_redirect_is_not_followed_and_says_where_it_points_without_the_path(location, where):
    """requests would turn a POST into a GET on a 301/302 and count the GET's 200 as delivered."""
    import http.server
    import threading

    posts = []

    class Redirecting(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            posts.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(301)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # what following the redirect would do
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None: ...

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook?token=url-secret"
        with pytest.raises(WebhookRejected) as error:
            WebhookNotifier(url, StaticSecret(K), allow_http=True).send({"status": "OK"}, "key")
    finally:
        server.shutdown()
        server.server_close()
    failure = json.loads(str(error.value))
    assert failure["http_status"] == 301
    assert failure["error"].startswith("HTTP 301, ")
    assert where in failure["error"]
    assert "secret" not in failure["error"]
    assert len(posts) == 1


def test_secret_comes_from_ssm_securestring_and_is_cached():
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        ssm.put_parameter(Name="/proctoring/webhook-secret", Value="s3cr3t", Type="SecureString")
        secret = ParameterSecret("/proctoring/webhook-secret", max_age=300)
        assert secret.get() == "s3cr3t"
        ssm.put_parameter(Name="/proctoring/webhook-secret", Value="rotated", Type="SecureString", Overwrite=True)
        assert secret.get() == "s3cr3t"  # served from Powertools' cache for max_age seconds
        from proctoring.notify import _provider

        fresh = _provider("ssm").get("/proctoring/webhook-secret", decrypt=True, force_fetch=True)
        assert fresh == "rotated"  # the rotation is picked up once the cache entry expires


def test_secret_comes_from_secrets_manager_when_given_a_secret_arn():
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        arn = secrets.create_secret(Name="proctoring/webhook", SecretString="from-secrets-manager")["ARN"]
        boto3.client("ssm", region_name="us-east-1")  # nothing in SSM: reading it there would fail
        assert ParameterSecret(arn, max_age=300).get() == "from-secrets-manager"
        secrets.put_secret_value(SecretId=arn, SecretString="rotated")
        assert ParameterSecret(arn, max_age=300).get() == "from-secrets-manager"  # cached for max_age


def test_headers_carry_timestamp_signature_and_idempotency_key():
    sent = {}

    class Session:
        def post(self, url, data, headers, timeout, allow_redirects):
            sent.update(url=url, data=data, headers=headers, timeout=timeout, allow_redirects=allow_redirects)
            return type("Response", (), {"status_code": 204})()

    notifier = WebhookNotifier(
        "https://proctor.example/hook", StaticSecret(K), session=Session(), connect_timeout=2, read_timeout=7
    )
    outcome = notifier.send({"status": "OK", "notification": None}, "idem-1", attempt=2)
    assert outcome == {"status": "delivered", "attempts": 2, "http_status": 204}
    headers = sent["headers"]
    assert headers[IDEMPOTENCY_HEADER] == delivery_key("idem-1", {"status": "OK"})
    assert verify(K, headers, sent["data"])
    assert sent["timeout"] == (2, 7)
    assert sent["allow_redirects"] is False
    assert json.loads(sent["data"]) == {"type": "verdict", "status": "OK"}


def test_dev_webhook_receiver_verifies_and_prints(tmp_path, unused_port):
    port = unused_port
    process = subprocess.Popen(
        [sys.executable, "-m", "proctoring_local", "webhook", "--port", str(port), "--webhook-secret", K],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/hook"
        for _ in range(100):
            try:
                requests.post(url, data=b"{}", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        document = {
            "status": "ALERT",
            "exam_id": "e",
            "user_id": "u",
            "capture": "c.jpg",
            "reason": "NO_FACE",
            "details": ["No face was found in the capture."],
        }
        body = encode_payload(document)
        good = requests.post(url, data=body, timeout=5, headers=signed(K, body))
        forged = requests.post(url, data=body, timeout=5, headers=signed(OTHER, body))
    finally:
        process.terminate()
        out, _err = process.communicate(timeout=10)
    assert good.status_code == 200
    assert forged.status_code == 401
    assert "ALERT" in out and "e/u/c.jpg" in out and "NO_FACE" in out and "signature ok" in out
    assert "No face was found" in out
    # The forged request is shown too, so a secret that differs between the two sides is visible.
    assert "BAD SIGNATURE, refused with 401" in out
    assert out.count("e/u/c.jpg") == 2


def test_dev_webhook_on_a_port_in_use_says_so(capsys):
    import socket

    from proctoring_local.__main__ import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["webhook", "--port", str(taken.getsockname()[1])]) == 2
    assert "choose another with --port" in capsys.readouterr().err


def test_dev_webhook_receiver_names_a_capture_outside_the_convention_by_its_object(capsys):
    from proctoring_local.commands.webhook import print_delivery
    from proctoring_local.stand_ins.webhook_receiver import Delivery

    document = {
        "status": "ERROR",
        "exam_id": None,
        "user_id": None,
        "capture": None,
        "s3_input": "s3://bucket/images/stray.jpg",
        "reason": "INVALID_KEY",
        "details": ["key 'images/stray.jpg' must be images/{exam_id}/{user_id}/{file}"],
    }
    print_delivery(Delivery(payload=document, headers={}, signature_valid=False, answered=401))
    first = capsys.readouterr().out.splitlines()[0]
    assert "s3://bucket/images/stray.jpg" in first and "INVALID_KEY" in first and "BAD SIGNATURE" in first
    assert "None" not in first


def test_the_local_receiver_refuses_malformed_requests_and_keeps_serving():
    """Signed bodies that are not a JSON object, and bad lengths, get a 4xx, not a traceback."""
    seen = []
    with WebhookReceiver(secret=K, on_delivery=seen.append, on_rejected=seen.append) as receiver:

        def post(body: bytes, signed_with: str = K) -> int:
            return requests.post(receiver.url, data=body, headers=signed(signed_with, body), timeout=5).status_code

        assert post(b"not json") == 400
        assert post(b"[1, 2]") == 400
        assert post(b"[1, 2]", signed_with=OTHER) == 401  # shown as refused, with what could be read of it
        for length, status in (("2000000", 413), ("two", 400)):  # what requests would never send: by hand
            connection = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=5)
            connection.putrequest("POST", "/hook")
            connection.putheader("Content-Length", length)
            connection.endheaders(b"{}")
            assert connection.getresponse().status == status
            connection.close()
        assert post(b'{"status": "OK"}') == 200  # still serving
    assert [delivery.payload for delivery in receiver.deliveries] == [{"status": "OK"}]
    assert [(delivery.payload, delivery.answered) for delivery in seen] == [({}, 401), ({"status": "OK"}, 200)]
