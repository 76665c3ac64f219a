"""Builders shared by every test: real image files, a sample exam, Rekognition-shaped faces,
the handlers as Lambda calls them, the tables template.yaml declares, and schema checks."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from proctoring.storage import file_etag
from proctoring_local.stand_ins.events import object_created_event
from proctoring_local.stand_ins.lambdas import LambdaContext, load_handler_module

ROOT = Path(__file__).resolve().parent.parent
FACES = ROOT.parent / "shared" / "faces"
BUCKET = "proctoring-test-bucket"
WEBHOOK_SECRET = "whsec_cHJvY3RvcmluZy10ZXN0LXdlYmhvb2stc2VjcmV0LWs="
# A capture of the student alone, matching the reference: Rekognition's canned answers for it.
OK_ANSWERS = {
    "detect_faces": "detect_faces_one",
    "compare_faces": "compare_faces_match",
    "detect_labels": "detect_labels_person",
}
CAPTURE_KEY = "images/exam_123/user_456/capture_001.jpg"
RESULT_KEY = "results/exam_123/user_456/capture_001.json"
LOCAL_BUCKET = "local"  # the bucket name of the handlers' events in the local_env fixture


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


def face(
    yaw: float = 0.0,
    pitch: float = 0.0,
    confidence: float = 99.9,
    brightness: float = 70.0,
    sharpness: float = 70.0,
    box: tuple[float, float, float, float] = (0.3, 0.2, 0.25, 0.4),
) -> dict[str, Any]:
    left, top, width, height = box
    return {
        "BoundingBox": {"Width": width, "Height": height, "Left": left, "Top": top},
        "Confidence": confidence,
        "Pose": {"Yaw": yaw, "Pitch": pitch, "Roll": 0.0},
        "Quality": {"Brightness": brightness, "Sharpness": sharpness},
    }


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


def policy_input(**overrides: Any) -> dict[str, Any]:
    """What the policy judges for a clean capture: one frontal face matching its reference, a person
    and no object; ``overrides`` replace whole fields."""
    base = {
        "faces": [face()],
        "image_quality": {"Brightness": 60, "Sharpness": 60},
        "reference": {"status": "ok", "face_count": 1},
        "similarity": 99.0,
        "labels": {"checked": True, "labels": [{"Name": "Person", "Confidence": 99.0}], "person_count": 1},
    }
    base.update(overrides)
    return base


def reason_codes(verdict: Any) -> list[str]:
    return [reason.code for reason in verdict.reasons]


def context(name: str = "test") -> LambdaContext:
    return LambdaContext(name)


def put(root: Path, key: str, data: bytes) -> dict[str, Any]:
    """Write a file into the folder the handlers use as their bucket; its upload event."""
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return object_created_event(LOCAL_BUCKET, key, size=len(data), etag=file_etag(path))


def capture_state(root: Path, key: str, data: bytes, reference: bytes | None = None) -> dict[str, Any]:
    """ParseKey's answer for a capture (and its reference) put in the local bucket."""
    event = put(root, key, data)
    if reference is not None:
        put(root, f"reference/{key.split('/')[2]}.jpg", reference)
    return handler("parse_key")(event, context())
