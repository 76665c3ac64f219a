"""``proctoring cost``: what a capture costs on AWS, counted from the execution histories of its
own run.

It enrols the students' reference photos as the enrolment rule does (CheckReference on each
upload), then runs a mix of captures (by default 85% OK, 5% no face, 5% an impostor, 5% a phone)
through the real ASL in moto, with Rekognition answering in its own shapes
(``stand_ins.canned_rekognition``) and a webhook receiver on loopback, and counts, per capture: the state
transitions (states entered, retries included), the Rekognition calls by API, the Lambda
invocations and their GB-seconds (each step's measured duration times its memory from
template.yaml, plus an assumed latency per Rekognition call, since the canned answers take none),
and prices them at list prices. The enrolment is counted apart: once per student, not per capture.
"""

from __future__ import annotations

import io
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from proctoring_local.services.checks import UsageError

# us-east-1 list prices (checked 2026-12; see the pricing pages before relying on them).
PRICE_TRANSITION = 0.025 / 1000  # Step Functions Standard
PRICE_GB_SECOND = 0.0000133334  # Lambda on arm64
PRICE_REQUEST = 0.20 / 1_000_000  # Lambda invocations
PRICE_REKOGNITION_CALL = 0.001  # DetectFaces, CompareFaces, DetectLabels: first million images a month

ANSWERS = {
    "ok": {
        "detect_faces": "detect_faces_one",
        "compare_faces": "compare_faces_match",
        "detect_labels": "detect_labels_person",
    },
    "no_face": {"detect_faces": "detect_faces_none", "detect_labels": "detect_labels_person"},
    "mismatch": {
        "detect_faces": "detect_faces_one",
        "compare_faces": "compare_faces_mismatch",
        "detect_labels": "detect_labels_person",
    },
    "phone": {
        "detect_faces": "detect_faces_one",
        "compare_faces": "compare_faces_match",
        "detect_labels": "detect_labels_phone",
    },
}
BUCKET = "proctoring-cost"


@dataclass
class Enrolment:
    """What checking the students' references cost, once each, when they were uploaded."""

    students: int
    rekognition: Counter[str]
    gb_seconds: float


@dataclass
class CaptureCost:
    kind: str
    path: str  # the states entered, in order
    transitions: int
    rekognition: Counter[str] = field(default_factory=Counter)
    invocations: int = 0
    gb_seconds: float = 0.0


