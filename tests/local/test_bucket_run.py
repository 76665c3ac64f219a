"""proctoring run s3://BUCKET and menu s3://BUCKET: the captures already in a bucket, judged here
through the same ASL with Rekognition (on loopback), after the cost is said and confirmed; moto
stands in for S3."""

from __future__ import annotations

import json
from collections import Counter

import boto3
import pytest
from botocore.exceptions import ClientError, NoCredentialsError
from moto import mock_aws

from proctoring_local.__main__ import main
from proctoring_local.services.bucket_run import refused
from tests.builders import assert_valid, build_exam
from tests.fakes import RekognitionEndpoint

BUCKET = "exams"


@pytest.fixture
def bucket(tmp_path, monkeypatch):
    """exam1 (ana and ben, two captures each, with references) and exam2/cy, in a moto bucket; the
    command runs from a folder of its own; Rekognition answers on loopback."""
    (tmp_path / "source").mkdir()
    source = build_exam(tmp_path / "source")
    (source / "images" / "exam2" / "cy").mkdir(parents=True)
    (source / "images" / "exam2" / "cy" / "c0.jpg").write_bytes((source / "images/exam1/ana/c0.jpg").read_bytes())
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    with (
        RekognitionEndpoint() as rekognition,
        mock_aws(config={"core": {"passthrough": {"services": ["rekognition"]}}}),
    ):
        monkeypatch.setenv("AWS_ENDPOINT_URL_REKOGNITION", rekognition.url)
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        for path in sorted(source.rglob("*.jpg")):
            s3.put_object(Bucket=BUCKET, Key=path.relative_to(source).as_posix(), Body=path.read_bytes())
        yield s3, rekognition, work


def bucket_results(s3) -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix="results/").get("Contents", []))


