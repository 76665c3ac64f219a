"""``proctoring dashboard``: its options and what it prints."""

from __future__ import annotations

import argparse
import sys

from proctoring_local.commands.options import Commands, port_number
from proctoring_local.services.dashboard import allowed_hosts, check_host, create_app, new_token


def cmd_dashboard(args: argparse.Namespace) -> int:
    from waitress import serve

    from proctoring.config import Settings
    from proctoring_local.services.targets import open_target

    check_host(args.host, args.allow_remote)
    target = open_target(args.dir, "dashboard", Settings.from_env().images_prefix)
    token = new_token()
    app = create_app(target, args.exam, token=token, hosts=allowed_hosts(args.host, args.port))
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"dashboard of exam {args.exam}: http://{shown}:{args.port}/?token={token}  (Ctrl-C to stop)",
        file=sys.stderr,
    )
    serve(app, host=args.host, port=args.port, threads=4, ident=None)
    return 0


def register(commands: Commands) -> None:
    dashboard = commands.add_parser("dashboard", help="the exam report, live, on this machine's browser")
    dashboard.add_argument("dir", metavar="DIR|s3://BUCKET", help="the run folder proctoring run works on, or a bucket")
    dashboard.add_argument("--exam", required=True, metavar="ID", help="the exam")
    dashboard.add_argument("--port", type=port_number, default=8770, help="port (default 8770)")
    dashboard.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    dashboard.add_argument(
        "--allow-remote", action="store_true", help="allow a --host other than loopback (it shows students' faces)"
    )
    dashboard.set_defaults(handler=cmd_dashboard)
