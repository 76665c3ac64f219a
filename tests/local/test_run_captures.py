"""Finding a run folder's captures and naming their documents."""

from __future__ import annotations

import json
import os
import unicodedata

import pytest

from proctoring_local.services.checks import UsageError
from proctoring_local.services.run.captures import find_captures
from proctoring_local.services.run.summary import print_summary
from proctoring_local.services.run.workers import run_folder
from tests.builders import build_exam, synthetic_jpeg
from tests.fakes import FACTORY


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
    for seed, name in enumerate(("c0", "c0.JPG")):  # other frames: the same one twice would be a replay
        (exam / "images/exam1/ana" / name).write_bytes(synthetic_jpeg(70 + seed))
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


def _jpeg_with_exif(taken: str | None, offset: str | None = None) -> bytes:
    import io

    from PIL import Image

    image = Image.new("RGB", (64, 48), "grey")
    exif = Image.Exif()
    ifd = exif.get_ifd(0x8769)
    if taken:
        ifd[0x9003] = taken
    if offset:
        ifd[0x9011] = offset
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def test_a_captures_time_is_the_cameras_exif_time_else_the_files(tmp_path):
    import os
    from datetime import UTC, datetime

    from proctoring_local.services.run.captures import capture_time

    with_offset = tmp_path / "a.jpg"
    with_offset.write_bytes(_jpeg_with_exif("2026:12:05 10:30:15", "+01:00"))
    assert capture_time(with_offset) == datetime(2026, 12, 5, 9, 30, 15, tzinfo=UTC)
    wall = tmp_path / "b.jpg"
    wall.write_bytes(_jpeg_with_exif("2026:12:05 10:30:15"))  # no offset: this machine's zone
    assert capture_time(wall) == datetime(2026, 12, 5, 10, 30, 15).astimezone().astimezone(UTC)
    for name, data in (
        ("c.jpg", _jpeg_with_exif(None)),
        ("d.jpg", b"not a picture"),
        ("e.jpg", _jpeg_with_exif("0000:00:00 00:00:00")),
    ):
        plain = tmp_path / name
        plain.write_bytes(data)
        os.utime(plain, (1796461200, 1796461200))
        assert capture_time(plain) == datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def test_a_run_warns_when_all_of_a_students_captures_have_one_time(tmp_path, capsys):
    import os

    build_exam(tmp_path, users=("ana", "ben"), captures=0)
    for student in ("ana", "ben"):
        (tmp_path / "images" / "exam1" / student).mkdir(parents=True, exist_ok=True)
    for index in range(3):
        copied = tmp_path / "images" / "exam1" / "ana" / f"c{index}.jpg"  # as plain cp leaves them
        copied.write_bytes(synthetic_jpeg(index))
        os.utime(copied, (1796461200, 1796461200))
        taken = tmp_path / "images" / "exam1" / "ben" / f"c{index}.jpg"  # one time too, but EXIF times
        taken.write_bytes(_jpeg_with_exif(f"2026:12:05 09:0{index}:00", "+00:00"))
        os.utime(taken, (1796461200, 1796461200))
    assert run_folder(tmp_path, workers=1, progress=False, analyzer_factory=FACTORY).complete
    err = " ".join(capsys.readouterr().err.split())
    assert "warning: all 3 captures of images/exam1/ana have one time (2026-12-05 09:00:00 UTC)" in err
    assert "images/exam1/ben" not in err
    times = [json.loads((tmp_path / f"results/exam1/ben/c{i}.json").read_text())["captured_at"] for i in range(3)]
    assert times == ["2026-12-05T09:00:00Z", "2026-12-05T09:01:00Z", "2026-12-05T09:02:00Z"]
