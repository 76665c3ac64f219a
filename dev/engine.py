"""The real ASL, executed in-process: moto's Step Functions interpreter with Lambda tasks
dispatched to the step handlers in this process.

moto executes Task, Choice, Parallel, Retry and Catch as Step Functions does. Its Lambda
integration normally calls the Lambda API (and Docker); here the invoke is routed to the
handler of the function named in template.yaml, with the payload JSON-encoded both ways and a
raised exception reported as ``{"errorType", "errorMessage"}`` so Retry and Catch match the same
error names as on AWS.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import json
import logging
import marshal
import os
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

from . import template as tpl
from .analysis_cache import CACHED_STEPS, AnalysisCache
from .ids import fast_uuid4

REGION = "us-east-1"
ACCOUNT = "123456789012"

# A Choice on ``IsPresent`` logs the missing path at ERROR level although nothing failed.
logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)


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


def json_copy(value: Any) -> Any:
    """Deep copy of JSON-shaped data; anything else falls back to copy.deepcopy.

    A marshal round trip copies dicts, lists and scalars in C (about 4x copy.deepcopy, 2x a
    recursive Python copy) and, like deepcopy, keeps shared sub-objects shared. It refuses any
    other type, including subclasses of dict, which then take the generic path.
    """
    try:
        return marshal.loads(marshal.dumps(value))  # noqa: S302 - bytes made here, never read from outside
    except ValueError:
        return copy.deepcopy(value)


_FAST_COPY = SimpleNamespace(deepcopy=json_copy, copy=copy.copy)
_DEEPCOPY_MODULES = (
    "eval.states",
    "eval.environment",
    "eval.event.event_manager",
    "component.common.string.string_expression",
    "component.common.path.result_path",
    "component.state.exec.execute_state",
    "component.state.exec.state_parallel.state_parallel",
)


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


_finished = threading.Condition()
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


@dataclass
class Execution:
    arn: str
    status: str
    output: dict[str, Any] | None
    error: str | None
    cause: str | None
    _client: Any = field(repr=False)
    _history: list[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def history(self) -> list[dict[str, Any]]:
        """The AWS-shaped event history, fetched through the API on first use (it is costly)."""
        if self._history is None:
            events: list[dict[str, Any]] = []
            kwargs: dict[str, Any] = {"executionArn": self.arn, "maxResults": 1000}
            while True:
                page = self._client.get_execution_history(**kwargs)
                events.extend(page["events"])
                if not page.get("nextToken"):
                    break
                kwargs["nextToken"] = page["nextToken"]
            self._history = events
        return self._history

    def entered_states(self) -> list[str]:
        """Names of the states entered, in order (Parallel branches interleave)."""
        names = []
        for event in self.history:
            details = event.get("stateEnteredEventDetails")
            if details:
                names.append(details["name"])
        return names

    def largest_state_bytes(self) -> int:
        """Size of the largest input or output any state had: Step Functions refuses over 256 KB
        (States.DataLimitExceeded, which no Catch takes); moto's interpreter does not check."""
        sizes = [
            len((details.get(field) or "").encode())
            for event in self.history
            for details in event.values()
            if isinstance(details, dict)
            for field in ("input", "output")
        ]
        return max(sizes, default=0)

    def task_failures(self) -> list[str]:
        """Error names of failed Lambda tasks, each attempt listed (Retry shows as repeats)."""
        return [
            event["lambdaFunctionFailedEventDetails"].get("error", "")
            for event in self.history
            if event["type"] == "LambdaFunctionFailed"
        ]


