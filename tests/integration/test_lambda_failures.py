"""What Lambda itself can fail with (a function timing out, crashing, or its invocation timing out)
is retried by the ASL where repeating the step is safe, and the capture still gets its verdict."""

from __future__ import annotations

import json

import pytest

from proctoring.aws_clients import TIMEOUTS
from proctoring_local.stand_ins.webhook_receiver import WebhookReceiver
from tests.builders import CAPTURE_KEY, OK_ANSWERS, RESULT_KEY, ROOT, WEBHOOK_SECRET, synthetic_jpeg

CAPTURE, RESULT = CAPTURE_KEY, RESULT_KEY
LAMBDA_FAILURES = ("Lambda.Unknown", "Sandbox.Timedout", "Lambda.ClientExecutionTimeoutException")


def _failing_once(monkeypatch, function: str, error: str) -> list[str]:
    """Make ``function``'s first invocation fail as Lambda reports ``error`` (the handler not run)."""
    import proctoring_local.stand_ins.engine as engine

    failed: list[str] = []
    original = engine.invoke_handler

    def invoke(module, name, payload, timeout_seconds=900.0, memory_mb=128):
        if name == function and not failed:
            failed.append(name)
            return {"errorType": error, "errorMessage": f"{error} (simulated)"}, True
        return original(module, name, payload, timeout_seconds, memory_mb)

    monkeypatch.setattr(engine, "invoke_handler", invoke)
    return failed


@pytest.mark.parametrize("error", LAMBDA_FAILURES)
@pytest.mark.parametrize(
    "function", ["ParseKeyFunction", "CheckReferenceFunction", "CompareToReferenceFunction", "DecideVerdictFunction"]
)
def test_a_step_lambda_failed_to_run_is_retried_and_the_capture_is_judged(
    make_aws_pipeline, monkeypatch, error, function
):
    failed = _failing_once(monkeypatch, function, error)
    pipeline = make_aws_pipeline()
    pipeline.reference("user_456", synthetic_jpeg(1000))

    execution = pipeline.sfn.run(pipeline.upload(CAPTURE, synthetic_jpeg(1), **OK_ANSWERS))

    assert failed == [function]
    assert execution.status == "SUCCEEDED"
    assert execution.task_failures() == [error]
    assert pipeline.result(RESULT)["status"] == "OK"


@pytest.mark.parametrize("error", LAMBDA_FAILURES)
def test_a_delivery_cut_short_by_lambda_is_sent_again_with_the_same_webhook_id(make_aws_pipeline, monkeypatch, error):
    _failing_once(monkeypatch, "NotifyFunction", error)
    with WebhookReceiver(secret=WEBHOOK_SECRET) as receiver:
        pipeline = make_aws_pipeline(webhook_url=receiver.url)
        pipeline.reference("user_456", synthetic_jpeg(1000))
        execution = pipeline.sfn.run(pipeline.upload(CAPTURE, synthetic_jpeg(2), **OK_ANSWERS))

    assert execution.status == "SUCCEEDED"
    assert execution.task_failures() == [error]
    assert len(receiver.distinct()) == 1
    assert pipeline.result(RESULT)["notification"]["status"] == "delivered"


def test_every_lambda_task_retries_what_lambda_itself_fails_with():
    asl = json.loads((ROOT / "statemachine" / "proctoring.asl.json").read_text())
    tasks = {}

    def visit(states):
        for name, state in states.items():
            if state["Type"] == "Task":
                tasks[name] = state
            for branch in state.get("Branches", []):
                visit(branch["States"])

    visit(asl["States"])
    for name, task in tasks.items():
        retried = {error for retrier in task.get("Retry", []) for error in retrier["ErrorEquals"]}
        assert set(LAMBDA_FAILURES) <= retried, f"{name} does not retry {set(LAMBDA_FAILURES) - retried}"


# The steps that make each kind of call (their functions' timeouts are read from template.yaml).
CALLERS = {
    "s3": (
        "ParseKey",
        "CheckReference",
        "DetectFaces",
        "CompareToReference",
        "DetectLabels",
        "PersistResult",
        "Notify",
    ),
    "rekognition": ("CheckReference", "DetectFaces", "CompareToReference", "DetectLabels"),
    "dynamodb": ("DecideVerdict", "Notify"),
    "ssm": ("Notify",),
    "secretsmanager": ("Notify",),
}


def test_every_client_fails_well_inside_the_steps_that_call_it():
    """A hung call fails as a retryable error inside the invocation: its worst case (connect and
    read timeouts, times the SDK's attempts) is at most a third of the function timeout of every
    step that makes it."""
    from proctoring_local.stand_ins.template import step_functions

    timeouts = {step["resource"].removesuffix("Function"): step["timeout"] for step in step_functions().values()}
    assert set(CALLERS) == set(TIMEOUTS)
    for service, steps in CALLERS.items():
        shortest = min(timeouts[step] for step in steps)
        worst = TIMEOUTS[service].worst_case
        assert worst <= shortest / 3, f"{service}: {worst} s against {shortest} s"
