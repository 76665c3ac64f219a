"""``proctoring decide``: a proctor confirms or dismisses a verdict, or flags a capture."""

from __future__ import annotations

import argparse

from proctoring_local.commands.options import Commands, webhook_secret
from proctoring_local.services.decisions import decide
from proctoring_local.services.targets import open_target
from proctoring_local.services.terminal import printable_key


def cmd_decide(args: argparse.Namespace) -> int:
    from proctoring.config import Settings

    target = open_target(args.target, "decide", Settings.from_env().images_prefix)
    recorded = decide(
        target, args.capture_key, args.action, args.by, args.reason, webhook=args.webhook, secret=webhook_secret(args)
    )
    print(f"decision written: {printable_key(recorded.where)}")
    if recorded.applied is None:
        print("the stack's decision state machine applies it (DecisionStateMachine, started by EventBridge)")
    elif recorded.applied.get("repeat"):
        print("the same decision was already recorded: nothing changed")
    else:
        standing = (recorded.applied.get("event") or {}).get("standing_alerts")
        print(f"applied to {printable_key(recorded.applied['result_key'])}; the student's standing alerts: {standing}")
    return 0


def register(commands: Commands) -> None:
    parser = commands.add_parser("decide", help="record a proctor's decision on a capture's verdict")
    parser.add_argument("target", metavar="DIR|s3://BUCKET", help="a run folder, or the deployed bucket")
    parser.add_argument("capture_key", metavar="CAPTURE_KEY", help="e.g. images/exam_1/user_2/cap_001.jpg")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument(
        "--dismiss", dest="action", action="store_const", const="dismiss", help="the alert does not stand"
    )
    action.add_argument("--confirm", dest="action", action="store_const", const="confirm", help="the verdict stands")
    action.add_argument(
        "--flag", dest="action", action="store_const", const="flag", help="a capture the system passed is a violation"
    )
    parser.add_argument("--by", required=True, metavar="NAME", help="who decides (recorded in the audit record)")
    parser.add_argument("--reason", required=True, metavar="TEXT", help="why, in a sentence")
    parser.add_argument("--webhook", metavar="URL", help="a folder's decision is sent to this URL too")
    parser.add_argument("--webhook-secret", help="Standard Webhooks secret, whsec_...")
    parser.set_defaults(handler=cmd_decide)
