"""Which face the policy judges against the reference: the main one, not the best match."""

from __future__ import annotations

import pytest

from proctoring.policy import (
    OK,
    PolicyConfig,
    decide,
    overlap,
)
from tests.builders import face, policy_input, reason_codes

CONFIG = PolicyConfig()


STUDENT_BOX = (0.3, 0.2, 0.25, 0.4)  # face()'s default box: the main face


PHOTO_BOX = (0.75, 0.6, 0.08, 0.1)  # a small face low on the right: a photo held up to the camera


def matched(similarity, box):
    left, top, width, height = box
    return {"Similarity": similarity, "BoundingBox": {"Width": width, "Height": height, "Left": left, "Top": top}}


def test_a_photo_of_the_student_held_up_beside_another_face_does_not_pass():
    # The photo is a faint detection (not counted as a face) that matches the reference well; the
    # face being judged is the main one, and it is someone else.
    faces = [face(), face(confidence=62.0, box=PHOTO_BOX)]
    matches = [matched(99.4, PHOTO_BOX), matched(12.5, STUDENT_BOX)]
    verdict = decide(policy_input(faces=faces, similarity=99.4, face_matches=matches), CONFIG)
    assert reason_codes(verdict) == ["FACE_MISMATCH"]
    assert verdict.reasons[0].evidence["similarity"] == 12.5
    assert verdict.similarity == 12.5
    # The proctor is told the student's face is in the picture, though not the face judged.
    assert verdict.reasons[0].evidence["other_face_similarity"] == 99.4
    assert verdict.reasons[0].message == (
        "The face does not match the reference (similarity 12.5, threshold 90); "
        "another face in the picture does (similarity 99.4)."
    )


def test_the_student_beside_someone_else_of_the_same_size_is_named_in_the_mismatch():
    # Two people side by side, the other one's box a little larger: MULTIPLE_FACES, and the mismatch
    # of the main face says that the other face is the student's.
    other_box, student_box = (0.6, 0.1, 0.16, 0.26), (0.2, 0.1, 0.15, 0.26)
    faces = [face(box=student_box), face(box=other_box)]
    matches = [matched(97.2, student_box), matched(31.0, other_box)]
    verdict = decide(policy_input(faces=faces, similarity=97.2, face_matches=matches), CONFIG)
    assert reason_codes(verdict) == ["FACE_MISMATCH", "MULTIPLE_FACES"]
    assert verdict.reasons[0].evidence == {"similarity": 31.0, "threshold": 90.0, "other_face_similarity": 97.2}
    assert "another face in the picture does (similarity 97.2)" in verdict.reasons[0].message


def test_a_mismatch_with_no_other_face_matching_says_nothing_more():
    faces = [face(), face(box=PHOTO_BOX)]
    matches = [matched(40.0, PHOTO_BOX), matched(20.0, STUDENT_BOX)]
    verdict = decide(policy_input(faces=faces, similarity=40.0, face_matches=matches), CONFIG)
    assert verdict.reasons[0].evidence == {"similarity": 20.0, "threshold": 90.0}
    assert verdict.reasons[0].message == "The face does not match the reference (similarity 20.0, threshold 90)."


def test_the_main_faces_match_passes_whatever_the_others_score():
    matches = [matched(3.0, PHOTO_BOX), matched(97.0, STUDENT_BOX)]
    verdict = decide(policy_input(faces=[face()], similarity=97.0, face_matches=matches), CONFIG)
    assert (verdict.status, verdict.similarity) == (OK, 97.0)


def test_without_a_match_on_the_main_face_the_best_similarity_stands():
    # An analyzer that answers only its best, or boxes that do not line up: no worse than before.
    verdict = decide(policy_input(similarity=95.0, face_matches=[matched(95.0, PHOTO_BOX)]), CONFIG)
    assert (verdict.status, verdict.similarity) == (OK, 95.0)
    assert decide(policy_input(similarity=95.0), CONFIG).similarity == 95.0


def test_overlap_of_boxes():
    box = {"Width": 0.2, "Height": 0.2, "Left": 0.1, "Top": 0.1}
    assert overlap(box, box) == pytest.approx(1.0)
    assert overlap(box, {**box, "Left": 0.5}) == 0.0
    assert overlap(box, {**box, "Left": 0.2}) == pytest.approx(1 / 3)  # half of each: 0.02 / 0.06
    assert overlap(box, {}) == 0.0


@pytest.mark.parametrize(
    ("similarity", "alert", "shown"),
    [
        # One decimal would print 90.0 beside a threshold of 90: as many as show it below.
        (89.99, True, "similarity 89.99"),
        (89.94, True, "similarity 89.9"),
        (90.0, False, None),
        (90.01, False, None),
        (None, True, "no face matched it"),
    ],
)
def test_face_mismatch_at_the_threshold(similarity, alert, shown):
    verdict = decide(policy_input(similarity=similarity), CONFIG)
    assert ("FACE_MISMATCH" in reason_codes(verdict)) is alert
    if alert:
        assert verdict.reasons[0].evidence["similarity"] == similarity
        assert verdict.reasons[0].evidence["threshold"] == 90.0
        assert verdict.reasons[0].message == f"The face does not match the reference ({shown}, threshold 90)."


def test_mismatch_threshold_is_configurable():
    assert decide(policy_input(similarity=85), PolicyConfig(similarity_threshold=80)).status == OK


def test_equal_sized_faces_give_one_verdict_in_either_order():
    """Two faces of one size: the main face (the one judged) must not be whichever came first."""
    student, other = (
        face(confidence=99.9, box=(0.1, 0.1, 0.2, 0.2)),
        face(yaw=60, confidence=99.0, box=(0.5, 0.5, 0.2, 0.2)),
    )
    matches = [
        {"Similarity": 99.0, "BoundingBox": student["BoundingBox"]},
        {"Similarity": 10.0, "BoundingBox": other["BoundingBox"]},
    ]
    verdicts = [
        decide(policy_input(faces=faces, face_matches=matches), CONFIG)
        for faces in ([student, other], [other, student])
    ]
    assert verdicts[0] == verdicts[1]
    assert reason_codes(verdicts[0]) == [
        "MULTIPLE_FACES"
    ]  # the more confident face is the main one: it matches, looks ahead
    assert verdicts[0].face["BoundingBox"] == student["BoundingBox"]
