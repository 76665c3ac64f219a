"""proctoring rescore: an exam of a run folder judged again by the rescore state machine, in
process, from the analyses the first run kept."""

from __future__ import annotations

import json

import pytest

from proctoring_local.__main__ import main
from proctoring_local.services.rescore import plans, rescore_folder
from proctoring_local.services.run.workers import run_folder
from tests.builders import build_exam

IMAGE_STEPS = ("CompareToReferenceFunction", "DetectFacesFunction", "DetectLabelsFunction")


@pytest.fixture
def judged(tmp_path):
    """exam1: ana and ben, two captures each, all OK (one frontal face matching at 99.0)."""
    build_exam(tmp_path)
    report = run_folder(tmp_path, workers=1, progress=False, analyzer_factory="tests.fakes:one_face_analyzer")
    assert {outcome.status for outcome in report.outcomes} == {"OK"}
    return tmp_path


def statuses(root):
    return {
        path.relative_to(root / "results").as_posix(): json.loads(path.read_text())["status"]
        for path in sorted((root / "results").rglob("*.json"))
    }


def test_a_raised_threshold_rejudges_every_capture_from_its_stored_analysis(judged):
    summary = rescore_folder(judged, "exam1", overrides={"SIMILARITY_THRESHOLD": "99.5"})
    assert summary["captures"] == summary["rejudged"] == 4
    assert summary["changes"] == {"OK -> ALERT": 4}
    assert set(statuses(judged).values()) == {"ALERT"}
    assert not any(summary["invocations"].get(step) for step in IMAGE_STEPS)  # nothing analysed again
    assert plans(summary["invocations"]) == {"reuse": 4, "compare": 0, "analyse": 0}
    documents = [json.loads((judged / f"results/exam1/ana/c{i}.json").read_text()) for i in (0, 1)]
    # Counted as always, numbered in the order the run judged them (not capture order: see docs/rescore.md).
    assert sorted(document["alert_count"] for document in documents) == [1, 2]
    assert {document["rejudged"]["previous_status"] for document in documents} == {"OK"}


def test_a_run_for_one_student_leaves_the_others_as_they_were(judged):
    summary = rescore_folder(judged, "exam1", students=["ben"], overrides={"SIMILARITY_THRESHOLD": "99.5"})
    assert summary["captures"] == summary["rejudged"] == 2
    assert statuses(judged) == {
        "exam1/ana/c0.json": "OK",
        "exam1/ana/c1.json": "OK",
        "exam1/ben/c0.json": "ALERT",
        "exam1/ben/c1.json": "ALERT",
    }


def test_the_command_prints_the_rate_what_was_reused_and_the_cost_on_aws(judged, capsys):
    command = ["rescore", str(judged), "--exam", "exam1", "--set", "SIMILARITY_THRESHOLD=99.5"]
    assert main(command) == 0
    out = capsys.readouterr().out
    assert "re-scored 4 capture(s) of exam exam1 in" in out and "captures/s" in out
    assert "analyses reused 4, compared again 0, analysed again 0" in out
    assert "exam1/ana/c0.jpg: OK -> ALERT FACE_MISMATCH" in out
    assert "on AWS, 10,000 captures like these: 6.0 transitions a capture" in out and "Rekognition $0.00" in out


def test_a_setting_a_rescore_may_not_change_stops_it_before_any_capture(judged, capsys):
    before = statuses(judged)
    assert main(["rescore", str(judged), "--exam", "exam1", "--set", "MIN_CONFIDENCE=10"]) == 2
    assert "InvalidRescoreRequest: a re-score can set only the verdict's settings" in capsys.readouterr().err
    assert statuses(judged) == before
    assert main(["rescore", str(judged), "--exam", "exam9"]) == 2
    assert "no capture under" in capsys.readouterr().err


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo exam (real portraits, the offline analyzer, the window reasons), judged once."""
    from proctoring_local.services.demo_exam import build_demo

    root = tmp_path_factory.mktemp("demo")
    build_demo(root)
    assert run_folder(root, workers=1, progress=False).complete
    return root


def _copy(source, target):
    import shutil

    shutil.copytree(source, target, copy_function=shutil.copy2)  # times kept: they are the captures'
    return target


def _documents(root) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted((root / "results").rglob("*.json"))}


@pytest.mark.slow
def test_a_rescore_that_changes_no_setting_writes_and_sends_nothing(demo, tmp_path):
    from proctoring_local.stand_ins.webhook_receiver import WebhookReceiver
    from tests.builders import WEBHOOK_SECRET

    root = _copy(demo, tmp_path / "demo")
    before = _documents(root)
    with WebhookReceiver(secret=WEBHOOK_SECRET) as receiver:
        summary = rescore_folder(root, "demo_exam", webhook=receiver.url, secret=WEBHOOK_SECRET)
    assert summary["captures"] == 22 and summary["changes"] == {} and summary["rejudged"] == 0
    assert _documents(root) == before  # byte for byte: the window reasons judged again on their own times
    assert receiver.distinct() == [] and receiver.requests == 0


@pytest.mark.slow
def test_a_rescore_with_another_window_setting_gives_what_a_fresh_run_gives(demo, tmp_path, monkeypatch):
    rescored = _copy(demo, tmp_path / "rescored")
    summary = rescore_folder(rescored, "demo_exam", overrides={"SUSTAINED_MIN": "2"})
    assert summary["changes"] == {"OK -> ALERT": 1}  # dana's second glance: two of three now
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    for folder in ("images", "reference"):
        _copy(demo / folder, fresh / folder)
    monkeypatch.setenv("SUSTAINED_MIN", "2")
    assert run_folder(fresh, workers=1, progress=False).complete

    def reasons(root):
        return {
            path.relative_to(root / "results").as_posix(): [r["code"] for r in json.loads(path.read_text())["reasons"]]
            for path in sorted((root / "results").rglob("*.json"))
        }

    assert reasons(rescored) == reasons(fresh)
    assert reasons(rescored)["demo_exam/dana/03_glance.json"] == ["LOOKING_AWAY_SUSTAINED"]
