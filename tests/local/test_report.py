"""proctoring report and dashboard: an exam as one page of timelines, opened in headless
Chromium (Debian's, driven by Playwright); the live dashboard shows a new result without a reload."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from proctoring_local.__main__ import main
from proctoring_local.services.report_page import report_model, totals
from proctoring_local.services.run.workers import run_folder
from tests.builders import ROOT, build_exam, synthetic_jpeg

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
FACTORY = "tests.fakes:alert_by_name_analyzer"  # a capture whose name holds "_alert" shows no face


@pytest.fixture
def exam(tmp_path):
    """exam1: ana (an OK capture, then three without a face: ALERT, ALERT, ALERT_FINAL with AWAY) and
    ben (two OK), a minute apart; judged by the real pipeline."""
    build_exam(tmp_path, users=("ana", "ben"), captures=1)
    for index in (1, 2, 3):
        (tmp_path / "images/exam1/ana" / f"c{index}_alert.jpg").write_bytes(synthetic_jpeg(index))
    (tmp_path / "images/exam1/ben/c1.jpg").write_bytes(synthetic_jpeg(9))
    for student in ("ana", "ben"):
        for minute, path in enumerate(sorted((tmp_path / "images/exam1" / student).iterdir())):
            os.utime(path, (1796461200 + 60 * minute,) * 2)
    assert run_folder(tmp_path, workers=1, progress=False, analyzer_factory=FACTORY).complete
    return tmp_path


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (make install)")
    if not Path(CHROMIUM).exists():
        pytest.skip("no Chromium at /usr/bin/chromium: apt-get install chromium (.ci/run installs it)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def test_the_totals_count_time_between_captures_as_the_earlier_one_saw_it():
    captures = [
        {"t": 0.0, "faces": 1, "turned": False, "status": "OK"},
        {"t": 60.0, "faces": 1, "turned": True, "status": "OK"},
        {"t": 120.0, "faces": 0, "turned": False, "status": "ALERT"},
        {"t": 300.0, "faces": 1, "turned": False, "status": "ALERT_FINAL"},
    ]
    assert totals(captures) == {
        "captures": 4,
        "present_seconds": 120,
        "looking_away_seconds": 60,
        "alerts": 2,
        "alert_final": 1,
    }


def test_the_model_holds_each_students_captures_in_time_order_with_pictures_of_alerts_only(exam):
    from proctoring_local.services.targets import open_target

    model = report_model(open_target(str(exam), "report", "images/"), "exam1")
    ana = next(row for row in model["students"] if row["student"] == "ana")
    assert [c["capture"] for c in ana["captures"]] == ["c0.jpg", "c1_alert.jpg", "c2_alert.jpg", "c3_alert.jpg"]
    assert [c["status"] for c in ana["captures"]] == ["OK", "ALERT", "ALERT", "ALERT_FINAL"]
    assert [bool(c["picture"]) for c in ana["captures"]] == [False, True, True, True]
    assert ana["totals"]["present_seconds"] == 60 and ana["reference"].startswith("data:image/jpeg;base64,")
    assert model["holds"] == {"students": 2, "captures": 6, "pictures": 3, "needing_a_look": 3}


def test_the_report_page_shows_each_mark_and_a_captures_reasons_on_click(exam, browser, capsys):
    page_path = exam / "report.html"
    assert main(["report", str(exam), "--exam", "exam1", "--out", str(page_path)]) == 0
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    page.goto(page_path.as_uri())
    marks = page.locator("tr[data-student=ana] .mark")
    assert [marks.nth(i).get_attribute("data-status") for i in range(marks.count())] == [
        "OK",
        "ALERT",
        "ALERT",
        "ALERT_FINAL",
    ]
    assert page.locator("tr[data-student=ben] .mark.OK").count() == 2
    marks.nth(3).click()
    detail = page.locator("#detail")
    assert "AWAY" in detail.text_content() and "NO_FACE" in detail.text_content()
    assert detail.locator("img").count() == 1  # the capture's thumbnail, boxes drawn
    assert "6 captures" in page.text_content("#holds")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)


@pytest.fixture
def dashboard(exam):
    """The dashboard of exam1, served by waitress on a free loopback port; its address with the token."""
    from waitress import create_server

    from proctoring_local.services.dashboard import allowed_hosts, create_app, new_token
    from proctoring_local.services.targets import open_target

    token = new_token()
    server = create_server(lambda environ, start: app(environ, start), host="127.0.0.1", port=0, threads=4)
    port = server.effective_port
    target = open_target(str(exam), "dashboard", "images/")
    app = create_app(target, "exam1", token=token, hosts=allowed_hosts("127.0.0.1", port), interval_ms=300)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", token
    server.close()


def test_the_dashboard_shows_a_new_result_without_a_reload(exam, browser, dashboard):
    base, token = dashboard
    page = browser.new_page()
    page.goto(f"{base}/?token={token}")
    assert page.url == f"{base}/"  # the token traded for a cookie, out of the address bar
    assert page.locator("tr[data-student=ben] .mark").count() == 2
    (exam / "images/exam1/ben/c2_alert.jpg").write_bytes(synthetic_jpeg(12))
    assert run_folder(exam, workers=1, progress=False, analyzer_factory=FACTORY, only=["exam1/ben/*"]).complete
    page.wait_for_selector("tr[data-student=ben] .mark.ALERT", timeout=5000)  # no reload by hand
    assert page.locator("tr[data-student=ben] .mark").count() == 3
    assert page.locator("tr[data-student=ana] .mark").count() == 4  # the row not sent again stays
    assert page.text_content("#updated").startswith("Live: as of")
    page.locator("tr[data-student=ben] .mark.ALERT").click()
    shown = page.locator("#detail img")
    assert shown.get_attribute("src").startswith("picture/")
    assert shown.evaluate("img => img.decode().then(() => img.naturalWidth)") > 0  # served by id, decoded
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    answer = json.loads(page.evaluate("fetch('report.json').then(r => r.text())"))
    assert answer["holds"]["captures"] == 7 and len(answer["students"]) == 2  # since=0: every row
    unchanged = json.loads(page.evaluate(f"fetch('report.json?since={answer['generation']}').then(r => r.text())"))
    assert unchanged["students"] == [] and unchanged["order"] == ["ana", "ben"]  # a poll sends what changed


def test_the_dashboard_answers_only_its_user(dashboard):
    import requests

    base, token = dashboard
    port = base.rsplit(":", 1)[1]
    rebinding = requests.get(f"{base}/report.json", headers={"Host": f"rebind.attacker.example:{port}"}, timeout=5)
    assert rebinding.status_code == 403  # a DNS-rebinding page names its own host
    assert requests.get(f"{base}/report.json", timeout=5).status_code == 403  # no token, no cookie
    assert requests.get(f"{base}/", params={"token": "guessed"}, timeout=5).status_code == 403
    assert requests.get(f"{base}/static/x", timeout=5).status_code == 403
    session = requests.Session()
    first = session.get(f"{base}/", params={"token": token}, timeout=5, allow_redirects=False)
    assert first.status_code == 303 and first.headers["Location"].endswith("/")
    cookie = first.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    answer = session.get(f"{base}/report.json", timeout=5)
    assert answer.status_code == 200 and answer.json()["holds"]["captures"] == 6
    assert answer.headers["Cache-Control"] == "no-store" and answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'sha256-" in answer.headers["Content-Security-Policy"]
    assert "Werkzeug" not in answer.headers.get("Server", "")  # waitress, not the development server
    assert session.get(f"{base}/static/report.js", timeout=5).status_code == 404  # no static folder


def test_the_dashboard_refuses_to_show_faces_to_the_network_unless_told(exam, capsys):
    assert main(["dashboard", str(exam), "--exam", "exam1", "--host", "0.0.0.0"]) == 2  # noqa: S104
    assert "add --allow-remote" in capsys.readouterr().err


# Names a student or a client chooses: each would run script if it reached the page as markup.
HOSTILE_STUDENTS = ['bo"onmouseover="window.__owned=1', "<!--<script>", "<svg onload=window.__owned=2>", "ben"]
HOSTILE_CAPTURES = [
    'c1_alert" onload="window.__owned=3.jpg',
    "<img src=x onerror=window.__owned=4>_alert.jpg",
    "javascript:window.__owned=5_alert.jpg",
    "c4'onfocus='window.__owned=6'_alert.jpg",
]


@pytest.fixture
def hostile_exam(tmp_path):
    build_exam(tmp_path, users=HOSTILE_STUDENTS, captures=1)
    for student in HOSTILE_STUDENTS:
        for index, name in enumerate(HOSTILE_CAPTURES):
            (tmp_path / "images/exam1" / student / name).write_bytes(synthetic_jpeg(20 + index))
    assert run_folder(tmp_path, workers=1, progress=False, analyzer_factory=FACTORY).complete
    return tmp_path


def _assert_nothing_ran(page, scripts: int = 2) -> None:
    """Hover and click everything; no injected handler exists, none ran, no dialog opened."""
    for element in page.locator("button, tr, td, img, span, b, li").all():
        if element.is_visible():
            element.hover()
            if element.evaluate("e => e.tagName") == "BUTTON":
                element.click()
    assert page.evaluate("window.__owned") is None
    handlers = "[...document.querySelectorAll('*')].flatMap(e => [...e.attributes].map(a => a.name))"
    assert [name for name in page.evaluate(handlers) if name.startswith("on")] == []
    assert page.evaluate("document.querySelectorAll('script').length") == scripts  # the page's own only


def test_hostile_names_reach_the_report_page_as_text(hostile_exam, browser):
    page_path = hostile_exam / "report.html"
    assert main(["report", str(hostile_exam), "--exam", "exam1", "--out", str(page_path)]) == 0
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    dialogs = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message) or dialog.dismiss())
    page.goto(page_path.as_uri())
    shown = page.evaluate("[...document.querySelectorAll('tr[data-student]')].map(tr => tr.dataset.student)")
    assert sorted(shown) == sorted(HOSTILE_STUDENTS)  # every student's row, none blanked by a name
    names = page.evaluate("[...document.querySelectorAll('.mark[data-capture]')].map(m => m.dataset.capture)")
    assert set(HOSTILE_CAPTURES) <= set(names)
    _assert_nothing_ran(page)
    assert dialogs == []
    page.locator(".mark[data-capture]").nth(names.index(HOSTILE_CAPTURES[1])).click()
    assert HOSTILE_CAPTURES[1] in page.text_content("#detail")  # shown, as text


def test_hostile_names_reach_the_review_page_as_text(hostile_exam, browser):
    page_path = hostile_exam / "review.html"
    assert main(["review", str(hostile_exam), "--html", str(page_path)]) == 0
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(page_path.as_uri())
    headings = page.evaluate("[...document.querySelectorAll('h2')].map(h => h.textContent)")
    assert sorted(headings) == sorted(f"exam1 / {student}" for student in HOSTILE_STUDENTS)
    _assert_nothing_ran(page, scripts=0)


def test_hostile_names_reach_the_dashboard_as_text(hostile_exam, browser):
    from waitress import create_server

    from proctoring_local.services.dashboard import allowed_hosts, create_app, new_token
    from proctoring_local.services.targets import open_target

    token = new_token()
    server = create_server(lambda environ, start: app(environ, start), host="127.0.0.1", port=0, threads=4)
    target = open_target(str(hostile_exam), "dashboard", "images/")
    app = create_app(target, "exam1", token=token, hosts=allowed_hosts("127.0.0.1", server.effective_port))
    threading.Thread(target=server.run, daemon=True).start()
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"http://127.0.0.1:{server.effective_port}/?token={token}")
        shown = page.evaluate("[...document.querySelectorAll('tr[data-student]')].map(tr => tr.dataset.student)")
        assert sorted(shown) == sorted(HOSTILE_STUDENTS)
        _assert_nothing_ran(page)
    finally:
        server.close()


def _decisions_in(root) -> list:
    return sorted(path.relative_to(root).as_posix() for path in (root / "decisions").rglob("*.json"))


def test_a_decision_made_with_the_dashboards_buttons_is_recorded_once(exam, browser, dashboard):
    base, token = dashboard
    (exam / "images/exam1/ben/c2_alert.jpg").write_bytes(synthetic_jpeg(12))
    assert run_folder(exam, workers=1, progress=False, analyzer_factory=FACTORY, only=["exam1/ben/*"]).complete
    page = browser.new_page()
    page.goto(f"{base}/?token={token}")
    page.locator("tr[data-student=ben] .mark.ALERT").click()
    page.fill("#decision-by", "Dr. Rivera")
    page.fill("#decision-reason", "the student bent down to pick up a pen")
    page.locator("button.decide[data-action=dismiss]").click()
    page.locator("#decision-outcome", has_text="recorded; standing alerts").wait_for(timeout=15000)
    page.locator("button.decide[data-action=dismiss]").click()  # the same decision again
    page.locator("#decision-outcome", has_text="already recorded").wait_for(timeout=15000)

    document = json.loads((exam / "results/exam1/ben/c2_alert.json").read_text())
    assert document["status"] == "ALERT"
    assert [(d["action"], d["by"]) for d in document["decisions"]] == [("dismiss", "Dr. Rivera")]
    assert len(_decisions_in(exam)) == 2  # each click writes its document; the second is applied as a repeat
    audit = [json.loads(p.read_text()) for p in (exam / "audit").rglob("decision-*.json")]
    assert len(audit) == 1


def test_a_cross_origin_post_to_the_decision_endpoint_is_refused(exam, browser, dashboard):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    base, token = dashboard
    (exam / "images/exam1/ben/c2_alert.jpg").write_bytes(synthetic_jpeg(12))
    assert run_folder(exam, workers=1, progress=False, analyzer_factory=FACTORY, only=["exam1/ben/*"]).complete
    target = f"{base}/decisions"
    body = '{"capture_key": "images/exam1/ben/c2_alert.jpg", "action": "dismiss", "by": "x", "reason": "y"}'
    attack = f"""<!doctype html><html><body>
<form id="f" method="POST" action="{target}" enctype="text/plain"><input name='{body[:-2]}' value='"}}'></form>
<script>
fetch("{target}", {{method: "POST", mode: "no-cors", credentials: "include",
  headers: {{"Content-Type": "text/plain"}}, body: {json.dumps(body)}}})
  .finally(() => document.getElementById("f").submit());
</script></body></html>""".encode()

    class Attacker(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(attack)

        def log_message(self, *args) -> None: ...

    other = ThreadingHTTPServer(("127.0.0.1", 0), Attacker)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        page = browser.new_page()
        page.goto(f"{base}/?token={token}")  # the proctor is signed in: the cookie is in the browser
        answers = []
        page.on("response", lambda response: answers.append((response.url, response.status)))
        page.goto(f"http://127.0.0.1:{other.server_address[1]}/")
        page.wait_for_url(target, timeout=5000)  # the form was submitted
    finally:
        other.shutdown()
        other.server_close()
    assert (target, 403) in answers
    assert not (exam / "decisions").exists()
    assert "decisions" not in json.loads((exam / "results/exam1/ben/c2_alert.json").read_text())
