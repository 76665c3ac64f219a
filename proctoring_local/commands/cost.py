"""``proctoring cost``: its options and what it prints."""

from __future__ import annotations

import argparse
import json

from proctoring_local.commands.options import Commands, positive_int
from proctoring_local.services.cost import ANSWERS, measure, report_lines, summarise

DEFAULT_MIX = {"ok": 85, "no_face": 5, "mismatch": 5, "phone": 5}


def parse_mix(text: str) -> dict[str, int]:
    """``ok=85,no_face=5,...`` -> shares; each kind one of ANSWERS, shares positive."""
    mix = {}
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        kind, _, share = part.partition("=")
        if kind not in ANSWERS:
            raise argparse.ArgumentTypeError(f"unknown capture kind {kind!r}; choose from {', '.join(ANSWERS)}")
        if not share.isdigit() or int(share) < 1:
            raise argparse.ArgumentTypeError(f"{kind}'s share must be a whole number of 1 or more, got {share!r}")
        mix[kind] = int(share)
    if not mix:
        raise argparse.ArgumentTypeError("expected kind=share pairs such as ok=85,no_face=5")
    return mix


def run_cost(captures: int, mix: dict[str, int], students: int, rekognition_ms: float, as_json: bool) -> int:
    enrolment, costs = measure(captures, mix, students, rekognition_ms)
    if as_json:
        summary = summarise(costs)
        print(json.dumps({**summary.__dict__, "dollars_per_1000": summary.dollars_per_thousand()}, indent=1))
    else:
        print("\n".join(report_lines(enrolment, costs, mix, rekognition_ms)))
    return 0


def register(commands: Commands) -> None:
    cost = commands.add_parser("cost", help="what a capture costs on AWS, counted from the executions of a run")
    cost.add_argument("-n", "--captures", type=positive_int, default=200, help="captures (default 200)")
    cost.add_argument("--students", type=positive_int, default=20, help="students they are spread over (default 20)")
    cost.add_argument(
        "--mix",
        type=parse_mix,
        default=DEFAULT_MIX,
        help="kind=share pairs (default ok=85,no_face=5,mismatch=5,phone=5)",
    )
    cost.add_argument(
        "--rekognition-ms", type=float, default=250.0, help="assumed latency of one Rekognition call (default 250)"
    )
    cost.add_argument("--json", action="store_true", help="the per-capture means as JSON")
    cost.set_defaults(
        handler=lambda args: run_cost(args.captures, args.mix, args.students, args.rekognition_ms, args.json)
    )
