"""``proctoring rescore DIR --exam ID [--student ID] [--set NAME=VALUE]``: an exam judged again
from its stored analyses, by the rescore state machine (``statemachine/rescore.asl.json``) run
in-process, as ``proctoring run`` runs the main one.

moto's interpreter runs the whole file, its Distributed Map included: the ItemReader lists moto's
S3, into which the folder's capture keys are listed (empty objects, for the listing only; every
step reads the folder). What moto 5.2.5 does not do, and what it means here (docs/rescore.md):
its ResultWriter writes a manifest with no result files, and it applies no
ToleratedFailurePercentage (a failed item is reported by the runner instead).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from proctoring_local.services.checks import UsageError, check_run_folder, check_settings

# Lambda at list price (services.cost's); the states entered by each kind of item, from the ASL.
ITEM_TRANSITIONS = {"reuse": 6, "compare": 8, "analyse": 10}  # +1 with a webhook: Notify
RUN_TRANSITIONS = 3  # CheckRequest, RescoreCaptures, Summarise


def rescore_folder(
    root: Path,
    exam: str,
    *,
    students: list[str] | None = None,
    overrides: dict[str, str] | None = None,
    webhook: str | None = None,
    secret: str = "",
    analyzer: str = "local",
) -> dict[str, Any]:
    """Run the rescore state machine over ``root``'s exam; its summary, with the run's own counts."""
    import boto3
    from moto import mock_aws

    from proctoring_local.services.run.workers import step_environment
    from proctoring_local.stand_ins.engine import LocalStepFunctions
    from proctoring_local.stand_ins.lambdas import environment, reset_backends
    from proctoring_local.stand_ins.stack import LOCAL_BUCKET

    env = step_environment(root, analyzer, webhook, secret)
    settings = check_settings(env)
    check_run_folder(root, "rescore", settings.images_prefix)
    prefix = f"{settings.images_prefix}{exam}/"
    keys = sorted(
        path.relative_to(root).as_posix()
        for path in (root / prefix).rglob("*")
        if path.is_file() and not path.name.startswith(".")
    )
    if not keys:
        raise UsageError(f"no capture under {root / prefix}")
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), environment(env):
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=LOCAL_BUCKET)
        for key in keys:  # what the ItemReader lists; the steps read the folder itself
            s3.put_object(Bucket=LOCAL_BUCKET, Key=key, Body=b"")
        try:
            with LocalStepFunctions(
                state_machine="RescoreStateMachine",
                substitutions={"CaptureBucket": LOCAL_BUCKET, "ImagesPrefix": settings.images_prefix.rstrip("/")},
                webhook_enabled=bool(webhook),
                mock=False,
            ) as sfn:
                started = time.perf_counter()
                request = {"exam_id": exam, "students": students or [], "overrides": overrides or {}}
                execution = sfn.run(request, timeout=24 * 3600)
                seconds = time.perf_counter() - started
                invocations = Counter(sfn.invocations)
                lambda_seconds = dict(sfn.step_seconds)
        finally:
            reset_backends()
    if execution.status != "SUCCEEDED":
        raise UsageError(f"the re-score ended {execution.status}: {execution.error}: {execution.cause}")
    run = (execution.output or {})["request"]["run"]
    summary: dict[str, Any] = json.loads((root / "rescores" / exam / run / "summary.json").read_text())
    summary["seconds"] = seconds
    summary["invocations"] = dict(invocations)
    summary["lambda_seconds"] = lambda_seconds
    return summary


def plans(invocations: dict[str, int]) -> dict[str, int]:
    """How many items reused, compared again, analysed again: told by the steps that ran."""
    loaded = invocations.get("LoadAnalysisFunction", 0)
    labels = invocations.get("DetectLabelsFunction", 0)  # only a whole analysis detects labels again
    compares = invocations.get("CompareToReferenceFunction", 0)
    analysed = labels
    compared = max(0, compares - analysed)
    return {"reuse": max(0, loaded - analysed - compared), "compare": compared, "analyse": analysed}


def aws_cost_lines(summary: dict[str, Any], webhook: bool, captures: int = 10_000) -> list[str]:
    """What re-scoring ``captures`` like these costs on AWS: transitions from the ASL's paths,
    Lambda from this run's measured step times (no Rekognition for what is reused)."""
    from proctoring_local.services.cost import PRICE_GB_SECOND, PRICE_REKOGNITION_CALL, PRICE_REQUEST, PRICE_TRANSITION
    from proctoring_local.stand_ins.template import RESCORE_STATE_MACHINE, step_functions

    done = plans(summary["invocations"])
    items = max(1, sum(done.values()))
    per_item = sum(ITEM_TRANSITIONS[kind] + webhook for kind in done for _ in range(done[kind])) / items
    memory = {step["resource"]: step["memory"] for step in step_functions(RESCORE_STATE_MACHINE).values()}
    gb_seconds = sum(seconds * memory.get(name, 1024) / 1024 for name, seconds in summary["lambda_seconds"].items())
    invocations = sum(summary["invocations"].values())
    rekognition = done["compare"] + 2 * done["analyse"]
    scale = captures / items
    dollars = {
        "Step Functions": (per_item * items + RUN_TRANSITIONS) * scale * PRICE_TRANSITION,
        "Lambda": (gb_seconds * PRICE_GB_SECOND + invocations * PRICE_REQUEST) * scale,
        "Rekognition": rekognition * scale * PRICE_REKOGNITION_CALL,
    }
    return [
        f"on AWS, {captures:,} captures like these: {per_item:.1f} transitions a capture, "
        + ", ".join(f"{name} ${value:.2f}" for name, value in dollars.items())
        + f"; total ${sum(dollars.values()):.2f} (Lambda time as measured here)"
    ]


def print_summary(summary: dict[str, Any], webhook: bool) -> None:
    done = plans(summary["invocations"])
    rate = summary["captures"] / summary["seconds"] if summary["seconds"] else 0.0
    took = f"in {summary['seconds']:.1f} s ({rate:.1f} captures/s)"
    print(f"re-scored {summary['captures']} capture(s) of exam {summary['exam_id']} {took}")
    print(f"  analyses reused {done['reuse']}, compared again {done['compare']}, analysed again {done['analyse']}")
    print(f"  by status: {summary['by_status']}")
    print(f"  changed: {summary['changes'] or 'nothing'}")
    for change in summary["changed"][:20]:
        before = f"{change['previous_status']} {change['previous_reason'] or ''}".strip()
        print(f"    {change['capture']}: {before} -> {change['status']} {change['reason']}".rstrip())
    if len(summary["changed"]) > 20:
        where = f"rescores/{summary['exam_id']}/{summary['run']}/summary.json"
        print(f"    ... and {len(summary['changed']) - 20} more ({where})")
    for line in aws_cost_lines(summary, webhook):
        print(line)
