"""proctoring review: the captures a proctor has to look at, and every verdict as CSV, read from
documents the real local pipeline wrote (and from the same documents in a bucket)."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import re
import stat

import boto3
import pytest
from moto import mock_aws
from PIL import Image

from proctoring_local.__main__ import main
from proctoring_local.services.review_page import THUMBNAIL_SIDE
from proctoring_local.services.run.workers import run_folder
from proctoring_local.services.verdicts import CSV_COLUMNS, csv_cell
from tests.builders import build_exam, synthetic_jpeg

FACTORY = "tests.fakes:alert_by_name_analyzer"  # a capture whose name holds "_alert" shows no face


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    """ana: one OK capture and three without a face (ALERT, ALERT, ALERT_FINAL); ben: OK and a
    corrupt file (ERROR); exam2/cy: no reference, and one capture whose name a spreadsheet would take
    for a formula and a page for markup."""
    root = tmp_path_factory.mktemp("review")
    build_exam(root, users=("ana", "ben"), captures=1)
    ana = root / "images" / "exam1" / "ana"
    for index in (1, 2, 3):
        (ana / f"c{index}_alert.jpg").write_bytes(synthetic_jpeg(index))
    (root / "images" / "exam1" / "ben" / "c9.jpg").write_bytes(synthetic_jpeg(9)[:300])
    (root / "images" / "exam2" / "cy").mkdir(parents=True)
    (root / "images" / "exam2" / "cy" / "=1+1<i>_alert.jpg").write_bytes(synthetic_jpeg(5))
    report = run_folder(root, workers=1, progress=False, analyzer_factory=FACTORY)
    assert report.complete
    return root


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps to the terminal: one row per line here


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_review_lists_what_needs_a_look_student_by_student(judged, capsys):
    assert main(["review", str(judged)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"7 result document(s) in {judged}: 2 OK, 1 ALERT_FINAL, 3 ALERT, 1 ERROR" in out
    # The third capture without a face in a row: AWAY, the most serious of its reasons, comes first.
    assert "c3_alert.jpg │ ALERT_FINAL │ 3 │ No face in 3 captures in a row" in out
    assert "c9.jpg │ ERROR" in out and "could not be decoded" in out
    assert "c0.jpg" not in out  # the OK captures are not listed
    assert out.index("c1_alert.jpg") < out.index("c2_alert.jpg") < out.index("c3_alert.jpg") < out.index("c9.jpg")


def test_an_80_column_terminal_gives_each_reason_the_whole_width(tmp_path, capsys, monkeypatch):
    build_exam(tmp_path, users=("s1", "s10", "s2"), captures=0)
    deep = tmp_path / "images" / "exam1" / "s10" / "a_folder_too_deep" / "c1.jpg"
    deep.parent.mkdir(parents=True)
    deep.write_bytes(synthetic_jpeg(1))
    for student in ("s1", "s10", "s2"):
        (tmp_path / "images" / "exam1" / student).mkdir(parents=True, exist_ok=True)
        (tmp_path / "images" / "exam1" / student / "c2_alert.jpg").write_bytes(synthetic_jpeg(2))
    assert run_folder(tmp_path, workers=1, progress=False, analyzer_factory=FACTORY).complete
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["review", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    lines = out[out.index("To look at: ALERT_FINAL / ALERT / ERROR") :]  # (above it, the folder's path)
    assert max(len(line) for line in lines) <= 80
    # Each capture on a line of its own, students in the order people count them, its reasons
    # indented below it, folded at whole words.
    headings = [line for line in lines if line.startswith("exam1/")]
    assert headings == [f"exam1/{student}/c2_alert.jpg  ALERT (alert 1)" for student in ("s1", "s2", "s10")]
    reasons = [line for line in lines if line.startswith("    ")]
    assert reasons.count("    No face was found in the capture.") == 3
    assert "images/exam1/s10/a_folder_too_deep/c1.jpg  ERROR" in lines  # a key out of place, as it is
    words = " ".join(" ".join(line.split()) for line in reasons)
    assert "found 4 segment(s) after the prefix" in words
    assert all(line == line.rstrip() for line in lines)


def test_status_and_exam_narrow_the_list(judged, capsys):
    assert main(["review", str(judged), "--status", "ALERT_FINAL", "--exam", "exam1"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "To look at in exam1: ALERT_FINAL" in out
    assert "c3_alert.jpg" in out and "c1_alert.jpg" not in out and "c9.jpg" not in out
    assert main(["review", str(judged), "--exam", "exam9"]) == 2
    assert "no result document of exam 'exam9'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:  # argparse's own refusal
        main(["review", str(judged), "--status", "MAYBE"])
    assert refused.value.code == 2
    assert "invalid choice: 'MAYBE'" in capsys.readouterr().err


def test_the_csv_has_one_row_per_document_as_the_documents_say(judged, tmp_path, capsys):
    out = tmp_path / "verdicts.csv"
    assert main(["review", str(judged), "--csv", str(out)]) == 0
    assert "7 row(s) written to" in capsys.readouterr().err
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # the BOM spreadsheets read UTF-8 by
    rows = read_csv(out.read_text(encoding="utf-8-sig"))
    assert list(rows[0]) == list(CSV_COLUMNS)
    documents = {path.relative_to(judged).as_posix(): json.loads(path.read_text()) for path in judged.rglob("*.json")}
    documents = {key: document for key, document in documents.items() if key.startswith("results/")}
    assert {row["result"] for row in rows} == set(documents)
    for row in rows:
        document = documents[row["result"]]
        assert row["status"] == document["status"]
        assert row["reasons"] == ";".join(reason["code"] for reason in document["reasons"])
        assert row["alert_count"] == ("" if document["alert_count"] is None else str(document["alert_count"]))
        assert row["s3_input"] == document["s3_input"]
    final = next(row for row in rows if row["status"] == "ALERT_FINAL")
    assert (final["user_id"], final["capture"], final["reason"], final["faces"]) == (
        "ana",
        "c3_alert.jpg",
        "AWAY",
        "0",
    )


def test_a_capture_named_like_a_formula_is_written_as_text(tmp_path, capsys):
    build_exam(tmp_path, users=("cy",), captures=0)
    (tmp_path / "images" / "exam1" / "cy").mkdir(parents=True, exist_ok=True)
    for name in ("=1+1<i>_alert.jpg", "c4;=1+1;@x,-2 +3_alert.jpg"):
        (tmp_path / "images" / "exam1" / "cy" / name).write_bytes(synthetic_jpeg(5))
    assert run_folder(tmp_path, workers=1, progress=False, analyzer_factory=FACTORY).complete
    assert main(["review", str(tmp_path), "--csv", "-"]) == 0
    text = capsys.readouterr().out
    rows = read_csv(text)
    assert [row["capture"] for row in rows] == ["'=1+1<i>_alert.jpg", "c4;'=1+1;'@x,'-2 +3_alert.jpg"]
    # Opened with either separator a spreadsheet may use, no cell starts a formula.
    for separator in (",", ";", "\t"):
        cells = [cell for row in csv.reader(io.StringIO(text), delimiter=separator) for cell in row]
        assert cells and not [cell for cell in cells if cell.lstrip('"').startswith(("=", "+", "-", "@"))]
    assert csv_cell("-2") == "'-2" and csv_cell("@SUM(A1)") == "'@SUM(A1)" and csv_cell(12.5) == "12.5"
    assert csv_cell(None) == ""


def test_a_file_that_is_no_result_document_is_named_and_the_rest_read(judged, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(judged, copy)
    (copy / "results" / "exam1" / "ana" / "notes.json").write_text("half a docu")
    (copy / "results" / "exam1" / "ana" / "list.json").write_text("[1, 2]")
    assert main(["review", str(copy), "--csv", "-"]) == 0
    captured = capsys.readouterr()
    assert len(read_csv(captured.out)) == 7
    assert "note: results/exam1/ana/notes.json: not JSON" in captured.err
    assert "note: results/exam1/ana/list.json: not a result document (no status)" in captured.err


def test_a_folder_without_results_says_so(tmp_path, capsys):
    build_exam(tmp_path, users=("ana",), captures=1)
    assert main(["review", str(tmp_path)]) == 0
    assert f"No result document in {tmp_path} yet." in capsys.readouterr().out


def test_a_csv_that_cannot_be_written_is_a_usage_error(judged, tmp_path, capsys):
    assert main(["review", str(judged), "--csv", str(tmp_path / "no" / "such" / "folder.csv")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_the_same_documents_in_a_bucket_give_the_same_csv(judged, capsys, monkeypatch):
    assert main(["review", str(judged), "--csv", "-"]) == 0
    from_folder = capsys.readouterr().out
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="captures")
        for path in judged.rglob("*"):
            if path.is_file() and not path.relative_to(judged).parts[0].startswith("."):
                s3.put_object(Bucket="captures", Key=path.relative_to(judged).as_posix(), Body=path.read_bytes())
        assert main(["review", "s3://captures", "--csv", "-"]) == 0
        from_bucket = capsys.readouterr().out
        assert main(["review", "s3://captures", "--status", "ERROR"]) == 0
        assert "c9.jpg" in capsys.readouterr().out
        assert main(["review", "s3://no-such-bucket"]) == 2
        assert "AWS answered NoSuchBucket" in capsys.readouterr().err
    assert from_bucket == from_folder


def page_images(page: str) -> dict[str, Image.Image]:
    """The pictures of a review page, by their alt text (the key they show)."""
    found = re.findall(r'<img src="data:image/jpeg;base64,([^"]+)" alt="([^"]*)">', page)
    return {html.unescape(alt): Image.open(io.BytesIO(base64.b64decode(data))) for data, alt in found}


def test_the_page_shows_each_capture_to_look_at_beside_its_students_reference(judged, tmp_path, capsys):
    out = tmp_path / "review.html"
    assert main(["review", str(judged), "--html", str(out)]) == 0
    assert "5 capture(s) on" in capsys.readouterr().err
    page = out.read_text()
    images = page_images(page)
    # ana's three alerts, cy's one, and the references of ana and ben: ben's ERROR is a corrupt
    # file, and cy has no reference.
    assert set(images) == {
        "reference/ana.jpg",
        "images/exam1/ana/c1_alert.jpg",
        "images/exam1/ana/c2_alert.jpg",
        "images/exam1/ana/c3_alert.jpg",
        "reference/ben.jpg",
        "images/exam2/cy/=1+1<i>_alert.jpg",
    }
    assert all(max(image.size) <= THUMBNAIL_SIDE for image in images.values())
    assert "cannot be shown: the image could not be decoded" in page
    assert "no reference photo" in page
    assert "c0.jpg" not in page  # OK captures are not on it
    assert page.index("exam1 / ana") < page.index("exam1 / ben") < page.index("exam2 / cy")
    assert "=1+1&lt;i&gt;_alert.jpg" in page and "<i>_alert" not in page  # names are text, never markup


def test_the_judged_face_is_boxed_where_the_document_says(judged, tmp_path):
    from proctoring_local.services.review_page import MAIN_FACE, thumbnail_jpeg

    box = {"Left": 0.25, "Top": 0.25, "Width": 0.5, "Height": 0.5}
    data = io.BytesIO()
    Image.new("RGB", (640, 480), (40, 120, 200)).save(data, format="JPEG")
    image = Image.open(io.BytesIO(thumbnail_jpeg(data.getvalue(), [(box, MAIN_FACE)])))
    width, height = image.size
    on_edge = image.getpixel((round(width * 0.25) + 1, height // 2))
    inside = image.getpixel((width // 2, height // 2))
    assert all(abs(a - b) < 40 for a, b in zip(on_edge, MAIN_FACE, strict=True)), on_edge
    assert all(abs(a - b) < 40 for a, b in zip(inside, (40, 120, 200), strict=True)), inside


def test_the_same_documents_in_a_bucket_give_the_same_page(judged, tmp_path, monkeypatch):
    folder_page, bucket_page = tmp_path / "folder.html", tmp_path / "bucket.html"
    assert main(["review", str(judged), "--html", str(folder_page), "--exam", "exam1"]) == 0
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="local-proctoring")  # the bucket the documents name
        for path in judged.rglob("*"):
            if path.is_file() and not path.relative_to(judged).parts[0].startswith("."):
                s3.put_object(
                    Bucket="local-proctoring", Key=path.relative_to(judged).as_posix(), Body=path.read_bytes()
                )
        assert main(["review", "s3://local-proctoring", "--html", str(bucket_page), "--exam", "exam1"]) == 0
    from_folder = folder_page.read_text().replace(str(judged), "TARGET")
    assert bucket_page.read_text().replace("s3://local-proctoring", "TARGET") == from_folder


def test_the_page_is_readable_by_its_owner_only_even_over_an_open_file(judged, tmp_path, capsys):
    out = tmp_path / "review.html"
    out.write_text("an earlier page")
    out.chmod(0o644)
    assert main(["review", str(judged), "--html", str(out)]) == 0
    assert "(readable by you only)" in capsys.readouterr().err
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "reference/ana.jpg" in out.read_text() and "an earlier page" not in out.read_text()
