"""The step payloads are declared once (proctoring.payloads): the JSON Schemas, the ASL's paths, the
handlers' signatures and real executions all agree with those declarations."""

from __future__ import annotations

import json
import types
import typing
from typing import Any, Literal, NotRequired, Required, get_args, get_origin, get_type_hints, is_typeddict

import pytest

from proctoring import payloads
from proctoring.result import schema
from proctoring_local.stand_ins.webhook_receiver import WebhookReceiver
from tests.builders import ROOT, WEBHOOK_SECRET, handler, synthetic_jpeg

ASL = json.loads((ROOT / "statemachine" / "proctoring.asl.json").read_text())


def payload_problems(value: Any, declared: Any, where: str = "$") -> list[str]:
    """Where ``value`` departs from the declared type: missing required keys, undeclared keys,
    wrong scalar types, recursively through TypedDicts, lists, unions and literals."""
    origin = get_origin(declared)
    if origin in (Required, NotRequired):
        return payload_problems(value, get_args(declared)[0], where)
    if is_typeddict(declared):
        return _object_problems(value, declared, where)
    if origin in (typing.Union, types.UnionType):
        options = [payload_problems(value, option, where) for option in get_args(declared)]
        return [] if any(not problems for problems in options) else min(options, key=len)
    if origin is Literal:
        return [] if value in get_args(declared) else [f"{where}: {value!r} is not one of {get_args(declared)}"]
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {type(value).__name__}"]
        item = get_args(declared)[0]
        return [
            problem for i, element in enumerate(value) for problem in payload_problems(element, item, f"{where}[{i}]")
        ]
    return _scalar_problems(value, dict if origin is dict else declared, where)


