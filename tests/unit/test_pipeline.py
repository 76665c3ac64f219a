"""The image steps (DetectFaces, CompareToReference, DetectLabels) through their handlers: what each
answers for real image files, and what it refuses before reading an image."""

from __future__ import annotations

import pytest

from proctoring.analysis import set_analyzer
from tests.builders import (
    capture_state,
    context,
    face,
    handler,
    synthetic_jpeg,
)
from tests.fakes import CannedAnalyzer


# -- DetectFaces ------------------------------------------------------------------------------------
def test_detect_faces_returns_faces_and_quality(local_env):
    set_analyzer(CannedAnalyzer({"capture": [face()]}))
    capture = capture_state(local_env, "images/e/u/capture.jpg", synthetic_jpeg(1))
    result = handler("detect_faces")({"capture": capture}, context())
    assert result["face_count"] == 1
    assert result["faces"][0]["Pose"]["Yaw"] == 0.0
    assert result["image_quality"] is None  # each face carries its own Quality
    assert result["image"] == {"width": 640, "height": 480, "format": "JPEG"}


def test_detect_faces_passes_on_the_hundred_largest_faces_as_rekognition_does(local_env):
    crowd = [face(box=(0.0, 0.0, 0.001 * (i + 1), 0.001 * (i + 1))) for i in range(150)]
    set_analyzer(CannedAnalyzer({"capture": crowd}))
    capture = capture_state(local_env, "images/e/u/capture.jpg", synthetic_jpeg(1))
    result = handler("detect_faces")({"capture": capture}, context())
    assert result["face_count"] == 100
    widths = [f["BoundingBox"]["Width"] for f in result["faces"]]
    assert widths == sorted(widths, reverse=True)
    assert widths[-1] == pytest.approx(0.051)


def test_detect_faces_reports_a_capture_deleted_after_parse_key(local_env):
    # A deletion between two steps is no failure to retry: the document says what happened.
    set_analyzer(CannedAnalyzer({}))
    capture = capture_state(local_env, "images/e/u/gone.jpg", synthetic_jpeg(1))
    (local_env / capture["key"]).unlink()
    result = handler("detect_faces")({"capture": capture}, context())
    assert result["rejection"]["code"] == "CAPTURE_NOT_FOUND"
    assert "images/e/u/gone.jpg no longer exists" in result["rejection"]["message"]
    assert result["face_count"] == 0


def test_detect_faces_rejects_a_corrupt_image_with_a_code(local_env):
    set_analyzer(CannedAnalyzer({}))
    data = synthetic_jpeg(1)
    capture = capture_state(local_env, "images/e/u/broken.jpg", data[:300])
    result = handler("detect_faces")({"capture": capture}, context())
    assert result["rejection"]["code"] == "IMAGE_CORRUPT"
    assert result["face_count"] == 0


def test_detect_faces_refuses_oversized_files_before_downloading(local_env):
    set_analyzer(CannedAnalyzer({}))
    capture = capture_state(local_env, "images/e/u/huge.jpg", synthetic_jpeg(1))
    capture["size"] = 16 * 1024 * 1024
    result = handler("detect_faces")({"capture": capture}, context())
    assert result["rejection"]["code"] == "IMAGE_TOO_LARGE"


# -- CompareToReference -----------------------------------------------------------------------------
def checked_capture(root, capture_faces, similarity=97.5):
    """A capture whose reference (one face) is checked usable, and the analyzer that then answers."""
    analyzer = CannedAnalyzer({"reference": [face()], "capture": capture_faces}, similarity=similarity)
    set_analyzer(analyzer)
    capture = capture_state(root, "images/e/u/capture.jpg", synthetic_jpeg(1), synthetic_jpeg(2))
    capture["reference"] = handler("check_reference")(
        {"bucket": capture["bucket"], "key": capture["reference"]["key"]}, context()
    )
    analyzer.calls.clear()
    return capture, analyzer


def test_compare_describes_the_captures_faces_in_the_one_comparison(local_env):
    capture, analyzer = checked_capture(local_env, [face(confidence=99.0), face(confidence=40.0)])
    result = handler("compare_to_reference")({"capture": capture}, context())
    assert [call[0] for call in analyzer.calls] == ["compare_faces"]  # no DetectFaces of either picture
    assert (result["face_count"], len(result["faces"])) == (1, 2)  # the faint one is listed, not counted
    assert result["comparison"]["similarity"] == 97.5
    assert result["image"]["format"] == "JPEG"


def test_compare_answers_no_face_as_a_count_of_zero_where_the_analyzer_can_tell(local_env):
    capture, _ = checked_capture(local_env, [])
    result = handler("compare_to_reference")({"capture": capture}, context())
    assert (result["face_count"], result["faces"], result["comparison"]["similarity"]) == (0, [], None)
    assert result["image_quality"] is not None  # the picture's own quality, with no face to judge


def test_compare_rejects_an_unreadable_capture_without_comparing(local_env):
    capture, analyzer = checked_capture(local_env, [face()])
    (local_env / capture["key"]).write_bytes(b"not an image" * 20)
    capture["etag"] = "changed"
    result = handler("compare_to_reference")({"capture": capture}, context())
    assert result["rejection"]["code"] == "IMAGE_UNREADABLE"
    assert analyzer.calls == []


def test_compare_refuses_a_capture_whose_reference_is_not_checked_usable(local_env):
    set_analyzer(CannedAnalyzer({"capture": [face()]}))
    capture = capture_state(local_env, "images/e/u/capture.jpg", synthetic_jpeg(1), synthetic_jpeg(2))
    assert capture["reference"]["status"] == "unchecked"
    with pytest.raises(ValueError, match="checked and usable"):
        handler("compare_to_reference")({"capture": capture}, context())


# -- DetectLabels -----------------------------------------------------------------------------------
def test_detect_labels_passes_the_configured_limits(local_env):
    labels = {"checked": True, "labels": [{"Name": "Book", "Confidence": 88.0}], "person_count": 1}
    set_analyzer(CannedAnalyzer({}, labels=labels))
    capture = capture_state(local_env, "images/e/u/capture.jpg", synthetic_jpeg(1))
    assert handler("detect_labels")({"capture": capture}, context()) == {
        "checked": True,
        "labels": [{"Name": "Book", "Confidence": 88.0, "Instances": [], "InstanceCount": 0}],
        "person_count": 1,
    }


def test_detect_labels_keeps_the_most_confident_boxes_and_counts_the_rest(local_env):
    instances = [{"BoundingBox": {"Left": i / 100}, "Confidence": 50.0 + i / 10} for i in range(60)]
    labels = {"checked": True, "labels": [{"Name": "Person", "Confidence": 99.0, "Instances": instances}]}
    set_analyzer(CannedAnalyzer({}, labels={**labels, "person_count": 60}))
    capture = capture_state(local_env, "images/e/u/capture.jpg", synthetic_jpeg(1))
    result = handler("detect_labels")({"capture": capture}, context())
    (person,) = result["labels"]
    assert person["InstanceCount"] == 60
    assert [inst["Confidence"] for inst in person["Instances"]] == [55.9, 55.8, 55.7, 55.6, 55.5]
    assert result["person_count"] == 60
