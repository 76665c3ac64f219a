"""Logging, tracing and metrics for every step, set up once with Powertools.

The service name, log level and metrics namespace come from the environment template.yaml sets
(``POWERTOOLS_SERVICE_NAME``...). Logs never carry image bytes, embeddings or secrets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
tracer = Tracer()
metrics = Metrics()

Handler = TypeVar("Handler", bound=Callable[..., Any])


def step_handler(handler: Handler) -> Handler:
    """A step's Lambda handler with the invocation's context in every log line, an X-Ray segment
    (without the response, which may hold a verdict document) and its metrics flushed at the end."""
    traced = tracer.capture_lambda_handler(capture_response=False)(metrics.log_metrics(handler))
    wrapped: Handler = logger.inject_lambda_context(traced)
    return wrapped


def count(name: str) -> None:
    """One more of ``name`` in this invocation's metrics (the template's alarms select on some)."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def about(exam_id: str | None, user_id: str | None) -> None:
    """Name the student in every later log line of this invocation."""
    logger.append_keys(exam_id=exam_id, user_id=user_id)
