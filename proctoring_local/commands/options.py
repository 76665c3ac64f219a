"""What the commands' parsers share: argument types that say what is wrong with a value, the
pipeline's options (analyzer, webhook), and the webhook key a run signs with."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

Commands = Any  # argparse's sub-parsers object (a private type, argparse._SubParsersAction)


def _non_negative(text: str, unit: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of {unit}, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


def non_negative_seconds(text: str) -> float:
    return _non_negative(text, "seconds")


def non_negative_minutes(text: str) -> float:
    return _non_negative(text, "minutes")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def capture_pattern(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a capture's path or a glob such as 'exam1/ana/*', got nothing")
    return text


def port_number(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 1 to 65535, got {text!r}")
    return int(text)


def capture_size(text: str) -> str:
    """``WxH`` for generated captures, each side at least Rekognition's 80 px and at most 8000."""
    width, _, height = text.lower().partition("x")
    if not (width.isdigit() and height.isdigit()):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 640x480, got {text!r}")
    if not all(80 <= int(side) <= 8000 for side in (width, height)):
        raise argparse.ArgumentTypeError(f"each side must be between 80 and 8000 px, got {text!r}")
    return f"{int(width)}x{int(height)}"


def pipeline_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--analyzer",
        choices=["local", "rekognition"],
        default=None,
        help="local: offline dlib models (default for a folder); rekognition: the real service, your credentials "
        "(default for s3://BUCKET)",
    )
    sub.add_argument("--webhook", metavar="URL", help="POST each result document to this URL")
    sub.add_argument(
        "--webhook-secret", help="Standard Webhooks secret, whsec_... (default: $PROCTORING_WEBHOOK_SECRET)"
    )


def workers_option(sub: argparse.ArgumentParser, what: str = "worker processes") -> None:
    sub.add_argument("--workers", type=positive_int, default=None, help=f"{what} (default: one per core)")


def origin(args: argparse.Namespace, flag: str, *names: str) -> str:
    """Where a value came from, to say so: the flag, the environment, or the .env file (by path)."""
    if getattr(args, flag.removeprefix("--").replace("-", "_"), None):
        return flag
    env_file = getattr(args, "env_file", None)
    name = next((name for name in names if os.environ.get(name)), names[0])
    if env_file is not None and name in env_file.applied:
        return f"{name} in {env_file.path}"
    return f"${name}"


def use_configured_webhook(args: argparse.Namespace) -> None:
    """``--webhook``, else WEBHOOK_URL (or PROCTORING_WEBHOOK_URL) from the environment or .env."""
    from proctoring_local.services.checks import check_settings

    args.webhook_origin = origin(args, "--webhook", "WEBHOOK_URL", "PROCTORING_WEBHOOK_URL")
    args.webhook = args.webhook or check_settings({}).webhook_url or None


def webhook_secret(args: argparse.Namespace) -> str:
    """The key deliveries are signed with: ``--webhook-secret``, else $PROCTORING_WEBHOOK_SECRET, else
    the public development key, which only a receiver on this machine may be sent. A webhook the
    command line did not name (the environment, a .env) is announced: where it sends, from where."""
    from urllib.parse import urlparse

    from proctoring.notify import secret_problem
    from proctoring_local.services.checks import UsageError, check_webhook_secret, check_webhook_url
    from proctoring_local.services.run.workers import DEFAULT_SECRET

    secret = args.webhook_secret or os.environ.get("PROCTORING_WEBHOOK_SECRET")
    secret_origin = origin(args, "--webhook-secret", "PROCTORING_WEBHOOK_SECRET") if secret else "the development key"
    if secret and (problem := secret_problem(secret)):
        raise UsageError(f"{secret_origin}: {problem}")
    if webhook := getattr(args, "webhook", None):
        where = getattr(args, "webhook_origin", "--webhook")
        check_webhook_url(webhook, where)  # what is wrong with the URL itself comes first
        check_webhook_secret(webhook, where, secret_given=bool(secret))
        if where != "--webhook":
            print(
                f"webhook: each document is sent to {urlparse(webhook).hostname} ({where}), "
                f"signed with {secret_origin}",
                file=sys.stderr,
            )
    return secret or DEFAULT_SECRET
