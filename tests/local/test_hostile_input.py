"""What the tools write and print on the operator's machine, whatever names and files a student or
a client chose: files readable by the user alone, no terminal escape printed, bounded memory for a
file that claims gigabytes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from proctoring_local.__main__ import main
from tests.builders import ROOT, build_exam, synthetic_jpeg
from tests.fakes import FACTORY

ALERTING = "tests.fakes:alert_by_name_analyzer"


def test_everything_the_tools_write_is_the_users_alone(tmp_path, monkeypatch):
    import proctoring_local.commands.run as runner

    os.umask(0o022)  # a common umask: without the tools' own, files would be 0644
    build_exam(tmp_path, users=("ana", "ben"), captures=2)
    before = set(tmp_path.rglob("*"))
    original = runner.run_folder
    monkeypatch.setattr(runner, "run_folder", lambda root, **kw: original(root, **{**kw, "analyzer_factory": FACTORY}))
    assert main(["run", str(tmp_path), "--workers", "1", "--no-progress"]) == 0
    assert main(["review", str(tmp_path), "--csv", str(tmp_path / "review.csv")]) == 0
    assert main(["report", str(tmp_path), "--exam", "exam1", "--out", str(tmp_path / "report.html")]) == 0
    written = set(tmp_path.rglob("*")) - before
    kinds = {path.suffix for path in written if path.is_file()}
    assert {".json", ".sqlite3", ".csv", ".html"} <= kinds  # documents, state, the CSV, the page
    modes = {str(path.relative_to(tmp_path)): stat.S_IMODE(path.stat().st_mode) for path in written}
    assert {name: mode for name, mode in modes.items() if mode not in (0o600, 0o700)} == {}
    assert all(modes[str(p.relative_to(tmp_path))] == 0o700 for p in written if p.is_dir())


ESCAPE = "\x1b]0;owned\x07\x1b[2J"  # set the terminal's title, clear the screen


def test_no_output_line_holds_a_raw_escape_from_a_name(tmp_path):
    build_exam(tmp_path, users=("ana",), captures=1)
    (tmp_path / "images" / "exam1" / f"bo{ESCAPE}b").mkdir()
    (tmp_path / "images" / "exam1" / f"bo{ESCAPE}b" / f"c{ESCAPE}_alert.jpg").write_bytes(synthetic_jpeg(3))
    (tmp_path / "images" / "exam1" / "ana" / f"stray{ESCAPE}.txt").write_text("not a capture")
    environment = {**os.environ, "COLUMNS": "200"}
    outputs = []
    for command in (
        ["run", str(tmp_path), "--workers", "1", "--no-progress"],
        ["review", str(tmp_path)],
        ["reconcile", str(tmp_path)],
        ["review", str(tmp_path), "--references"],
    ):
        done = subprocess.run(
            [sys.executable, "-c", f"import sys; from tests.fakes import *; {_RUN_WITH_FACTORY}", *command],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
        outputs.append(done.stdout + done.stderr)
    leaks = [line for output in outputs for line in output.splitlines() if "\x1b" in line or "\x07" in line]
    assert leaks == [], "\n".join(map(repr, leaks))
    assert "\\x1b]0;owned\\x07" in outputs[0] + outputs[1]  # named, escaped


# The command line in a child process, its workers on the canned analyzer that alerts by name.
_RUN_WITH_FACTORY = (
    "import proctoring_local.services.run.workers as w; real = w.run_folder; "
    f"w.run_folder = lambda root, **kw: real(root, **{{**kw, 'analyzer_factory': {ALERTING!r}}}); "
    "import proctoring_local.commands.run as r; r.run_folder = w.run_folder; "
    "from proctoring_local.__main__ import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.mark.slow
def test_a_capture_that_claims_gigabytes_costs_the_pages_no_memory(tmp_path):
    build_exam(tmp_path, users=("ana",), captures=1)
    for index in (1, 2):
        (tmp_path / "images/exam1/ana" / f"c{index}_alert.jpg").write_bytes(synthetic_jpeg(index))
    assert (
        subprocess.run(
            [
                sys.executable,
                "-c",
                f"import sys; {_RUN_WITH_FACTORY}",
                "run",
                str(tmp_path),
                "--workers",
                "1",
                "--no-progress",
            ],
            cwd=ROOT,
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    huge = tmp_path / "images/exam1/ana/c2_alert.jpg"
    with huge.open("r+b") as handle:  # sparse: 3 GiB on paper, nothing on disk
        handle.truncate(3 * 1024**3)
    peaks = {}
    for name, command in {
        "report": ["report", str(tmp_path), "--exam", "exam1", "--out", str(tmp_path / "report.html")],
        "review": ["review", str(tmp_path), "--html", str(tmp_path / "review.html")],
    }.items():
        done = subprocess.run(
            [sys.executable, "-c", _MEASURED, *command], cwd=ROOT, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        peaks[name] = int(done.stderr.rsplit("PEAK ", 1)[1].split()[0]) / 1024  # MB
    assert peaks["report"] < 300 and peaks["review"] < 300, peaks
    assert "too large to show (3072.0 MB" in (tmp_path / "review.html").read_text()
    page = (tmp_path / "report.html").read_text()
    data = json.loads(page.split('id="report-data">', 1)[1].split("</script>", 1)[0])
    notes = [c["picture_note"] for row in data["report"]["students"] for c in row["captures"] if c["picture_note"]]
    assert notes == ["too large to show (3072.0 MB; at most 15 MB)"]


# The command's own peak (VmHWM, kB): ru_maxrss would also count the pytest process it was forked from.
_MEASURED = (
    "import sys; from proctoring_local.__main__ import main; code = main(sys.argv[1:]); "
    "peak = next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')); "
    "print('PEAK', peak, file=sys.stderr); sys.exit(code)"
)
