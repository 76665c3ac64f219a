"""The run's summary: every row adds up, problems named, the review command to type."""

from __future__ import annotations

import json
import shlex
import unicodedata
from collections import Counter

from proctoring_local.__main__ import main
from proctoring_local.services.run.captures import CaptureOutcome
from proctoring_local.services.run.summary import RunReport, print_summary, proctoring_command
from proctoring_local.services.run.workers import run_folder
from tests.builders import build_exam
from tests.fakes import FACTORY


def _table_rows(out: str) -> dict[str, list[str]]:
    """The summary table's cells, by the row's first cell (the header row under "exam")."""
    rows = {}
    for line in out.splitlines():
        cells = [cell.strip() for cell in line.strip("│┃").replace("┃", "│").split("│")]
        if len(cells) > 2 and cells[0]:
            rows[cells[0]] = cells
    return rows


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


def test_students_are_listed_in_the_order_people_count_them(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    students = ["s10", "s2", "s1", "S3", "s21"]  # ids are case-sensitive; their order is not
    outcomes = [CaptureOutcome(f"images/e/{student}/a.jpg", "OK", "SUCCEEDED") for student in students]
    report = RunReport(root=tmp_path, outcomes=outcomes)
    assert [student for _, student in report.by_student()] == ["s1", "s2", "S3", "s10", "s21"]
    print_summary(report)
    listed = [line.split("│")[2].strip() for line in capsys.readouterr().out.splitlines() if line.startswith("│ e ")]
    assert listed == ["s1", "s2", "S3", "s10", "s21"]


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


def test_the_proctoring_command_is_named_as_it_can_be_typed(tmp_path, monkeypatch):
    venv = tmp_path / ".venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "proctoring").write_text("#!/bin/sh\n")
    (venv / "proctoring").chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.executable", str(venv / "python"))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert proctoring_command() == ".venv/bin/proctoring"  # what make demo creates, from the project's folder
    monkeypatch.setenv("PATH", f"{venv}:/usr/bin")  # an activated venv
    assert proctoring_command() == "proctoring"
    elsewhere = tmp_path / "opt" / "my tools" / "bin"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere.parent)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert proctoring_command() == shlex.quote(str(venv / "proctoring"))
    monkeypatch.setattr("sys.executable", str(elsewhere / "python3"))  # not installed: the module
    assert proctoring_command() == f"{shlex.quote(str(elsewhere / 'python3'))} -m proctoring_local"


def test_the_review_command_names_the_prefixes_of_a_run_that_used_others(exam, monkeypatch, capsys):
    # The menu's what-if run writes its own results folder: the command it prints must read that one.
    (exam / "images" / "stray.jpg").unlink()
    extra = {"REFERENCE_PREFIX": "what-if-without-reference", "RESULTS_PREFIX": "results-without-reference"}
    report = run_folder(
        exam, only=["exam1/ana/c0.jpg"], extra_env=extra, workers=1, progress=False, analyzer_factory=FACTORY
    )
    print_summary(report, name_missing_references=False)
    out = " ".join(capsys.readouterr().out.split())
    command = out.split("Why each of the 1 alert(s) and error(s): ")[1]
    settings, review = command.split(f" {proctoring_command()} review ")
    assert shlex.split(review) == [str(exam)]
    assert settings == "REFERENCE_PREFIX=what-if-without-reference RESULTS_PREFIX=results-without-reference"
    for assignment in shlex.split(settings):
        monkeypatch.setenv(*assignment.split("=", 1))
    assert main(["review", str(exam), "--csv", "-"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) == 2 and "REFERENCE_MISSING" in rows[1]  # the what-if document, not the real results'
    assert not (exam / "results").exists()
