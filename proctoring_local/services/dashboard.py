"""``proctoring dashboard DIR --exam ID``: the exam report, served on this machine and kept up to
date while ``proctoring run`` works on the same folder.

A small Flask app behind waitress: ``/`` is the report page in its live form, which asks
``/report.json?since=N`` every two seconds for the students whose row changed since its last answer
(not the whole exam); pictures are URLs, ``/picture/ID``, made once, cached by the browser, and kept
here in a bounded cache. The page shows students' faces, so the app is for its user alone:

* it listens on loopback, unless ``--host`` names another address and ``--allow-remote`` says so;
* it answers only requests whose Host header names this machine and its port (a DNS-rebinding page
  in the user's browser names its own host);
* it asks for a token made at start and printed in its URL, as Jupyter does: the first request
  trades it for a cookie (HttpOnly, SameSite=Strict) and is sent back to the bare URL;
* it serves no static folder, and every answer carries its Content-Security-Policy and no-store.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import sys
import threading
from collections import OrderedDict
from typing import Any

from proctoring_local.services.checks import UsageError

LOOPBACK = ("127.0.0.1", "::1", "localhost")
COOKIE = "proctoring_dashboard"
PICTURES_KEPT = 512  # thumbnails of about 20 kB each: about 10 MB at most


class LiveReport:
    """The exam's model as the page has it: each student's row with the generation that last
    changed it, so that a poll answers only what changed; and the pictures the rows name."""

    def __init__(self, target: Any, exam: str) -> None:
        self.target, self.exam = target, exam
        self.generation = 0
        self._rows: dict[str, tuple[str, int]] = {}  # student -> (digest of the row, generation)
        self._wanted: dict[str, tuple[str, int, Any]] = {}  # picture id -> (key, side, boxes)
        self._made: OrderedDict[str, tuple[bytes, str]] = OrderedDict()  # id -> (body, content type)
        self._lock = threading.Lock()

    def picture_url(self, target: Any, key: str, side: int, boxes: Any = ()) -> tuple[str | None, str | None]:
        """The URL of the picture at ``key``, registered to be made when the page asks for it."""
        # Named by what it shows, not by its bytes (reading them at every poll is what this avoids):
        # a capture replaced under the same key keeps its first picture until the dashboard restarts.
        identity = f"{key}\0{side}\0{boxes!r}"
        picture_id = hashlib.sha256(identity.encode("utf-8", "surrogateescape")).hexdigest()[:32]
        with self._lock:
            self._wanted[picture_id] = (key, side, boxes)
        return f"picture/{picture_id}", None

    def changes(self, since: int) -> dict[str, Any]:
        """The report with only the rows changed after generation ``since`` (all for 0), and the
        order of every student, so that the page can drop those no longer there."""
        import json

        from proctoring_local.services.report_page import report_model

        model = report_model(self.target, self.exam, pictures=self.picture_url)
        with self._lock:
            order = [row["student"] for row in model["students"]]
            changed = False
            for row in model["students"]:
                digest = hashlib.sha256(json.dumps(row, sort_keys=True).encode()).hexdigest()
                if self._rows.get(row["student"], ("", 0))[0] != digest:
                    if not changed:
                        self.generation, changed = self.generation + 1, True
                    self._rows[row["student"]] = (digest, self.generation)
            model["students"] = [row for row in model["students"] if self._rows[row["student"]][1] > since]
            model["order"], model["generation"] = order, self.generation
        return model

    def picture(self, picture_id: str) -> tuple[bytes, str] | None:
        """The picture's bytes and type, made on first request; None for an id no row named."""
        from proctoring_local.services.review_page import read_thumbnail

        with self._lock:
            if picture_id in self._made:
                self._made.move_to_end(picture_id)
                return self._made[picture_id]
            wanted = self._wanted.get(picture_id)
        if wanted is None:
            return None
        key, side, boxes = wanted
        data, why = read_thumbnail(self.target, key, side, boxes)
        made = (data, "image/jpeg") if data is not None else (_placeholder(why), "image/svg+xml")
        with self._lock:
            self._made[picture_id] = made
            while len(self._made) > PICTURES_KEPT:
                self._made.popitem(last=False)
        return made


