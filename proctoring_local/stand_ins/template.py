"""What the local tools read from template.yaml, so they never drift from the deployed stack."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]  # the repository: proctoring_local/stand_ins/template.py
TEMPLATE = ROOT / "template.yaml"
DEFINITION = ROOT / "statemachine" / "proctoring.asl.json"
STATE_MACHINE = "ProctoringStateMachine"
RESCORE_STATE_MACHINE = "RescoreStateMachine"
DECISION_STATE_MACHINE = "DecisionStateMachine"


def all_states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state of an ASL definition by name, those inside Parallel branches included."""
    for name, state in definition["States"].items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from all_states(branch)


@lru_cache(maxsize=1)
def load_template() -> dict[str, Any]:
    from cfnlint.decode import decode

    template, matches = decode(str(TEMPLATE))
    if matches:
        raise RuntimeError(f"template.yaml does not parse: {matches}")
    return dict(template)


def resolve(node: Any, refs: dict[str, Any], conditions: dict[str, bool]) -> Any:
    """Resolve the few intrinsics the local tools meet: Ref, Fn::Sub, Fn::If, Fn::GetAtt."""
    if isinstance(node, list):
        return [resolve(item, refs, conditions) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((key, value),) = node.items()
        if key == "Ref":
            return refs[value]
        if key == "Fn::If":
            name, when_true, when_false = value
            return resolve(when_true if conditions[name] else when_false, refs, conditions)
        if key == "Fn::Sub":
            text, extra = (value, {}) if isinstance(value, str) else value
            scope = {**refs, **{k: resolve(v, refs, conditions) for k, v in extra.items()}}
            return re.sub(r"\$\{([^}!]+)\}", lambda m: str(scope[m.group(1)]), text)
        if key == "Fn::GetAtt":
            target = value if isinstance(value, str) else ".".join(value)
            return refs[target]
    return {key: resolve(value, refs, conditions) for key, value in node.items()}


def parameter_defaults() -> dict[str, str]:
    return {name: str(spec.get("Default", "")) for name, spec in load_template()["Parameters"].items()}


def definition_path(state_machine: str = STATE_MACHINE) -> Path:
    return ROOT / str(load_template()["Resources"][state_machine]["Properties"]["DefinitionUri"])


def step_functions(state_machine: str = STATE_MACHINE) -> dict[str, dict[str, Any]]:
    """For each DefinitionSubstitutions key of ``state_machine`` naming a function: its resource,
    code folder, timeout and memory."""
    template = load_template()
    resources = template["Resources"]
    defaults = template.get("Globals", {}).get("Function", {})
    default_timeout = defaults.get("Timeout", 3)  # Lambda's defaults: 3 s, 128 MB
    default_memory = defaults.get("MemorySize", 128)
    substitutions = resources[state_machine]["Properties"]["DefinitionSubstitutions"]
    steps = {}
    for placeholder, value in substitutions.items():
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            resource = target[0] if isinstance(target, list) else target.split(".")[0]
            properties = resources[resource]["Properties"]
            steps[placeholder] = {
                "resource": resource,
                "code_dir": str(ROOT / properties["CodeUri"]),
                "timeout": int(properties.get("Timeout", default_timeout)),
                "memory": int(properties.get("MemorySize", default_memory)),
            }
    return steps


def upload_rule_pattern(
    bucket: str,
    parameters: dict[str, str] | None = None,
    state_machine: str = STATE_MACHINE,
    event: str = "CaptureUploaded",
) -> dict[str, Any]:
    """The EventBridge pattern of a state machine's rule (by default the upload rule), resolved for ``bucket``."""
    params = {**parameter_defaults(), **(parameters or {})}
    refs = {**params, "CaptureBucket": bucket, "BucketName": bucket}
    events = load_template()["Resources"][state_machine]["Properties"]["Events"]
    pattern = events[event]["Properties"]["Pattern"]
    resolved: dict[str, Any] = resolve(pattern, refs, {"CreateBucket": True})
    return resolved
