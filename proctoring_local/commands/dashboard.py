"""``proctoring dashboard``: its options and what it prints."""

from __future__ import annotations

import argparse
import sys

from proctoring_local.commands.options import Commands, port_number
from proctoring_local.services.dashboard import check_host, create_app


def cmd_dashboard(args: argparse.Namespace) -> int:
    from proctoring.config import Settings
    from proctoring_local.services.targets import open_target

    check_host(args.host, args.allow_remote)
    target = open_target(args.dir, "dashboard", Settings.from_env().images_prefix)
    app = create_app(target, args.exam)
    print(f"dashboard of exam {args.exam}: http://{args.host}:{args.port}/  (Ctrl-C to stop)", file=sys.stderr)
    app.run(host=args.host, port=args.port, threaded=True)
    return 0


def register(commands: Commands) -> None:
    dashboard = commands.add_parser("dashboard", help="the exam report, live, on this machine's browser")
    dashboard.add_argument("dir", metavar="DIR", help="the run folder proctoring run works on")
    dashboard.add_argument("--exam", required=True, metavar="ID", help="the exam")
    dashboard.add_argument("--port", type=port_number, default=8770, help="port (default 8770)")
    dashboard.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    dashboard.add_argument(
        "--allow-remote", action="store_true", help="allow a --host other than loopback (it shows students' faces)"
    )
    dashboard.set_defaults(handler=cmd_dashboard)
