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


def test_the_dashboard_shows_a_new_result_without_a_reload(exam, browser):
    from werkzeug.serving import make_server

    from proctoring_local.services.dashboard import create_app
    from proctoring_local.services.targets import open_target

    app = create_app(open_target(str(exam), "dashboard", "images/"), "exam1", interval_ms=300)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{server.server_port}/")
        assert page.locator("tr[data-student=ben] .mark").count() == 2
        (exam / "images/exam1/ben/c2_alert.jpg").write_bytes(synthetic_jpeg(12))
        assert run_folder(exam, workers=1, progress=False, analyzer_factory=FACTORY, only=["exam1/ben/*"]).complete
        page.wait_for_selector("tr[data-student=ben] .mark.ALERT", timeout=5000)  # no reload by hand
        assert page.locator("tr[data-student=ben] .mark").count() == 3
        assert page.text_content("#updated").startswith("Live: as of")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        answer = json.loads(page.evaluate("fetch('report.json').then(r => r.text())"))
        assert answer["holds"]["captures"] == 7
    finally:
        server.shutdown()


def test_the_dashboard_refuses_to_show_faces_to_the_network_unless_told(exam, capsys):
    assert main(["dashboard", str(exam), "--exam", "exam1", "--host", "0.0.0.0"]) == 2  # noqa: S104
    assert "add --allow-remote" in capsys.readouterr().err