def _kinds(captures: int, mix: dict[str, int]) -> list[str]:
    """``captures`` kinds in the mix's proportions (largest remainders), in a fixed shuffled order."""
    total = sum(mix.values())
    counts = {kind: captures * share // total for kind, share in mix.items()}
    rest = sorted(mix, key=lambda kind: -(captures * mix[kind] % total))
    for kind in rest[: captures - sum(counts.values())]:
        counts[kind] += 1
    kinds = [kind for kind, count in counts.items() for _ in range(count)]
    random.Random(5).shuffle(kinds)
    return kinds


def _jpeg(seed: int) -> bytes:
    from PIL import Image

    rng = random.Random(seed)
    image = Image.effect_noise((640, 480), 40).convert("RGB")
    image.paste(tuple(rng.randrange(256) for _ in range(3)), (rng.randrange(600), rng.randrange(440), 640, 480))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def _state_of(by_id: dict[int, dict[str, Any]], event: dict[str, Any]) -> str:
    while "stateEnteredEventDetails" not in event:
        event = by_id[event["previousEventId"]]
    return str(event["stateEnteredEventDetails"]["name"])


def _lambda_seconds(history: list[dict[str, Any]]) -> list[tuple[str, float]]:
    """(function resource, seconds) of every Lambda invocation, from its Started and Succeeded or Failed events."""
    by_id = {event["id"]: event for event in history}
    scheduled: dict[int, str] = {}
    started: dict[int, datetime] = {}
    found = []
    for event in history:
        kind = event["type"]
        if kind == "LambdaFunctionScheduled":
            scheduled[event["id"]] = event["lambdaFunctionScheduledEventDetails"]["resource"].rsplit(":", 1)[-1]
        elif kind == "LambdaFunctionStarted":
            started[event["id"]] = event["timestamp"]
        elif kind in ("LambdaFunctionSucceeded", "LambdaFunctionFailed"):
            start = by_id[event["previousEventId"]]
            function = scheduled[start["previousEventId"]]
            found.append((function, (event["timestamp"] - started[start["id"]]).total_seconds()))
    return found


def measure(
    captures: int, mix: dict[str, int], students: int = 10, rekognition_ms: float = 250.0
) -> tuple[Enrolment, list[CaptureCost]]:
    """Enrol the references, run the captures, and cost both (see the module docstring)."""
    import boto3
    from moto import mock_aws

    from proctoring.analysis import set_analyzer
    from proctoring.analysis.rekognition import RekognitionAnalyzer
    from proctoring.images import prepare_image
    from proctoring.notify import new_secret
    from proctoring_local.stand_ins.canned_rekognition import CannedRekognition
    from proctoring_local.stand_ins.engine import LocalStepFunctions
    from proctoring_local.stand_ins.events import object_created_event
    from proctoring_local.stand_ins.lambdas import LambdaContext, environment, load_handler_module, reset_backends
    from proctoring_local.stand_ins.stack import aws_environment
    from proctoring_local.stand_ins.template import ROOT, step_functions
    from proctoring_local.stand_ins.webhook_receiver import WebhookReceiver

    memory = {step["resource"]: step["memory"] for step in step_functions().values()}
    secret = new_secret()
    costs = []
    with (
        mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
        WebhookReceiver(secret=secret) as receiver,
    ):
        s3, dynamodb = boto3.client("s3", region_name="us-east-1"), boto3.client("dynamodb", region_name="us-east-1")
        values = {
            **aws_environment(s3, dynamodb, BUCKET, receiver.url, secret),
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "CRITICAL",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        with environment(values):
            check_reference = load_handler_module(ROOT / "functions" / "check_reference")  # its logger: quiet
            canned = CannedRekognition()
            set_analyzer(RekognitionAnalyzer(client=canned))
            try:
                with LocalStepFunctions(webhook_enabled=True, retry_sleep=lambda seconds: None, mock=False) as sfn:
                    started = time.perf_counter()
                    for student in range(students):
                        data = _jpeg(10_000 + student)
                        canned.register(prepare_image(data, "probe").jpeg_bytes(), detect_faces="detect_faces_one")
                        reference = f"reference/student{student:03d}.jpg"
                        s3.put_object(Bucket=BUCKET, Key=reference, Body=data)
                        # What the enrolment rule starts on the upload, with the rule's input.
                        check_reference.lambda_handler({"bucket": BUCKET, "key": reference}, LambdaContext("enrol"))
                    enrolment_calls = Counter(canned.calls)
                    enrolment_seconds = time.perf_counter() - started + rekognition_ms / 1000 * enrolment_calls.total()
                    enrolment = Enrolment(
                        students, enrolment_calls, enrolment_seconds * memory["CheckReferenceFunction"] / 1024
                    )
                    for index, kind in enumerate(_kinds(captures, mix)):
                        data = _jpeg(index)
                        canned.register(prepare_image(data, "probe").jpeg_bytes(), **ANSWERS[kind])
                        key = f"images/cost_exam/student{index % students:03d}/capture_{index:05d}.jpg"
                        put = s3.put_object(Bucket=BUCKET, Key=key, Body=data)
                        event = object_created_event(
                            BUCKET, key, size=len(data), etag=put["ETag"].strip('"'), version_id=put.get("VersionId")
                        )
                        calls_before = len(canned.calls)
                        execution = sfn.run(event)
                        if execution.status != "SUCCEEDED":
                            raise UsageError(
                                f"an execution ended {execution.status}: {execution.error} {execution.cause}"
                            )
                        costs.append(_cost_of(kind, execution, canned.calls[calls_before:], memory, rekognition_ms))
            finally:
                set_analyzer(None)
                reset_backends()
    return enrolment, costs


def _cost_of(kind: str, execution: Any, calls: list[str], memory: dict[str, int], rekognition_ms: float) -> CaptureCost:
    entered = execution.entered_states()
    rekognition = Counter(calls)
    invocations = _lambda_seconds(execution.history)
    gb_seconds = sum(duration * memory[function] / 1024 for function, duration in invocations)
    # The image steps (the largest memory) wait for their calls; the canned answers took no time.
    gb_seconds += rekognition_ms / 1000 * sum(rekognition.values()) * max(memory.values()) / 1024
    return CaptureCost(kind, " > ".join(entered), len(entered), rekognition, len(invocations), gb_seconds)


@dataclass
class Summary:
    captures: int
    transitions: float
    rekognition: dict[str, float]
    invocations: float
    gb_seconds: float

    def dollars_per_thousand(self) -> dict[str, float]:
        per_capture = {
            "Rekognition": sum(self.rekognition.values()) * PRICE_REKOGNITION_CALL,
            "Step Functions": self.transitions * PRICE_TRANSITION,
            "Lambda": self.gb_seconds * PRICE_GB_SECOND + self.invocations * PRICE_REQUEST,
        }
        return {item: 1000 * value for item, value in per_capture.items()}


def summarise(costs: list[CaptureCost]) -> Summary:
    count = len(costs)
    apis = sorted({api for cost in costs for api in cost.rekognition})
    return Summary(
        captures=count,
        transitions=sum(cost.transitions for cost in costs) / count,
        rekognition={api: sum(cost.rekognition[api] for cost in costs) / count for api in apis},
        invocations=sum(cost.invocations for cost in costs) / count,
        gb_seconds=sum(cost.gb_seconds for cost in costs) / count,
    )


def report_lines(
    enrolment: Enrolment, costs: list[CaptureCost], mix: dict[str, int], rekognition_ms: float
) -> list[str]:
    summary = summarise(costs)
    lines = [
        f"{summary.captures} captures, mix {', '.join(f'{kind} {share}' for kind, share in mix.items())}, webhook on",
        "state transitions per capture, by path:",
    ]
    by_kind: dict[str, list[CaptureCost]] = defaultdict(list)
    for cost in costs:
        by_kind[cost.kind].append(cost)
    for kind, items in by_kind.items():
        counts = sorted({item.transitions for item in items})
        lines.append(f"  {kind:<9} {'/'.join(map(str, counts))}")
    lines.append(f"  mean      {summary.transitions:.2f}")
    calls = ", ".join(f"{api} {value:.2f}" for api, value in summary.rekognition.items())
    lines.append(f"Rekognition calls per capture: {sum(summary.rekognition.values()):.2f} ({calls})")
    by_path = {kind: max(sum(item.rekognition.values()) for item in items) for kind, items in by_kind.items()}
    lines.append("  most on any path: " + ", ".join(f"{kind} {count}" for kind, count in by_path.items()))
    per_student = enrolment.rekognition.total() / enrolment.students
    lines.append(
        f"  plus, once per student at enrolment (not per capture): {per_student:.2f} DetectFaces, "
        f"{enrolment.gb_seconds / enrolment.students:.3f} GB-s"
    )
    lines.append(
        f"Lambda per capture: {summary.invocations:.2f} invocations, {summary.gb_seconds:.3f} GB-s "
        f"(measured durations, plus {rekognition_ms:g} ms per Rekognition call)"
    )
    dollars = summary.dollars_per_thousand()
    lines.append(
        "dollars per 1,000 captures: "
        + ", ".join(f"{item} ${value:.3f}" for item, value in dollars.items())
        + f"; total ${sum(dollars.values()):.3f}"
    )
    dollars_per_student = (
        enrolment.rekognition.total() * PRICE_REKOGNITION_CALL
        + enrolment.gb_seconds * PRICE_GB_SECOND
        + enrolment.students * PRICE_REQUEST
    ) / enrolment.students
    lines.append(f"enrolment: ${1000 * dollars_per_student:.3f} per 1,000 students, whatever the exam's size")
    return lines
