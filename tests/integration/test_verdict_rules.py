"""Verdict rules that hold for Rekognition's answers as for the offline analyzer's: the real ASL
with Rekognition-shaped answers (proctoring_local/stand_ins/fixtures/rekognition, checked against botocore's model)."""

from __future__ import annotations

import pytest

from proctoring_local.stand_ins.canned_rekognition import compared
from tests.builders import CAPTURE_KEY, RESULT_KEY, synthetic_jpeg

CAPTURE, RESULT = CAPTURE_KEY, RESULT_KEY


@pytest.fixture
def pipeline(make_aws_pipeline):
    return make_aws_pipeline()


def test_a_dark_capture_whose_face_matched_is_ok_with_a_note(pipeline):
    """Brightness 9.6 (the face's Quality as CompareFaces describes it), compared and matched: it was judged."""
    pipeline.reference("user_456", synthetic_jpeg(1000))
    answers = {"detect_faces": "detect_faces_dark", "compare_faces": compared("detect_faces_dark", 99.1)}
    event = pipeline.upload(CAPTURE, synthetic_jpeg(1), **answers, detect_labels="detect_labels_person")

    assert pipeline.sfn.run(event).status == "SUCCEEDED"
    document = pipeline.result(RESULT)
    assert (document["status"], document["reasons"]) == ("OK", [])
    assert document["face"]["Quality"]["Brightness"] == pytest.approx(9.6)
    assert any("was found and compared with the reference" in line for line in document["details"])


def test_a_dark_capture_that_could_not_be_compared_is_low_quality(pipeline):
    """No reference: the face cannot be compared, so its darkness is raised beside the missing reference."""
    event = pipeline.upload(
        CAPTURE, synthetic_jpeg(2), detect_faces="detect_faces_dark", detect_labels="detect_labels_person"
    )

    pipeline.sfn.run(event)
    document = pipeline.result(RESULT)
    assert [reason["code"] for reason in document["reasons"]] == ["REFERENCE_MISSING", "LOW_QUALITY"]


def test_a_head_turned_past_the_limit_is_looking_away(pipeline):
    pipeline.reference("user_456", synthetic_jpeg(1000))
    answers = {
        "detect_faces": "detect_faces_looking_away",
        "compare_faces": compared("detect_faces_looking_away", 99.1),
    }
    event = pipeline.upload(CAPTURE, synthetic_jpeg(3), **answers, detect_labels="detect_labels_person")

    pipeline.sfn.run(event)
    document = pipeline.result(RESULT)
    assert [reason["code"] for reason in document["reasons"]] == ["LOOKING_AWAY"]
    assert "yaw -52.7 degrees, beyond ±40" in document["reasons"][0]["message"]
