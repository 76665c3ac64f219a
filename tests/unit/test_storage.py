from __future__ import annotations

import json
import time

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from proctoring.errors import StorageUnavailable
from proctoring.storage import LocalStorage, S3Storage, encode_document, file_etag


def test_local_storage_reads_heads_and_writes(tmp_path):
    storage = LocalStorage(tmp_path)
    (tmp_path / "images/e/u").mkdir(parents=True)
    (tmp_path / "images/e/u/c.jpg").write_bytes(b"abc")
    info = storage.head("any", "images/e/u/c.jpg")
    assert info.size == 3
    assert info.etag == "900150983cd24fb0d6963f7d28e17f72"  # md5("abc"), as S3 reports
    assert storage.read("any", "images/e/u/c.jpg") == b"abc"
    assert storage.head("any", "images/e/u/missing.jpg") is None
    with pytest.raises(FileNotFoundError):
        storage.read("any", "images/e/u/missing.jpg")
    path = storage.write_json("any", "results/e/u/c.json", {"b": 1, "a": "é"})
    assert json.loads((tmp_path / "results/e/u/c.json").read_text()) == {"a": "é", "b": 1}
    assert path.endswith("results/e/u/c.json")
    assert not list((tmp_path / "results/e/u").glob(".tmp-*"))


@pytest.mark.parametrize("key", ["../escape.json", "results/../../escape.json", "/etc/escape.json", "..", ""])
def test_local_storage_refuses_keys_outside_its_root(tmp_path, key):
    storage = LocalStorage(tmp_path / "root")
    with pytest.raises(PermissionError):
        storage.write_json("any", key, {})
    assert storage.head("any", key) is None
    assert not (tmp_path / "escape.json").exists()


def test_local_storage_follows_symlinks_the_user_placed_under_its_root(tmp_path):
    # An exam folder kept on another disk and linked into the run folder is read like any other.
    elsewhere = tmp_path / "external" / "exam9" / "ana"
    elsewhere.mkdir(parents=True)
    (elsewhere / "c.jpg").write_bytes(b"abc")
    (tmp_path / "root" / "images").mkdir(parents=True)
    (tmp_path / "root" / "images" / "exam9").symlink_to(tmp_path / "external" / "exam9")
    storage = LocalStorage(tmp_path / "root")
    assert storage.head("any", "images/exam9/ana/c.jpg").size == 3
    assert storage.read("any", "images/exam9/ana/c.jpg") == b"abc"


def test_local_storage_writes_no_document_through_a_link_that_leads_out(tmp_path):
    # Links are followed for reading; a results folder linked elsewhere is never written through.
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "root" / "results").mkdir(parents=True)
    (tmp_path / "root" / "results" / "exam1").symlink_to(outside, target_is_directory=True)
    storage = LocalStorage(tmp_path / "root")
    for write in (storage.write_json, storage.create_json):
        with pytest.raises(PermissionError, match="leads out of"):
            write("any", "results/exam1/ana/c.json", {"a": 1})
    assert list(outside.rglob("*")) == []


def test_documents_are_canonical_bytes():
    assert encode_document({"b": 1, "a": [2, 1]}) == encode_document({"a": [2, 1], "b": 1})


def test_file_etag_follows_the_content(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"one")
    first = file_etag(path)
    time.sleep(0.01)
    path.write_bytes(b"second")
    assert file_etag(path) != first


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="captures-b")
        client.put_bucket_versioning(Bucket="captures-b", VersioningConfiguration={"Status": "Enabled"})
        yield client


