"""``proctoring webhook``: its options and what it prints."""

from __future__ import annotations

import argparse
import sys
import time

from proctoring.notify import new_secret
from proctoring_local.commands.options import Commands, port_number, webhook_secret
from proctoring_local.stand_ins.webhook_receiver import Delivery, WebhookReceiver


def print_delivery(delivery: Delivery) -> None:
    payload = delivery.payload
    mark = (
        "signature ok"
        if delivery.signature_valid
        else f"BAD SIGNATURE, refused with {delivery.answered}: do sender and receiver use the same secret?"
    )
    if payload.get("exam_id") is not None:
        where = f"{payload['exam_id']}/{payload.get('user_id')}/{payload.get('capture')}"
    else:  # a key outside the naming convention has no exam or student: name the object itself
        where = payload.get("s3_input") or "?"
    line = f"{payload.get('status', '?'):<11} {where}  {payload.get('reason') or ''}  [{mark}]"
    print(line, flush=True)
    for detail in payload.get("details") or []:
        print(f"            - {detail}", flush=True)


def serve(port: int, secret: str) -> int:
    from proctoring_local.services.checks import UsageError

    try:
        receiver = WebhookReceiver(secret=secret, port=port, on_delivery=print_delivery, on_rejected=print_delivery)
    except OSError as exc:
        raise UsageError(f"cannot listen on port {port} ({exc.strerror or exc}); choose another with --port") from exc
    print(f"listening on {receiver.url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    with receiver:
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    print(f"{len(receiver.deliveries)} deliveries received", file=sys.stderr)
    return 0


def register(commands: Commands) -> None:
    webhook = commands.add_parser("webhook", help="a receiver that verifies signatures and prints each alert")
    webhook.add_argument("--port", type=port_number, default=8765, help="port on 127.0.0.1 (default 8765)")
    webhook.add_argument(
        "--webhook-secret",
        help="the Standard Webhooks secret (whsec_...) signatures are checked with (default: "
        "$PROCTORING_WEBHOOK_SECRET, else the key run and menu sign with by default)",
    )
    webhook.add_argument("--new-secret", action="store_true", help="print a fresh secret (whsec_...) and exit")
    webhook.set_defaults(handler=_webhook_command)


def _webhook_command(args: argparse.Namespace) -> int:
    if args.new_secret:
        print(new_secret())
        return 0
    return serve(args.port, webhook_secret(args))