def _placeholder(why: str) -> bytes:
    """A grey picture saying why the real one is not shown (an SVG as an image runs no script)."""
    from xml.sax.saxutils import escape

    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="80"><rect width="100%" height="100%" '
        f'fill="#eee"/><text x="8" y="44" font-size="13" fill="#444">{escape(why)}</text></svg>'
    ).encode()


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """The Host headers this server answers: this machine's names, with its port."""
    names = {"127.0.0.1", "localhost", "[::1]"}
    if host not in LOOPBACK:
        names.add(f"[{host}]" if ":" in host else host)
    return frozenset(f"{name}:{port}" for name in names)


def create_app(target: Any, exam: str, *, token: str, hosts: frozenset[str], interval_ms: int = 2000) -> Any:
    from flask import Flask, Response, abort, jsonify, redirect, request
    from werkzeug.wrappers import Response as BaseResponse

    from proctoring_local.services.report_page import page_policy, render_report

    app = Flask("proctoring-dashboard", static_folder=None)
    live = LiveReport(target, exam)

    @app.before_request
    def only_for_its_user() -> BaseResponse | None:
        if request.host not in hosts:
            abort(403, "this dashboard answers only requests to this machine")
        given = request.args.get("token")
        if given is not None and hmac.compare_digest(given, token) and request.path == "/":
            answer = redirect("/", code=303)  # the token leaves the address bar and the history
            answer.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
            return answer
        if not hmac.compare_digest(request.cookies.get(COOKIE, ""), token):
            abort(403, "open the address printed when the dashboard started (it carries its token)")
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["Content-Security-Policy"] = page_policy(live=True)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        return response

    decision_token = new_token()  # a second secret, in the page only: a request must show it
    origins = {f"http://{host}" for host in hosts}
    deciding = threading.Lock()

    @app.get("/")
    def page() -> Response:
        from proctoring.config import Settings

        decisions = {"token": decision_token, "images_prefix": Settings.from_env().images_prefix}
        report = render_report(live.changes(0), live=True, interval_ms=interval_ms, decisions=decisions)
        return Response(report, mimetype="text/html")

    @app.post("/decisions")
    def decide_on_capture() -> Response | tuple[Response, int]:
        """A proctor's decision from the page's buttons: only from the page itself (its origin, its
        token, a JSON body, which a form on another page cannot send)."""
        same_page = request.headers.get("Origin") in origins and request.headers.get("Sec-Fetch-Site") in {
            None,
            "same-origin",
        }
        if not (same_page and hmac.compare_digest(request.headers.get("X-Decision-Token", ""), decision_token)):
            return jsonify(error="decisions are taken only from this dashboard's own page, with its token"), 403
        body = request.get_json(silent=True) if request.is_json else None
        with deciding:
            answer, status = decision_answer(target, body)
        return jsonify(answer), status

    @app.get("/report.json")
    def data() -> Response:
        return jsonify(live.changes(request.args.get("since", 0, type=int)))

    @app.get("/picture/<picture_id>")
    def picture(picture_id: str) -> Response:
        made = live.picture(picture_id)
        if made is None:
            abort(404)
        body, content_type = made
        # An id names one content (key, ETag, size, boxes): the browser keeps it.
        return Response(body, mimetype=content_type, headers={"Cache-Control": "private, max-age=86400, immutable"})

    return app


def decision_answer(target: Any, body: Any) -> tuple[dict[str, str], int]:
    """Record the decision a dashboard page sent; the answer to show, and its HTTP status."""
    from proctoring_local.services.decisions import decide

    if not isinstance(body, dict) or not all(isinstance(body.get(f), str) for f in ("capture_key", "action")):
        return {"error": "expected JSON with capture_key, action, by and reason"}, 400
    if body["action"] not in {"confirm", "dismiss", "flag"}:
        return {"error": "action must be confirm, dismiss or flag"}, 400
    by, reason = str(body.get("by") or ""), str(body.get("reason") or "")
    try:
        recorded = decide(target, body["capture_key"], body["action"], by, reason, webhook=None, secret="")
    except UsageError as exc:
        return {"error": str(exc)}, 400
    applied = recorded.applied or {}
    if recorded.applied is None:
        return {"message": "written for the stack to apply"}, 200
    if applied.get("repeat"):
        return {"message": "the same decision was already recorded: nothing changed"}, 200
    return {"message": f"recorded; standing alerts: {(applied.get('event') or {}).get('standing_alerts')}"}, 200


def new_token() -> str:
    return secrets.token_urlsafe(24)


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
            f"warning: serving students' faces on {host}: anyone with the printed address (its token) sees them",
            file=sys.stderr,
        )
