"""Shared fixtures: environments for the handlers, real image files, moto-backed AWS, the in-process
state machine, and a real webhook receiver on loopback."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from hypothesis import settings

from proctoring_local.stand_ins.canned_rekognition import CannedRekognition
from proctoring_local.stand_ins.engine import LocalStepFunctions
from proctoring_local.stand_ins.events import object_created_event
from proctoring_local.stand_ins.lambdas import environment, reset_backends
from proctoring_local.stand_ins.stack import aws_environment
from tests.builders import (
    BUCKET,
    FACES,
    WEBHOOK_SECRET,
    assert_valid,
    sent_bytes,
)

# Property tests explore new examples on every local run; CI (HYPOTHESIS_PROFILE=ci) runs the same
# examples every time, so its verdict does not depend on the draw.
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


QUIET = {
    "POWERTOOLS_SERVICE_NAME": "proctoring",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "CRITICAL",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "POWERTOOLS_METRICS_NAMESPACE": "Proctoring",
}


def _settings_variables() -> set[str]:
    """Every environment variable the settings read, as Settings.from_env asks for them."""
    from proctoring.config import Settings

    asked: set[str] = set()

    class Recorder(dict):
        def get(self, key: str, default: Any = None) -> Any:
            asked.add(key)
            return default

    Settings.from_env(Recorder())
    return asked


# Every test runs with fake credentials and quiet Powertools, never against a real account, and
# with the settings' defaults unless it sets one: a threshold or prefix exported in the shell (as
# the README shows for local runs) must not change what the tests see.
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", *_settings_variables()):
    os.environ.pop(_name, None)
os.environ.update(QUIET)


@pytest.fixture(autouse=True, scope="session")
def atomic_moto_dynamodb() -> Iterator[None]:
    """Give moto's DynamoDB the per-item atomicity the real service guarantees.

    moto applies a conditional UpdateItem as read, check, write in Python, and builds responses
    from the live items, so two threads can both pass a condition (a lost update) or serialise an
    item while another changes it. DynamoDB does neither. Handling one DynamoDB request at a time,
    from parsing to the serialised response, restores that; the code under test is unchanged.
    """
    import threading

    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()
    original = DynamoHandler.call_action

    def call_action(self, *args, **kwargs):
        with lock:
            return original(self, *args, **kwargs)

    DynamoHandler.call_action = call_action
    yield
    DynamoHandler.call_action = original


@pytest.fixture
def faces_dir() -> Path:
    if not (FACES / "INDEX.md").is_file():
        pytest.skip(f"real test photos not found at {FACES} (they are provided beside the repository)")
    return FACES


@pytest.fixture
def local_env(tmp_path: Path) -> Iterator[Path]:
    """Handlers configured for a laptop: a folder as the bucket, SQLite state."""
    values = {
        **QUIET,
        "STORAGE": "local",
        "LOCAL_ROOT": str(tmp_path),
        "ALERT_HISTORY": "sqlite",
        "IDEMPOTENCY_STORE": "sqlite",
        "ANALYZER": "rekognition",
        "WEBHOOK_URL": "",
    }
    with environment(values):
        yield tmp_path


@dataclass
class AwsPipeline:
    """The real ASL with moto's S3 and DynamoDB, hand-written Rekognition answers, and the handlers."""

    sfn: LocalStepFunctions
    s3: Any
    dynamodb: Any
    rekognition: CannedRekognition
    alert_table: str
    idempotency_table: str

    def put(self, key: str, data: bytes, at: datetime | None = None) -> dict[str, Any]:
        response = self.s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        return object_created_event(
            BUCKET, key, size=len(data), etag=response["ETag"].strip('"'), version_id=response.get("VersionId"), at=at
        )

    def upload(
        self, key: str, data: bytes, at: datetime | None = None, **answers: str | dict[str, Any]
    ) -> dict[str, Any]:
        """Upload a capture (taken ``at``: the event's time) and record what Rekognition answers for it."""
        if answers:
            self.rekognition.register(sent_bytes(data), **answers)
        return self.put(key, data, at)

    def reference(self, user_id: str, data: bytes, faces: str = "detect_faces_one") -> None:
        self.rekognition.register(sent_bytes(data), detect_faces=faces)
        self.put(f"reference/{user_id}.jpg", data)

    def enrol(self, user_id: str) -> dict[str, Any]:
        """CheckReference on the student's reference, with the input the enrolment rule gives it."""
        from tests.builders import context, handler

        return handler("check_reference")({"bucket": BUCKET, "key": f"reference/{user_id}.jpg"}, context("enrol"))

    def result(self, key: str) -> dict[str, Any]:
        """The result document, validated against the published schema."""
        return assert_valid(json.loads(self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()))

    def result_keys(self) -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=BUCKET, Prefix="results/").get("Contents", [])
        return sorted(item["Key"] for item in listed)


