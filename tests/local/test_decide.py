"""proctoring decide on a run folder: the decision state machine applies the decision in process,
and the next run counts what stands."""

from __future__ import annotations

import json

import pytest

from proctoring_local.__main__ import main
from proctoring_local.services.run.workers import run_folder
from tests.builders import synthetic_jpeg

ANALYZER = "tests.fakes:alert_by_name_analyzer"  # a capture named *_alert* shows no face


def capture(root, index: int) -> str:
    key = f"images/exam1/ana/c{index}_alert.jpg"
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(synthetic_jpeg(index))
    return key


def document(root, index: int) -> dict:
    return json.loads((root / f"results/exam1/ana/c{index}_alert.json").read_text())


@pytest.fixture
def two_alerts(tmp_path):
    (tmp_path / "reference").mkdir()
    (tmp_path / "reference" / "ana.jpg").write_bytes(synthetic_jpeg(100))
    keys = [capture(tmp_path, index) for index in (0, 1)]
    run_folder(tmp_path, workers=1, progress=False, analyzer_factory=ANALYZER)
    assert [document(tmp_path, i)["status"] for i in (0, 1)] == ["ALERT", "ALERT"]
    return tmp_path, keys


def test_dismissing_one_of_two_alerts_on_a_folder(two_alerts, capsys):
    root, keys = two_alerts
    command = ["decide", str(root), keys[0], "--dismiss", "--by", "Dr. Rivera", "--reason", "lighting, not absence"]
    assert main(command) == 0
    assert "standing alerts: 1" in capsys.readouterr().out
    for index in (2, 3):
        capture(root, index)
    run_folder(root, workers=1, progress=False, analyzer_factory=ANALYZER)

    assert [document(root, i)["status"] for i in range(4)] == ["ALERT", "ALERT", "ALERT", "ALERT_FINAL"]
    dismissed = document(root, 0)
    assert dismissed["status"] == "ALERT"
    assert [(d["action"], d["by"]) for d in dismissed["decisions"]] == [("dismiss", "Dr. Rivera")]
    audit = [json.loads(path.read_text()) for path in (root / "audit").rglob("*.json")]
    assert [entry["kind"] for entry in audit].count("decision") == 1
    assert [entry["kind"] for entry in audit].count("verdict") == 4

    # The same decision again: nothing changes.
    before = (root / "results/exam1/ana/c0_alert.json").read_bytes()
    assert main(command) == 0
    assert "already recorded" in capsys.readouterr().out
    assert (root / "results/exam1/ana/c0_alert.json").read_bytes() == before


def test_a_decision_about_a_missing_capture_or_without_a_person_is_refused(two_alerts, capsys):
    root, keys = two_alerts
    before = {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}
    missing = ["decide", str(root), "images/exam1/ana/c9.jpg", "--dismiss", "--by", "X", "--reason", "r"]
    assert main(missing) == 2
    assert "no capture images/exam1/ana/c9.jpg" in capsys.readouterr().err
    nobody = ["decide", str(root), keys[0], "--dismiss", "--by", " ", "--reason", "r"]
    assert main(nobody) == 2
    assert "names no person" in capsys.readouterr().err
    after = {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}
    assert after == before
