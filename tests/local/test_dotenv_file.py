"""A .env file for the local tools, as the single-Lambda version's users wrote it: every name of the
original file works, flags beat the environment, which beats .env, which beats the defaults."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import replace

import pytest

from proctoring.config import Settings
from proctoring_local.__main__ import main
from proctoring_local.services.dotenv_file import known_names, load_env_file, settings_names
from tests.builders import ROOT, build_exam

ORIGINAL = """AWS_REGION=us-east-1
MIN_CONFIDENCE=75
MAX_LABELS=10
IMAGES_PREFIX=images/
REFERENCE_PREFIX=reference/
RESULTS_PREFIX=results/
PROCTORING_WEBHOOK_URL=https://proctoring.example.edu/api/webhook
"""
# Set by the tools and the template for each backend, not by a user's .env.
SET_BY_THE_TOOLS = {
    "ANALYZER",
    "STORAGE",
    "LOCAL_ROOT",
    "CAPTURE_BUCKET",
    "ALERT_HISTORY",
    "ALERT_TABLE",
    "IDEMPOTENCY_STORE",
    "IDEMPOTENCY_TABLE",
    "WEBHOOK_SECRET_PARAMETER",
    "WEBHOOK_SECRET",
}


@pytest.fixture
def environ(monkeypatch, tmp_path):
    """A private copy of the environment, and a current folder of the test's own."""
    copy = {k: v for k, v in os.environ.items() if k not in known_names()}
    monkeypatch.setattr(os, "environ", copy)
    monkeypatch.chdir(tmp_path)
    return copy


def test_the_original_file_works_as_written(environ, tmp_path):
    (tmp_path / ".env").write_text(ORIGINAL)
    assert load_env_file(None).path == tmp_path / ".env"
    settings = Settings.from_env()
    assert (settings.images_prefix, settings.reference_prefix, settings.results_prefix) == (
        "images/",
        "reference/",
        "results/",
    )
    assert (settings.min_confidence, settings.max_labels) == (75.0, 10)
    assert settings.webhook_url == "https://proctoring.example.edu/api/webhook"
    assert environ["AWS_DEFAULT_REGION"] == "us-east-1"  # what boto3 reads


def test_the_environment_beats_the_file_and_the_file_beats_the_defaults(environ, tmp_path):
    (tmp_path / ".env").write_text("SIMILARITY_THRESHOLD=80\nMAX_YAW=30\n")
    environ["SIMILARITY_THRESHOLD"] = "85"
    load_env_file(None)
    settings = Settings.from_env()
    assert (settings.similarity_threshold, settings.max_yaw, settings.max_pitch) == (85.0, 30.0, 25.0)


def test_the_run_folders_file_comes_before_the_current_folders(environ, tmp_path):
    folder = tmp_path / "exam"
    folder.mkdir()
    (tmp_path / ".env").write_text("MAX_YAW=30\n")
    (folder / ".env").write_text("MAX_YAW=35\n")
    assert load_env_file(folder).path == folder / ".env"
    assert Settings.from_env().max_yaw == 35.0


def test_an_unknown_name_is_named_with_the_closest_known_one(environ, tmp_path, capsys):
    (tmp_path / ".env").write_text("SIMILARITY_TRESHOLD=80\nCOLOUR=blue\n")
    load_env_file(None)
    err = capsys.readouterr().err
    assert (
        "SIMILARITY_TRESHOLD is not a setting any tool reads: left out of the environment; "
        "did you mean SIMILARITY_THRESHOLD?" in err
    )
    assert "COLOUR is not a setting any tool reads: left out of the environment\n" in err
    assert "COLOUR" not in os.environ and "SIMILARITY_TRESHOLD" not in os.environ


def test_the_example_holds_every_users_setting_with_its_default(environ, tmp_path, capsys):
    from dotenv import dotenv_values

    example = dotenv_values(ROOT / ".env.example")
    assert set(example) <= known_names()
    assert settings_names() - {"PROCTORING_WEBHOOK_URL"} - SET_BY_THE_TOOLS <= set(example)
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    load_env_file(None)
    assert capsys.readouterr().err == ""
    assert Settings.from_env() == replace(Settings())  # every value there is the default


def test_git_ignores_env_files_but_not_the_example():
    def ignored(name: str) -> bool:
        return subprocess.run(["git", "check-ignore", "-q", name], cwd=ROOT, check=False).returncode == 0

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    assert ignored(".env") and ignored(".env.local")
    assert not ignored(".env.example")


