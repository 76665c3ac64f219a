"""stand_ins.analysis_cache: a local run does not analyse again what an earlier run analysed, unless the
image, the reference, the analysis settings or the analysis code changed; verdicts are always
decided by the state machine."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from proctoring.config import Settings
from proctoring_local.__main__ import main
from proctoring_local.services.run.workers import run_folder
from proctoring_local.stand_ins.analysis_cache import FILE_NAME, AnalysisCache, analysis_fingerprint
from tests.builders import build_exam, synthetic_jpeg
from tests.fakes import one_face_analyzer

FACTORY = "tests.fakes:counting_analyzer"


def run(root: Path, calls: Path, workers: int = 1, **options):
    env = {"ANALYZER_CALLS": str(calls), **options.pop("extra_env", {})}
    return run_folder(root, workers=workers, progress=False, analyzer_factory=FACTORY, extra_env=env, **options)


def analysed(calls: Path) -> Counter:
    """How often each (method, file) was analysed, over every run so far."""
    lines = calls.read_text().splitlines() if calls.exists() else []
    return Counter(
        (method, identity.removeprefix("s3://local-proctoring/").rsplit("@", 1)[0])
        for method, identity in (line.split(" ", 1) for line in lines)
    )


def documents(root: Path) -> dict[str, str]:
    return {str(path.relative_to(root)): path.read_text() for path in sorted((root / "results").rglob("*.json"))}


@pytest.fixture
def judged(tmp_path):
    """exam1: ana and ben with two captures each, judged once; the analyzer's calls in ``calls``."""
    build_exam(tmp_path)
    calls = tmp_path.parent / f"{tmp_path.name}-calls.log"
    report = run(tmp_path, calls)
    assert report.complete and report.analyses_reused == 0
    # One comparison and one label detection per capture; each reference checked once.
    assert analysed(calls)[("compare_faces", "images/exam1/ana/c0.jpg")] == 1
    assert analysed(calls)[("detect_faces", "reference/ana.jpg")] == 1
    assert analysed(calls)[("detect_faces", "images/exam1/ana/c0.jpg")] == 0
    return tmp_path, calls


def test_an_unchanged_folder_is_judged_again_without_analysing_anything(judged, capsys):
    root, calls = judged
    before, written = analysed(calls), documents(root)
    report = run(root, calls, workers=2)  # two processes share the stored answers
    assert report.complete
    assert report.analyses_reused == 4
    assert analysed(calls) == before  # no call reached the analyzer
    assert documents(root) == written  # the same verdicts, byte for byte
    assert (root / ".proctoring" / FILE_NAME).is_file()


def test_a_changed_capture_and_a_replaced_reference_are_analysed_again(judged):
    root, calls = judged
    before = analysed(calls)
    (root / "images" / "exam1" / "ana" / "c1.jpg").write_bytes(synthetic_jpeg(7))
    (root / "reference" / "ben.jpg").write_bytes(synthetic_jpeg(8))
    report = run(root, calls)
    assert report.complete
    new = analysed(calls) - before
    # The changed capture: every step again. Ben's: the new reference checked, then compared only.
    assert new[("compare_faces", "images/exam1/ana/c1.jpg")] == 1
    assert new[("detect_labels", "images/exam1/ana/c1.jpg")] == 1
    assert new[("detect_faces", "reference/ben.jpg")] == 1
    assert new[("compare_faces", "images/exam1/ben/c0.jpg")] == 1
    assert new[("compare_faces", "images/exam1/ben/c1.jpg")] == 1
    assert new[("detect_labels", "images/exam1/ben/c0.jpg")] == 0
    assert new[("detect_faces", "reference/ana.jpg")] == 0  # its stored check still holds
    assert not any(file == "images/exam1/ana/c0.jpg" for _method, file in new)
    assert report.analyses_reused == 3  # DetectLabels answered from the store for all but ana/c1


def test_a_new_verdict_threshold_rejudges_the_stored_analyses(judged):
    root, calls = judged
    before = analysed(calls)
    # The canned similarity is 99.0: above the default threshold (90), below this one.
    report = run(root, calls, extra_env={"SIMILARITY_THRESHOLD": "99.5"})
    assert analysed(calls) == before
    assert report.analyses_reused == 4
    assert {outcome.status for outcome in report.outcomes} == {"ALERT"}
    assert all("FACE_MISMATCH" in outcome.codes for outcome in report.outcomes)