def _object_problems(value: Any, declared: Any, where: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: expected an object for {declared.__name__}, got {type(value).__name__}"]
    hints = get_type_hints(declared)
    name = declared.__name__
    problems = [f"{where}.{key}: required by {name}" for key in declared.__required_keys__ - set(value)]
    problems += [f"{where}.{key}: not declared in {name}" for key in set(value) - set(hints)]
    for key in set(value) & set(hints):
        problems += payload_problems(value[key], hints[key], f"{where}.{key}")
    return problems


SCALARS = {type(None): (type(None),), float: (int, float), int: (int,), str: (str,), bool: (bool,), dict: (dict,)}


def _scalar_problems(value: Any, declared: Any, where: str) -> list[str]:
    if declared is Any:
        return []
    accepted = SCALARS[declared]  # a KeyError names a type this checker does not handle
    if isinstance(value, accepted) and (declared is bool or not isinstance(value, bool)):
        return []
    return [f"{where}: expected {getattr(declared, '__name__', declared)}, got {value!r}"]


def test_the_checker_finds_what_departs_from_a_declaration():
    capture = {"bucket": "b", "key": "k", "s3_input": "s3://b/k", "etag": None, "version_id": None}
    problems = payload_problems({**capture, "sequencer": 7, "colour": "red"}, payloads.Capture)
    assert "$.sequencer: expected str, got 7" in problems
    assert "$.colour: not declared in Capture" in problems
    assert "$.result_key: required by Capture" in problems
    assert payload_problems({"Yaw": "left"}, payloads.Pose) == ["$.Yaw: expected float, got 'left'"]
    assert payload_problems({"Yaw": True}, payloads.Pose) == ["$.Yaw: expected float, got True"]
    [problem] = payload_problems({"status": "maybe"}, payloads.ReferenceCheck)
    assert problem.startswith("$.status: 'maybe' is not one of")


@pytest.mark.parametrize("kind", ["result", "webhook"])
def test_the_result_document_declaration_matches_its_published_schema(kind):
    published = schema(kind)
    # The webhook sends the document without its delivery record, typed as a verdict.
    declared = payloads.ResultDocument.__annotations__.keys() - ({"notification"} if kind == "webhook" else set())
    assert set(published["properties"]) == declared | ({"type"} if kind == "webhook" else set())
    required = payloads.ResultDocument.__required_keys__ - ({"notification"} if kind == "webhook" else set())
    assert set(published["required"]) == required | ({"type"} if kind == "webhook" else set())


def test_the_execution_state_declares_every_path_the_asl_writes():
    written = set()

    def visit(states: dict[str, Any]) -> None:
        for state in states.values():
            for path in [state.get("ResultPath"), *(c.get("ResultPath") for c in state.get("Catch", []))]:
                if path:
                    written.add(path.removeprefix("$."))
            for branch in state.get("Branches", []):
                visit(branch["States"])

    visit(ASL["States"])
    # ParseKey replaces the state (ResultPath "$") with its ResultSelector's fields; the event's
    # detail is there before it, and kept with the settings on the way to RecordFailure.
    assert ASL["States"]["ParseKey"]["ResultPath"] == "$"
    written |= set(ASL["States"]["ParseKey"]["ResultSelector"]) | set(ASL["States"]["ParseKeyFailed"]["Parameters"])
    written = {path.removesuffix(".$").split(".")[0] for path in written} - {"$"}
    # A re-score's item: LoadAnalysis returns the whole state (no ResultPath), these fields included.
    rescore_item = {"plan", "rescore", "policy_overrides"}
    assert written | rescore_item == set(payloads.ExecutionState.__annotations__)


@pytest.mark.parametrize(
    ("state", "declared"),
    [
        ("PersistResult", payloads.PersistRequest),
        ("RecordNotificationFailure", payloads.PersistRequest),
        ("PersistResultWithoutWebhook", payloads.PersistRequest),
        ("Notify", payloads.NotifyRequest),
        ("DetectFaces", payloads.StepInput),
        ("CheckReference", payloads.ReferenceRequest),
    ],
)
def test_what_the_asl_passes_a_step_is_what_the_step_declares(state, declared):
    fields = {name.removesuffix(".$") for name in ASL["States"][state]["Parameters"]}
    assert fields <= declared.__annotations__.keys()
    assert declared.__required_keys__ <= fields


STEP_TYPES = {
    "parse_key": payloads.Capture,
    "check_reference": payloads.ReferenceState,
    "detect_faces": payloads.DetectedFaces,
    "compare_to_reference": payloads.ComparedFaces,
    "detect_labels": payloads.DetectedLabels,
    "decide_verdict": payloads.JudgedResult,
    "record_failure": payloads.JudgedResult,
    "persist_result": payloads.Persisted,
    "notify": payloads.Notified,
}


@pytest.mark.parametrize("step", sorted(STEP_TYPES))
def test_each_handler_returns_its_declared_payload(step):
    assert get_type_hints(handler(step))["return"] is STEP_TYPES[step]


TASK_STEPS = {
    "ParseKey": payloads.Capture,
    "CheckReference": payloads.ReferenceState,
    "DetectFaces": payloads.DetectedFaces,
    "DetectCaptureFaces": payloads.DetectedFaces,
    "CompareToReference": payloads.ComparedFaces,
    "DetectLabels": payloads.DetectedLabels,
    "DetectCaptureLabels": payloads.DetectedLabels,
    "DecideVerdict": payloads.JudgedResult,
    "RecordFailure": payloads.JudgedResult,
    "PersistResult": payloads.Persisted,
    "PersistResultWithoutWebhook": payloads.Persisted,
    "RecordNotificationFailure": payloads.Persisted,
    "Notify": payloads.Notified,
}


def _step_outputs(execution) -> list[tuple[str, Any]]:
    """Each Task's own output (before its ResultPath), named by the state it belongs to: found
    through ``previousEventId``, since the Parallel branches' events interleave."""
    by_id = {event["id"]: event for event in execution.history}

    def state_of(event: dict[str, Any]) -> str:
        while "stateEnteredEventDetails" not in event:
            event = by_id[event["previousEventId"]]
        return event["stateEnteredEventDetails"]["name"]

    return [
        (state_of(event), json.loads(event["lambdaFunctionSucceededEventDetails"]["output"]))
        for event in execution.history
        if event["type"] == "LambdaFunctionSucceeded"
    ]


@pytest.mark.parametrize(
    ("reference", "answers", "webhook"),
    [
        (
            True,
            {
                "detect_faces": "detect_faces_one",
                "compare_faces": "compare_faces_match",
                "detect_labels": "detect_labels_phone",
            },
            True,
        ),
        (True, {"detect_faces": "detect_faces_none", "detect_labels": "detect_labels_person"}, False),
        (False, {"detect_faces": "detect_faces_two", "detect_labels": "detect_labels_person"}, False),
    ],
    ids=["alert with webhook", "no face", "no reference, two faces"],
)
def test_every_step_of_a_real_execution_returns_its_declared_payload(make_aws_pipeline, reference, answers, webhook):
    with WebhookReceiver(secret=WEBHOOK_SECRET) as receiver:
        execution = _run_one(make_aws_pipeline(webhook_url=receiver.url if webhook else ""), reference, answers)

    assert execution.status == "SUCCEEDED"
    outputs = _step_outputs(execution)
    assert {state for state, _ in outputs} >= {"ParseKey", "DecideVerdict"}
    assert {state for state, _ in outputs} & {"DetectFaces", "DetectCaptureFaces", "CompareToReference"}
    assert ("Notify" in dict(outputs)) is webhook
    for state, output in outputs:
        assert payload_problems(output, TASK_STEPS[state], state) == []


def _run_one(pipeline, reference, answers):
    if reference:
        pipeline.reference("user_456", synthetic_jpeg(1000))
    event = pipeline.upload("images/exam_123/user_456/capture_001.jpg", synthetic_jpeg(1), **answers)

    return pipeline.sfn.run(event)
