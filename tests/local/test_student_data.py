"""A student's rights: export (GDPR Art. 15) and erasure (Art. 17), on the deployed stack's stores
in moto (a versioned bucket, both tables, the Object Lock audit bucket) and on a run folder."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from contextlib import closing

import pytest

from proctoring_local.__main__ import main
from proctoring_local.services.run.workers import run_folder
from proctoring_local.stand_ins.stack import AUDIT_BUCKET
from tests.builders import BUCKET, OK_ANSWERS, synthetic_jpeg
from tests.integration.test_decisions import MISMATCH, Proctor

KINDS = ("images/", "reference/", "reference-checks/", "results/", "analyses/", "decisions/")


def bucket_state(pipeline) -> dict[tuple[str, str], bytes | None]:
    """Every object version (None for a delete marker) of the capture bucket."""
    s3, state = pipeline.s3, {}
    listed = s3.list_object_versions(Bucket=BUCKET)
    for version in listed.get("Versions", []):
        body = s3.get_object(Bucket=BUCKET, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
        state[(version["Key"], version["VersionId"])] = body
    for marker in listed.get("DeleteMarkers", []):
        state[(marker["Key"], marker["VersionId"])] = None
    return state


def table_state(pipeline) -> dict[str, list[dict]]:
    return {
        table: pipeline.dynamodb.scan(TableName=table)["Items"]
        for table in (pipeline.alert_table, pipeline.idempotency_table)
    }


def names(text: str, student: str) -> bool:
    return f"/{student}/" in text or f"reference/{student}." in text or f"/{student}." in text


@pytest.fixture
def stack_with_two_students(make_aws_pipeline):
    pipeline = make_aws_pipeline()
    proctor = Proctor(pipeline, webhook=False)
    images = {}
    for student, seed in (("ana", 0), ("bob", 50)):
        pipeline.reference(student, synthetic_jpeg(500 + seed))
        for index in range(2):
            key = f"images/exam1/{student}/capture_{index:03d}.jpg"
            images[key] = synthetic_jpeg(seed + index)
            answers = MISMATCH if index == 0 else OK_ANSWERS
            pipeline.sfn.run(pipeline.upload(key, images[key], **answers))
    pipeline.s3.put_object(
        Bucket=BUCKET, Key="images/exam1/ana/capture_000.jpg", Body=images["images/exam1/ana/capture_000.jpg"]
    )  # a second version
    assert proctor.decide("images/exam1/ana/capture_000.jpg", "dismiss").status == "SUCCEEDED"
    yield pipeline, images
    proctor.machine.__exit__(None, None, None)


def test_export_then_erase_a_student_on_the_stack(stack_with_two_students, tmp_path, capsys):
    pipeline, images = stack_with_two_students
    bob_before = {key: body for key, body in bucket_state(pipeline).items() if names(key[0], "bob")}
    bob_items_before = [
        item for items in table_state(pipeline).values() for item in items if names(json.dumps(item), "bob")
    ]

    out = tmp_path / "ana.zip"
    assert main(["export", f"s3://{BUCKET}", "--student", "ana", "--out", str(out)]) == 0
    with zipfile.ZipFile(out) as archive:
        files = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
        exported_images = {archive.read(name) for name in files if name.startswith("objects/images/")}
    for kind in KINDS:
        assert any(name.startswith(f"objects/{kind}") for name in files), kind
    assert any(name.startswith("tables/alert-history") for name in files)
    assert any(name.startswith("tables/idempotency") for name in files)
    assert any(name.startswith("audit/audit/exams/exam1/ana/decision-") for name in files)
    assert {images[f"images/exam1/ana/capture_{i:03d}.jpg"] for i in (0, 1)} <= exported_images
    assert not any("bob" in name for name in files)
    assert manifest["student"] == "ana" and manifest["exams"] == ["exam1"]

    assert main(["erase", f"s3://{BUCKET}", "--student", "ana", "--by", "Data Protection Office", "--yes"]) == 0
    assert "receipt" in capsys.readouterr().out

    after = bucket_state(pipeline)
    assert not [key for key in after if names(key[0], "ana")]
    ana_images = {images[f"images/exam1/ana/capture_{i:03d}.jpg"] for i in (0, 1)} | {synthetic_jpeg(500)}
    assert not [key for key, body in after.items() if body in ana_images]
    for table, items in table_state(pipeline).items():
        assert not [item for item in items if names(json.dumps(item), "ana") or "exam1/ana" in json.dumps(item)], table
    # Other students untouched.
    assert {key: body for key, body in after.items() if names(key[0], "bob")} == bob_before
    assert [
        item for items in table_state(pipeline).values() for item in items if names(json.dumps(item), "bob")
    ] == bob_items_before
    # The audit record stays, with the receipt; it holds no image.
    audit = pipeline.s3.list_objects_v2(Bucket=AUDIT_BUCKET)["Contents"]
    entries = [
        json.loads(pipeline.s3.get_object(Bucket=AUDIT_BUCKET, Key=item["Key"])["Body"].read()) for item in audit
    ]
    (receipt,) = [entry for entry in entries if entry["kind"] == "erasure"]
    assert receipt["student"] == "ana" and receipt["by"] == "Data Protection Office" and receipt["objects"] > 0
    assert any(entry["kind"] == "decision" and entry["user_id"] == "ana" for entry in entries)
    assert all(item["Size"] < 20_000 for item in audit)


def test_erase_asks_and_refuses_without_a_terminal(stack_with_two_students, capsys):
    pipeline, _images = stack_with_two_students
    before = bucket_state(pipeline)
    assert main(["erase", f"s3://{BUCKET}", "--student", "ana"]) == 2
    assert "add --yes" in capsys.readouterr().err
    assert bucket_state(pipeline) == before


def test_export_then_erase_a_student_on_a_folder(tmp_path):
    (tmp_path / "reference").mkdir()
    for student in ("ana", "bob"):
        (tmp_path / "reference" / f"{student}.jpg").write_bytes(synthetic_jpeg(100))
        for index in range(2):
            path = tmp_path / "images" / "exam1" / student / f"c{index}_alert.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(synthetic_jpeg(index))
    run_folder(tmp_path, workers=1, progress=False, analyzer_factory="tests.fakes:alert_by_name_analyzer")
    decide = ["decide", str(tmp_path), "images/exam1/ana/c0_alert.jpg", "--dismiss", "--by", "P", "--reason", "r"]
    assert main(decide) == 0
    bob_files = {
        p: p.read_bytes()
        for p in tmp_path.rglob("*")
        if p.is_file() and "bob" in p.as_posix() and "audit" not in p.parts
    }

    out = tmp_path.parent / "ana.zip"
    assert main(["export", str(tmp_path), "--student", "ana", "--out", str(out)]) == 0
    with zipfile.ZipFile(out) as archive:
        files = archive.namelist()
    for kind in KINDS:
        assert any(name.startswith(f"objects/{kind}") for name in files), kind
    for table in ("state.sqlite3/alert_captures", "state.sqlite3/timeline", "state.sqlite3/idempotency"):
        assert f"tables/{table}.json" in files

    assert main(["erase", str(tmp_path), "--student", "ana", "--by", "DPO", "--yes"]) == 0
    left = [p for p in tmp_path.rglob("*") if p.is_file() and "audit" not in p.relative_to(tmp_path).parts]
    assert not [p for p in left if names("/" + p.relative_to(tmp_path).as_posix(), "ana")]
    for path in left:
        if path.suffix == ".sqlite3":
            with closing(sqlite3.connect(path)) as db:
                tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
                for table in tables:
                    rows = db.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608
                    assert not [row for row in rows if names(json.dumps(row, default=str), "ana")], (path.name, table)
                    assert not [row for row in rows if "ana" in row], (path.name, table)  # exam_id, user_id columns
        else:
            assert b"/ana/" not in path.read_bytes() and b'"ana"' not in path.read_bytes(), path
    assert {p: p.read_bytes() for p in bob_files} == bob_files
    receipts = [json.loads(p.read_text()) for p in (tmp_path / "audit").rglob("erasure-*.json")]
    assert [(r["student"], r["by"]) for r in receipts] == [("ana", "DPO")]


def test_the_audit_record_exports_as_csv(tmp_path):
    (tmp_path / "reference").mkdir()
    (tmp_path / "reference" / "ana.jpg").write_bytes(synthetic_jpeg(100))
    path = tmp_path / "images" / "exam1" / "ana" / "c0_alert.jpg"
    path.parent.mkdir(parents=True)
    path.write_bytes(synthetic_jpeg(1))
    run_folder(tmp_path, workers=1, progress=False, analyzer_factory="tests.fakes:alert_by_name_analyzer")
    assert (
        main(
            ["decide", str(tmp_path), "images/exam1/ana/c0_alert.jpg", "--confirm", "--by", "=cmd|x", "--reason", "ok"]
        )
        == 0
    )
    out = tmp_path.parent / "audit.csv"
    assert main(["audit", str(tmp_path), "--exam", "exam1", "--csv", str(out)]) == 0
    import csv

    rows = list(csv.DictReader(out.open()))
    assert [row["kind"] for row in rows] == ["verdict", "decision"]
    assert rows[0]["status"] == "ALERT" and rows[0]["reasons"].startswith("NO_FACE")
    assert rows[1]["decision"] == "confirm" and rows[1]["decided_by"] == "'=cmd|x"  # no formula