def test_a_new_analysis_setting_analyses_again(judged):
    root, calls = judged
    before = analysed(calls)
    report = run(root, calls, extra_env={"MIN_CONFIDENCE": "80"})
    assert report.analyses_reused == 0
    assert (analysed(calls) - before)[("detect_labels", "images/exam1/ana/c0.jpg")] == 1
    assert (analysed(calls) - before)[("detect_faces", "reference/ana.jpg")] == 0  # not an analysis of the capture


def test_reanalyse_analyses_everything_and_stores_the_new_answers(judged):
    root, calls = judged
    before = analysed(calls)
    assert run(root, calls, analyses="refresh").analyses_reused == 0
    after_refresh = analysed(calls)
    assert (after_refresh - before)[("compare_faces", "images/exam1/ben/c1.jpg")] == 1
    assert run(root, calls).analyses_reused == 4
    assert analysed(calls) == after_refresh


def test_off_neither_reads_nor_stores(tmp_path):
    build_exam(tmp_path, users=("ana",), captures=1)
    calls = tmp_path.parent / f"{tmp_path.name}-calls.log"
    run(tmp_path, calls, analyses="off")
    run(tmp_path, calls, analyses="off")
    assert analysed(calls)[("compare_faces", "images/exam1/ana/c0.jpg")] == 2
    assert not (tmp_path / ".proctoring" / FILE_NAME).exists()
    with pytest.raises(ValueError, match="reuse, refresh or off"):
        run_folder(tmp_path, analyses="sometimes")


def test_the_command_line_reports_reuse_and_reanalyse_turns_it_off(judged, monkeypatch, capsys):
    root, calls = judged
    monkeypatch.setenv("ANALYZER_CALLS", str(calls))
    import proctoring_local.commands.run as runner

    original = runner.run_folder
    given = {}

    def run_with_fake(folder, **options):
        given.update(options)
        return original(folder, **{**options, "analyzer_factory": FACTORY, "extra_env": {"ANALYZER_CALLS": str(calls)}})

    monkeypatch.setattr(runner, "run_folder", run_with_fake)
    assert main(["run", str(root), "--no-progress"]) == 0
    assert given["analyses"] == "reuse"
    said = " ".join(capsys.readouterr().out.split())
    assert "4 capture(s) unchanged since an earlier run reused its analyses" in said
    assert "proctoring run DIR --reanalyse" in said  # the menu has no such flag: name the command
    assert main(["run", str(root), "--no-progress", "--reanalyse"]) == 0
    assert given["analyses"] == "refresh"
    assert "reused its analyses" not in capsys.readouterr().out


def stored_captures(root: Path) -> set[str]:
    with sqlite3.connect(root / ".proctoring" / FILE_NAME) as db:
        return {key for (key,) in db.execute("SELECT capture_key FROM analyses")}


def test_a_deleted_capture_leaves_no_analysis_behind_after_a_whole_run(judged):
    root, calls = judged
    assert "images/exam1/ben/c1.jpg" in stored_captures(root)
    (root / "images" / "exam1" / "ben" / "c1.jpg").unlink()
    run(root, calls, only=["exam1/ana"])  # a partial run cannot tell a deleted capture from one left out
    assert "images/exam1/ben/c1.jpg" in stored_captures(root)
    run(root, calls)
    assert stored_captures(root) == {"images/exam1/ana/c0.jpg", "images/exam1/ana/c1.jpg", "images/exam1/ben/c0.jpg"}


def test_a_damaged_store_is_removed_and_everything_analysed_again(judged, capsys):
    root, calls = judged
    store = root / ".proctoring" / FILE_NAME
    store.write_bytes(b"half a copy, not a database" * 100)
    before = analysed(calls)
    report = run(root, calls)
    assert report.complete and report.analyses_reused == 0
    assert (analysed(calls) - before)[("compare_faces", "images/exam1/ana/c0.jpg")] == 1
    assert f"note: {store} was damaged (file is not a database) and was removed" in capsys.readouterr().err
    assert run(root, calls).analyses_reused == 4  # and a sound one is in its place


def test_a_store_laid_out_otherwise_is_replaced(judged, capsys):
    root, calls = judged
    store = root / ".proctoring" / FILE_NAME
    store.unlink()
    with sqlite3.connect(store) as db:
        db.execute("CREATE TABLE analyses (id TEXT PRIMARY KEY, step TEXT, answer TEXT)")
    report = run(root, calls)
    assert report.complete and report.analyses_reused == 0
    assert f"note: {store} was written by another version of this tool and was removed" in capsys.readouterr().err
    assert run(root, calls).analyses_reused == 4


# -- the store itself -----------------------------------------------------------------------------


CAPTURE = {"bucket": "b", "key": "images/e/u/c.jpg", "etag": "abc", "sequencer": "0001", "reference": {"etag": "r1"}}


