"""Webhook delivery: a POST of the result document, signed as the Standard Webhooks specification
says (https://www.standardwebhooks.com), so a receiver in any language verifies it with an
existing library.

Headers: ``webhook-id`` (one per upload and verdict, see :func:`delivery_key`: the idempotency
key), ``webhook-timestamp`` (unix seconds) and ``webhook-signature`` (``v1,`` + base64 HMAC-SHA256
of ``"{id}.{timestamp}.{body}"``, keyed with the secret ``whsec_<base64>``), made and checked
with the ``standardwebhooks`` package.
Retries are the state machine's job: this module makes exactly one attempt and says, through the
exception's class, whether another attempt could help.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urljoin, urlparse

from .errors import ConfigurationError, WebhookRejected, WebhookTransientError

SIGNATURE_HEADER = "webhook-signature"
TIMESTAMP_HEADER = "webhook-timestamp"
IDEMPOTENCY_HEADER = "webhook-id"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
USER_AGENT = "proctoring-pipeline/1.0"
# A Secrets Manager secret in any partition (aws, aws-cn, aws-us-gov); anything else is an SSM name.
_SECRETS_MANAGER_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:")


def payload_of(document: dict[str, Any]) -> dict[str, Any]:
    """The webhook payload of a verdict: the result document without its own delivery record,
    typed as a verdict (a decision event's ``type`` is ``decision``)."""
    return {"type": "verdict", **{key: value for key, value in document.items() if key != "notification"}}


def encode_payload(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def delivery_key(capture_key: str, document: dict[str, Any]) -> str:
    """The ``webhook-id`` of a delivery: one value per uploaded object version and verdict.

    Every retry of a delivery repeats it, so a receiver that deduplicates on it drops a repeat; a
    changed verdict for the same upload (an ERROR redriven into a verdict, a capture judged again
    after its reference changed) is a new delivery with a new key, so it is not dropped as a repeat.
    The verdict is what Notify's own idempotency is keyed on: the status and the reasons.
    """
    verdict = json.dumps([document.get("status"), document.get("reasons")], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{capture_key}\n{verdict}".encode()).hexdigest()


def signer(secret: str) -> Any:
    """The Standard Webhooks signer and verifier for ``secret``, which must be ``whsec_`` and
    base64 (at least 24 bytes): what ``proctoring webhook --new-secret`` prints."""
    from standardwebhooks.webhooks import Webhook

    problem = secret_problem(secret)
    if problem:
        raise ConfigurationError(problem)
    return Webhook(secret)


def secret_problem(secret: str) -> str:
    """What is wrong with ``secret`` as a Standard Webhooks secret, or "" when nothing is."""
    if not secret.startswith(SECRET_PREFIX):
        return (
            "the webhook secret must be a Standard Webhooks secret, 'whsec_' and base64; "
            "make one with: proctoring webhook --new-secret"
        )
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        return "the webhook secret after 'whsec_' is not base64"
    if len(key) < 24:
        return f"the webhook secret holds {len(key)} bytes; Standard Webhooks asks for 24 to 64"
    return ""


def new_secret() -> str:
    """A fresh secret: 32 random bytes."""
    import secrets

    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header's value."""
    from datetime import UTC, datetime

    signature: str = signer(secret).sign(message_id, datetime.fromtimestamp(timestamp, UTC), body)
    return signature


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Whether ``headers`` sign ``body`` with ``secret``, with a timestamp within five minutes
    (replay protection): the receiver's check, with the library any receiver would use."""
    from standardwebhooks.webhooks import WebhookVerificationError

    try:
        signer(secret).verify(body, headers, json_parse=False)
    except WebhookVerificationError:
        return False
    return True


class SecretSource(Protocol):
    def get(self) -> str: ...


@dataclass(frozen=True)
class StaticSecret:
    """A secret given directly (local runs and tests)."""

    value: str

    def get(self) -> str:
        return self.value


@dataclass(frozen=True)
class ParameterSecret:
    """The secret from SSM Parameter Store or Secrets Manager, cached by Powertools for 5 minutes."""

    name: str
    max_age: int = 300

    def get(self) -> str:
        if _SECRETS_MANAGER_ARN.match(self.name) or self.name.startswith("secretsmanager:"):
            value = _provider("secretsmanager").get(self.name.removeprefix("secretsmanager:"), max_age=self.max_age)
        else:
            value = _provider("ssm").get(self.name, decrypt=True, max_age=self.max_age)
        if not value:
            raise ConfigurationError(f"webhook secret {self.name} is empty")
        return str(value)


_providers: dict[str, Any] = {}


def _provider(service: str) -> Any:
    """Powertools' parameter provider for ``service`` (it caches values), with the project's timeouts."""
    if service not in _providers:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider

        from .aws_clients import config

        kind = SecretsProvider if service == "secretsmanager" else SSMProvider
        _providers[service] = kind(boto_config=config(service))
    return _providers[service]


def _what_failed(exc: BaseException) -> str:
    """The request error and its root cause, by class name only: enough to tell a refused
    connection from a name that did not resolve or a certificate refused, and never the URL (a
    webhook URL may carry a token, and these messages land in documents and logs)."""
    root = exc
    while (cause := root.__cause__ or root.__context__) is not None:
        root = cause
    if isinstance(root, socket.gaierror):
        return f"{type(exc).__name__} (the host name did not resolve)"
    if isinstance(root, ssl.SSLError) and root.reason:  # CERTIFICATE_VERIFY_FAILED, WRONG_VERSION_NUMBER...
        return f"{type(exc).__name__} ({type(root).__name__}: {root.reason})"
    return type(exc).__name__ if root is exc else f"{type(exc).__name__} ({type(root).__name__})"


def _redirect_hint(url: str, location: str | None) -> str:
    """Where a 3xx points, by scheme, host and port only (paths and queries may carry tokens)."""
    if not location:
        return "a redirect without a Location"
    here, there = urlparse(url), urlparse(urljoin(url, location))
    if (here.scheme, here.hostname, here.port) == (there.scheme, there.hostname, there.port):
        where = "another path on the same host"
    else:
        where = f"{there.scheme}://{there.hostname}" + (f":{there.port}" if there.port else "")
    return f"redirected to {where}; deliveries do not follow redirects: set the webhook URL to the new address"


class Notifier(Protocol):
    def send(self, document: dict[str, Any], idempotency_key: str, attempt: int) -> dict[str, Any]: ...

    def deliver(self, payload: dict[str, Any], message_id: str, attempt: int) -> dict[str, Any]: ...


class WebhookNotifier:
    def __init__(
        self,
        url: str,
        secret: SecretSource,
        *,
        allow_http: bool = False,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        session: Any = None,
    ) -> None:
        parsed = urlparse(url)
        scheme = parsed.scheme.lower()
        if scheme != "https" and not (scheme == "http" and allow_http):
            raise ConfigurationError(
                f"webhook URL must use https (got {scheme or 'no'} scheme); "
                "plain http is accepted only with WEBHOOK_ALLOW_HTTP=true, for local use"
            )
        # Named without the URL itself, which may carry a token: these messages reach documents.
        if not parsed.hostname:
            raise ConfigurationError("webhook URL has no host")
        try:
            parsed.port  # noqa: B018 - parsing it is the check
        except ValueError:
            raise ConfigurationError("webhook URL has an invalid port") from None
        if parsed.username is not None or parsed.password is not None:
            raise ConfigurationError(
                "webhook URL carries credentials (user:password@), which would sit in plain text; remove them: "
                "the receiver checks each delivery's signature (the signing secret) instead"
            )
        if session is None:
            import requests

            session = requests.Session()
        self.url = url
        self._secret = secret
        self._timeouts = (connect_timeout, read_timeout)
        self._session = session

    def send(self, document: dict[str, Any], idempotency_key: str, attempt: int = 1) -> dict[str, Any]:
        """One signed POST of a verdict."""
        return self.deliver(payload_of(document), delivery_key(idempotency_key, document), attempt)

    def deliver(self, payload: dict[str, Any], message_id: str, attempt: int = 1) -> dict[str, Any]:
        """One signed POST of ``payload`` as the message ``message_id`` (its ``webhook-id``)."""
        import requests

        body = encode_payload(payload)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            IDEMPOTENCY_HEADER: message_id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self._secret.get(), message_id, timestamp, body),
        }

        def failure(error_class: type[Exception], status: int | None, error: str) -> Exception:
            return error_class(json.dumps({"attempt": attempt, "http_status": status, "error": error}))

        try:
            response = self._session.post(
                self.url, data=body, headers=headers, timeout=self._timeouts, allow_redirects=False
            )
        except requests.Timeout as exc:
            raise failure(WebhookTransientError, None, f"timed out: {_what_failed(exc)}") from exc
        except requests.ConnectionError as exc:
            raise failure(WebhookTransientError, None, f"connection failed: {_what_failed(exc)}") from exc
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidHeader) as exc:
            raise ConfigurationError(f"the request could not be made: {_what_failed(exc)}") from exc
        except requests.RequestException as exc:  # the answer broke off mid-way, say
            raise failure(WebhookTransientError, None, f"request failed: {_what_failed(exc)}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return {"status": "delivered", "attempts": attempt, "http_status": status}
        # 408 (the receiver timed out reading) and 429 (too many requests) say "try again later".
        if status in {408, 429} or status >= 500:
            raise failure(WebhookTransientError, status, f"HTTP {status}")
        if 300 <= status < 400:
            hint = _redirect_hint(self.url, response.headers.get("Location"))
            raise failure(WebhookRejected, status, f"HTTP {status}, {hint}")
        raise failure(WebhookRejected, status, f"HTTP {status}")


_notifier: Notifier | None = None


def get_notifier() -> Notifier:
    """The webhook notifier for this process's settings, built once (keeps the HTTP session warm)."""
    global _notifier
    if _notifier is None:
        from .config import get_settings

        settings = get_settings()
        if not settings.webhook_url:
            raise ConfigurationError("WEBHOOK_URL is not set")
        if settings.webhook_secret:
            secret: SecretSource = StaticSecret(settings.webhook_secret)
        elif settings.webhook_secret_parameter:
            secret = ParameterSecret(settings.webhook_secret_parameter)
        else:
            raise ConfigurationError("set WEBHOOK_SECRET_PARAMETER (SSM or Secrets Manager) to sign deliveries")
        _notifier = WebhookNotifier(
            settings.webhook_url,
            secret,
            allow_http=settings.webhook_allow_http,
            connect_timeout=settings.webhook_connect_timeout,
            read_timeout=settings.webhook_read_timeout,
        )
    return _notifier


def set_notifier(notifier: Notifier | None) -> None:
    global _notifier
    _notifier = notifier
