"""A small webhook receiver for local use: verifies each delivery as a Standard Webhooks receiver
does (with the ``standardwebhooks`` library) and prints it.

``proctoring webhook --port 8765 --webhook-secret whsec_...`` then run the pipeline with
``--webhook http://127.0.0.1:8765/``; ``proctoring webhook --new-secret`` prints a fresh secret.
The tests use the same server on loopback, scripted to answer errors or to be slow.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from proctoring.notify import IDEMPOTENCY_HEADER, verify

MAX_BODY_BYTES = 1024 * 1024  # a result document is a few kB


def json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


@dataclass
class Delivery:
    payload: dict[str, Any]
    headers: dict[str, str]
    signature_valid: bool
    answered: int


@dataclass
class WebhookReceiver:
    """A real HTTP server on loopback. ``responses`` scripts the status codes of the next requests
    (then 200); ``delay`` makes every answer slow."""

    secret: str
    host: str = "127.0.0.1"
    port: int = 0
    responses: list[int] = field(default_factory=list)
    delay: float = 0.0
    on_delivery: Callable[[Delivery], None] | None = None
    on_rejected: Callable[[Delivery], None] | None = None  # a request refused for its signature
    deliveries: list[Delivery] = field(default_factory=list)
    requests: int = 0

    def __post_init__(self) -> None:
        receiver = self
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                try:
                    length = int(self.headers.get("Content-Length", "0"))
                except ValueError:
                    length = -1
                if not 0 <= length <= MAX_BODY_BYTES:
                    self._answer(400 if length < 0 else 413)
                    return
                body = self.rfile.read(length)
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver._lock:
                    receiver.requests += 1
                    status = receiver.responses.pop(0) if receiver.responses else 200
                # Standard Webhooks' own library checks the signature and the timestamp's age.
                valid = verify(receiver.secret, dict(self.headers.items()), body)
                if status == 200 and not valid:
                    status = 401
                    if receiver.on_rejected:
                        payload = json_object(body) or {}
                        receiver.on_rejected(Delivery(payload, dict(self.headers.items()), False, status))
                if status == 200:
                    signed = json_object(body)
                    if signed is None:  # signed, but not the JSON object the pipeline sends
                        status = 400
                    else:
                        delivery = Delivery(signed, dict(self.headers.items()), valid, status)
                        with receiver._lock:
                            receiver.deliveries.append(delivery)
                        if receiver.on_delivery:
                            receiver.on_delivery(delivery)
                self._answer(status)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    def idempotency_keys(self) -> list[str]:
        return [delivery.headers.get(IDEMPOTENCY_HEADER, "") for delivery in self.deliveries]

    def distinct(self) -> list[Delivery]:
        """The deliveries as a receiver that drops repeats sees them: the first of each webhook-id.
        A delivery whose answer was lost (a slow receiver timed out) is rightly sent again with the
        same id; counting requests would count it twice."""
        with self._lock:
            first: dict[str, Delivery] = {}
            for delivery in self.deliveries:
                first.setdefault(delivery.headers.get(IDEMPOTENCY_HEADER, ""), delivery)
        return list(first.values())

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
