"""Amazon Rekognition answering from hand-written responses in the service's shapes
(``proctoring_local/stand_ins/fixtures/rekognition``, from the API reference's examples): not recordings of the live
service. Every request and every response is checked against botocore's service model. The tests
use it, and so does ``proctoring cost``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError
from botocore.validate import ParamValidator

FIXTURES = Path(__file__).parent / "fixtures" / "rekognition"


def fixture(name: str) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return answer


def compared(detected: str | dict[str, Any], similarity: float, others: float = 5.0) -> dict[str, Any]:
    """The CompareFaces answer for a capture whose DetectFaces answer is ``detected`` (a fixture name
    or response): each face as a ``ComparedFace`` (box, confidence, landmarks, pose, quality), the
    first with ``similarity`` to the reference, the others with ``others``."""
    faces = (fixture(detected) if isinstance(detected, str) else detected)["FaceDetails"]
    fields = ("BoundingBox", "Confidence", "Landmarks", "Pose", "Quality")
    return {
        "SourceImageFace": fixture("compare_faces_match")["SourceImageFace"],
        "FaceMatches": [
            {"Similarity": similarity if index == 0 else others, "Face": {k: face[k] for k in fields if k in face}}
            for index, face in enumerate(faces)
        ],
        "UnmatchedFaces": [],
    }


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class CannedRekognition:
    """A Rekognition client answering from the hand-written responses, chosen by the image sent.

    ``register(image_bytes, detect_faces=..., detect_labels=..., compare_faces=...)`` ties the
    exact bytes the analyzer sends to fixture names. ``fail(operation, code, times)`` makes the
    next calls raise the service error ``code`` (throttling, internal errors).
    """

    def __init__(self) -> None:
        # Only the service model is read: no request is made with these placeholder credentials.
        self._model = boto3.client(
            "rekognition",
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",  # noqa: S106
        ).meta.service_model
        self._answers: dict[tuple[str, str], str | dict[str, Any]] = {}
        self._failures: dict[str, list[str]] = {}
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def register(self, image: bytes, **answers: str | dict[str, Any]) -> None:
        """Answers are fixture names, or whole responses built by a test (checked the same way)."""
        for operation, name in answers.items():
            self._answers[(operation, _digest(image))] = name

    def fail(self, operation: str, code: str, times: int = 1) -> None:
        self._failures.setdefault(operation, []).extend([code] * times)

    def _answer(
        self, operation: str, api_name: str, params: dict[str, Any], image: bytes, error: str | None = None
    ) -> dict[str, Any]:
        operation_model = self._model.operation_model(api_name)
        report = ParamValidator().validate(params, operation_model.input_shape)
        if report.has_errors():
            raise AssertionError(f"invalid {api_name} request: {report.generate_report()}")
        with self._lock:
            self.calls.append(operation)
            pending = self._failures.get(operation)
            code = pending.pop(0) if pending else error
        if code:
            raise ClientError(
                {"Error": {"Code": code, "Message": f"simulated {code}"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
                api_name,
            )
        name = self._answers.get((operation, _digest(image)))
        if name is None:
            raise AssertionError(f"no canned {api_name} response for this image")
        response = fixture(name) if isinstance(name, str) else name
        body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
        report = ParamValidator().validate(body, operation_model.output_shape)
        if report.has_errors():
            raise AssertionError(f"fixture {str(name)[:80]} does not match {api_name}: {report.generate_report()}")
        return copy.deepcopy(response)

    def detect_faces(self, **params: Any) -> dict[str, Any]:
        return self._answer("detect_faces", "DetectFaces", params, params["Image"]["Bytes"])

    def detect_labels(self, **params: Any) -> dict[str, Any]:
        return self._answer("detect_labels", "DetectLabels", params, params["Image"]["Bytes"])

    def compare_faces(self, **params: Any) -> dict[str, Any]:
        """As the service: InvalidParameterException for a target its DetectFaces answer finds no face
        in, unless a test registered another answer; and each ``ComparedFace`` with the pose and
        quality of the target's DetectFaces answer for the same box, where the answer leaves them out."""
        target = _digest(params["TargetImage"]["Bytes"])
        detected = self._answers.get(("detect_faces", target))
        detected_faces = (fixture(detected) if isinstance(detected, str) else detected or {}).get("FaceDetails")
        faceless = ("compare_faces", target) not in self._answers and detected is not None and not detected_faces
        error = "InvalidParameterException" if faceless else None
        response = self._answer("compare_faces", "CompareFaces", params, params["TargetImage"]["Bytes"], error)
        compared = [match["Face"] for match in response.get("FaceMatches", [])] + response.get("UnmatchedFaces", [])
        for face in compared:
            same = next((d for d in detected_faces or [] if d.get("BoundingBox") == face.get("BoundingBox")), None)
            for field in ("Pose", "Quality", "Landmarks"):
                if same is not None and field not in face and field in same:
                    face[field] = copy.deepcopy(same[field])
        return response
