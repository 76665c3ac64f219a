"""The demo exam through the whole local pipeline: every capture gets its written-down verdict."""

from __future__ import annotations

import json

from proctoring_local.services.demo_exam import build_demo, check_results
from proctoring_local.services.run.workers import run_folder
from tests.builders import assert_valid


def test_demo_verdicts_match_expected(tmp_path):
    root = tmp_path / "demo"
    expected = build_demo(root)
    assert len(expected) == 22
    assert {want["status"] for want in expected.values()} == {"OK", "ALERT", "ALERT_FINAL", "ERROR"}
    window = {"AWAY", "LOOKING_AWAY_SUSTAINED", "IDENTITY_CHANGED"}
    assert window <= {code for want in expected.values() for code in want["reasons"]}  # each new reason

    report = run_folder(root, workers=2, progress=False)

    assert report.complete
    assert check_results(root, expected) == []
    for path in (root / "results").rglob("*.json"):
        assert_valid(json.loads(path.read_text()))
    final = json.loads((root / "results/demo_exam/grace/04_turned_away.json").read_text())
    assert final["alert_count"] == 3
    assert final["analyzer"] == "local"
    assert final["analysis"]["objects_checked"] is False
    assert any("not checked" in detail for detail in final["details"])
    away = json.loads((root / "results/demo_exam/dana/07_left.json").read_text())
    assert [reason["code"] for reason in away["reasons"]] == ["AWAY", "NO_FACE"]
    assert away["reasons"][0]["evidence"]["count"] == 3


def test_demo_pointed_at_a_file_is_a_usage_error_that_leaves_it_alone(tmp_path, capsys):
    from proctoring_local.__main__ import main

    precious = tmp_path / "notes.txt"
    precious.write_text("keep me")
    assert main(["demo", str(precious)]) == 2
    assert (
        f"error: {precious} is a file, not a folder; choose a folder for `proctoring demo`" in capsys.readouterr().err
    )
    assert precious.read_text() == "keep me"
    assert main(["demo", str(precious / "demo")]) == 2  # under a file: no folder can be made there
    assert f"error: cannot build the demo folder {precious / 'demo'}: Not a directory" in capsys.readouterr().err


def test_demo_refuses_to_overwrite_a_folder_that_is_not_a_demo(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    try:
        build_demo(tmp_path)
    except FileExistsError as error:
        assert "not a demo folder" in str(error)
    else:
        raise AssertionError("build_demo overwrote a non-demo folder")
    assert (tmp_path / "precious.txt").read_text() == "keep me"
