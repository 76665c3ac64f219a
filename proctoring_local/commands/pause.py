"""``proctoring pause|resume s3://BUCKET``: stop new judgements, and start them again."""

from __future__ import annotations

import argparse

from proctoring_local.commands.options import Commands
from proctoring_local.services.checks import UsageError
from proctoring_local.services.pause import pause, resume
from proctoring_local.services.student_data import audit_log, caller
from proctoring_local.services.targets import aws_refusals, open_target


def cmd_switch(args: argparse.Namespace) -> int:
    import boto3

    from proctoring.audit import operation_entry
    from proctoring.config import Settings

    if not args.target.startswith("s3://"):
        raise UsageError(f"{args.command} needs s3://BUCKET: a run folder is judged only when `proctoring run` runs")
    settings = Settings.from_env()
    target = open_target(args.target, args.command, settings.images_prefix)
    with aws_refusals(f"{args.command} {target.text}"):
        events = boto3.client("events")
        if args.command == "pause":
            rule, started = pause(events, target.bucket, settings.images_prefix), 0
        else:
            rule, started = resume(
                events, boto3.client("stepfunctions"), target.s3, target.storage, target.bucket, settings
            )
        details = {"bucket": target.bucket, "rule": rule, "executions_started": started}
        audit_log(target, settings).record(operation_entry(args.command, args.by or caller(target), details))
    if args.command == "pause":
        print(f"paused: {rule} is off; uploads are kept and judged on `proctoring resume {target.text}`")
    else:
        print(f"resumed: {rule} is on; {started} capture(s) uploaded meanwhile are being judged")
    return 0


def register(commands: Commands) -> None:
    for name, text in (
        ("pause", "stop new judgements (the capture rule off)"),
        ("resume", "judge again, and what was missed"),
    ):
        parser = commands.add_parser(name, help=text)
        parser.add_argument("target", metavar="s3://BUCKET")
        parser.add_argument("--by", metavar="NAME", help="who (default: your AWS identity)")
        parser.set_defaults(handler=cmd_switch)  # args.command names which
