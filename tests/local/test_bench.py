"""``proctoring bench`` still runs end to end and prints every measure it promises.

Numbers are printed, never asserted: timing on a shared machine is not a test.
"""

from __future__ import annotations

import re

from proctoring_local.commands.bench import run_benchmark


def test_bench_prints_every_measure(tmp_path, capsys, monkeypatch):
    # The user's own folder layout does not apply to the folder the benchmark builds.
    monkeypatch.setenv("IMAGES_PREFIX", "captures")
    monkeypatch.setenv("RESULTS_PREFIX", "out")
    assert run_benchmark(captures=6, size="320x240", workers=2, keep=str(tmp_path / "bench")) == 0
    out = capsys.readouterr().out
    for label in (
        r"raw analyzer, called directly, 1 process\s+[\d.]+ images/s",
        r"pipeline, 1 process, 1 execution at a time\s+[\d.]+ images/s\s+\(\d+% of raw\)",
        r"pipeline, 1 process, 2 executions in flight\s+[\d.]+ images/s",
        r"pipeline, 2 processes \(the default\)\s+[\d.]+ images/s",
        r"CheckReferenceFunction\s+[\d.]+",
        r"CompareToReferenceFunction\s+[\d.]+",
        r"orchestration \+ image I/O \(no-op analyzer\): [\d.]+ ms per image = [\d.]+% of analysis time",
        r"peak RSS: runner \d+ MB, largest worker \d+ MB",
        r"largest image accepted \(60 MP RGBA PNG\), prepared in a fresh step process: peak RSS \d+ MB "
        r"\(the image steps have 1024 MB in template.yaml\)",
    ):
        assert re.search(label, out), f"missing from the benchmark output: {label}\n{out}"
    verdicts = re.search(r"verdicts: (\{.*\})", out)
    assert verdicts and sum(int(n) for n in re.findall(r"\d+", verdicts.group(1))) == 6
    assert len(list((tmp_path / "bench" / "results").rglob("*.json"))) == 6


def test_bench_and_load_never_build_into_a_folder_of_the_users(tmp_path, capsys):
    """Both delete results and state between their runs: --keep must name a new, empty, or
    earlier bench/load folder, never an exam folder (nor a file)."""
    from proctoring_local.__main__ import main

    exam = tmp_path / "exam"
    (exam / "results" / "e" / "u").mkdir(parents=True)
    (exam / "results" / "e" / "u" / "c.json").write_text("{}")
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    for tool in ("bench", "load"):
        assert main([tool, "-n", "1", "--keep", str(exam)]) == 2
        assert f"{exam} exists and is not a {tool} folder (it has no .proctoring-{tool})" in capsys.readouterr().err
        assert main([tool, "-n", "1", "--keep", str(notes)]) == 2
        assert f"{notes} is a file, not a folder" in capsys.readouterr().err
    assert (exam / "results" / "e" / "u" / "c.json").read_text() == "{}"
    assert notes.read_text() == "keep me"
    assert sorted(path.name for path in exam.iterdir()) == ["results"]  # nothing written either
