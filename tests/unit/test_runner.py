"""The local runner (python -m dev run) and the interactive menu, on small folders."""

from __future__ import annotations

import json
import multiprocessing
import os
import shlex
import signal
import threading
import unicodedata
from collections import Counter

import pytest

from dev.__main__ import main
from dev.runner import (
    CaptureOutcome,
    RunReport,
    UsageError,
    drain_groups,
    find_captures,
    print_summary,
    process_capture,
    run_folder,
    this_python,
)
from tests.conftest import build_exam, synthetic_jpeg
from tests.fakes import RekognitionEndpoint

FACTORY = "tests.fakes:one_face_analyzer"
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


@pytest.fixture
def exam(tmp_path):
    build_exam(tmp_path)
    (tmp_path / "images" / "stray.jpg").write_bytes(synthetic_jpeg(9))
    return tmp_path


def test_missing_folder_is_a_usage_error(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope"), "--no-progress"]) == 2
    assert "folder not found" in capsys.readouterr().err


def test_folder_without_images_is_a_usage_error(tmp_path, capsys):
    assert main(["run", str(tmp_path), "--no-progress"]) == 2
    assert "has no images/ folder" in capsys.readouterr().err


def test_pointing_at_the_images_folder_names_the_run_folder(exam, capsys):
    assert main(["run", str(exam / "images"), "--no-progress"]) == 2
    assert f"python -m dev run {exam}\n" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("inside", "only"),
    [("exam1/ana/c0.jpg", "exam1/ana/c0.jpg"), ("exam1/ana", "exam1/ana/*"), ("exam1", "exam1/*")],
)
def test_pointing_inside_images_suggests_only(exam, capsys, inside, only):
    assert main(["run", str(exam / "images" / inside), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"python -m dev run {exam} --only {shlex.quote(only)}" in err
    assert ("is a file" in err) == inside.endswith(".jpg")
    # and the suggested command does run exactly that part
    assert find_captures(exam, [only]) == sorted(
        key for key in find_captures(exam) if key.startswith(f"images/{inside}")
    )


def test_menu_pointed_inside_images_names_the_run_folder(exam, capsys):
    assert main(["menu", str(exam / "images" / "exam1")]) == 2
    assert f"python -m dev menu {exam}\n" in capsys.readouterr().err


def test_empty_images_folder_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "images").mkdir()
    assert main(["run", str(tmp_path), "--no-progress"]) == 2
    assert "no images found" in capsys.readouterr().err


def test_only_that_matches_nothing_is_a_usage_error(exam, capsys):
    assert main(["run", str(exam), "--only", "exam9/*", "--no-progress"]) == 2
    assert "matches 'exam9/*'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example.com/hook", "only allowed on localhost"),
        ("http://localhost:notaport/hook", "Port could not be cast to integer"),
        ("http://localhost:99999/hook", "Port out of range"),
        ("https:///hook", "an http(s) URL with a host"),
        ("localhost:8765", "an http(s) URL with a host"),
    ],
)
def test_a_webhook_url_that_cannot_work_is_a_usage_error(exam, capsys, url, message):
    assert main(["run", str(exam), "--webhook", url, "--no-progress"]) == 2
    assert message in capsys.readouterr().err
    assert not (exam / "results").exists()


@pytest.mark.parametrize("command", ["run", "menu"])
def test_a_remote_webhook_is_not_signed_with_the_public_development_key(exam, capsys, monkeypatch, command):
    monkeypatch.delenv("PROCTORING_WEBHOOK_SECRET", raising=False)
    assert main([command, str(exam), "--webhook", "https://proctor.example.edu/hook"]) == 2
    assert "give the receiver's signing key with --webhook-secret" in capsys.readouterr().err
    assert not (exam / "results").exists()


@pytest.mark.parametrize(
    ("url", "secret", "refused"),
    [
        ("https://proctor.example.edu/hook", "", True),
        ("https://proctor.example.edu/hook", "the-receivers-key", False),
        ("http://127.0.0.1:8765/hook", "", False),  # python -m dev webhook checks with the same default
        ("https://localhost/hook", "", False),
        (None, "", False),
    ],
)
def test_only_a_loopback_receiver_may_use_the_default_key(url, secret, refused):
    from dev.checks import check_webhook_secret

    if refused:
        with pytest.raises(UsageError, match="development key is public"):
            check_webhook_secret(url, secret_given=bool(secret))
    else:
        check_webhook_secret(url, secret_given=bool(secret))


def test_cli_exit_code_is_one_when_the_webhook_refused_the_documents(exam, capsys, monkeypatch):
    import dev.runner as runner
    from dev.webhook import WebhookReceiver

    original = runner.run_folder
    monkeypatch.setattr(runner, "run_folder", lambda root, **kw: original(root, **{**kw, "analyzer_factory": FACTORY}))
    # The receiver holds another key: it answers 401, which is not retried.
    with WebhookReceiver(secret="the receiver's key") as receiver:
        code = main(["run", str(exam), "--webhook", receiver.url, "--webhook-secret", "another key", "--no-progress"])
    assert code == 1
    captured = capsys.readouterr()
    said = " ".join(captured.out.split())
    assert "webhook delivery failed for images/exam1/ana/c0.jpg: WebhookRejected: HTTP 401" in said
    assert "does it use the same secret as --webhook-secret?" in said
    assert "some webhook deliveries failed" in captured.err
    document = json.loads((exam / "results/exam1/ana/c0.json").read_text())
    assert (document["status"], document["notification"]["status"]) == ("OK", "failed")  # the verdict stands
    assert receiver.requests == 5 and receiver.deliveries == []  # one try each: a 401 is final


