"""proctoring reconcile on run folders the real local pipeline wrote: each way a capture can be
left without its finished document is found, and running the folder again mends every one."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta

import pytest

from proctoring.config import Settings
from proctoring.storage import LocalStorage
from proctoring_local.__main__ import main
from proctoring_local.commands.reconcile import reconcile
from proctoring_local.services.reconcile import EXECUTION_TIMEOUT, ListedCapture, check_capture, folder_captures
from proctoring_local.services.run.workers import run_folder
from proctoring_local.stand_ins.stack import LOCAL_BUCKET
from tests.builders import ROOT, build_exam, synthetic_jpeg
from tests.fakes import FACTORY


def states(root, **options):
    checks = reconcile(LocalStorage(root), LOCAL_BUCKET, folder_captures(root, "images/"), Settings(), **options)
    return {check.key: check.state for check in checks}


def rewrite(path, **changes):
    document = json.loads(path.read_text())
    document.update(changes)
    path.write_text(json.dumps(document))


@pytest.fixture
def judged(tmp_path):
    """exam1: ana and ben with two captures each, all judged by the local pipeline."""
    build_exam(tmp_path)
    report = run_folder(tmp_path, workers=1, progress=False, analyzer_factory=FACTORY)
    assert report.complete
    return tmp_path


def test_a_folder_the_runner_finished_is_all_done(judged, capsys):
    assert set(states(judged).values()) == {"done"}
    assert len(states(judged)) == 4
    assert main(["reconcile", str(judged)]) == 0
    out = capsys.readouterr().out
    assert "┃ exam  ┃ captures ┃ done ┃ in progress ┃\n" in out
    assert "│ exam1 │        4 │    4 │           0 │\n" in out


def test_each_broken_promise_is_found_and_a_second_run_mends_them(judged, capsys):
    results = judged / "results" / "exam1"
    (results / "ana" / "c0.json").unlink()  # the execution never ran
    (judged / "images" / "exam1" / "ana" / "c1.jpg").write_bytes(synthetic_jpeg(55))  # uploaded again
    stalled = (datetime.now(UTC) - EXECUTION_TIMEOUT - timedelta(minutes=1)).isoformat()
    rewrite(results / "ben" / "c0.json", notification={"status": "pending"}, processed_at=stalled)
    failure = {"name": "States.TaskFailed", "message": "the analyzer broke"}
    rewrite(results / "ben" / "c1.json", status="ERROR", reason="PROCESSING_FAILED", error=failure)

    assert states(judged) == {
        "images/exam1/ana/c0.jpg": "missing",
        "images/exam1/ana/c1.jpg": "stale",
        "images/exam1/ben/c0.jpg": "stuck",
        "images/exam1/ben/c1.jpg": "failed",
    }
    assert main(["reconcile", str(judged)]) == 1
    captured = capsys.readouterr()
    # A column for each problem some capture has, and none for the others.
    assert "│ exam1 │        4 │    0 │           0 │       1 │     1 │     1 │      1 │" in captured.out
    assert "undelivered" not in captured.out
    assert "missing (1):\n  images/exam1/ana/c0.jpg: no document at results/exam1/ana/c0.json" in captured.out
    assert "stale (1):\n  images/exam1/ana/c1.jpg: the document judged an earlier upload of this key" in captured.out
    assert "failed (1):\n  images/exam1/ben/c1.jpg: States.TaskFailed: the analyzer broke" in captured.out
    assert f"4 capture(s) need processing again: `proctoring run {judged}` does it" in captured.err

    # What the message says to do does it.
    assert run_folder(judged, workers=1, progress=False, analyzer_factory=FACTORY).complete
    assert set(states(judged).values()) == {"done"}
    assert main(["reconcile", str(judged)]) == 0


def test_a_pending_delivery_within_the_execution_timeout_is_in_progress(judged):
    document = judged / "results" / "exam1" / "ana" / "c0.json"
    recent = (datetime.now(UTC) - EXECUTION_TIMEOUT + timedelta(minutes=5)).isoformat()
    rewrite(document, notification={"status": "pending"}, processed_at=recent)
    assert states(judged)["images/exam1/ana/c0.jpg"] == "in_progress"
    assert main(["reconcile", str(judged)]) == 0


def test_an_upload_younger_than_settle_is_in_progress_not_missing(judged):
    fresh = judged / "images" / "exam1" / "ana" / "c9.jpg"
    fresh.write_bytes(synthetic_jpeg(9))
    assert states(judged)["images/exam1/ana/c9.jpg"] == "missing"
    assert states(judged, settle=timedelta(minutes=15))["images/exam1/ana/c9.jpg"] == "in_progress"
    an_hour_ago = time.time() - 3600
    os.utime(fresh, (an_hour_ago, an_hour_ago))
    assert states(judged, settle=timedelta(minutes=15))["images/exam1/ana/c9.jpg"] == "missing"
    assert main(["reconcile", str(judged), "--settle", "15"]) == 1


def test_a_document_claimed_under_another_name_is_found(tmp_path):
    # c1.jpg and c1.JPG both name c1.json: one of them has its document under c1.JPG.json.
    build_exam(tmp_path, users=("ana",), captures=0)
    for name, seed in (("c1.jpg", 1), ("c1.JPG", 2)):
        path = tmp_path / "images" / "exam1" / "ana" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(synthetic_jpeg(seed))
    assert run_folder(tmp_path, workers=1, progress=False, analyzer_factory=FACTORY).complete
    checks = reconcile(LocalStorage(tmp_path), LOCAL_BUCKET, folder_captures(tmp_path, "images/"), Settings())
    assert {check.state for check in checks} == {"done"}
    # Which one keeps the plain name depends on which was written first; the other has its own name.
    places = {check.key.rpartition("/")[2]: check.result_key.rpartition("/")[2] for check in checks}
    assert sorted(places.values()) in (["c1.JPG.json", "c1.json"], ["c1.jpg.json", "c1.json"])
    assert all(place in ("c1.json", f"{capture}.json") for capture, place in places.items())


def test_a_key_outside_the_convention_is_checked_at_its_invalid_result(judged):
    (judged / "images" / "stray.jpg").write_bytes(synthetic_jpeg(3))
    assert states(judged)["images/stray.jpg"] == "missing"
    assert run_folder(judged, workers=1, progress=False, analyzer_factory=FACTORY).complete
    check = check_capture(
        LocalStorage(judged),
        LOCAL_BUCKET,
        next(item for item in folder_captures(judged, "images/") if item.key == "images/stray.jpg"),
        Settings(),
        now=datetime.now(UTC),
        settle=timedelta(0),
    )
    assert (check.state, check.status, check.result_key) == ("done", "ERROR", "results/_invalid/stray.jpg.json")


def test_a_document_about_other_bytes_than_the_listing_gives_is_stale(judged):
    listed = next(iter(folder_captures(judged, "images/")))
    other = ListedCapture(listed.key, "0" * 32, listed.modified - timedelta(hours=1))
    storage = LocalStorage(judged)
    check = check_capture(storage, LOCAL_BUCKET, other, Settings(), now=datetime.now(UTC), settle=timedelta(0))
    assert check.state == "stale"
    # ...unless the upload is too recent for its execution to have finished.
    recent = check_capture(storage, LOCAL_BUCKET, other, Settings(), now=other.modified, settle=timedelta(minutes=1))
    assert recent.state == "in_progress"


def test_json_lists_every_capture(judged, capsys):
    (judged / "results" / "exam1" / "ben" / "c1.json").unlink()
    assert main(["reconcile", str(judged), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["exam1"] == {"captures": 4, "done": 3, "OK": 3, "missing": 1}
    assert {item["key"]: item["state"] for item in report["captures"]}["images/exam1/ben/c1.jpg"] == "missing"


def test_the_execution_timeout_is_the_state_machines():
    definition = json.loads((ROOT / "statemachine" / "proctoring.asl.json").read_text())
    assert timedelta(seconds=definition["TimeoutSeconds"]) == EXECUTION_TIMEOUT


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "arn:aws:states:us-east-1:123456789012:stateMachine:p"], "--start needs s3://BUCKET"),
        ([], "has no images/ folder"),
    ],
)
def test_usage_errors(tmp_path, capsys, args, message):
    assert main(["reconcile", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("target", ["s3://", "s3://bucket/images"])
def test_a_bucket_target_is_a_bucket_name(capsys, target):
    assert main(["reconcile", target]) == 2
    assert f"expected s3://BUCKET, got {target!r}" in capsys.readouterr().err


def test_a_negative_settle_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["reconcile", str(tmp_path), "--settle", "-1"])
    assert exited.value.code == 2
    assert "must be 0 or more" in capsys.readouterr().err


def test_output_piped_into_a_reader_that_stops_early_ends_quietly(tmp_path):
    # `proctoring reconcile DIR --json | head -1`: the reader closes the pipe after one line,
    # while the writer is still blocked on a full pipe (700 captures' states are over its 64 KB).
    import subprocess
    import sys

    student = tmp_path / "images" / "exam1" / "ana"
    student.mkdir(parents=True)
    for index in range(700):
        (student / f"capture_{index:04d}.jpg").write_bytes(b"not judged yet")
    command = [sys.executable, "-m", "proctoring_local", "reconcile", str(tmp_path), "--json"]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout.readline() == b"{\n"
        process.stdout.close()
        stderr = process.stderr.read().decode()
    assert process.returncode == 141
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr


def test_a_bucket_nobody_answers_for_is_a_usage_error(unreachable_aws, monkeypatch, capsys):
    import boto3

    refused = unreachable_aws("s3")  # built before boto3.client is replaced by what returns it
    monkeypatch.setattr(boto3, "client", lambda service, **options: refused)
    assert main(["reconcile", "s3://captures"]) == 2
    assert "error: s3://captures: Could not connect to the endpoint URL" in capsys.readouterr().err
