"""``proctoring dashboard DIR --exam ID``: the exam report, served on this machine and kept up to
date while ``proctoring run`` works on the same folder.

A small Flask app: ``/`` is the report page in its live form, which asks ``/report.json`` every two
seconds and redraws (no reload by hand); ``/report.json`` is the report's data, read from the
folder's documents at each request. It shows students' faces, so it listens on loopback only,
unless ``--host`` names another address and ``--allow-remote`` says so knowingly.
"""

from __future__ import annotations

import ipaddress
import sys
from typing import Any

from proctoring_local.services.checks import UsageError

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def create_app(target: Any, exam: str, interval_ms: int = 2000) -> Any:
    from flask import Flask, Response, jsonify

    from proctoring_local.services.report_page import render_report, report_model

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
