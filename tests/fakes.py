"""Test doubles: analyzers with canned answers, a Rekognition endpoint on loopback, crowds of faces.
Rekognition's own answers are proctoring_local.stand_ins.canned_rekognition's."""

from __future__ import annotations

import base64
import json
import os
import threading
from typing import Any, ClassVar

import boto3
from botocore.validate import ParamValidator

from proctoring_local.stand_ins.canned_rekognition import fixture
from tests.builders import face

# The runner's workers build their analyzer from a "module:factory" name: every image one matching face.
FACTORY = "tests.fakes:one_face_analyzer"


def crowd_responses(people: int, labels: int) -> dict[str, dict[str, Any]]:
    """Rekognition's answers for a crowd: ``people`` faces (DetectFaces returns at most 100) and
    CompareFaces matches, and ``labels`` labels each boxing every person (as Person, Adult, Man,
    Face, Head... do), built from the canned responses' own entries."""
    faces, compare, found = (
        fixture("detect_faces_two"),
        fixture("compare_faces_mismatch"),
        fixture("detect_labels_person"),
    )
    template_face, template_label = faces["FaceDetails"][0], found["Labels"][0]

    def box(index: int) -> dict[str, float]:
        return {"Width": 0.08, "Height": 0.09, "Left": 0.1 * (index % 10), "Top": 0.1 * (index // 10 % 10)}

    faces["FaceDetails"] = [{**template_face, "BoundingBox": box(i)} for i in range(people)]
    compare["FaceMatches"] = [
        {"Similarity": 10.0 + i / 10, "Face": {**template_face, "BoundingBox": box(i)}} for i in range(people)
    ]
    compare["UnmatchedFaces"] = []
    instances = [{"BoundingBox": box(i), "Confidence": 90.0 + i / 100} for i in range(people)]
    found["Labels"] = [
        {**template_label, "Name": "Person" if j == 0 else f"Label {j}", "Instances": instances} for j in range(labels)
    ]
    return {"detect_faces": faces, "compare_faces": compare, "detect_labels": found}


class CannedAnalyzer:
    """A FaceAnalyzer whose answers are chosen by a substring of the image identity (its key)."""

    name = "canned"

    def __init__(
        self,
        faces: dict[str, list[dict[str, Any]]],
        similarity: float | None = 99.0,
        labels: dict[str, Any] | None = None,
    ) -> None:
        self._faces = faces
        self._similarity = similarity
        self._labels = labels or {"checked": True, "labels": [], "person_count": 1}
        self.calls: list[tuple[str, str]] = []

    def _record(self, method: str, image: Any) -> None:
        self.calls.append((method, image.identity))

    def _faces_in(self, image: Any) -> list[dict[str, Any]]:
        return next((faces for marker, faces in self._faces.items() if marker in image.identity), [])

    def detect_faces(self, image: Any) -> list[dict[str, Any]]:
        self._record("detect_faces", image)
        return self._faces_in(image)

    def compare_faces(self, reference: Any, capture: Any) -> dict[str, Any]:
        """As the offline analyzer: the capture's faces, the best similarity when there is one."""
        self._record("compare_faces", capture)
        faces = self._faces_in(capture)
        return {"similarity": self._similarity if faces else None, "face_matches": [], "faces": faces}

    def detect_labels(self, image: Any, max_labels: int, min_confidence: float) -> dict[str, Any]:
        self._record("detect_labels", image)
        return self._labels


def one_face_analyzer() -> CannedAnalyzer:
    """Factory for the runner's workers: every image shows one frontal face matching the reference."""
    return CannedAnalyzer({"": [face()]}, similarity=99.0)


def alert_by_name_analyzer() -> CannedAnalyzer:
    """Factory for load tests: captures whose file name contains "_alert" show no face."""
    return CannedAnalyzer({"_alert": [], "": [face()]}, similarity=99.0)


def counting_analyzer() -> CannedAnalyzer:
    """Factory for the runner's workers: one frontal matching face everywhere, and every call
    written as ``<method> <image identity>`` to the file ``$ANALYZER_CALLS`` (the workers are
    other processes, so the test reads what they did there)."""

    class Counting(CannedAnalyzer):
        def _record(self, method: str, image: Any) -> None:
            super()._record(method, image)
            with open(os.environ["ANALYZER_CALLS"], "a") as log:
                log.write(f"{method} {image.identity}\n")

    return Counting({"": [face()]}, similarity=99.0)


def broken_compare_analyzer() -> CannedAnalyzer:
    """Factory for the runner's workers: comparing a capture whose file name contains "boom" fails."""

    class BrokenCompare(CannedAnalyzer):
        def compare_faces(self, reference: Any, capture: Any) -> dict[str, Any]:
            if "boom" in capture.identity:
                raise RuntimeError("the analyzer broke on this capture")
            return super().compare_faces(reference, capture)

    return BrokenCompare({"": [face()]}, similarity=99.0)


class RekognitionEndpoint:
    """Rekognition on loopback, speaking its JSON protocol, for code that builds its own boto3
    client (the runner's workers, with ``AWS_ENDPOINT_URL_REKOGNITION`` pointing here).

    Every request is checked against botocore's service model. Answers come from the canned
    fixtures (``answers`` maps an API name to a fixture name); ``fail(api_name, code, status,
    times)`` scripts service errors first. ``calls`` lists the API names asked for, in order.
    """

    ANSWERS: ClassVar[dict[str, str]] = {
        "DetectFaces": "detect_faces_one",
        "CompareFaces": "compare_faces_match",
        "DetectLabels": "detect_labels_person",
    }

    def __init__(self, answers: dict[str, str] | None = None) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.answers = {**self.ANSWERS, **(answers or {})}
        self.calls: list[str] = []
        self._failures: dict[str, list[tuple[str, int]]] = {}
        self._lock = threading.Lock()
        model = boto3.client(
            "rekognition", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        ).meta.service_model
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                api_name = self.headers["X-Amz-Target"].rpartition(".")[2]
                params = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                for image in ("Image", "SourceImage", "TargetImage"):
                    if "Bytes" in params.get(image, {}):
                        params[image]["Bytes"] = base64.b64decode(params[image]["Bytes"])
                report = ParamValidator().validate(params, model.operation_model(api_name).input_shape)
                status, body = endpoint._answer(api_name, report.generate_report() if report.has_errors() else "")
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def fail(self, api_name: str, code: str, status: int = 400, times: int = 1) -> None:
        self._failures.setdefault(api_name, []).extend([(code, status)] * times)

    def _answer(self, api_name: str, invalid: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls.append(api_name)
            pending = self._failures.get(api_name)
            failure = pending.pop(0) if pending else None
        if invalid:
            return 400, {"__type": "ValidationException", "message": invalid}
        if failure:
            return failure[1], {"__type": failure[0], "message": f"simulated {failure[0]}"}
        if api_name == "ListCollections":
            return 200, {"CollectionIds": [], "FaceModelVersions": []}
        response = fixture(self.answers[api_name])
        return 200, {key: value for key, value in response.items() if key != "ResponseMetadata"}

    def __enter__(self) -> RekognitionEndpoint:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def dying_analyzer() -> CannedAnalyzer:
    """Factory for the runner's workers: the worker is killed (as the kernel kills for memory)
    on a capture whose file name contains "kill"."""
    import os
    import signal

    class Dying(CannedAnalyzer):
        def _faces_in(self, image: Any) -> list[dict[str, Any]]:  # whichever call looks at the capture
            if "kill" in image.identity:
                os.kill(os.getpid(), signal.SIGKILL)
            return super()._faces_in(image)

    return Dying({"": [face()]}, similarity=99.0)


def _interrupting_analyzer(presses: int, then_sleep: float) -> CannedAnalyzer:
    import os
    import signal
    import time

    class Interrupting(CannedAnalyzer):
        def _faces_in(self, image: Any) -> list[dict[str, Any]]:  # whichever call looks at the capture
            if "interrupt" in image.identity:
                # What a terminal's Ctrl-C does: SIGINT to the runner and to its workers.
                for press in range(presses):
                    os.kill(os.getppid(), signal.SIGINT)
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(0.3 if press + 1 < presses else then_sleep)
            return super()._faces_in(image)

    return Interrupting({"": [face()]}, similarity=99.0)


def ctrl_c_analyzer() -> CannedAnalyzer:
    """Factory for the runner's workers: Ctrl-C is pressed while a capture named "interrupt" is analysed."""
    return _interrupting_analyzer(presses=1, then_sleep=0.5)


def ctrl_c_twice_analyzer() -> CannedAnalyzer:
    """Factory for the runner's workers: Ctrl-C pressed twice while a capture named "interrupt" is
    analysed, which then takes a minute (unless its worker is stopped at once)."""
    return _interrupting_analyzer(presses=2, then_sleep=60.0)


def environment_recording_analyzer() -> CannedAnalyzer:
    """Factory for the runner's workers: one matching face everywhere; the worker's environment, by
    name, written to ``$LOCAL_ROOT/worker-environment.json`` for the test to read."""
    import json

    with open(os.path.join(os.environ["LOCAL_ROOT"], "worker-environment.json"), "w") as out:
        json.dump(dict(os.environ), out)
    return CannedAnalyzer({"": [face()]}, similarity=99.0)
