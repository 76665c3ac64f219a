"""The real ASL, executed in-process: moto's Step Functions interpreter with Lambda tasks
dispatched to the step handlers in this process.

moto executes Task, Choice, Parallel, Retry and Catch as Step Functions does. Its Lambda
integration normally calls the Lambda API (and Docker); here the invoke is routed to the
handler of the function named in template.yaml, with the payload JSON-encoded both ways and a
raised exception reported as ``{"errorType", "errorMessage"}`` so Retry and Catch match the same
error names as on AWS.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

from proctoring_local.stand_ins import moto_seam
from proctoring_local.stand_ins import template as tpl
from proctoring_local.stand_ins.analysis_cache import CACHED_STEPS, AnalysisCache
from proctoring_local.stand_ins.ids import fast_uuid4
from proctoring_local.stand_ins.lambdas import ACCOUNT, REGION, function_arn, invoke_handler, load_handler_module

if TYPE_CHECKING:
    from moto.core.config import DefaultConfig

# A Choice on ``IsPresent`` logs the missing path at ERROR level although nothing failed.
logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)


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
    """One state machine of template.yaml (by default the proctoring one, ``statemachine/proctoring.asl.json``;
    ``state_machine="RescoreStateMachine"`` for the re-score), executed in this process.

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
        speedups: tuple[str, ...] = moto_seam.SPEEDUPS,
        state_machine: str = tpl.STATE_MACHINE,
        substitutions: dict[str, str] | None = None,
    ) -> None:
        """``analysis_cache``: answer the image steps from an earlier run's answers where it has them
        (``stand_ins.analysis_cache``); every other step always runs."""
        self.webhook_enabled = webhook_enabled
        self.speedups = speedups
        self.analysis_cache = analysis_cache
        self.retry_sleep = retry_sleep
        self.retry_sleeps: list[float] = []
        self._mock = mock
        self._passthrough = passthrough_services
        self._stack: list[Any] = []
        # Every function of the template: one engine's dispatch then serves both state machines.
        self.steps = {
            **tpl.step_functions(),
            **tpl.step_functions(tpl.RESCORE_STATE_MACHINE),
            **tpl.step_functions(tpl.DECISION_STATE_MACHINE),
        }
        self.state_machine = state_machine
        self._extra_substitutions = substitutions or {}
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

        if self._mock:
            core: dict[str, Any] = {}
            if self._passthrough:
                core = {"mock_credentials": False, "passthrough": {"services": list(self._passthrough)}}
            config = {"stepfunctions": {"execute_state_machine": True}, "core": core}
            mocker = mock_aws(config=cast("DefaultConfig", config))
            mocker.start()
            self._stack.append(mocker.stop)

        sleep = None
        if self.retry_sleep is not None:
            recorded, sleeper = self.retry_sleeps, self.retry_sleep

            def sleep(seconds: float) -> None:
                recorded.append(seconds)
                sleeper(seconds)

        seam = moto_seam.patched(self._dispatch, retry_sleep=sleep, speedups=self.speedups)
        seam.__enter__()
        self._stack.append(lambda: seam.__exit__(None, None, None))

        substitutions: dict[str, str] = {"WebhookEnabled": "true" if self.webhook_enabled else "false"}
        substitutions.update(self._extra_substitutions)
        for placeholder, step in self.steps.items():
            arn = function_arn(step["resource"])
            substitutions[placeholder] = arn
            module = load_handler_module(step["code_dir"])
            self._by_arn[arn] = (module, step["resource"], step["timeout"], step["memory"])
            if Path(step["code_dir"]).name in CACHED_STEPS:
                self._cached_step[arn] = Path(step["code_dir"]).name
        definition = tpl.definition_path(self.state_machine).read_text()
        for placeholder, value in substitutions.items():
            definition = definition.replace("${" + placeholder + "}", value)
        if "${" in definition:
            missing = sorted(set(re.findall(r"\$\{(\w+)\}", definition)))
            raise RuntimeError(f"placeholders in the ASL without a substitution: {', '.join(missing)}")
        definition = json.dumps(moto_seam.for_moto(json.loads(definition)))

        self.client = boto3.client(
            "stepfunctions",
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto
        )
        self.state_machine_arn = self.client.create_state_machine(
            name=f"{self.state_machine.removesuffix('StateMachine').lower()}-{fast_uuid4().hex[:8]}",
            definition=definition,
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/proctoring-local",
            type="STANDARD",
        )["stateMachineArn"]
        # Parse now rather than in the first execution: start-up, like a Lambda's init phase.
        moto_seam.resolve("parse_once")(definition)
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
        # Only the analysis steps' answers are stored, keyed by their input (a JSON object).
        reusable = (cache, step, payload) if cache is not None and step and isinstance(payload, dict) else None
        result = reusable[0].get(reusable[1], reusable[2]) if reusable else None
        errored = False
        if result is None:
            result, errored = invoke_handler(module, name, payload, timeout, memory)
            if reusable and not errored:
                reusable[0].put(reusable[1], reusable[2], result)
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
        return str(execution.exec_arn)

    @staticmethod
    def _backend() -> Any:
        return moto_seam.resolve("backend")[ACCOUNT][REGION]

    def wait(self, execution_arn: str, timeout: float = 300.0, poll: float = 0.05) -> Execution:
        # Poll the interpreter's own execution object: going through the API for every poll
        # costs ~5 ms of serialisation and holds the GIL the execution thread needs.
        execution = self._backend().describe_execution(execution_arn)
        deadline = time.monotonic() + timeout
        with moto_seam.finished:  # status is checked under the lock `terminated` notifies with: no lost wake-up
            while str(getattr(execution.exec_status, "value", execution.exec_status)) == "RUNNING":
                if time.monotonic() > deadline:
                    raise TimeoutError(f"execution {execution_arn} still running after {timeout}s")
                moto_seam.finished.wait(poll)
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
        threads = moto_seam.resolve("threads")
        state_machine = self._backend().describe_state_machine(self.state_machine_arn)
        state_machine.executions[:] = [e for e in state_machine.executions if e.exec_arn != execution_arn]
        # The interpreter appends every thread it starts (one per Task, branch and execution) to a
        # module-level list and never removes them; drop the finished ones.
        threads[:] = [thread for thread in threads if thread.is_alive()]

    def run(self, event: dict[str, Any], timeout: float = 300.0) -> Execution:
        return self.wait(self.start(event), timeout=timeout)