def test_a_flag_beats_the_webhook_of_the_file(environ, tmp_path, monkeypatch):
    import proctoring_local.commands.run as runner

    build_exam(tmp_path, users=("ana",), captures=1)
    (tmp_path / ".env").write_text("PROCTORING_WEBHOOK_URL=http://127.0.0.1:9/from-env-file\n")
    given = {}
    monkeypatch.setattr(runner, "run_folder", lambda folder, **options: given.update(options) or _Done())
    monkeypatch.setattr(runner, "print_summary", lambda report: None)
    assert main(["run", str(tmp_path)]) == 0
    assert given["webhook"] == "http://127.0.0.1:9/from-env-file"
    assert main(["run", str(tmp_path), "--webhook", "http://127.0.0.1:9/flag"]) == 0
    assert given["webhook"] == "http://127.0.0.1:9/flag"


class _Done:
    complete, failed, undelivered = True, 0, 0


def test_the_proctoring_command_works_from_any_folder(tmp_path):
    command = ROOT / ".venv" / "bin" / "proctoring"
    if not command.exists():
        pytest.skip("the project is not installed in .venv (make install installs it)")
    build_exam(tmp_path, users=("ana",), captures=1)
    done = subprocess.run(
        [str(command), "review", str(tmp_path), "--references"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # The synthetic photo holds no face: checked by the offline analyzer, through the tools' code.
    assert "1 reference photo(s)" in done.stdout and "NO_FACE" in done.stdout


HOSTILE_ENV = {
    # Acted on by every Python process started after it: a crafted filter runs code.
    "PYTHONWARNINGS": "ignore::pkg_of_the_sender.Warning",
    "BROWSER": "sh -c 'touch /tmp/owned'",
    # Would make the tools act in the sender's account instead of the user's.
    "AWS_ACCESS_KEY_ID": "AKIASENDERSENDER0000",
    "AWS_SECRET_ACCESS_KEY": "sender-secret",
    "AWS_PROFILE": "production",
}


@pytest.fixture
def clean_environment(monkeypatch):
    """The real environment (worker processes inherit it), without the names these tests set; what a
    command sets in it is removed afterwards."""
    names = [*HOSTILE_ENV, *known_names()]
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    yield
    for name in names:
        os.environ.pop(name, None)
    os.environ.update(saved)


def test_a_folders_env_sets_only_settings_in_the_workers_environment(clean_environment, tmp_path, monkeypatch, capsys):
    import proctoring_local.commands.run as runner

    folder = tmp_path / "received"
    folder.mkdir()
    build_exam(folder, users=("ana",), captures=1)
    (folder / ".env").write_text("".join(f"{name}={value}\n" for name, value in HOSTILE_ENV.items()) + "MAX_YAW=35\n")
    monkeypatch.chdir(tmp_path)
    original = runner.run_folder
    factory = "tests.fakes:environment_recording_analyzer"
    monkeypatch.setattr(runner, "run_folder", lambda root, **kw: original(root, **{**kw, "analyzer_factory": factory}))
    assert main(["run", str(folder), "--workers", "1", "--no-progress"]) == 0
    worker = json.loads((folder / "worker-environment.json").read_text())
    assert worker["MAX_YAW"] == "35"  # a setting: applied
    for name in HOSTILE_ENV:
        assert name not in worker and name not in os.environ
    err = " ".join(capsys.readouterr().err.split())
    assert "PYTHONWARNINGS is not a setting any tool reads: left out of the environment" in err
    assert "BROWSER is not a setting any tool reads: left out of the environment" in err
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        assert f"{name} is left out: credentials are never read from a .env" in err


def test_a_webhook_from_a_env_is_announced_and_its_errors_name_the_file(environ, tmp_path, monkeypatch, capsys):
    import proctoring_local.commands.run as runner

    build_exam(tmp_path, users=("ana",), captures=1)
    env_file = tmp_path / ".env"
    env_file.write_text("WEBHOOK_URL=http://127.0.0.1:9/from-env-file\n")
    monkeypatch.setattr(runner, "run_folder", lambda folder, **options: _Done())
    monkeypatch.setattr(runner, "print_summary", lambda report: None)
    assert main(["run", str(tmp_path)]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert (
        f"webhook: each document is sent to 127.0.0.1 (WEBHOOK_URL in {env_file}), signed with the development key"
        in err
    )

    environ.pop("WEBHOOK_URL")
    env_file.write_text(
        "WEBHOOK_URL=https://user:pass@proctor.example/hook\nPROCTORING_WEBHOOK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"
    )
    assert main(["run", str(tmp_path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"WEBHOOK_URL in {env_file}: the URL carries credentials (user:password@)" in err
    assert "signing secret" in err and "--webhook" not in err
