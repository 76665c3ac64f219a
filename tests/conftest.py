"""Shared fixtures: environments for the handlers, real image files, moto-backed AWS, the in-process
state machine, and a real webhook receiver on loopback."""

from __future__ import annotations

import io
import json
import os
import random
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from hypothesis import settings
from PIL import Image, ImageDraw

from dev.engine import LambdaContext, LocalStepFunctions, environment, load_handler_module, reset_backends
from dev.events import object_created_event
from tests.fakes import RecordedRekognition

# Property tests explore new examples on every local run; CI (HYPOTHESIS_PROFILE=ci) runs the same
# examples every time, so its verdict does not depend on the draw.
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

ROOT = Path(__file__).resolve().parent.parent
FACES = ROOT.parent / "shared" / "faces"
BUCKET = "proctoring-test-bucket"
WEBHOOK_SECRET = "test-webhook-secret"

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


def synthetic_jpeg(seed: int, size: tuple[int, int] = (640, 480), **save: Any) -> bytes:
    """A real JPEG with content unique to ``seed`` (shapes and noise, no face)."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randrange(40, 200) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        draw.ellipse(
            [x0, y0, x0 + rng.randrange(20, 200), y0 + rng.randrange(20, 200)],
            fill=tuple(rng.randrange(256) for _ in range(3)),
        )
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90, **save)
    return buffer.getvalue()


def build_exam(
    root: Path, users: tuple[str, ...] = ("ana", "ben"), captures: int = 2, name: str = "c{index}.jpg"
) -> Path:
    """``exam1`` with a reference and ``captures`` captures for each of ``users``."""
    for user in users:
        (root / "reference").mkdir(exist_ok=True)
        (root / "reference" / f"{user}.jpg").write_bytes(synthetic_jpeg(100))
        for index in range(captures):
            path = root / "images" / "exam1" / user / name.format(index=index)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(synthetic_jpeg(index))
    return root


def assert_valid(document: dict[str, Any], kind: str = "result") -> dict[str, Any]:
    """Check a document against the published JSON Schema (``result`` or ``webhook``)."""
    import jsonschema

    from proctoring.result import schema

    jsonschema.validate(document, schema(kind), format_checker=jsonschema.FormatChecker())
    return document


def sent_bytes(data: bytes) -> bytes:
    """The bytes the analyzer sends to Rekognition for an upload (normalised JPEG)."""
    from proctoring.images import prepare_image

    return prepare_image(data, identity="probe").jpeg_bytes()


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


def handler(step: str) -> Any:
    """The ``lambda_handler`` of ``functions/<step>/app.py``."""
    return load_handler_module(ROOT / "functions" / step).lambda_handler


def emitted_metrics(step: str, event: dict[str, Any], monkeypatch: Any, capsys: Any) -> dict[str, dict[str, Any]]:
    """Run a handler with metrics on; the CloudWatch EMF metrics it printed, by name, with their
    namespace and dimensions (what the template's alarms select on)."""
    module = load_handler_module(ROOT / "functions" / step)
    module.metrics.clear_metrics()
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    capsys.readouterr()
    module.lambda_handler(event, LambdaContext(step))
    found = {}
    for line in capsys.readouterr().out.splitlines():
        record = json.loads(line) if line.startswith("{") else {}
        for directive in record.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                dimensions = {name: record[name] for names in directive["Dimensions"] for name in names}
                found[metric["Name"]] = {"namespace": directive["Namespace"], "dimensions": dimensions}
    return found


@dataclass
class AwsPipeline:
    """The real ASL with moto's S3 and DynamoDB, recorded Rekognition answers, and the handlers."""

    sfn: LocalStepFunctions
    s3: Any
    dynamodb: Any
    rekognition: RecordedRekognition
    alert_table: str
    idempotency_table: str

    def put(self, key: str, data: bytes) -> dict[str, Any]:
        response = self.s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        return object_created_event(
            BUCKET, key, size=len(data), etag=response["ETag"].strip('"'), version_id=response.get("VersionId")
        )

    def upload(self, key: str, data: bytes, **answers: str | dict[str, Any]) -> dict[str, Any]:
        """Upload a capture and record what Rekognition answers for it."""
        if answers:
            self.rekognition.register(sent_bytes(data), **answers)
        return self.put(key, data)

    def reference(self, user_id: str, data: bytes, faces: str = "detect_faces_one") -> None:
        self.rekognition.register(sent_bytes(data), detect_faces=faces)
        self.put(f"reference/{user_id}.jpg", data)

    def result(self, key: str) -> dict[str, Any]:
        """The result document, validated against the published schema."""
        return assert_valid(json.loads(self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()))

    def result_keys(self) -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=BUCKET, Prefix="results/").get("Contents", [])
        return sorted(item["Key"] for item in listed)


def create_tables(dynamodb: Any) -> tuple[str, str]:
    """The two tables with the key schemas template.yaml declares."""
    dynamodb.create_table(
        TableName="alert-history",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    dynamodb.create_table(
        TableName="idempotency",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    return "alert-history", "idempotency"


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
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        alert_table, idempotency_table = create_tables(dynamodb)
        values = {
            **QUIET,
            "STORAGE": "s3",
            "CAPTURE_BUCKET": BUCKET,
            "ANALYZER": "rekognition",
            "ALERT_HISTORY": "dynamodb",
            "ALERT_TABLE": alert_table,
            "IDEMPOTENCY_STORE": "dynamodb",
            "IDEMPOTENCY_TABLE": idempotency_table,
            "WEBHOOK_URL": webhook_url,
            "WEBHOOK_SECRET": WEBHOOK_SECRET if webhook_url else "",
            "WEBHOOK_ALLOW_HTTP": "true",
            "WEBHOOK_READ_TIMEOUT": "1",
            **env,
        }
        context = environment(values)
        context.__enter__()
        stack.append(lambda: context.__exit__(None, None, None))
        recorded = RecordedRekognition()
        set_analyzer(RekognitionAnalyzer(client=recorded))
        sfn = LocalStepFunctions(webhook_enabled=bool(webhook_url), retry_sleep=lambda seconds: None, mock=False)
        sfn.__enter__()
        stack.append(lambda: sfn.__exit__(None, None, None))
        return AwsPipeline(sfn, s3, dynamodb, recorded, alert_table, idempotency_table)

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
