"""``proctoring rescore``: its options and what it prints."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from proctoring_local.commands.options import Commands, webhook_secret
from proctoring_local.services.rescore import print_summary, rescore_folder


def parse_setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE such as SIMILARITY_THRESHOLD=85, got {text!r}")
    return name.strip().upper(), value.strip()


def cmd_rescore(args: argparse.Namespace) -> int:
    # Powertools warns of steps that published no metric; metrics are off in local runs anyway.
    warnings.filterwarnings("ignore", category=UserWarning, module="aws_lambda_powertools")
    summary = rescore_folder(
        Path(args.dir),
        args.exam,
        students=args.student or [],
        overrides=dict(args.set or []),
        webhook=args.webhook,
        secret=webhook_secret(args),
        analyzer=args.analyzer or "local",
    )
    print_summary(summary, bool(args.webhook))
    return 0


def register(commands: Commands) -> None:
    rescore = commands.add_parser("rescore", help="judge an exam of DIR again from its stored analyses")
    rescore.add_argument("dir", metavar="DIR", help="a run folder that proctoring run judged")
    rescore.add_argument("--exam", required=True, metavar="ID", help="the exam to judge again")
    rescore.add_argument("--student", action="append", metavar="ID", help="only this student; repeatable")
    rescore.add_argument(
        "--set",
        action="append",
        type=parse_setting,
        metavar="NAME=VALUE",
        help="a verdict setting for this run, e.g. SIMILARITY_THRESHOLD=85; repeatable",
    )
    rescore.add_argument(
        "--analyzer", choices=["local", "rekognition"], default=None, help="for what must be analysed again"
    )
    rescore.add_argument("--webhook", metavar="URL", help="send the changed verdicts to this URL")
    rescore.add_argument("--webhook-secret", help="Standard Webhooks secret, whsec_...")
    rescore.set_defaults(handler=cmd_rescore)
