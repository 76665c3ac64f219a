"""``python -m dev dashboard DIR --exam ID``: the exam report, served on this machine and kept up to
date while ``python -m dev run`` works on the same folder.

A small Flask app: ``/`` is the report page in its live form, which asks ``/report.json`` every two
seconds and redraws (no reload by hand); ``/report.json`` is the report's data, read from the
folder's documents at each request. It shows students' faces, so it listens on loopback only,
unless ``--host`` names another address and ``--allow-remote`` says so knowingly.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from typing import Any

from dev.checks import UsageError
from dev.cli import Commands, port_number

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def create_app(target: Any, exam: str, interval_ms: int = 2000) -> Any:
    from flask import Flask, Response, jsonify

    from dev.report import render_report, report_model

    app = Flask("proctoring-dashboard")

    @app.get("/")
    def page() -> Response:
        body = render_report(report_model(target, exam), live=True, interval_ms=interval_ms)
        return Response(body, mimetype="text/html", headers={"Cache-Control": "no-store"})

    @app.get("/report.json")
    def data() -> Response:
        response = jsonify(report_model(target, exam))
        response.headers["Cache-Control"] = "no-store"
        return response

    return app


def check_host(host: str, allow_remote: bool) -> None:
    try:
        loopback = host in LOOPBACK or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not allow_remote:
        raise UsageError(
            f"--host {host} would show students' faces to the network; "
            "add --allow-remote if that is meant (and put it behind authentication)"
        )
    if not loopback:
        print(
            f"warning: serving students' faces on {host}: anyone who reaches it sees them; no login protects it",
            file=sys.stderr,
        )


def cmd_dashboard(args: argparse.Namespace) -> int:
    from dev.targets import open_target
    from proctoring.config import Settings

    check_host(args.host, args.allow_remote)
    target = open_target(args.dir, "dashboard", Settings.from_env().images_prefix)
    app = create_app(target, args.exam)
    print(f"dashboard of exam {args.exam}: http://{args.host}:{args.port}/  (Ctrl-C to stop)", file=sys.stderr)
    app.run(host=args.host, port=args.port, threaded=True)
    return 0


def register(commands: Commands) -> None:
    dashboard = commands.add_parser("dashboard", help="the exam report, live, on this machine's browser")
    dashboard.add_argument("dir", metavar="DIR", help="the run folder python -m dev run works on")
    dashboard.add_argument("--exam", required=True, metavar="ID", help="the exam")
    dashboard.add_argument("--port", type=port_number, default=8770, help="port (default 8770)")
    dashboard.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    dashboard.add_argument(
        "--allow-remote", action="store_true", help="allow a --host other than loopback (it shows students' faces)"
    )
    dashboard.set_defaults(handler=cmd_dashboard)
