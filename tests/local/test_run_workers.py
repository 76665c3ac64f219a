"""The worker processes: order per student, interruption, crashes, repeat runs."""

from __future__ import annotations

import json
import multiprocessing
import signal
import threading

from proctoring_local.__main__ import main
from proctoring_local.services.run.captures import CaptureOutcome, process_capture
from proctoring_local.services.run.process import drain_groups
from proctoring_local.services.run.summary import RunReport, print_summary
from proctoring_local.services.run.workers import run_folder
from tests.builders import build_exam, synthetic_jpeg
from tests.fakes import FACTORY


def _run_with(monkeypatch, factory: str, exam) -> int:
    import proctoring_local.commands.run as runner

    def run_folder(root, real_run_folder=runner.run_folder, **options):
        return real_run_folder(root, **options, analyzer_factory=factory)

    monkeypatch.setattr(runner, "run_folder", run_folder)
    return main(["run", str(exam), "--workers", "1", "--no-progress"])


def test_a_worker_waits_while_another_reads_the_task_queue():
    # Another process reading holds the queue's reader lock; a worker that took that for an
    # empty queue would stop before doing any of the work.
    import multiprocessing

    tasks = multiprocessing.get_context("spawn").Queue()
    for group in (["a/1", "a/2"], ["b/1"]):
        tasks.put(group)
    tasks.put(None)
    handled: list[str] = []
    with tasks._rlock:  # as a reader in another process would
        worker = threading.Thread(target=drain_groups, args=(tasks, handled.append))
        worker.start()
        worker.join(0.3)
        assert worker.is_alive(), "the worker gave up while the queue was being read"
    worker.join(10)
    assert handled == ["a/1", "a/2", "b/1"]


def test_a_capture_the_runner_cannot_process_is_reported_not_raised(tmp_path, capsys):
    # The file vanished between listing and processing: reported for that capture only.
    outcome = process_capture(None, None, tmp_path, "images/e/u/[gone].jpg", {})
    assert (outcome.status, outcome.execution) == ("MISSING", "RUNNER_ERROR")
    assert outcome.reason.startswith("FileNotFoundError")

    report = RunReport(root=tmp_path, outcomes=[outcome, CaptureOutcome("images/e/u/ok.jpg", "OK", "SUCCEEDED")])
    assert not report.complete
    print_summary(report)
    assert "no result document for images/e/u/[gone].jpg: RUNNER_ERROR FileNotFoundError" in capsys.readouterr().out


def test_students_run_at_once_keep_each_students_order(tmp_path, monkeypatch):
    """--in-flight runs several students in one worker; each student's alerts still count 1, 2, 3...
    in file-name order, and the third is the one escalated."""
    build_exam(tmp_path, ("ana", "ben", "cy"), captures=5, name="c{index}_alert.jpg")
    import proctoring_local.commands.run as runner

    seen = {}

    def run_folder(root, real_run_folder=runner.run_folder, **options):
        seen.update(options)  # the command line's options, run with an analyzer that alerts on "_alert"
        return real_run_folder(root, **options, analyzer_factory="tests.fakes:alert_by_name_analyzer")

    monkeypatch.setattr(runner, "run_folder", run_folder)
    assert main(["run", str(tmp_path), "--workers", "1", "--in-flight", "3", "--no-progress"]) == 0
    assert (seen["workers"], seen["in_flight"]) == (1, 3)
    for user in ("ana", "ben", "cy"):
        documents = [
            json.loads((tmp_path / "results" / "exam1" / user / f"c{index}_alert.json").read_text())
            for index in range(5)
        ]
        assert [document["alert_count"] for document in documents] == [1, 2, 3, 4, 5]
        assert [document["status"] for document in documents] == ["ALERT", "ALERT", "ALERT_FINAL", "ALERT", "ALERT"]