def test_s3_storage_head_read_versions_and_write(s3):
    storage = S3Storage(client=s3)
    first = s3.put_object(Bucket="captures-b", Key="images/e/u/c.jpg", Body=b"v1")
    s3.put_object(Bucket="captures-b", Key="images/e/u/c.jpg", Body=b"v2-longer")
    info = storage.head("captures-b", "images/e/u/c.jpg")
    assert info.size == 9 and info.version_id and '"' not in info.etag
    assert storage.head("captures-b", "images/e/u/none.jpg") is None
    assert storage.read("captures-b", "images/e/u/c.jpg", first["VersionId"]) == b"v1"  # the version of the event
    assert storage.read("captures-b", "images/e/u/c.jpg") == b"v2-longer"
    with pytest.raises(FileNotFoundError, match=r"^s3://captures-b/images/e/u/none.jpg does not exist$"):
        storage.read("captures-b", "images/e/u/none.jpg")
    s3.delete_object(Bucket="captures-b", Key="images/e/u/c.jpg", VersionId=first["VersionId"])
    # The key is still there; the version the event named is not, and the message says which.
    with pytest.raises(FileNotFoundError, match=rf"\(version {first['VersionId']}\) does not exist"):
        storage.read("captures-b", "images/e/u/c.jpg", first["VersionId"])
    assert (
        storage.write_json("captures-b", "results/e/u/c.json", {"status": "OK"}) == "s3://captures-b/results/e/u/c.json"
    )
    written = s3.get_object(Bucket="captures-b", Key="results/e/u/c.json")
    assert written["ContentType"].startswith("application/json")
    assert json.loads(written["Body"].read()) == {"status": "OK"}


class FailingClient:
    def __init__(self, code: str, status: int):
        self.error = ClientError(
            {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject"
        )

    def put_object(self, **kwargs):
        raise self.error

    def head_object(self, **kwargs):
        raise self.error


@pytest.mark.parametrize(("code", "status"), [("SlowDown", 503), ("InternalError", 500), ("ServiceUnavailable", 503)])
def test_transient_s3_errors_become_storage_unavailable(code, status):
    storage = S3Storage(client=FailingClient(code, status))
    with pytest.raises(StorageUnavailable, match=code):
        storage.write_json("b", "results/x.json", {})
    with pytest.raises(StorageUnavailable):
        storage.head("captures-b", "images/x.jpg")


@pytest.mark.parametrize("endpoint", ["refused", "silent"])
def test_unreachable_s3_is_storage_unavailable(unreachable_aws, endpoint):
    storage = S3Storage(client=unreachable_aws("s3", endpoint))
    with pytest.raises(StorageUnavailable, match="HeadObject"):
        storage.head("captures-b", "images/x.jpg")
    with pytest.raises(StorageUnavailable, match="PutObject"):
        storage.write_json("captures-b", "results/x.json", {})


def test_permission_errors_are_not_retried_as_transient():
    storage = S3Storage(client=FailingClient("AccessDenied", 403))
    with pytest.raises(ClientError):
        storage.write_json("b", "results/x.json", {})


def test_create_json_writes_only_where_nothing_is_yet(any_storage, tmp_path):
    storage, stored = any_storage
    uri = storage.create_json("captures-b", "results/e/u/c.json", {"notification": "pending"})
    assert uri == storage.write_json("captures-b", "results/e/u/x.json", {})[: -len("x.json")] + "c.json"
    assert json.loads(stored("results/e/u/c.json")) == {"notification": "pending"}
    storage.write_json("captures-b", "results/e/u/c.json", {"notification": "delivered"})
    assert storage.create_json("captures-b", "results/e/u/c.json", {"notification": "pending"}) is None
    assert json.loads(stored("results/e/u/c.json")) == {"notification": "delivered"}
    assert not list(tmp_path.rglob(".tmp-*"))  # the local temporary file never stays behind


def test_create_json_treats_a_concurrent_conditional_write_as_taken():
    storage = S3Storage(client=FailingClient("ConditionalRequestConflict", 409))
    assert storage.create_json("b", "results/x.json", {}) is None
    with pytest.raises(StorageUnavailable):
        S3Storage(client=FailingClient("SlowDown", 503)).create_json("b", "results/x.json", {})


def test_create_json_is_atomic_across_threads(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    storage = LocalStorage(tmp_path)
    with ThreadPoolExecutor(8) as pool:
        won = [
            bool(uri)
            for uri in pool.map(lambda n: storage.create_json("b", "results/c.json", {"writer": n}), range(32))
        ]
    assert won.count(True) == 1
    assert json.loads((tmp_path / "results/c.json").read_text()) == {"writer": won.index(True)}
