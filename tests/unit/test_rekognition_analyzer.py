"""The Rekognition analyzer against hand-written responses in the service's shapes; every request
checked against the API model."""

from __future__ import annotations

import pytest

from proctoring.analysis.rekognition import RekognitionAnalyzer
from proctoring.errors import AnalyzerUnavailable, RekognitionThrottled
from proctoring.images import ImageRejected, prepare_image
from proctoring_local.stand_ins.canned_rekognition import CannedRekognition
from tests.builders import synthetic_jpeg


@pytest.fixture
def canned():
    return CannedRekognition()


def image(seed: int, identity: str | None = None):
    return prepare_image(synthetic_jpeg(seed), identity or f"s3://b/images/e/u/{seed}.jpg@etag")


def test_detect_faces_keeps_box_confidence_pose_quality(canned):
    capture = image(1)
    canned.register(capture.jpeg_bytes(), detect_faces="detect_faces_two")
    faces = RekognitionAnalyzer(client=canned).detect_faces(capture)
    assert len(faces) == 2
    assert set(faces[0]) == {"BoundingBox", "Confidence", "Pose", "Quality"}
    assert faces[1]["Pose"]["Yaw"] == 14.2


def test_detections_are_cached_per_image_version(canned):
    analyzer = RekognitionAnalyzer(client=canned)
    reference = image(2, "s3://b/reference/u.jpg@v1")
    canned.register(reference.jpeg_bytes(), detect_faces="detect_faces_one")
    analyzer.detect_faces(reference)
    analyzer.detect_faces(image(2, "s3://b/reference/u.jpg@v1"))
    assert canned.calls == ["detect_faces"]
    analyzer.detect_faces(image(2, "s3://b/reference/u.jpg@v2"))  # the reference changed
    assert canned.calls == ["detect_faces", "detect_faces"]


def test_compare_returns_the_best_similarity(canned):
    capture = image(3)
    canned.register(capture.jpeg_bytes(), compare_faces="compare_faces_match")
    result = RekognitionAnalyzer(client=canned).compare_faces(image(4), capture)
    assert result["similarity"] == 99.46
    assert result["face_matches"][0]["BoundingBox"]["Left"] == 0.3712


def test_compare_scores_unmatched_faces_zero_so_the_main_face_is_found(canned):
    from proctoring_local.stand_ins.canned_rekognition import fixture

    response = fixture("compare_faces_match")
    unmatched_box = {"Width": 0.3, "Height": 0.45, "Left": 0.05, "Top": 0.1}
    response["UnmatchedFaces"] = [{"BoundingBox": unmatched_box, "Confidence": 99.9}]
    capture = image(5)
    canned.register(capture.jpeg_bytes(), compare_faces=response)
    result = RekognitionAnalyzer(client=canned).compare_faces(image(4), capture)
    assert result["similarity"] == 99.46  # the best stays the best match's
    assert {"Similarity": 0.0, "BoundingBox": unmatched_box} in result["face_matches"]


def test_labels_count_person_instances(canned):
    capture = image(5)
    canned.register(capture.jpeg_bytes(), detect_labels="detect_labels_two_people")
    labels = RekognitionAnalyzer(client=canned).detect_labels(capture, 10, 75)
    assert labels["checked"] is True
    assert labels["person_count"] == 2


def test_labels_keep_their_aliases(canned):
    capture = image(6)
    canned.register(capture.jpeg_bytes(), detect_labels="detect_labels_phone")
    labels = RekognitionAnalyzer(client=canned).detect_labels(capture, 10, 75)["labels"]
    phone = next(label for label in labels if label["Name"] == "Mobile Phone")
    assert phone["Aliases"] == [{"Name": "Cell Phone"}]


@pytest.mark.parametrize(
    "code", ["ThrottlingException", "ProvisionedThroughputExceededException", "LimitExceededException"]
)
def test_throttling_is_a_named_retryable_error(canned, code):
    canned.fail("detect_faces", code)
    with pytest.raises(RekognitionThrottled, match=code):
        RekognitionAnalyzer(client=canned).detect_faces(image(6))


def test_service_errors_are_analyzer_unavailable(canned):
    canned.fail("detect_labels", "InternalServerError")
    with pytest.raises(AnalyzerUnavailable):
        RekognitionAnalyzer(client=canned).detect_labels(image(7), 10, 75)


@pytest.mark.parametrize("endpoint", ["refused", "silent"])
def test_an_unreachable_service_is_analyzer_unavailable(unreachable_aws, endpoint):
    """No answer at all is as retryable as a 5xx: the state machine retries AnalyzerUnavailable."""
    analyzer = RekognitionAnalyzer(client=unreachable_aws("rekognition", endpoint))
    with pytest.raises(AnalyzerUnavailable, match="detect_faces"):
        analyzer.detect_faces(image(8))


@pytest.mark.parametrize(
    ("code", "reason"),
    [("InvalidImageFormatException", "IMAGE_FORMAT_UNSUPPORTED"), ("ImageTooLargeException", "IMAGE_TOO_LARGE")],
)
def test_image_refusals_become_rejections(canned, code, reason):
    canned.fail("detect_faces", code)
    with pytest.raises(ImageRejected) as error:
        RekognitionAnalyzer(client=canned).detect_faces(image(8))
    assert error.value.code == reason