def test_nothing_is_called_without_a_confirmation(bucket, capsys):
    _s3, rekognition, work = bucket
    assert main(["run", f"s3://{BUCKET}", "--exam", "exam1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "4 capture(s) of 2 student(s) in s3://exams, 2 reference photo(s): at most 10 Rekognition calls" in err
    assert "about $0.01 at list price" in err and "add --yes" in err
    assert rekognition.calls == [] and not (work / "runs").exists()


def test_a_buckets_captures_are_judged_here_and_stay_here(bucket, capsys):
    s3, rekognition, work = bucket
    command = ["run", f"s3://{BUCKET}", "--exam", "exam1", "--limit", "3", "--yes", "--workers", "1", "--no-progress"]
    assert main(command) == 0
    assert "3 capture(s) of 2 student(s) in s3://exams, 2 reference photo(s)" in capsys.readouterr().err
    documents = [
        assert_valid(json.loads(p.read_text())) for p in sorted((work / "runs" / BUCKET).glob("results/**/*.json"))
    ]
    assert [document["s3_input"] for document in documents] == [
        "s3://exams/images/exam1/ana/c0.jpg",
        "s3://exams/images/exam1/ana/c1.jpg",
        "s3://exams/images/exam1/ben/c0.jpg",
    ]
    assert {document["analyzer"] for document in documents} == {"rekognition"}  # the default for a bucket
    assert bucket_results(s3) == []  # nothing written to the bucket without --write-results
    calls = Counter(rekognition.calls)
    assert (calls["CompareFaces"], calls["DetectLabels"], calls["DetectFaces"]) == (3, 3, 2)


def test_write_results_puts_the_documents_under_the_buckets_results_prefix(bucket, capsys):
    s3, _, work = bucket
    command = [
        "run",
        f"s3://{BUCKET}",
        "--student",
        "cy",
        "--write-results",
        "--yes",
        "--workers",
        "1",
        "--no-progress",
    ]
    assert main(command) == 0
    assert "1 result document(s) written to s3://exams/results/" in capsys.readouterr().err
    assert bucket_results(s3) == ["results/exam2/cy/c0.json"]
    stored = s3.get_object(Bucket=BUCKET, Key="results/exam2/cy/c0.json")["Body"].read()
    assert stored == (work / "runs" / BUCKET / "results/exam2/cy/c0.json").read_bytes()
    assert json.loads(stored)["reason"] == "REFERENCE_MISSING"  # cy has no reference photo


def test_the_bucket_options_are_refused_for_a_folder_and_a_missing_bucket_is_named(bucket, tmp_path, capsys):
    assert main(["run", str(tmp_path / "source"), "--limit", "2"]) == 2
    assert "--limit: only with s3://BUCKET" in capsys.readouterr().err
    assert main(["run", "s3://no-such-bucket", "--yes"]) == 2
    assert "no bucket named no-such-bucket" in capsys.readouterr().err
    assert main(["run", f"s3://{BUCKET}", "--exam", "exam9", "--yes"]) == 2
    assert "no capture under s3://exams/images/exam9/" in capsys.readouterr().err


def test_the_menu_on_a_bucket_asks_before_each_choice(bucket, monkeypatch, capsys):
    s3, rekognition, _work = bucket
    answers = iter(["1", "5", "n", "1", "5", "y", "q"])  # the fifth capture, exam2/cy/c0: refused, then confirmed
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    assert main(["menu", f"s3://{BUCKET}"]) == 0
    out = capsys.readouterr().out
    assert "5. images/exam2/cy/c0.jpg" in out
    assert "error: not run: not confirmed" in out
    assert "images/exam2/cy/c0.jpg: ALERT REFERENCE_MISSING" in out
    assert Counter(rekognition.calls)["DetectLabels"] == 1  # once, after the confirmation
    assert bucket_results(s3) == []


@pytest.mark.parametrize(
    ("error", "operation", "said"),
    [
        (NoCredentialsError(), "ListObjectsV2", "no AWS credentials: set AWS_PROFILE"),
        (
            ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "ListObjectsV2"),
            "ListObjectsV2",
            "access denied; it needs s3:ListBucket on arn:aws:s3:::exams",
        ),
        (
            ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject"),
            "GetObject",
            "it needs s3:GetObject on arn:aws:s3:::exams/images/*",
        ),
        (
            ClientError({"Error": {"Code": "PermanentRedirect", "Region": "eu-west-1"}}, "ListObjectsV2"),
            "ListObjectsV2",
            "in another region (eu-west-1): set AWS_REGION to it",
        ),
    ],
)
def test_aws_refusals_name_what_is_missing(error, operation, said):
    assert said in str(refused(error, operation, BUCKET, "images/"))


HOSTILE_KEYS = {
    "images/exam1/ana/../../../../escaped.jpg": "'..'",
    "images/exam1/ana/../../../.venv/lib/evil.pth": "'..'",
    "images/exam1//ana/c9.jpg": "empty segment",
    "images/exam1/ana/./c9.jpg": "'.'",
}


def test_keys_that_would_leave_the_run_folder_are_refused_by_name_and_the_rest_judged(bucket, capsys, tmp_path):
    s3, _, work = bucket
    jpeg = (tmp_path / "source" / "images" / "exam1" / "ana" / "c0.jpg").read_bytes()
    for key in HOSTILE_KEYS:
        s3.put_object(Bucket=BUCKET, Key=key, Body=jpeg)
    # Percent-escapes are ordinary characters of an S3 key: a name, copied and judged as such.
    s3.put_object(Bucket=BUCKET, Key="images/exam1/ana/%2e%2e%2f%2e%2e%2fc5.jpg", Body=jpeg)
    s3.put_object(Bucket=BUCKET, Key="images/exam1/ana/huge.jpg", Body=b"\xff\xd8" + bytes(20 * 1024 * 1024))
    listed = {item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix="images/")["Contents"]}
    assert set(HOSTILE_KEYS) <= listed  # the store kept them as written: the copy must refuse them
    before = {path for path in tmp_path.rglob("*") if "runs" not in path.parts}

    command = ["run", f"s3://{BUCKET}", "--exam", "exam1", "--yes", "--workers", "1", "--no-progress"]
    assert main(command) == 1  # some captures have no document: the refused ones
    out, err = capsys.readouterr()

    after = {path for path in tmp_path.rglob("*") if "runs" not in path.parts}
    assert after == before  # nothing written anywhere but the run folder
    run = work / "runs" / BUCKET
    assert all(path.resolve().is_relative_to(run.resolve()) for path in run.rglob("*"))
    for key, why in HOSTILE_KEYS.items():
        assert f"refused s3://{BUCKET}/{key}: " in err and why in err
    assert f"refused s3://{BUCKET}/images/exam1/ana/huge.jpg: 20.0 MB or more, over the 15 MB" in err
    assert not (run / "images" / "exam1" / "ana" / "huge.jpg").exists()
    judged = sorted(p.relative_to(run / "results").as_posix() for p in (run / "results").rglob("*.json"))
    assert judged == [
        "exam1/ana/%2e%2e%2f%2e%2e%2fc5.json",
        "exam1/ana/c0.json",
        "exam1/ana/c1.json",
        "exam1/ben/c0.json",
        "exam1/ben/c1.json",
    ]
    assert "images/exam1/ana/huge.jpg" in " ".join(out.split())  # named in the summary as not judged


def test_a_link_inside_the_run_folder_cannot_lead_a_copy_out(bucket, capsys, tmp_path):
    _, _, work = bucket
    outside = tmp_path / "outside"
    outside.mkdir()
    run = work / "runs" / BUCKET / "images"
    run.mkdir(parents=True)
    (run / "exam1").symlink_to(outside, target_is_directory=True)  # a folder received with a link in it
    command = ["run", f"s3://{BUCKET}", "--exam", "exam1", "--yes", "--workers", "1", "--no-progress"]
    assert main(command) == 1
    err = capsys.readouterr().err
    assert list(outside.iterdir()) == []
    assert f"refused s3://{BUCKET}/images/exam1/ana/c0.jpg: the folder holds a link on the way to it" in err


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("/etc/passwd", "absolute"),
        ("images/exam1/ana/../../../../home/user/.bashrc", "'..'"),
        ("images/exam1/ana/..", "'..'"),
        ("images/exam1//ana/c.jpg", "empty segment"),
        ("images/exam1/./ana/c.jpg", "'.'"),
        ("images/exam1/ana/c\0.jpg", "NUL"),
    ],
)
def test_a_key_that_is_not_a_name_under_the_folder_has_no_local_path(tmp_path, key, why):
    from proctoring_local.services.bucket_run import local_path

    with pytest.raises(ValueError, match=why):
        local_path(tmp_path, key)
    assert local_path(tmp_path, "images/exam1/ana/%2e%2e%2fc.jpg") == tmp_path / "images/exam1/ana/%2e%2e%2fc.jpg"
