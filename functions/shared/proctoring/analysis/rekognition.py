"""Amazon Rekognition behind the analyzer interface."""

from __future__ import annotations

from typing import Any

from ..aws_errors import transient_reason
from ..errors import AnalyzerUnavailable, RekognitionThrottled
from ..images import ImageRejected, PreparedImage
from ..payloads import DetectedLabels, Face, Label
from .base import FaceAnalyzer, FaceComparison

_THROTTLING = {"ThrottlingException", "ProvisionedThroughputExceededException", "LimitExceededException"}
_SERVICE = {"InternalServerError", "ServiceUnavailableException"}
_IMAGE = {
    "InvalidImageFormatException": "IMAGE_FORMAT_UNSUPPORTED",
    "ImageTooLargeException": "IMAGE_TOO_LARGE",
}


class RekognitionAnalyzer(FaceAnalyzer):
    name = "rekognition"

    def __init__(self, client: Any = None, cache_size: int = 64) -> None:
        super().__init__(cache_size)
        if client is None:
            from ..aws_clients import client as aws_client

            # Throttling is retried by the state machine, with backoff, not by the SDK.
            client = aws_client("rekognition")
        self._client = client

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        try:
            response: dict[str, Any] = getattr(self._client, operation)(**kwargs)
            return response
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            message = exc.response.get("Error", {}).get("Message", "")
            if code in _THROTTLING:
                raise RekognitionThrottled(f"{operation}: {code}") from exc
            if code in _IMAGE:
                raise ImageRejected(_IMAGE[code], f"Rekognition refused the image: {message or code}") from exc
            reason = transient_reason(exc, _SERVICE)
            if reason is not None:
                raise AnalyzerUnavailable(f"{operation}: {reason}") from exc
            raise
        except Exception as exc:
            # No answer at all (connection refused, DNS, a timeout): as retryable as a 5xx.
            reason = transient_reason(exc)
            if reason is not None:
                raise AnalyzerUnavailable(f"{operation}: {reason}") from exc
            raise

    def _detect_faces(self, image: PreparedImage) -> list[Face]:
        response = self._call("detect_faces", Image={"Bytes": image.jpeg_bytes()}, Attributes=["DEFAULT"])
        return [_face(face) for face in response.get("FaceDetails", [])]

    def compare_faces(self, reference: PreparedImage, capture: PreparedImage) -> FaceComparison:
        """One CompareFaces: each face of the capture (``ComparedFace``: box, confidence, pose,
        quality) with its similarity to the reference's largest face.

        CompareFaces refuses an image in which it finds no face with InvalidParameterException, the
        error it also gives a malformed request; the reference is known to hold one face, so the
        answer is "no face in the capture, most likely": ``faces`` None, for DetectFaces to settle.
        """
        from botocore.exceptions import ClientError

        try:
            # SimilarityThreshold=0 returns every face with its similarity; the policy applies the threshold.
            response = self._call(
                "compare_faces",
                SourceImage={"Bytes": reference.jpeg_bytes()},
                TargetImage={"Bytes": capture.jpeg_bytes()},
                SimilarityThreshold=0,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "InvalidParameterException":
                raise
            return {"similarity": None, "face_matches": [], "faces": None}
        compared = [(match["Face"], match["Similarity"]) for match in response.get("FaceMatches", [])]
        # Faces below the (zero) threshold, should any come back: scored 0, so that the policy
        # can find the main face among them rather than fall back to another face's best.
        compared += [(face, 0.0) for face in response.get("UnmatchedFaces", [])]
        return {
            "similarity": max((match["Similarity"] for match in response.get("FaceMatches", [])), default=None),
            "face_matches": [{"Similarity": score, "BoundingBox": face["BoundingBox"]} for face, score in compared],
            "faces": [_face(face) for face, _score in compared],
        }

    def detect_labels(self, image: PreparedImage, max_labels: int, min_confidence: float) -> DetectedLabels:
        response = self._call(
            "detect_labels", Image={"Bytes": image.jpeg_bytes()}, MaxLabels=max_labels, MinConfidence=min_confidence
        )
        labels: list[Label] = [
            {
                "Name": label["Name"],
                "Confidence": label["Confidence"],
                "Aliases": [{"Name": alias["Name"]} for alias in label.get("Aliases", []) if "Name" in alias],
                "Instances": [
                    {"BoundingBox": inst.get("BoundingBox", {}), "Confidence": inst.get("Confidence")}
                    for inst in label.get("Instances", [])
                ],
            }
            for label in response.get("Labels", [])
        ]
        persons = next((label for label in labels if label["Name"] == "Person"), None)
        return {"checked": True, "labels": labels, "person_count": len(persons["Instances"]) if persons else 0}


def _face(detail: dict[str, Any]) -> Face:
    """What the policy reads of a FaceDetail (DetectFaces) or a ComparedFace (CompareFaces)."""
    return {
        "BoundingBox": detail["BoundingBox"],
        "Confidence": detail["Confidence"],
        "Pose": detail.get("Pose", {}),
        "Quality": detail.get("Quality", {}),
    }