def test_a_results_folder_that_cannot_be_written_is_a_usage_error(exam, capsys):
    (exam / "results").write_text("a file where the results folder should be")
    assert main(["run", str(exam), "--no-progress"]) == 2
    assert f"cannot write into {exam / 'results'}" in capsys.readouterr().err


def test_a_damaged_state_file_is_a_usage_error_that_says_what_to_do(exam, capsys):
    state = exam / ".proctoring" / "state.sqlite3"
    state.parent.mkdir()
    state.write_bytes(b"half a copy")
    assert main(["run", str(exam), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"the run's state file {state} is damaged (file is not a database); move it away" in err
    assert not (exam / "results" / "exam1").exists()  # stopped before any capture


def test_a_webhook_nobody_listens_on_is_a_usage_error(exam, capsys, unused_port):
    port = unused_port
    assert main(["run", str(exam), "--webhook", f"http://127.0.0.1:{port}/hook", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"cannot connect to 127.0.0.1:{port}" in err and "python -m dev webhook" in err
    assert not (exam / "results").exists()


def test_a_bad_threshold_in_the_environment_stops_the_run_with_its_name(exam, monkeypatch, capsys):
    monkeypatch.setenv("SIMILARITY_THRESHOLD", "150")
    assert main(["run", str(exam), "--no-progress"]) == 2
    assert "SIMILARITY_THRESHOLD must be between 0 and 100" in capsys.readouterr().err
    assert not (exam / "results").exists()  # stopped before any worker started


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "DIR", "--analyzer", "magic"], "invalid choice: 'magic'"),
        (["run", "DIR", "--workers", "0"], "must be at least 1, got 0"),
        (["run", "DIR", "--workers", "two"], "expected a whole number, got 'two'"),
        (["run", "DIR", "--only", " "], "expected a capture's path or a glob such as 'exam1/ana/*', got nothing"),
        (["bench", "-n", "-5"], "must be at least 1, got -5"),
        (["bench", "--size", "abc"], "expected WIDTHxHEIGHT such as 640x480, got 'abc'"),
        (["bench", "--size", "60x60"], "each side must be between 80 and 8000 px, got '60x60'"),
        (["webhook", "--port", "99999"], "expected a port number from 1 to 65535, got '99999'"),
    ],
)
def test_bad_options_are_refused_by_the_parser(exam, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        main([str(exam) if arg == "DIR" else arg for arg in args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


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


def test_the_summary_names_the_first_twenty_of_each_problem_and_counts_the_rest(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    outcomes = [
        CaptureOutcome(f"images/e/u/{n:02d}.jpg", "MISSING", "RUNNER_ERROR", "OSError: gone") for n in range(25)
    ]
    outcomes += [CaptureOutcome("images/e/v/ok.jpg", "OK", "SUCCEEDED", "", "WebhookRejected: HTTP 401")]
    outcomes += [
        CaptureOutcome(f"images/e/s{n:02d}/c.jpg", "ALERT", "SUCCEEDED", codes=("REFERENCE_MISSING",))
        for n in range(23)
    ]
    outcomes += [
        CaptureOutcome(
            f"images/e/t{n:02d}/c.jpg",
            "ALERT",
            "SUCCEEDED",
            codes=("REFERENCE_INVALID",),
            reference_problem=f"reference/t{n:02d}.jpg has no face",
        )
        for n in range(23)
    ]
    print_summary(RunReport(root=tmp_path, outcomes=outcomes))
    out = capsys.readouterr().out
    assert out.count("no result document for images/e/u/") == 20
    assert "... and 5 more without a result document" in out
    [missing] = [line for line in out.splitlines() if line.startswith("No reference photo")]
    assert missing.endswith(f"for 23 student(s): {', '.join(f's{n:02d}' for n in range(20))} and 3 more")
    assert "Reference photo unusable for 23 student(s):" in out and "\n  and 3 more\n" in out
    assert "webhook delivery failed for images/e/v/ok.jpg: WebhookRejected: HTTP 401" in out
    assert "FAILED" not in out


def _table_rows(out: str) -> dict[str, list[str]]:
    """The summary table's cells, by the row's first cell (the header row under "exam")."""
    rows = {}
    for line in out.splitlines():
        cells = [cell.strip() for cell in line.strip("│┃").replace("┃", "│").split("│")]
        if len(cells) > 2 and cells[0]:
            rows[cells[0]] = cells
    return rows


def test_every_row_of_the_summary_adds_up(tmp_path, capsys, monkeypatch):
    """Captures without a verdict (no document, or not matched by the upload rule) get their own
    columns, shown only when there are some, so that each row's statuses add up to its captures."""
    monkeypatch.setenv("COLUMNS", "200")
    outcomes = [
        CaptureOutcome("images/e/u/a.jpg", "OK", "SUCCEEDED"),
        CaptureOutcome("images/e/u/b.jpg", "MISSING", "NOT_RUN", "rename it"),
        CaptureOutcome("images/e/u/c.txt", "NOT_MATCHED", "NOT_MATCHED"),
        CaptureOutcome("images/e/u/d.jpg", "ALERT", "SUCCEEDED"),
    ]
    print_summary(RunReport(root=tmp_path, outcomes=outcomes))
    rows = _table_rows(capsys.readouterr().out)
    assert rows["exam"][2:] == ["captures", "OK", "ALERT", "ALERT_FINAL", "ERROR", "missing", "unmatched"]
    assert rows["e"][2:] == ["4", "1", "1", "0", "0", "1", "1"]
    assert rows["total"][2:] == rows["e"][2:]

    print_summary(RunReport(root=tmp_path, outcomes=[outcomes[0], outcomes[3]]))
    rows = _table_rows(capsys.readouterr().out)
    assert rows["exam"][2:] == ["captures", "OK", "ALERT", "ALERT_FINAL", "ERROR"]  # none without a verdict


def test_students_run_at_once_keep_each_students_order(tmp_path, monkeypatch):
    """--in-flight runs several students in one worker; each student's alerts still count 1, 2, 3...
    in file-name order, and the third is the one escalated."""
    build_exam(tmp_path, ("ana", "ben", "cy"), captures=5, name="c{index}_alert.jpg")
    import dev.runner as runner

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


def test_the_folders_follow_the_prefix_settings(tmp_path, monkeypatch, capsys):
    """A folder synced from a bucket laid out with other prefixes runs as the bucket would."""
    for name, value in {"IMAGES_PREFIX": "captures/2026", "REFERENCE_PREFIX": "refs", "RESULTS_PREFIX": "out"}.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "ana.jpg").write_bytes(synthetic_jpeg(100))
    for key in ("captures/2026/exam1/ana/c0.jpg", "captures/2026/exam1/ana/c1.jpg", "captures/2026/stray.jpg"):
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_bytes(synthetic_jpeg(len(key)))
    (tmp_path / "images" / "exam1" / "ana").mkdir(parents=True)
    (tmp_path / "images" / "exam1" / "ana" / "elsewhere.jpg").write_bytes(synthetic_jpeg(7))  # not a capture here

    report = run_folder(tmp_path, workers=1, progress=False, analyzer_factory=FACTORY)

    assert [(outcome.key, outcome.status) for outcome in report.outcomes] == [
        ("captures/2026/exam1/ana/c0.jpg", "OK"),
        ("captures/2026/exam1/ana/c1.jpg", "OK"),
        ("captures/2026/stray.jpg", "ERROR"),
    ]
    document = json.loads((tmp_path / "out/exam1/ana/c0.json").read_text())
    assert document["analysis"]["reference"] == "ok"  # found under refs/
    assert json.loads((tmp_path / "out/_invalid/stray.jpg.json").read_text())["reason"] == "INVALID_KEY"
    assert not (tmp_path / "results").exists()
    assert report.by_student() == {
        ("exam1", "ana"): Counter(captures=2, OK=2),
        ("(invalid key)", ""): Counter(captures=1, ERROR=1),
    }
    print_summary(report)
    assert f"Results:{tmp_path / 'out'}" in "".join(capsys.readouterr().out.split())  # however the console wraps
    with pytest.raises(UsageError, match=r"python -m dev run .* --only 'exam1/\*'"):
        run_folder(tmp_path / "captures" / "2026" / "exam1")


def test_a_worker_killed_mid_run_is_reported_without_a_traceback(exam, monkeypatch, capsys):
    import dev.runner as runner

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


def _run_with(monkeypatch, factory: str, exam) -> int:
    import dev.runner as runner

    def run_folder(root, real_run_folder=runner.run_folder, **options):
        return real_run_folder(root, **options, analyzer_factory=factory)

    monkeypatch.setattr(runner, "run_folder", run_folder)
    return main(["run", str(exam), "--workers", "1", "--no-progress"])


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


def test_find_captures_filters_by_glob_and_path(exam):
    assert len(find_captures(exam)) == 5
    assert find_captures(exam, ["exam1/ana/*"]) == ["images/exam1/ana/c0.jpg", "images/exam1/ana/c1.jpg"]
    assert find_captures(exam, [str(exam / "images/exam1/ben/c1.jpg")]) == ["images/exam1/ben/c1.jpg"]
    with pytest.raises(UsageError):
        find_captures(exam, ["/elsewhere/x.jpg"])


def test_find_captures_takes_a_students_or_an_exams_folder(exam):
    ben = ["images/exam1/ben/c0.jpg", "images/exam1/ben/c1.jpg"]
    assert find_captures(exam, ["exam1/ben"]) == ben
    assert find_captures(exam, ["images/exam1/ben/"]) == ben
    assert find_captures(exam, [str(exam / "images/exam1/ben")]) == ben
    assert find_captures(exam, ["exam1"]) == [key for key in find_captures(exam) if key.startswith("images/exam1/")]
    with pytest.raises(UsageError, match="matches 'exam1/be'"):
        find_captures(exam, ["exam1/be"])  # a folder is matched whole, never by the start of its name


def test_find_captures_follows_linked_folders_once_and_skips_hidden_ones(exam, tmp_path_factory):
    external = tmp_path_factory.mktemp("external")
    (external / "ana").mkdir()
    (external / "ana" / "c9.jpg").write_bytes(synthetic_jpeg(9))
    (external / "ana" / "loop").symlink_to(external)  # a link back up must not recurse forever
    (exam / "images" / "exam2").symlink_to(external)
    (exam / "images" / "exam1" / ".trash").mkdir()
    (exam / "images" / "exam1" / ".trash" / "old.jpg").write_bytes(synthetic_jpeg(8))
    (exam / "images" / "exam1" / "ana" / ".DS_Store").write_bytes(b"\0")

    keys = find_captures(exam)
    assert "images/exam2/ana/c9.jpg" in keys
    assert not any("loop" in key or ".trash" in key or ".DS_Store" in key for key in keys)
    assert len(keys) == 6
    # A path given through the link is inside the folder, as it was spelled.
    assert find_captures(exam, [str(exam / "images/exam2/ana/c9.jpg")]) == ["images/exam2/ana/c9.jpg"]


def test_entries_that_are_not_files_are_named_not_passed_over(exam, capsys):
    ana = exam / "images" / "exam1" / "ana"
    (ana / "c2.jpg").symlink_to(exam / "moved-away.jpg")
    os.mkfifo(ana / "c3.jpg")
    report = run_folder(exam, workers=1, progress=False, analyzer_factory=FACTORY)
    assert report.complete and len(report.outcomes) == 5  # the real captures, each with its document
    err = capsys.readouterr().err
    assert f"note: skipped {ana / 'c2.jpg'}: a link to {exam / 'moved-away.jpg'}, which does not exist" in err
    assert f"note: skipped {ana / 'c3.jpg'}: a named pipe" in err
    # --only picks captures by name: the notes are for a whole run.
    run_folder(exam, only=["exam1/ben"], workers=1, progress=False, analyzer_factory=FACTORY)
    assert "skipped" not in capsys.readouterr().err


def test_run_writes_one_document_per_capture_mirroring_the_keys(exam):
    report = run_folder(exam, workers=2, progress=False, analyzer_factory=FACTORY)
    assert report.complete
    assert len(report.outcomes) == 5
    written = sorted(path.relative_to(exam / "results").as_posix() for path in (exam / "results").rglob("*.json"))
    assert written == [
        "_invalid/stray.jpg.json",
        "exam1/ana/c0.json",
        "exam1/ana/c1.json",
        "exam1/ben/c0.json",
        "exam1/ben/c1.json",
    ]
    table = report.by_student()
    assert table[("exam1", "ana")]["OK"] == 2
    assert table[("(invalid key)", "")]["ERROR"] == 1


def test_a_finished_run_leaves_its_stores_whole(exam):
    """The workers close their SQLite stores on the way out, which folds each write-ahead log into
    its file: the alert counts and analyses are in ``.proctoring/*.sqlite3`` alone, so a folder
    copied or archived after a run takes them along."""
    assert run_folder(exam, workers=2, progress=False, analyzer_factory=FACTORY).complete
    state = exam / ".proctoring"
    assert {"state.sqlite3", "analyses.sqlite3"} <= {path.name for path in state.iterdir()}
    assert sorted(path.name for path in state.iterdir() if path.name.endswith(("-wal", "-shm", "-journal"))) == []


def test_captures_differing_only_in_extension_keep_their_own_documents(exam, capsys):
    (exam / "images/exam1/ana/c0.png").write_bytes((exam / "images/exam1/ana/c0.jpg").read_bytes())
    (exam / "images/exam1/ana/c0.txt").write_text("camera: front")
    report = run_folder(exam, only=["exam1/ana/c0.*"], workers=1, progress=False, analyzer_factory=FACTORY)
    documents = {path.name: json.loads(path.read_text()) for path in (exam / "results/exam1/ana").glob("*.json")}
    assert {name: document["capture"] for name, document in documents.items()} == {
        "c0.json": "c0.jpg",
        "c0.png.json": "c0.png",
        "c0.txt.json": "c0.txt",
    }
    assert len(report.outcomes) == 3
    assert "share one result document" not in capsys.readouterr().err


def test_captures_the_convention_gives_one_result_name_each_get_their_own_document(exam, capsys):
    image = (exam / "images/exam1/ana/c0.jpg").read_bytes()
    for name in ("c0", "c0.JPG"):
        (exam / "images/exam1/ana" / name).write_bytes(image)
    folder = exam / "results/exam1/ana"

    report = run_folder(exam, only=["exam1/ana/c0*"], workers=1, progress=False, analyzer_factory=FACTORY)

    err = capsys.readouterr().err
    assert (
        "images/exam1/ana/c0 and images/exam1/ana/c0.JPG and images/exam1/ana/c0.jpg would share one result "
        "document, results/exam1/ana/c0.json" in err
    )
    owners = {path.name: json.loads(path.read_text())["capture"] for path in folder.glob("*.json")}
    # In the order the student's captures run (by name): the first keeps the convention's name.
    assert owners == {"c0.json": "c0", "c0.JPG.json": "c0.JPG", "c0.jpg.json": "c0.jpg"}
    assert sorted(outcome.status for outcome in report.outcomes) == ["OK", "OK", "OK"]
    before = {path.name: path.read_bytes() for path in folder.glob("*.json")}

    run_folder(exam, only=["exam1/ana/c0*"], workers=1, progress=False, analyzer_factory=FACTORY)

    # Run again, each capture finds its own document and rewrites it, identically, where it is.
    assert {path.name: path.read_bytes() for path in folder.glob("*.json")} == before


def test_a_student_folder_synced_from_a_mac_finds_the_reference_spelled_otherwise(tmp_path):
    decomposed, composed = unicodedata.normalize("NFD", "josé"), unicodedata.normalize("NFC", "josé")
    build_exam(tmp_path, users=(decomposed,), captures=1)
    (tmp_path / "reference" / f"{decomposed}.jpg").rename(tmp_path / "reference" / f"{composed}.jpg")
    report = run_folder(tmp_path, workers=1, progress=False, analyzer_factory=FACTORY)
    document = json.loads((tmp_path / "results/exam1" / decomposed / "c0.json").read_text())
    assert [outcome.status for outcome in report.outcomes] == ["OK"]
    assert document["status"] == "OK"
    assert document["analysis"]["reference"] == "ok"


def test_a_capture_put_back_as_it_was_is_the_later_upload_and_its_verdict_stands(exam):
    # Swapping a capture for another picture and back: the third run replays the first run's
    # verdict (the same bytes), and it is the one the document must hold.
    capture = exam / "images/exam1/ana/c0.jpg"
    document = exam / "results/exam1/ana/c0.json"
    original, other = capture.read_bytes(), synthetic_jpeg(77)
    etags = []
    for data in (original, other, original):
        capture.write_bytes(data)
        run_folder(exam, only=["exam1/ana/c0.jpg"], workers=1, progress=False, analyzer_factory=FACTORY)
        etags.append(json.loads(document.read_text())["object_version"]["etag"])

    assert etags[0] == etags[2] != etags[1]


def test_a_student_folder_spelled_both_ways_is_one_student_in_the_count_and_the_summary(tmp_path):
    # Two machines synced one student's captures, one composed and one decomposed; no reference
    # yet, so each capture is a counted REFERENCE_MISSING alert.
    decomposed, composed = unicodedata.normalize("NFD", "josé"), unicodedata.normalize("NFC", "josé")
    build_exam(tmp_path, users=(decomposed,), captures=2)
    build_exam(tmp_path, users=(composed,), captures=1, name="z{index}.jpg")
    for reference in (tmp_path / "reference").iterdir():
        reference.unlink()

    report = run_folder(tmp_path, workers=2, progress=False, analyzer_factory=FACTORY)

    assert list(report.by_student()) == [("exam1", composed)]
    assert report.by_student()[("exam1", composed)]["captures"] == 3
    counts = sorted(json.loads(path.read_text())["alert_count"] for path in (tmp_path / "results").rglob("*.json"))
    assert counts == [1, 2, 3]
    assert Counter(outcome.status for outcome in report.outcomes) == {"ALERT": 2, "ALERT_FINAL": 1}


def test_the_summary_names_students_without_a_reference_and_near_misses(exam, capsys):
    (exam / "reference/ana.jpg").rename(exam / "reference/Ana.jpg")
    (exam / "reference/ben.jpg").unlink()
    report = run_folder(exam, workers=1, progress=False, analyzer_factory=FACTORY)
    print_summary(report)
    out = capsys.readouterr().out
    assert f"No reference photo in {exam / 'reference'} for 2 student(s): ana, ben" in out
    assert "Ana.jpg is there, but ids are case-sensitive: name it ana.jpg" in out
    assert all("REFERENCE_MISSING" in o.codes for o in report.outcomes if o.key.startswith("images/exam1/"))


def test_the_summary_says_when_the_reference_folder_itself_is_missing(exam, capsys):
    for path in (exam / "reference").iterdir():
        path.unlink()
    (exam / "reference").rmdir()
    print_summary(run_folder(exam, workers=1, progress=False, analyzer_factory=FACTORY))
    assert f"No reference photo in {exam / 'reference'} (there is no such folder) for" in capsys.readouterr().out
    (exam / "reference").write_text("")  # a file where the folder should be
    print_summary(run_folder(exam, workers=1, progress=False, analyzer_factory=FACTORY))
    assert f"No reference photo in {exam / 'reference'} (a file, not a folder) for" in capsys.readouterr().out


def test_the_summary_names_a_reference_in_a_format_references_may_not_have(exam, capsys):
    (exam / "reference/ben.jpg").rename(exam / "reference/ben.heic")
    print_summary(run_folder(exam, workers=1, progress=False, analyzer_factory=FACTORY))
    out = capsys.readouterr().out
    assert "for 1 student(s): ben" in out
    assert "ben.heic is there, but a reference must be a .jpg, .jpeg or .png file" in out


def test_the_summary_names_each_unusable_reference_and_what_is_wrong_with_it(exam, capsys):
    (exam / "reference/ben.jpg").write_bytes(b"")
    report = run_folder(exam, workers=1, progress=False, analyzer_factory=FACTORY)
    print_summary(report)
    out = capsys.readouterr().out
    assert "Reference photo unusable for 1 student(s):" in out
    assert "  ben: The reference photo reference/ben.jpg cannot be used: the file is empty (0 bytes)." in out
    assert "ana:" not in out


def test_a_capture_whose_result_name_the_file_system_cannot_hold_is_named_not_run(exam, capsys):
    name = "a" * 251 + ".jpg"  # 255 bytes, the usual limit; its result, a*251 + ".json", is 256
    (exam / "images/exam1/ana" / name).write_bytes(synthetic_jpeg(3))
    report = run_folder(exam, workers=1, progress=False, analyzer_factory=FACTORY)
    (outcome,) = [o for o in report.outcomes if o.key.endswith(name)]
    assert (outcome.status, outcome.execution) == ("MISSING", "NOT_RUN")
    assert "would be 256 bytes, longer than this file system allows (255)" in outcome.reason
    assert not report.complete
    assert len(list((exam / "results").rglob("*.json"))) == len(report.outcomes) - 1  # the others all ran
    print_summary(report)
    assert "rename the capture" in capsys.readouterr().out


@pytest.fixture
def latin1_named_capture(exam):
    """A capture whose file name is Latin-1, not UTF-8 (``café``, copied from an old system)."""
    folder = os.fsencode(exam / "images/exam1/ana")
    try:
        with open(folder + b"/caf\xe9.jpg", "wb") as file:
            file.write(synthetic_jpeg(3))
    except OSError:
        pytest.skip("this file system refuses file names that are not UTF-8")
    return exam


def test_a_capture_whose_name_is_not_utf8_is_named_not_run(latin1_named_capture, capsys):
    exam = latin1_named_capture
    report = run_folder(exam, workers=1, progress=False, analyzer_factory=FACTORY)
    (outcome,) = [o for o in report.outcomes if "caf" in o.key]
    assert outcome.key == "images/exam1/ana/caf\\xe9.jpg"  # printable: the byte that is not UTF-8 spelled out
    assert (outcome.status, outcome.execution) == ("MISSING", "NOT_RUN")
    assert not report.complete
    assert len(list((exam / "results").rglob("*.json"))) == len(report.outcomes) - 1  # the others all ran
    print_summary(report)
    out = " ".join(capsys.readouterr().out.split())  # as one line, however the console wrapped it
    assert "caf\\xe9.jpg: NOT_RUN its name is not valid UTF-8" in out


def test_the_menu_lists_and_runs_a_folder_with_a_name_that_is_not_utf8(latin1_named_capture, monkeypatch, capsys):
    import dev.runner as runner

    original = runner.run_folder
    monkeypatch.setattr("dev.menu.run_folder", lambda root, **kw: original(root, **{**kw, "analyzer_factory": FACTORY}))
    answers = iter(["2", "1-6", "q"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    assert main(["menu", str(latin1_named_capture)]) == 0
    out = capsys.readouterr().out
    assert "images/exam1/ana/caf\\xe9.jpg" in out  # listed, then reported as not run
    assert "images/exam1/ana/c0.jpg: OK" in out  # the rest of the choice ran


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


def test_cli_exit_code_is_zero_with_alerts_and_errors(exam, capsys, monkeypatch):
    # No reference for ben: his captures alert; the stray key is an ERROR document. Still exit 0.
    (exam / "reference" / "ben.jpg").unlink()
    import dev.runner as runner

    original = runner.run_folder
    monkeypatch.setattr(runner, "run_folder", lambda root, **kw: original(root, **{**kw, "analyzer_factory": FACTORY}))
    assert main(["run", str(exam), "--no-progress", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "Proctoring results" in out
    assert "Results:" in out
    # ben's two alerts and the stray key's ERROR: where to read why.
    assert f"Why each of the 3 alert(s) and error(s): {this_python()} -m dev review {exam}" in " ".join(out.split())
    document = json.loads((exam / "results/exam1/ben/c0.json").read_text())
    assert document["reason"] == "REFERENCE_MISSING"


def test_the_interpreter_is_named_as_it_can_be_typed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.executable", str(tmp_path / ".venv" / "bin" / "python"))
    assert this_python() == ".venv/bin/python"  # what make demo creates, from the project's folder
    monkeypatch.setattr("sys.executable", "/opt/my python/bin/python3")
    assert this_python() == "'/opt/my python/bin/python3'"


def test_cli_exit_code_is_one_when_an_execution_failed_after_its_retries(exam, capsys, monkeypatch):
    # A broken step is not a verdict: the capture still has its ERROR document, but the run says so.
    (exam / "images/exam1/ana/boom.jpg").write_bytes(synthetic_jpeg(7))
    import dev.runner as runner

    original = runner.run_folder
    factory = "tests.fakes:broken_compare_analyzer"
    monkeypatch.setattr(runner, "run_folder", lambda root, **kw: original(root, **{**kw, "analyzer_factory": factory}))
    assert main(["run", str(exam), "--no-progress", "--workers", "1"]) == 1
    captured = capsys.readouterr()
    said = " ".join(captured.out.split())  # the console wraps long lines
    assert "execution FAILED for images/exam1/ana/boom.jpg: PROCESSING_FAILED (RuntimeError: the analyzer broke" in said
    assert "some executions FAILED after their retries" in captured.err
    document = json.loads((exam / "results/exam1/ana/boom.json").read_text())
    assert (document["status"], document["error"]["name"]) == ("ERROR", "RuntimeError")
    assert json.loads((exam / "results/exam1/ana/c0.json").read_text())["status"] == "OK"


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({}, "none were found"),
        ({"AWS_PROFILE": "no-such-profile"}, "cannot read AWS credentials"),
    ],
)
def test_rekognition_without_credentials_stops_before_any_capture(exam, capsys, monkeypatch, environment, message):
    for name in (*CREDENTIAL_VARIABLES, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(exam / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(exam / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert main(["run", str(exam), "--analyzer", "rekognition", "--no-progress"]) == 2
    assert message in capsys.readouterr().err
    assert not (exam / "results").exists()


@pytest.fixture
def aws_profile(tmp_path, monkeypatch):
    """An AWS configuration of the user's own: credentials, and a profile file with no region yet."""
    for name in (*CREDENTIAL_VARIABLES, "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    (tmp_path / "credentials").write_text("[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = x\n")
    (tmp_path / "config").write_text("[default]\n")
    return tmp_path / "config"


def test_rekognition_goes_to_the_region_of_the_users_profile_never_a_default(aws_profile, exam, capsys):
    from dev.checks import rekognition_region
    from dev.runner import step_environment

    # No region anywhere: refused, rather than sending students' faces to a region nobody chose.
    assert main(["run", str(exam), "--analyzer", "rekognition", "--no-progress"]) == 2
    assert "needs an AWS region" in capsys.readouterr().err
    assert not (exam / "results").exists()

    aws_profile.write_text("[default]\nregion = eu-west-1\n")
    assert rekognition_region() == "eu-west-1"
    env = step_environment(exam, "rekognition", None, "k", region=rekognition_region())
    assert env["AWS_DEFAULT_REGION"] == "eu-west-1"  # what the workers' Rekognition client uses
    # Local runs call only emulated services; their region does not matter.
    assert step_environment(exam, "local", None, "k")["AWS_DEFAULT_REGION"] == "us-east-1"


@pytest.fixture
def rekognition_endpoint(aws_profile, monkeypatch):
    """Rekognition on loopback for the user's profile (region eu-west-1)."""
    aws_profile.write_text("[default]\nregion = eu-west-1\n")
    with RekognitionEndpoint() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_REKOGNITION", endpoint.url)
        yield endpoint


def test_rekognition_refusing_the_credentials_stops_before_any_capture(rekognition_endpoint, exam, capsys):
    rekognition_endpoint.fail("ListCollections", "ExpiredTokenException")
    assert main(["run", str(exam), "--analyzer", "rekognition", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Amazon Rekognition in eu-west-1 refused your AWS credentials (ExpiredTokenException" in err
    assert rekognition_endpoint.calls == ["ListCollections"]  # one call, and no image in it
    assert not list(exam.glob("results/**/*.json"))  # no capture was processed


def test_rekognition_out_of_reach_stops_before_any_capture(
    rekognition_endpoint, exam, capsys, monkeypatch, unused_port
):
    monkeypatch.setenv("AWS_ENDPOINT_URL_REKOGNITION", f"http://127.0.0.1:{unused_port}")
    assert main(["run", str(exam), "--analyzer", "rekognition", "--no-progress"]) == 2
    assert "cannot reach Amazon Rekognition in eu-west-1 (Could not connect" in capsys.readouterr().err
    assert not list(exam.glob("results/**/*.json"))


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (  # what a credential_process hands out after an SSO session ended, say
            '{"Version": 1, "AccessKeyId": "AKIDEXAMPLE", "SecretAccessKey": "x", "SessionToken": "t", '
            '"Expiration": "2000-01-01T00:00:00Z"}',
            "your AWS credentials could not be used (RuntimeError: Credentials were refreshed, "
            "but the refreshed credentials are still expired.)",
        ),
        ("not json", "cannot read AWS credentials"),
    ],
)
def test_credentials_that_cannot_be_used_stop_before_any_capture(
    rekognition_endpoint, aws_profile, exam, capsys, output, message
):
    script = aws_profile.parent / "credentials.sh"
    script.write_text(f"#!/bin/sh\necho '{output}'\n")
    script.chmod(0o755)
    (aws_profile.parent / "credentials").write_text("")  # no static keys: the process is the source
    aws_profile.write_text(f"[default]\nregion = eu-west-1\ncredential_process = {script}\n")
    assert main(["run", str(exam), "--analyzer", "rekognition", "--no-progress"]) == 2
    assert message in " ".join(capsys.readouterr().err.split())
    assert not list(exam.glob("results/**/*.json"))


@pytest.mark.parametrize("code", ["AccessDeniedException", "ThrottlingException"])
def test_rekognition_that_answers_with_valid_credentials_passes_the_check(rekognition_endpoint, code):
    from dev.checks import check_rekognition_access

    rekognition_endpoint.fail("ListCollections", code, times=2)  # the SDK's one retry too
    check_rekognition_access("eu-west-1")  # denied this one action, or busy: the service is there
    assert set(rekognition_endpoint.calls) == {"ListCollections"}


def test_menu_picks_numbers_and_ranges_and_ignores_the_rest(monkeypatch, capsys):
    from dev.menu import _pick

    keys = [f"images/e/u/c{n}.jpg" for n in range(1, 8)]
    monkeypatch.setattr("builtins.input", lambda prompt="": "2, 4-6 9 x 3-2 5")
    assert _pick(keys, "number(s): ", many=True) == [keys[1], keys[3], keys[4], keys[5]]
    out = capsys.readouterr().out
    assert "ignoring '9'" in out and "ignoring 'x'" in out and "ignoring '3-2'" in out

    def closed(prompt=""):
        raise EOFError

    monkeypatch.setattr("builtins.input", closed)
    assert _pick(keys, "number: ", many=False) == []


def test_menu_takes_a_file_folder_or_glob_as_run_only_does(exam, monkeypatch, capsys):
    from dev.menu import _pick

    keys = find_captures(exam)
    lookup = lambda pattern: find_captures(exam, [pattern])  # noqa: E731 - what the menu passes
    monkeypatch.setattr("builtins.input", lambda prompt="": "exam1/ben 1 exam1/ana/c1.jpg nobody/*")
    chosen = _pick(keys, "number(s): ", many=True, lookup=lookup)
    assert chosen == ["images/exam1/ben/c0.jpg", "images/exam1/ben/c1.jpg", keys[0], "images/exam1/ana/c1.jpg"]
    assert "ignoring 'nobody/*'" in capsys.readouterr().out


def test_menu_lists_a_large_folder_one_line_per_student(monkeypatch, capsys):
    from dev.menu import _pick

    keys = sorted([f"images/e/s{s:02d}/c{c}.jpg" for s in range(12) for c in range(6)] + ["images/e/stray.jpg"])
    monkeypatch.setattr("builtins.input", lambda prompt="": "7-9")
    assert _pick(keys, "number(s): ", many=True) == keys[6:9]
    out = capsys.readouterr().out
    assert "1-6  images/e/s00/ (6 captures)" in out
    assert "images/e/stray.jpg" not in out and "73  images/e/ (1 capture)" in out
    assert "73 captures: give numbers, or a file, folder or glob" in out
    assert len(out.splitlines()) == 14  # 13 folders and the hint, not 73 lines


def test_menu_ranges_compress_consecutive_numbers():
    from dev.menu import _ranges

    assert _ranges([1, 2, 3, 7, 9, 10]) == "1-3, 7, 9-10"
    assert _ranges([4]) == "4"


def test_menu_reports_a_usage_error_and_stays_open(exam, monkeypatch, capsys, unused_port):
    port = unused_port
    answers = iter(["1", "1", "q"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    assert main(["menu", str(exam), "--webhook", f"http://127.0.0.1:{port}/hook"]) == 0
    assert f"error: --webhook http://127.0.0.1:{port}/hook: cannot connect" in capsys.readouterr().out


def test_ctrl_c_during_a_menu_run_returns_to_the_menu(exam, monkeypatch, capsys):
    import dev.runner as runner

    (exam / "images" / "exam1" / "ben" / "interrupt.jpg").write_bytes(synthetic_jpeg(8))
    original = runner.run_folder
    factory = "tests.fakes:ctrl_c_analyzer"
    monkeypatch.setattr("dev.menu.run_folder", lambda root, **kw: original(root, **{**kw, "analyzer_factory": factory}))
    answers = iter(["2", "1-6", "q"])  # several images, all six: one worker, ben's first
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    assert main(["menu", str(exam)]) == 0  # the menu went on to the next choice, q
    out = capsys.readouterr().out
    assert "interrupted: " in out and " of 6 captures were processed" in out


def test_menu_tests_one_image_without_its_reference(exam, monkeypatch, capsys):
    import dev.runner as runner

    original = runner.run_folder
    monkeypatch.setattr("dev.menu.run_folder", lambda root, **kw: original(root, **{**kw, "analyzer_factory": FACTORY}))
    answers = iter(["3", "1", "1", "1", "q"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    assert main(["menu", str(exam)]) == 0
    what_if = json.loads((exam / "results-without-reference/exam1/ana/c0.json").read_text())
    assert what_if["reason"] == "REFERENCE_MISSING"  # option 3 hides the reference that exists
    real = json.loads((exam / "results/exam1/ana/c0.json").read_text())
    assert real["status"] == "OK"  # ...without touching the real verdict of the same capture
    assert real["alert_count"] == 0
    out = capsys.readouterr().out
    assert "images/exam1/ana/c0.jpg: ALERT REFERENCE_MISSING" in out
    assert "images/exam1/ana/c0.jpg: OK" in out
    # The what-if run's summary points at its own results folder.
    assert "Results:" in out and "results-without-reference" in out.replace("\n", "")
    assert "No reference photo in" not in out  # hidden on purpose: nothing to fix


def test_rekognition_mode_lets_rekognition_calls_through_to_the_network(unreachable_aws):
    """With --analyzer rekognition the emulated AWS must not answer Rekognition calls itself."""
    import boto3
    from botocore.exceptions import EndpointConnectionError

    from dev.engine import LocalStepFunctions

    with LocalStepFunctions(passthrough_services=("rekognition",)):
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="still-emulated")  # other services stay emulated
        with pytest.raises(EndpointConnectionError):
            unreachable_aws("rekognition").detect_labels(Image={"Bytes": synthetic_jpeg(1)})


def test_the_review_command_names_the_prefixes_of_a_run_that_used_others(exam, monkeypatch, capsys):
    # The menu's what-if run writes its own results folder: the command it prints must read that one.
    (exam / "images" / "stray.jpg").unlink()
    extra = {"REFERENCE_PREFIX": "reference-disabled-for-this-test", "RESULTS_PREFIX": "results-without-reference"}
    report = run_folder(
        exam, only=["exam1/ana/c0.jpg"], extra_env=extra, workers=1, progress=False, analyzer_factory=FACTORY
    )
    print_summary(report, name_missing_references=False)
    out = " ".join(capsys.readouterr().out.split())
    command = out.split("Why each of the 1 alert(s) and error(s): ")[1]
    settings, review = command.split(f" {this_python()} -m dev review ")
    assert shlex.split(review) == [str(exam)]
    assert settings == "REFERENCE_PREFIX=reference-disabled-for-this-test RESULTS_PREFIX=results-without-reference"
    for assignment in shlex.split(settings):
        monkeypatch.setenv(*assignment.split("=", 1))
    assert main(["review", str(exam), "--csv", "-"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) == 2 and "REFERENCE_MISSING" in rows[1]  # the what-if document, not the real results'
    assert not (exam / "results").exists()