def test_an_answer_is_found_by_its_input_whatever_the_upload_time(tmp_path):
    cache = AnalysisCache(tmp_path / FILE_NAME, "fp")
    cache.put("detect_faces", {"capture": CAPTURE}, {"face_count": 1, "faces": []})
    later = {"capture": {**CAPTURE, "sequencer": "0002"}}
    assert cache.get("detect_faces", later) == {"face_count": 1, "faces": []}
    assert cache.get("detect_faces", {"capture": {**CAPTURE, "etag": "abd"}}) is None
    assert cache.get("compare_to_reference", later) is None  # another step, another answer
    assert cache.get("compare_to_reference", {"capture": {**CAPTURE, "reference": {"etag": "r2"}}}) is None
    assert cache.reused == {"detect_faces": 1}


def test_answers_about_a_missing_file_are_not_stored(tmp_path):
    cache = AnalysisCache(tmp_path / FILE_NAME, "fp")
    gone = {"face_count": 0, "faces": [], "rejection": {"code": "CAPTURE_NOT_FOUND", "message": "deleted"}}
    corrupt = {"face_count": 0, "faces": [], "rejection": {"code": "IMAGE_CORRUPT", "message": "truncated"}}
    cache.put("detect_faces", {"capture": CAPTURE}, gone)
    assert cache.get("detect_faces", {"capture": CAPTURE}) is None
    cache.put("compare_to_reference", {"capture": CAPTURE}, {"reference": {"status": "missing"}, "similarity": None})
    assert cache.get("compare_to_reference", {"capture": CAPTURE}) is None
    cache.put("detect_faces", {"capture": CAPTURE}, corrupt)  # the bytes will be as corrupt next time
    assert cache.get("detect_faces", {"capture": CAPTURE}) == corrupt


def test_reuse_off_still_stores(tmp_path):
    refreshing = AnalysisCache(tmp_path / FILE_NAME, "fp", reuse=False)
    refreshing.put("detect_labels", {"capture": CAPTURE}, {"checked": False, "labels": []})
    assert refreshing.get("detect_labels", {"capture": CAPTURE}) is None
    assert AnalysisCache(tmp_path / FILE_NAME, "fp").get("detect_labels", {"capture": CAPTURE}) is not None


def test_a_store_that_cannot_answer_costs_the_analysis_not_the_step(tmp_path):
    cache = AnalysisCache(tmp_path / FILE_NAME, "fp")
    cache.put("detect_faces", {"capture": CAPTURE}, {"face_count": 1})
    with sqlite3.connect(tmp_path / FILE_NAME) as other:
        other.execute("DROP TABLE analyses")  # what a store gone bad mid-run looks like to a query
    assert cache.get("detect_faces", {"capture": CAPTURE}) is None
    cache.put("detect_faces", {"capture": CAPTURE}, {"face_count": 1})  # does not raise
    assert cache.reused == {}


def test_opening_with_another_fingerprint_drops_the_old_answers(tmp_path):
    AnalysisCache(tmp_path / FILE_NAME, "old").put("detect_faces", {"capture": CAPTURE}, {"face_count": 0})
    AnalysisCache(tmp_path / FILE_NAME, "new")
    assert AnalysisCache(tmp_path / FILE_NAME, "old").get("detect_faces", {"capture": CAPTURE}) is None


def test_the_fingerprint_follows_analysis_settings_and_not_verdict_settings():
    analyzer = one_face_analyzer()
    base = analysis_fingerprint(Settings(), analyzer)
    assert analysis_fingerprint(Settings(), analyzer) == base
    for changed in ({"min_confidence": 80.0}, {"max_labels": 5}, {"face_min_confidence": 95.0}, {"analyzer": "local"}):
        assert analysis_fingerprint(Settings(**changed), analyzer) != base, changed
    for unchanged in ({"similarity_threshold": 95.0}, {"max_yaw": 20.0}, {"webhook_url": "https://x"}):
        assert analysis_fingerprint(Settings(**unchanged), analyzer) == base, unchanged


def test_the_fingerprint_follows_the_analysis_code(monkeypatch, tmp_path):
    from proctoring import pipeline

    analyzer = one_face_analyzer()
    base = analysis_fingerprint(Settings(), analyzer)
    edited = tmp_path / "pipeline.py"
    edited.write_text(Path(pipeline.__file__).read_text() + "\n# edited\n")
    monkeypatch.setattr(pipeline, "__file__", str(edited))
    assert analysis_fingerprint(Settings(), analyzer) != base
