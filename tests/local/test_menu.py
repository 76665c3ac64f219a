"""proctoring menu: the interactive tester, on the same pipeline as run."""

from __future__ import annotations

import json

from proctoring_local.__main__ import main
from proctoring_local.services.run.captures import find_captures
from tests.builders import synthetic_jpeg
from tests.fakes import FACTORY


def test_menu_pointed_inside_images_names_the_run_folder(exam, capsys):
    assert main(["menu", str(exam / "images" / "exam1")]) == 2
    assert f"proctoring menu {exam}\n" in capsys.readouterr().err


def test_the_menu_lists_and_runs_a_folder_with_a_name_that_is_not_utf8(latin1_named_capture, monkeypatch, capsys):
    import proctoring_local.commands.run as runner

    original = runner.run_folder
    monkeypatch.setattr(
        "proctoring_local.commands.menu.run_folder",
        lambda root, **kw: original(root, **{**kw, "analyzer_factory": FACTORY}),
    )
    answers = iter(["2", "1-6", "q"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    assert main(["menu", str(latin1_named_capture)]) == 0
    out = capsys.readouterr().out
    assert "images/exam1/ana/caf\\xe9.jpg" in out  # listed, then reported as not run
    assert "images/exam1/ana/c0.jpg: OK" in out  # the rest of the choice ran


def test_menu_picks_numbers_and_ranges_and_ignores_the_rest(monkeypatch, capsys):
    from proctoring_local.commands.menu import _pick

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
    from proctoring_local.commands.menu import _pick

    keys = find_captures(exam)
    lookup = lambda pattern: find_captures(exam, [pattern])  # noqa: E731 - what the menu passes
    monkeypatch.setattr("builtins.input", lambda prompt="": "exam1/ben 1 exam1/ana/c1.jpg nobody/*")
    chosen = _pick(keys, "number(s): ", many=True, lookup=lookup)
    assert chosen == ["images/exam1/ben/c0.jpg", "images/exam1/ben/c1.jpg", keys[0], "images/exam1/ana/c1.jpg"]
    assert "ignoring 'nobody/*'" in capsys.readouterr().out


def test_menu_lists_a_large_folder_one_line_per_student(monkeypatch, capsys):
    from proctoring_local.commands.menu import _pick

    keys = sorted([f"images/e/s{s:02d}/c{c}.jpg" for s in range(12) for c in range(6)] + ["images/e/stray.jpg"])
    monkeypatch.setattr("builtins.input", lambda prompt="": "7-9")
    assert _pick(keys, "number(s): ", many=True) == keys[6:9]
    out = capsys.readouterr().out
    assert "1-6  images/e/s00/ (6 captures)" in out
    assert "images/e/stray.jpg" not in out and "73  images/e/ (1 capture)" in out
    assert "73 captures: give numbers, or a file, folder or glob" in out
    assert len(out.splitlines()) == 14  # 13 folders and the hint, not 73 lines


def test_menu_ranges_compress_consecutive_numbers():
    from proctoring_local.commands.menu import _ranges

    assert _ranges([1, 2, 3, 7, 9, 10]) == "1-3, 7, 9-10"
    assert _ranges([4]) == "4"


def test_menu_reports_a_usage_error_and_stays_open(exam, monkeypatch, capsys, unused_port):
    port = unused_port
    answers = iter(["1", "1", "q"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    assert main(["menu", str(exam), "--webhook", f"http://127.0.0.1:{port}/hook"]) == 0
    assert f"error: --webhook http://127.0.0.1:{port}/hook: cannot connect" in capsys.readouterr().out


def test_ctrl_c_during_a_menu_run_returns_to_the_menu(exam, monkeypatch, capsys):
    import proctoring_local.commands.run as runner

    (exam / "images" / "exam1" / "ben" / "interrupt.jpg").write_bytes(synthetic_jpeg(8))
    original = runner.run_folder
    factory = "tests.fakes:ctrl_c_analyzer"
    monkeypatch.setattr(
        "proctoring_local.commands.menu.run_folder",
        lambda root, **kw: original(root, **{**kw, "analyzer_factory": factory}),
    )
    answers = iter(["2", "1-6", "q"])  # several images, all six: one worker, ben's first
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    assert main(["menu", str(exam)]) == 0  # the menu went on to the next choice, q
    out = capsys.readouterr().out
    assert "interrupted: " in out and " of 6 captures were processed" in out


def test_menu_tests_one_image_without_its_reference(exam, monkeypatch, capsys):
    import proctoring_local.commands.run as runner

    original = runner.run_folder
    monkeypatch.setattr(
        "proctoring_local.commands.menu.run_folder",
        lambda root, **kw: original(root, **{**kw, "analyzer_factory": FACTORY}),
    )
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
