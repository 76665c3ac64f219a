"""proctoring run: its options, usage errors and exit codes."""

from __future__ import annotations

import json
import shlex
from collections import Counter

import pytest

from proctoring.notify import new_secret
from proctoring_local.__main__ import main
from proctoring_local.services.checks import UsageError
from proctoring_local.services.run.captures import find_captures
from proctoring_local.services.run.summary import print_summary, proctoring_command
from proctoring_local.services.run.workers import run_folder
from tests.builders import synthetic_jpeg
from tests.fakes import FACTORY


def test_missing_folder_is_a_usage_error(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope"), "--no-progress"]) == 2
    assert "folder not found" in capsys.readouterr().err


def test_folder_without_images_is_a_usage_error(tmp_path, capsys):
    assert main(["run", str(tmp_path), "--no-progress"]) == 2
    assert "has no images/ folder" in capsys.readouterr().err


def test_pointing_at_the_images_folder_names_the_run_folder(exam, capsys):
    assert main(["run", str(exam / "images"), "--no-progress"]) == 2
    assert f"proctoring run {exam}\n" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("inside", "only"),
    [("exam1/ana/c0.jpg", "exam1/ana/c0.jpg"), ("exam1/ana", "exam1/ana/*"), ("exam1", "exam1/*")],
)
def test_pointing_inside_images_suggests_only(exam, capsys, inside, only):
    assert main(["run", str(exam / "images" / inside), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"proctoring run {exam} --only {shlex.quote(only)}" in err
    assert ("is a file" in err) == inside.endswith(".jpg")
    # and the suggested command does run exactly that part
    assert find_captures(exam, [only]) == sorted(
        key for key in find_captures(exam) if key.startswith(f"images/{inside}")
    )


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
        ("http://127.0.0.1:8765/hook", "", False),  # proctoring webhook checks with the same default
        ("https://localhost/hook", "", False),
        (None, "", False),
    ],
)
def test_only_a_loopback_receiver_may_use_the_default_key(url, secret, refused):
    from proctoring_local.services.checks import check_webhook_secret

    if refused:
        with pytest.raises(UsageError, match="development key is public"):
            check_webhook_secret(url, secret_given=bool(secret))
    else:
        check_webhook_secret(url, secret_given=bool(secret))


def test_cli_exit_code_is_one_when_the_webhook_refused_the_documents(exam, capsys, monkeypatch):
    import proctoring_local.commands.run as runner
    from proctoring_local.stand_ins.webhook_receiver import WebhookReceiver

    original = runner.run_folder
    monkeypatch.setattr(runner, "run_folder", lambda root, **kw: original(root, **{**kw, "analyzer_factory": FACTORY}))
    # The receiver holds another key: it answers 401, which is not retried.
    with WebhookReceiver(secret=new_secret()) as receiver:
        code = main(["run", str(exam), "--webhook", receiver.url, "--webhook-secret", new_secret(), "--no-progress"])
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


@pytest.mark.parametrize("how", ["link", "prefix"])
def test_a_results_folder_that_leads_out_of_the_run_folder_is_refused(exam, capsys, monkeypatch, how):
    outside = exam.parent / f"{exam.name}-outside"
    outside.mkdir()
    if how == "link":  # a folder received with its results folder linked elsewhere
        (exam / "results").symlink_to(outside, target_is_directory=True)
    else:
        monkeypatch.setenv("RESULTS_PREFIX", f"../{outside.name}/")
    assert main(["run", str(exam), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert ("leads out of the run folder" if how == "link" else "RESULTS_PREFIX must be a folder name") in err
    assert list(outside.iterdir()) == []


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
    assert f"cannot connect to 127.0.0.1:{port}" in err and "proctoring webhook" in err
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


def test_the_folders_follow_the_prefix_settings(tmp_path, monkeypatch, capsys):
    """A folder synced from a bucket laid out with other prefixes runs as the bucket would."""
    for name, value in {"IMAGES_PREFIX": "captures/2026", "REFERENCE_PREFIX": "refs", "RESULTS_PREFIX": "out"}.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "ana.jpg").write_bytes(synthetic_jpeg(100))
    for seed, key in enumerate(
        ("captures/2026/exam1/ana/c0.jpg", "captures/2026/exam1/ana/c1.jpg", "captures/2026/stray.jpg")
    ):
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_bytes(synthetic_jpeg(30 + seed))
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
    with pytest.raises(UsageError, match=r"proctoring run .* --only 'exam1/\*'"):
        run_folder(tmp_path / "captures" / "2026" / "exam1")


def test_cli_exit_code_is_zero_with_alerts_and_errors(exam, capsys, monkeypatch):
    # No reference for ben: his captures alert; the stray key is an ERROR document. Still exit 0.
    (exam / "reference" / "ben.jpg").unlink()
    import proctoring_local.commands.run as runner

    original = runner.run_folder
    monkeypatch.setattr(runner, "run_folder", lambda root, **kw: original(root, **{**kw, "analyzer_factory": FACTORY}))
    assert main(["run", str(exam), "--no-progress", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "Proctoring results" in out
    assert "Results:" in out
    # ben's two alerts and the stray key's ERROR: where to read why.
    assert f"Why each of the 3 alert(s) and error(s): {proctoring_command()} review {exam}" in " ".join(out.split())
    document = json.loads((exam / "results/exam1/ben/c0.json").read_text())
    assert document["reason"] == "REFERENCE_MISSING"


def test_cli_exit_code_is_one_when_an_execution_failed_after_its_retries(exam, capsys, monkeypatch):
    # A broken step is not a verdict: the capture still has its ERROR document, but the run says so.
    (exam / "images/exam1/ana/boom.jpg").write_bytes(synthetic_jpeg(7))
    import proctoring_local.commands.run as runner

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


@pytest.mark.parametrize("command", ["run", "menu"])
def test_a_secret_that_is_not_a_standard_webhooks_one_is_a_usage_error(exam, capsys, command):
    code = main([command, str(exam), "--webhook", "http://127.0.0.1:9/hook", "--webhook-secret", "s3cr3t"])
    assert code == 2
    assert "must be a Standard Webhooks secret" in capsys.readouterr().err