class LocalStepFunctions:
    """One state machine from ``statemachine/proctoring.asl.json``, executed in this process.

    Use as a context manager: it starts moto for the duration (S3, DynamoDB, Step Functions and
    EventBridge), unless ``mock=False`` because the caller already started it.
    """

    def __init__(
        self,
        *,
        webhook_enabled: bool = False,
        retry_sleep: Callable[[float], None] | None = None,
        mock: bool = True,
        passthrough_services: tuple[str, ...] = (),
        analysis_cache: AnalysisCache | None = None,
    ) -> None:
        """``analysis_cache``: answer the image steps from an earlier run's answers where it has them
        (``dev.analysis_cache``); every other step always runs."""
        self.webhook_enabled = webhook_enabled
        self.analysis_cache = analysis_cache
        self.retry_sleep = retry_sleep
        self.retry_sleeps: list[float] = []
        self._mock = mock
        self._passthrough = passthrough_services
        self._stack: list[Any] = []
        self.steps = tpl.step_functions()
        self._by_arn: dict[str, tuple[ModuleType, str, int, int]] = {}
        self._cached_step: dict[str, str] = {}  # ARN -> step (code folder name) of the image steps
        self.state_machine_arn = ""
        self.client: Any = None
        self.invocations: list[str] = []
        self.step_seconds: dict[str, float] = {}
        self._invocations_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> LocalStepFunctions:
        import boto3
        from moto import mock_aws
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
        from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

        if self._mock:
            core: dict[str, Any] = {}
            if self._passthrough:
                core = {"mock_credentials": False, "passthrough": {"services": list(self._passthrough)}}
            mocker = mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "core": core})
            mocker.start()
            self._stack.append(mocker.stop)

        # moto parses the definition again for every execution (ANTLR, ~0.1 s). The parsed
        # program holds no per-execution state (that lives in the Environment), so parse once.
        from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

        original_parse = AmazonStateLanguageParser.__dict__["parse"]
        parsed: dict[str, Any] = {}

        def parse_once(definition: str) -> Any:
            if definition not in parsed:
                parsed[definition] = original_parse.__func__(definition)
            return parsed[definition]

        AmazonStateLanguageParser.parse = staticmethod(parse_once)

        # Wake the waiting thread when an execution ends instead of polling on a short timer.
        from moto.stepfunctions.parser.backend import execution as execution_module

        original_terminated = execution_module.BaseExecutionWorkerCommunication.terminated

        def terminated(comm: Any) -> None:
            original_terminated(comm)
            with _finished:
                _finished.notify_all()

        execution_module.BaseExecutionWorkerCommunication.terminated = terminated
        self._stack.append(
            lambda: setattr(execution_module.BaseExecutionWorkerCommunication, "terminated", original_terminated)
        )
        self._stack.append(lambda: setattr(AmazonStateLanguageParser, "parse", original_parse))

        # Every JSONPath is compiled again at every use (a PLY parser build); compiled paths are
        # immutable, so compile each once.
        from moto.stepfunctions.parser.asl.component.common.path import result_path
        from moto.stepfunctions.parser.asl.utils import json_path

        for module in (json_path, result_path):
            original_compile = module.parse
            module.parse = functools.lru_cache(maxsize=1024)(original_compile)
            self._stack.append(lambda module=module, original=original_compile: setattr(module, "parse", original))

        # The interpreter deep-copies the state data at every step with copy.deepcopy, which is
        # generic and slow; state data is JSON, which a plain recursive copy handles 5-10x faster.
        import importlib

        for name in _DEEPCOPY_MODULES:
            module = importlib.import_module(f"moto.stepfunctions.parser.asl.{name}")
            original_copy = module.copy
            module.copy = _FAST_COPY
            self._stack.append(lambda module=module, original=original_copy: setattr(module, "copy", original))

        original_invoke = lambda_eval_utils._invoke_lambda_function
        lambda_eval_utils._invoke_lambda_function = self._dispatch
        self._stack.append(lambda: setattr(lambda_eval_utils, "_invoke_lambda_function", original_invoke))

        if self.retry_sleep is not None:
            original_time = retrier_decl.time
            recorded = self.retry_sleeps
            sleeper = self.retry_sleep

            def sleep(seconds: float) -> None:
                recorded.append(seconds)
                sleeper(seconds)

            retrier_decl.time = SimpleNamespace(sleep=sleep, time=time.time, monotonic=time.monotonic)
            self._stack.append(lambda: setattr(retrier_decl, "time", original_time))

        substitutions: dict[str, str] = {"WebhookEnabled": "true" if self.webhook_enabled else "false"}
        for placeholder, step in self.steps.items():
            arn = function_arn(step["resource"])
            substitutions[placeholder] = arn
            module = load_handler_module(step["code_dir"])
            self._by_arn[arn] = (module, step["resource"], step["timeout"], step["memory"])
            if Path(step["code_dir"]).name in CACHED_STEPS:
                self._cached_step[arn] = Path(step["code_dir"]).name
        definition = tpl.DEFINITION.read_text()
        for placeholder, value in substitutions.items():
            definition = definition.replace("${" + placeholder + "}", value)
        if "${" in definition:
            raise RuntimeError("a placeholder in the ASL has no substitution in template.yaml")

        self.client = boto3.client(
            "stepfunctions",
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto
        )
        self.state_machine_arn = self.client.create_state_machine(
            name=f"proctoring-{fast_uuid4().hex[:8]}",
            definition=definition,
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/proctoring-local",
            type="STANDARD",
        )["stateMachineArn"]
        # Parse now rather than in the first execution: start-up, like a Lambda's init phase.
        AmazonStateLanguageParser.parse(definition)
        return self

    def __exit__(self, *exc: object) -> None:
        while self._stack:
            self._stack.pop()()

    # -- dispatch ------------------------------------------------------------------------------
    def _dispatch(self, parameters: dict[str, Any], region: str, state_credentials: Any) -> dict[str, Any]:
        module, name, timeout, memory = self._by_arn[parameters["FunctionName"]]
        with self._invocations_lock:
            self.invocations.append(name)
        raw = parameters.get("Payload")
        payload = json.loads(raw) if isinstance(raw, (bytes, str)) else raw
        started = time.perf_counter()
        cache, step = self.analysis_cache, self._cached_step.get(parameters["FunctionName"])
        result = cache.get(step, payload) if cache and step else None
        errored = False
        if result is None:
            result, errored = invoke_handler(module, name, payload, timeout, memory)
            if cache and step and not errored:
                cache.put(step, payload, result)
        elapsed = time.perf_counter() - started
        with self._invocations_lock:
            self.step_seconds[name] = self.step_seconds.get(name, 0.0) + elapsed
        response: dict[str, Any] = {"StatusCode": 200, "Payload": result, "ExecutedVersion": "$LATEST"}
        if errored:
            response["FunctionError"] = "Unhandled"
        return response

    # -- executions ----------------------------------------------------------------------------
    def start(self, event: dict[str, Any], name: str | None = None) -> str:
        """StartExecution on the emulated service, as EventBridge would call it.

        The backend is called directly: going through boto3 and moto's HTTP layer (signing,
        serialising, routing) cost about 3 ms per capture and adds nothing the interpreter sees.
        """
        execution = self._backend().start_execution(self.state_machine_arn, name or fast_uuid4().hex, json.dumps(event))
        return execution.exec_arn

    @staticmethod
    def _backend() -> Any:
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        return stepfunctions_parser_backends[ACCOUNT][REGION]

    def wait(self, execution_arn: str, timeout: float = 300.0, poll: float = 0.05) -> Execution:
        # Poll the interpreter's own execution object: going through the API for every poll
        # costs ~5 ms of serialisation and holds the GIL the execution thread needs.
        execution = self._backend().describe_execution(execution_arn)
        deadline = time.monotonic() + timeout
        with _finished:  # status is checked under the lock `terminated` notifies with: no lost wake-up
            while str(getattr(execution.exec_status, "value", execution.exec_status)) == "RUNNING":
                if time.monotonic() > deadline:
                    raise TimeoutError(f"execution {execution_arn} still running after {timeout}s")
                _finished.wait(poll)
        status = str(getattr(execution.exec_status, "value", execution.exec_status))
        output = execution.output
        return Execution(
            arn=execution_arn,
            status=status,
            output=json.loads(output) if isinstance(output, str) else output,
            error=execution.error,
            cause=execution.cause,
            _client=self.client,
        )

    def forget(self, execution_arn: str) -> None:
        """Drop a finished execution and its history from memory (long local runs)."""
        from moto.stepfunctions.parser.utils import TMP_THREADS

        state_machine = self._backend().describe_state_machine(self.state_machine_arn)
        state_machine.executions[:] = [e for e in state_machine.executions if e.exec_arn != execution_arn]
        # The interpreter appends every thread it starts (one per Task, branch and execution) to a
        # module-level list and never removes them; drop the finished ones.
        TMP_THREADS[:] = [thread for thread in TMP_THREADS if thread.is_alive()]

    def run(self, event: dict[str, Any], timeout: float = 300.0) -> Execution:
        return self.wait(self.start(event), timeout=timeout)


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
    from proctoring import alerts, analysis, config, idempotency, notify, storage

    config.get_settings.cache_clear()
    storage.set_storage(None)
    alerts.set_alert_history(None)
    notify.set_notifier(None)
    idempotency.reset_persistence_layers()
    analysis.set_analyzer(None)
