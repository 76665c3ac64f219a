"""Which AWS SDK failures are worth another attempt: one rule for every service the steps call.

The steps' S3 and Rekognition clients make a single attempt (DynamoDB's a few quick ones), so a
transient failure is raised as a named error (``StorageUnavailable``, ``AnalyzerUnavailable``)
that the state machine retries with backoff; anything else (access denied, a bad parameter) fails
at once. botocore is imported only when a failure is looked at.
"""

from __future__ import annotations

from collections.abc import Collection


def transient_reason(exc: BaseException, codes: Collection[str] = ()) -> str | None:
    """Why ``exc`` may well succeed on a later attempt, or None when it would fail the same way.

    Transient: an error code from ``codes`` (the service's throttling and busy codes), any 5xx
    answer, or no answer at all (connection refused or reset, a DNS failure, a connect or read
    timeout).
    """
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in codes or status >= 500:
            return code or f"HTTP {status}"
        return None
    if isinstance(exc, (ConnectionError, HTTPClientError)):
        return f"{type(exc).__name__}: {exc}"
    return None