def test_a_worker_killed_mid_run_is_reported_without_a_traceback(exam, monkeypatch, capsys):
    import proctoring_local.commands.run as runner

    (exam / "images" / "exam1" / "ben" / "kill.jpg").write_bytes(synthetic_jpeg(8))

    def run_folder(root, real_run_folder=runner.run_folder, **options):
        return real_run_folder(root, **options, analyzer_factory="tests.fakes:dying_analyzer")

    monkeypatch.setattr(runner, "run_folder", run_folder)
    assert main(["run", str(exam), "--workers", "1", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "error: a worker stopped early (killed by SIGKILL, perhaps for memory: try --workers 1)" in err
    assert "run the same command again to finish the rest" in err
    done = int(err.split(" of 6 captures")[0].rsplit(" ", 1)[1])
    assert done == len(list(exam.glob("results/**/*.json"))) < 6  # what was done stands


def test_ctrl_c_finishes_the_capture_in_progress_then_stops(exam, monkeypatch, capsys):
    (exam / "images" / "exam1" / "ben" / "interrupt.jpg").write_bytes(synthetic_jpeg(8))
    previous = signal.getsignal(signal.SIGINT)

    assert _run_with(monkeypatch, "tests.fakes:ctrl_c_analyzer", exam) == 130
    err = capsys.readouterr().err
    assert "interrupted: finishing the captures in progress (Ctrl-C again to stop at once)" in err
    assert "run the same command again to finish the rest" in err
    assert "Traceback" not in err  # the worker ignored its own SIGINT
    done = int(err.split(" of 6 captures")[0].rsplit(" ", 1)[1])
    written = sorted(path.name for path in exam.glob("results/**/*.json"))
    assert "interrupt.json" in written  # the capture in progress was finished, not cut short
    assert done == len(written) < 6
    assert not list(exam.glob("results/exam1/ana/*.json"))  # ana's captures, still queued, waited
    assert multiprocessing.active_children() == []
    assert signal.getsignal(signal.SIGINT) is previous  # the runner's handler is gone again


def test_a_second_ctrl_c_stops_at_once(exam, monkeypatch, capsys):
    (exam / "images" / "exam1" / "ben" / "interrupt.jpg").write_bytes(synthetic_jpeg(8))

    assert _run_with(monkeypatch, "tests.fakes:ctrl_c_twice_analyzer", exam) == 130
    err = capsys.readouterr().err
    assert "interrupted, stopped at once:" in err
    assert "Traceback" not in err
    # The capture in progress (a minute of analysis left) was cut short, its worker stopped.
    assert not (exam / "results" / "exam1" / "ben" / "interrupt.json").exists()
    assert multiprocessing.active_children() == []
    # Nothing is lost: the next run finishes every capture, the interrupted one included.
    report = run_folder(exam, workers=1, progress=False, analyzer_factory=FACTORY)
    assert report.complete
    assert (exam / "results" / "exam1" / "ben" / "interrupt.json").exists()


def test_a_finished_run_leaves_its_stores_whole(exam):
    """The workers close their SQLite stores on the way out, which folds each write-ahead log into
    its file: the alert counts and analyses are in ``.proctoring/*.sqlite3`` alone, so a folder
    copied or archived after a run takes them along."""
    assert run_folder(exam, workers=2, progress=False, analyzer_factory=FACTORY).complete
    state = exam / ".proctoring"
    assert {"state.sqlite3", "analyses.sqlite3"} <= {path.name for path in state.iterdir()}
    assert sorted(path.name for path in state.iterdir() if path.name.endswith(("-wal", "-shm", "-journal"))) == []


def test_run_twice_rewrites_identical_documents(exam):
    run_folder(exam, workers=1, progress=False, analyzer_factory=FACTORY)
    first = {path: path.read_bytes() for path in (exam / "results").rglob("*.json")}
    run_folder(exam, workers=1, progress=False, analyzer_factory=FACTORY)
    second = {path: path.read_bytes() for path in (exam / "results").rglob("*.json")}
    assert first == second


def test_only_processes_the_subset(exam):
    report = run_folder(exam, only=["exam1/ben/c1.jpg"], workers=1, progress=False, analyzer_factory=FACTORY)
    assert [outcome.key for outcome in report.outcomes] == ["images/exam1/ben/c1.jpg"]
    assert [path.name for path in (exam / "results").rglob("*.json")] == ["c1.json"]
