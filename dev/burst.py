"""``python -m dev burst``: how large a burst of uploads the state machine's throttling retries absorb.

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
import statistics
from dataclasses import dataclass
from typing import Any

from dev.cli import Commands, non_negative_seconds, positive_int
from dev.template import DEFINITION, all_states

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


def run_burst(
    executions: int, tps: int, *, over: float = 0.0, runs: int = 5, quotas: dict[str, int] | None = None
) -> int:
    policies = throttling_policies()
    quotas = dict.fromkeys(API_OF_STATE.values(), tps) | (quotas or {})
    print(f"Retry on {THROTTLED}, from {DEFINITION.name}:")
    for api, policy in policies.items():
        print(f"  {api:<13} {policy.describe()}")
    spread = "at once" if not over else f"over {over:g} s"
    print(f"{executions} uploads {spread}; quotas per second: " + ", ".join(f"{a} {q}" for a, q in quotas.items()))
    outcomes = [simulate(executions, quotas, policies, over=over, seed=seed) for seed in range(runs)]
    failed = [outcome.failed for outcome in outcomes]
    print(
        f"ERROR documents (throttled past the last retry): mean {statistics.mean(failed):.1f}, "
        f"max {max(failed)} of {executions}, over {runs} runs"
    )
    print(
        f"last verdict after: mean {statistics.mean(o.last_verdict for o in outcomes):.0f} s; "
        f"most retries of one call: {max(o.most_retries for o in outcomes)}"
    )
    return 0


def register(commands: Commands) -> None:
    burst = commands.add_parser("burst", help="how large a burst of uploads the ASL's throttling retries absorb")
    burst.add_argument("-n", "--uploads", type=positive_int, default=1000, help="uploads (default 1000)")
    burst.add_argument("--tps", type=positive_int, default=50, help="Rekognition quota per API, calls/s (default 50)")
    burst.add_argument(
        "--over", type=non_negative_seconds, default=0.0, help="seconds the uploads are spread over (default 0)"
    )
    burst.add_argument("--runs", type=positive_int, default=5, help="simulations, each with its own jitter")
    burst.set_defaults(handler=lambda args: run_burst(args.uploads, args.tps, over=args.over, runs=args.runs))