@pytest.fixture
def make_aws_pipeline() -> Iterator[Callable[..., AwsPipeline]]:
    """Build the pipeline; ``webhook_url`` turns the webhook on (and the ASL's Notify branch)."""
    import boto3
    from moto import mock_aws

    from proctoring.analysis import set_analyzer
    from proctoring.analysis.rekognition import RekognitionAnalyzer

    stack: list[Any] = []

    def build(webhook_url: str = "", **env: str) -> AwsPipeline:
        mocker = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        mocker.start()
        stack.append(mocker.stop)
        s3 = boto3.client("s3", region_name="us-east-1")
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        stores = aws_environment(s3, dynamodb, BUCKET, webhook_url, WEBHOOK_SECRET)
        alert_table, idempotency_table = stores["ALERT_TABLE"], stores["IDEMPOTENCY_TABLE"]
        values = {**QUIET, **stores, "WEBHOOK_READ_TIMEOUT": "1", **env}
        context = environment(values)
        context.__enter__()
        stack.append(lambda: context.__exit__(None, None, None))
        canned = CannedRekognition()
        set_analyzer(RekognitionAnalyzer(client=canned))
        sfn = LocalStepFunctions(webhook_enabled=bool(webhook_url), retry_sleep=lambda seconds: None, mock=False)
        sfn.__enter__()
        stack.append(lambda: sfn.__exit__(None, None, None))
        return AwsPipeline(sfn, s3, dynamodb, canned, alert_table, idempotency_table)

    yield build
    while stack:
        stack.pop()()
    reset_backends()


@pytest.fixture
def unused_port() -> int:
    """A loopback port nobody listens on: connections to it are refused."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


@pytest.fixture
def unreachable_aws(unused_port: int) -> Iterator[Callable[[str], Any]]:
    """Real boto3 clients whose endpoint never answers: ``"refused"`` (a closed loopback port) or
    ``"silent"`` (a listener that accepts and never replies), with one attempt and short timeouts."""
    silent = socket.create_server(("127.0.0.1", 0))
    endpoints = {"refused": f"http://127.0.0.1:{unused_port}", "silent": f"http://127.0.0.1:{silent.getsockname()[1]}"}
    config = Config(retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=0.3)

    def client(service: str, endpoint: str = "refused") -> Any:
        return boto3.client(service, region_name="us-east-1", endpoint_url=endpoints[endpoint], config=config)

    yield client
    silent.close()


@pytest.fixture(params=["local", "s3"])
def any_storage(request, tmp_path):
    """Each Storage implementation, with a way to read back what it stored: a folder, and S3 (moto)."""
    from moto import mock_aws

    from proctoring.storage import LocalStorage, S3Storage

    if request.param == "local":
        yield LocalStorage(tmp_path), lambda key: (tmp_path / key).read_bytes()
    else:
        with mock_aws():
            client = boto3.client("s3", region_name="us-east-1")
            client.create_bucket(Bucket="captures-b")
            client.put_bucket_versioning(Bucket="captures-b", VersioningConfiguration={"Status": "Enabled"})
            yield S3Storage(client=client), lambda key: client.get_object(Bucket="captures-b", Key=key)["Body"].read()
