"""``proctoring burst``: its options and what it prints."""

from __future__ import annotations

import statistics

from proctoring_local.commands.options import Commands, non_negative_seconds, positive_int
from proctoring_local.services.burst import API_OF_STATE, THROTTLED, simulate, throttling_policies
from proctoring_local.stand_ins.template import DEFINITION


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
