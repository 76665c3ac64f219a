"""Lambda as its runtime calls a handler, in this process: a context object, JSON in and out,
an exception reported as an error payload (so the state machine's Retry and Catch see the same error
names as on AWS), and the settings-built backends reset between configurations.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

from proctoring_local.stand_ins.ids import fast_uuid4

REGION = "us-east-1"
ACCOUNT = "123456789012"


class LambdaContext:
    """Enough of the Lambda context object for Powertools (logger, idempotency)."""

    def __init__(self, function_name: str, timeout_seconds: float = 900.0, memory_mb: int = 128) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function_arn(function_name)
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(fast_uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


class _NoSegment(BaseSegment):
    def close(self, end_time: int | None = None) -> None: ...
    def add_subsegment(self, subsegment: Any) -> None: ...
    def remove_subsegment(self, subsegment: Any) -> None: ...
    def put_annotation(self, key: str, value: Any) -> None: ...
    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None: ...
    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None: ...


class NoTracingProvider(BaseProvider):
    """Powertools' documented tracer-provider extension point, doing nothing.

    Local runs have no X-Ray daemon and disable tracing, yet a disabled Tracer still builds an
    X-Ray dummy subsegment (with a random id) around every handler call: about 0.1 ms a step.
    """

    @contextmanager
    def in_subsegment(self, name: Any = None, **kwargs: Any) -> Iterator[BaseSegment]:
        yield _NoSegment()

    @asynccontextmanager
    async def in_subsegment_async(self, name: Any = None, **kwargs: Any) -> AsyncIterator[BaseSegment]:
        yield _NoSegment()

    def put_annotation(self, key: str, value: Any) -> None: ...
    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None: ...
    def patch(self, modules: Any) -> None: ...
    def patch_all(self) -> None: ...


def use_no_tracing_when_disabled() -> None:
    """Give every Tracer created from now on the no-op provider, when tracing is disabled.

    Tracer keeps its configuration at class level, so one call configures the handler modules
    imported afterwards (in a runner worker, all of them).
    """
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() == "true":
        from aws_lambda_powertools import Tracer

        Tracer(provider=NoTracingProvider(), disabled=True)


_modules_lock = threading.Lock()


def load_handler_module(code_dir: str | Path) -> ModuleType:
    """Import ``<code_dir>/app.py`` under a unique name (every step's module is called app)."""
    code_dir = Path(code_dir)
    name = f"step_{code_dir.name}"
    with _modules_lock:
        if name not in sys.modules:
            spec = importlib.util.spec_from_file_location(name, code_dir / "app.py")
            assert spec and spec.loader
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        return sys.modules[name]


def invoke_handler(
    module: ModuleType, function_name: str, payload: Any, timeout_seconds: float = 900.0, memory_mb: int = 128
) -> tuple[Any, bool]:
    """Run a handler as Lambda would: JSON in, JSON out, exceptions as error payloads.

    ``timeout_seconds`` and ``memory_mb`` are the function's from template.yaml. The context reports the time
    left as Lambda would, and Powertools idempotency makes an in-progress record expire then: a
    local run that was interrupted mid-step leaves records that the next run outlasts by retrying,
    as a crashed Lambda's do on AWS.
    """
    event = json.loads(json.dumps(payload))
    try:
        result = module.lambda_handler(event, LambdaContext(function_name, timeout_seconds, memory_mb))
        return json.loads(json.dumps(result)), False
    except Exception as exc:  # noqa: BLE001 - reported to the state machine like Lambda does
        return {
            "errorType": type(exc).__name__,
            "errorMessage": str(exc),
            "stackTrace": traceback.format_exception(exc)[-3:],
        }, True
    finally:
        # With POWERTOOLS_METRICS_DISABLED, Powertools keeps the values and prints them all once
        # 100 accumulate; a Lambda sandbox would have flushed them. Drop them, as a flush would.
        metrics = getattr(module, "metrics", None)
        if metrics is not None and os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() == "true":
            metrics.clear_metrics()


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables (and reset the cached backends) for the duration."""
    import os

    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    reset_backends()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_backends()


def reset_backends() -> None:
    """Forget every backend built from settings, so the next call reads the environment again."""
    from proctoring import alerts, analysis, config, idempotency, notify, storage, timeline

    config.get_settings.cache_clear()
    storage.set_storage(None)
    alerts.set_alert_history(None)
    timeline.set_timeline(None)
    notify.set_notifier(None)
    idempotency.reset_persistence_layers()
    analysis.set_analyzer(None)
