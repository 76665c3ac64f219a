"""proctoring review --references: the reference photos that cannot be used, and why, in a run
folder (checked there by the offline analyzer, through the CheckReference code) and on a bucket."""

from __future__ import annotations

import io
import json

import boto3
import pytest
from moto import mock_aws
from PIL import Image

from proctoring_local.__main__ import main
from proctoring_local.services.demo_exam import _sources


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photos():
    """Real photos: one usable, one without a face, two people, and a file cut short."""
    astronaut, grace, desk = _sources()
    pair = Image.new("RGB", (1024, 512))
    pair.paste(grace.resize((512, 512)), (0, 0))
    pair.paste(astronaut.resize((512, 512)), (512, 0))
    whole = jpeg(grace)
    return {
        "reference/grace.jpg": whole,
        "reference/desk.jpg": jpeg(desk),
        "reference/pair.jpg": jpeg(pair),
        "reference/cut.jpg": whole[: len(whole) // 3],
    }


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def test_a_folders_references_are_checked_once_and_the_unusable_listed(tmp_path, photos, capsys):
    (tmp_path / "images").mkdir()
    for key, data in photos.items():
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_bytes(data)

    assert main(["review", str(tmp_path), "--references"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"4 reference photo(s) in {tmp_path}: 1 usable, 3 unusable, 0 unchecked" in out
    assert "reference/desk.jpg │ unusable │ NO_FACE: no face was found in it" in out
    assert "reference/pair.jpg │ unusable │ SEVERAL_FACES: it shows 2 faces" in out
    assert "reference/cut.jpg │ unusable │ IMAGE_CORRUPT" in out
    assert "reference/grace.jpg" not in out  # usable: not listed
    check = json.loads((tmp_path / "reference-checks" / "grace.jpg.json").read_text())
    assert (check["status"], check["analyzer"], check["face_count"]) == ("usable", "local", 1)

    stamps = {path.name: path.stat().st_mtime_ns for path in (tmp_path / "reference-checks").iterdir()}
    (tmp_path / "reference" / "desk.jpg").write_bytes(photos["reference/grace.jpg"])  # replaced
    assert main(["review", str(tmp_path), "--references"]) == 0
    assert "2 usable, 2 unusable" in " ".join(capsys.readouterr().out.split())
    again = {path.name: path.stat().st_mtime_ns for path in (tmp_path / "reference-checks").iterdir()}
    assert [name for name in stamps if again[name] != stamps[name]] == ["desk.jpg.json"]  # only it checked again


def test_a_buckets_references_are_listed_from_their_stored_checks_without_analysing(photos, capsys):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="captures")
        etags = {
            key: s3.put_object(Bucket="captures", Key=key, Body=data)["ETag"].strip('"') for key, data in photos.items()
        }
        check = {"key": "reference/desk.jpg", "etag": etags["reference/desk.jpg"], "version_id": None, "size": 1}
        check |= {"status": "unusable", "code": "NO_FACE", "reason": "no face was found in it"}
        check |= {"analyzer": "rekognition", "checked_at": "2026-12-05T08:00:00Z"}
        s3.put_object(Bucket="captures", Key="reference-checks/desk.jpg.json", Body=json.dumps(check))
        stale = {**check, "key": "reference/pair.jpg", "etag": "an-earlier-photo", "code": "SEVERAL_FACES"}
        s3.put_object(Bucket="captures", Key="reference-checks/pair.jpg.json", Body=json.dumps(stale))

        assert main(["review", "s3://captures", "--references"]) == 0

    out = " ".join(capsys.readouterr().out.split())
    assert "4 reference photo(s) in s3://captures: 0 usable, 1 unusable, 3 unchecked" in out
    assert "reference/desk.jpg │ unusable │ NO_FACE" in out
    assert "reference/pair.jpg │ unchecked │ no check for this photo yet" in out  # its check is of another photo
