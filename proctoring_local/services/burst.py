"""``proctoring burst``: how large a burst of uploads the state machine's throttling retries absorb.

At an exam's start every student's first capture arrives within seconds, far above Rekognition's
per-second quotas. Each throttled call is retried by the ASL (``RekognitionThrottled``: exponential
backoff with full jitter, a bounded number of times); a call still throttled after the last retry
ends its execution in an ``ERROR`` document. This simulates that with the Retry policy read from
``statemachine/proctoring.asl.json``: each execution calls DetectFaces, then CompareFaces and
DetectLabels at once, each API with its own per-second quota. Calls take no time and the
reference's own DetectFaces (once per warm function) is left out, so real numbers are a little worse.
"""

from __future__ import annotations

import heapq
import json
import random
from dataclasses import dataclass
from typing import Any

from proctoring_local.stand_ins.template import DEFINITION, all_states

THROTTLED = "RekognitionThrottled"
# The Rekognition API behind each analysis state (the states' names in the ASL).
API_OF_STATE = {"DetectFaces": "DetectFaces", "CompareToReference": "CompareFaces", "DetectLabels": "DetectLabels"}


@dataclass(frozen=True)
class RetryPolicy:
    interval: float
    max_attempts: int
    backoff_rate: float
    max_delay: float
    full_jitter: bool

    def delay(self, retry: int, rng: random.Random) -> float:
        """The wait before retry number ``retry`` (0-based), as Step Functions computes it."""
        ceiling = min(self.interval * self.backoff_rate**retry, self.max_delay)
        return rng.uniform(0, ceiling) if self.full_jitter else ceiling

    def describe(self) -> str:
        jitter = ", full jitter" if self.full_jitter else ""
        return (
            f"{self.max_attempts} retries, {self.interval:g} s x{self.backoff_rate:g}, "
            f"at most {self.max_delay:g} s each{jitter}"
        )


def throttling_policies(definition: dict[str, Any] | None = None) -> dict[str, RetryPolicy]:
    """The ``RekognitionThrottled`` retrier of each analysis state, by Rekognition API."""
    definition = definition or json.loads(DEFINITION.read_text())
    states = dict(all_states(definition))
    policies = {}
    for state_name, api in API_OF_STATE.items():
        retry = next(r for r in states[state_name].get("Retry", []) if THROTTLED in r["ErrorEquals"])
        policies[api] = RetryPolicy(
            interval=float(retry.get("IntervalSeconds", 1)),
            max_attempts=int(retry.get("MaxAttempts", 3)),
            backoff_rate=float(retry.get("BackoffRate", 2.0)),
            max_delay=float(retry.get("MaxDelaySeconds", float("inf"))),
            full_jitter=retry.get("JitterStrategy") == "FULL",
        )
    return policies


@dataclass
class BurstOutcome:
    failed: int  # executions with a call still throttled after its last retry
    last_verdict: float  # seconds from the first upload to the last execution's last call
    most_retries: int


def simulate(
    executions: int,
    quotas: dict[str, int],
    policies: dict[str, RetryPolicy],
    *,
    over: float = 0.0,
    seed: int = 0,
) -> BurstOutcome:
    """``executions`` uploads spread evenly over ``over`` seconds, against per-second ``quotas``."""
    rng = random.Random(seed)
    used: dict[tuple[str, int], int] = {}
    # (time, sequence, execution, api, retries so far); the sequence keeps ties in arrival order.
    queue: list[tuple[float, int, int, str, int]] = []
    sequence = 0

    def call(at: float, execution: int, api: str, retries: int = 0) -> None:
        nonlocal sequence
        heapq.heappush(queue, (at, sequence, execution, api, retries))
        sequence += 1

    for execution in range(executions):
        call(over * execution / executions, execution, "DetectFaces")
    failed: set[int] = set()
    last, most = 0.0, 0
    while queue:
        at, _, execution, api, retries = heapq.heappop(queue)
        if execution in failed:
            continue
        second = (api, int(at))
        if used.get(second, 0) < quotas[api]:
            used[second] = used.get(second, 0) + 1
            last, most = max(last, at), max(most, retries)
            if api == "DetectFaces":  # then the Parallel state: both calls at once
                call(at, execution, "CompareFaces")
                call(at, execution, "DetectLabels")
            continue
        policy = policies[api]
        if retries >= policy.max_attempts:
            failed.add(execution)
            continue
        call(at + policy.delay(retries, rng), execution, api, retries + 1)
    return BurstOutcome(failed=len(failed), last_verdict=last, most_retries=most)
