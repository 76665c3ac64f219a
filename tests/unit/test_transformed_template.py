"""template.yaml as AWS reads it: after SAM's own transform (aws-sam-translator), the generated
EventBridge rule, roles and policies. (`make lint` runs cfn-lint with the translator installed, so
it lints the generated CloudFormation too.)"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from typing import Any

import pytest

from proctoring_local.stand_ins.events import object_created_event
from proctoring_local.stand_ins.template import load_template, parameter_defaults, resolve

BUCKET = "proctoring-captures-123456789012"


class _NoManagedPolicies:
    """The translator asks IAM for AWS managed policies' ARNs only when a template names one by name."""

    def load(self) -> dict[str, str]:
        return {}


@lru_cache(maxsize=1)
def transformed() -> dict[str, Any]:
    from samtranslator.translator.transform import transform

    template = copy.deepcopy(load_template())
    # What `sam package` does first (and cfn-lint before its transform): local paths become S3 objects.
    for resource in template["Resources"].values():
        for field in ("CodeUri", "DefinitionUri", "ContentUri"):
            if isinstance(resource.get("Properties", {}).get(field), str):
                resource["Properties"][field] = f"s3://artifacts/{resource['Properties'][field].strip('/')}"
    return transform(template, parameter_defaults(), _NoManagedPolicies())


def resources_of(kind: str) -> dict[str, dict[str, Any]]:
    return {name: resource for name, resource in transformed()["Resources"].items() if resource["Type"] == kind}


def _refs() -> dict[str, Any]:
    refs: dict[str, Any] = {**parameter_defaults(), "CaptureBucket": BUCKET, "AWS::AccountId": "123456789012"}
    refs.update({"AWS::Region": "us-east-1", "AWS::Partition": "aws", "AWS::StackName": "proctoring"})
    return refs


def rule_to(target: str) -> dict[str, Any]:
    """The generated rule whose target is the resource ``target``."""
    [rule] = [
        rule
        for rule in resources_of("AWS::Events::Rule").values()
        if target in json.dumps(rule["Properties"]["Targets"][0]["Arn"])
    ]
    return rule


@lru_cache(maxsize=2)
def pattern_of(target: str) -> Any:
    from moto.events.models import EventPattern

    pattern = resolve(rule_to(target)["Properties"]["EventPattern"], _refs(), {"CreateBucket": True})
    return EventPattern.load(json.dumps(pattern))


def upload_rule() -> Any:
    return pattern_of("ProctoringStateMachine")


def test_the_transform_generates_the_rule_the_state_machine_and_a_role_per_function():
    assert len(resources_of("AWS::Events::Rule")) == 3  # captures, reference enrolment, decisions
    assert len(resources_of("AWS::StepFunctions::StateMachine")) == 3  # proctoring, rescore, decisions
    functions = resources_of("AWS::Lambda::Function")
    roles = resources_of("AWS::IAM::Role")
    assert len(functions) == 14
    for name, function in functions.items():
        role = function["Properties"]["Role"]["Fn::GetAtt"][0]
        assert role in roles, f"{name}'s role {role} is not generated"


@pytest.mark.parametrize(
    ("key", "starts"),
    [
        ("images/exam_123/user_456/capture_001.jpg", True),
        ("images/exam 1/josé/c+1.png", True),
        ("images/stray.jpg", True),  # outside the convention: still judged, as an ERROR document
        ("reference/user_456.jpg", False),
        ("results/exam_123/user_456/capture_001.json", False),
        ("reference-checks/user_456.json", False),
    ],
)
def test_the_generated_rule_starts_an_execution_for_captures_only(key, starts):
    event = object_created_event(BUCKET, key, size=1000, etag="0" * 32)
    assert upload_rule().matches_event(event) is starts


@pytest.mark.parametrize(
    ("key", "checks"),
    [
        ("reference/user_456.jpg", True),
        ("reference/josé.png", True),
        ("images/exam_123/user_456/capture_001.jpg", False),
        ("reference-checks/user_456.jpg.json", False),  # its own output never starts it again
        ("results/exam_123/user_456/capture_001.json", False),
    ],
)
def test_the_generated_enrolment_rule_checks_references_only(key, checks):
    event = object_created_event(BUCKET, key, size=1000, etag="0" * 32)
    assert pattern_of("CheckReferenceFunction").matches_event(event) is checks


