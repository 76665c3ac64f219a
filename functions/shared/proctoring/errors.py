"""Exceptions whose class names are Step Functions error names.

A Lambda error reaches the state machine as ``errorType`` = the exception class name, so the
ASL's Retry and Catch blocks match on these names. Keep names stable: they are part of the
contract with ``statemachine/proctoring.asl.json``.
"""

from __future__ import annotations


class ProctoringError(Exception):
    """Base class for errors this package raises on purpose."""


class RekognitionThrottled(ProctoringError):
    """Rekognition throttled the call (ThrottlingException, ProvisionedThroughputExceeded...).

    Transient: the ASL retries it with backoff.
    """


class AnalyzerUnavailable(ProctoringError):
    """The face analyzer failed for a reason that is not the image's fault (service error)."""


class StorageUnavailable(ProctoringError):
    """A storage call failed transiently (5xx, SlowDown, connection error). Retried by the ASL."""


class WebhookTransientError(ProctoringError):
    """Timeout, connection error, 5xx or 429 from the webhook. Retried by the ASL with backoff."""


class WebhookRejected(ProctoringError):
    """The webhook answered 4xx (other than 429). Not retried: the request itself is wrong."""


class ObjectTooLarge(ProctoringError):
    """An object larger than the reader asked for at most (``size``: its size in bytes)."""

    def __init__(self, uri: str, size: int, limit: int) -> None:
        super().__init__(f"{uri} is {size / 1048576:.1f} MB, over the {limit / 1048576:.0f} MB read at most")
        self.size = size


class InvalidEvent(ProctoringError):
    """The execution's input is not an S3 "Object Created" event (an execution started by hand
    with the wrong input, say). Not retried: the same input would fail the same way."""


class ConfigurationError(ProctoringError):
    """A setting is missing or invalid. Not retried."""


class ResultNameTaken(ProctoringError):
    """Other captures' documents hold every name this capture's result may take. Not retried:
    only renaming a capture frees one (see ``proctoring.result_store``)."""


class InvalidRescoreRequest(ProctoringError):
    """A re-score's input names no exam, or sets a setting it may not or to a value out of bounds.
    Not retried: the run stops before any capture is judged again."""


class DecisionRefused(ProctoringError):
    """A proctor's decision that cannot be applied: it fails the decision schema, names no person,
    or is about a capture that does not exist or has no verdict yet. Not retried: nothing changed."""