def test_the_enrolment_rule_gives_check_reference_the_bucket_and_key_and_keeps_what_it_cannot_deliver():
    target = rule_to("CheckReferenceFunction")["Properties"]["Targets"][0]
    transformer = target["InputTransformer"]
    event = object_created_event(BUCKET, "reference/user_456.jpg", size=1000, etag="0" * 32)
    # EventBridge's substitution: each <name> becomes the JSON value its path selects in the event.
    values = {"bucket": event["detail"]["bucket"]["name"], "key": event["detail"]["object"]["key"]}
    paths = {name: path.removeprefix("$.detail.").split(".") for name, path in transformer["InputPathsMap"].items()}
    assert {name: _dig(event["detail"], path) for name, path in paths.items()} == values
    delivered = transformer["InputTemplate"]
    for name, value in values.items():
        delivered = delivered.replace(f"<{name}>", json.dumps(value))
    assert json.loads(delivered) == {"bucket": BUCKET, "key": "reference/user_456.jpg"}
    assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumRetryAttempts"] > 0


def _dig(value: Any, path: list[str]) -> Any:
    for part in path:
        value = value[part]
    return value


def test_the_generated_rule_ignores_another_bucket_and_other_events():
    capture = object_created_event(BUCKET, "images/e/u/c.jpg", size=1000, etag="0" * 32)
    other_bucket = {**capture, "detail": {**capture["detail"], "bucket": {"name": "someone-else"}}}
    deleted = {**capture, "detail-type": "Object Deleted"}
    assert upload_rule().matches_event(capture)
    assert not upload_rule().matches_event(other_bucket)
    assert not upload_rule().matches_event(deleted)


def test_the_generated_notify_role_may_read_the_webhook_secret_and_nothing_broader():
    [notify_role] = [
        name for name, function in resources_of("AWS::Lambda::Function").items() if name == "NotifyFunction"
    ]
    role = resources_of("AWS::IAM::Role")[f"{notify_role}Role"]
    statements = [
        statement
        for policy in role["Properties"].get("Policies", [])
        for entry in policy["PolicyDocument"]["Statement"]
        for statement in _either_branch(entry)
    ]
    actions = {action for statement in statements for action in _as_list(statement["Action"])}
    assert {"ssm:GetParameter"} <= actions or {"secretsmanager:GetSecretValue"} <= actions
    assert not any(action.endswith(":*") or action == "*" for action in actions)


def _either_branch(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """A statement, or both statements of an ``Fn::If`` (each deployment has one of them)."""
    if "Fn::If" in entry:
        return [branch for branch in entry["Fn::If"][1:] if isinstance(branch, dict) and "Action" in branch]
    return [entry]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_every_list_bucket_grant_is_limited_to_the_prefixes_its_role_reads():
    """A role that may list the whole bucket could enumerate every student's captures; each grant
    names the prefixes its function reads (S3 also takes a read key as the prefix when it decides
    between 404 and 403 for a missing object)."""
    roles = resources_of("AWS::IAM::Role")
    grants = []
    for name, role in roles.items():
        for policy in role["Properties"].get("Policies", []):
            for entry in policy["PolicyDocument"]["Statement"]:
                for statement in _either_branch(entry):
                    if any(action in {"s3:ListBucket", "s3:*"} for action in _as_list(statement["Action"])):
                        grants.append((name, statement))
    assert len(grants) >= 5  # ParseKey, CheckReference, LoadAnalysis, SummariseRescore, the rescore machine
    for name, statement in grants:
        prefixes = _as_list(statement.get("Condition", {}).get("StringLike", {}).get("s3:prefix"))
        assert prefixes and all(prefix for prefix in prefixes), f"{name}: ListBucket without an s3:prefix condition"
        rendered = json.dumps(prefixes)
        assert '"*"' not in rendered and "/*" in rendered, f"{name}: {rendered} is the whole bucket"
