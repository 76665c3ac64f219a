"""Reasons over a window of a student's captures (proctoring.windows), at their edges, in order and
out of order; and the timeline stores that keep the observations (SQLite, DynamoDB under moto)."""

from __future__ import annotations

import threading

import boto3
import pytest
from moto import mock_aws

from proctoring.policy import PolicyConfig
from proctoring.timeline import DynamoDBTimeline, SqliteTimeline
from proctoring.windows import Observation, window_reasons

CONFIG = PolicyConfig()  # AWAY 3 captures or 120 s; sustained 3 of 5 past 25 degrees; identity 3 below baseline - 8


def obs(
    t: float, present: bool = True, turned: bool = False, similarity: float | None = 99.0, yaw: float | None = None
) -> Observation:
    """A capture at ``t``; ``turned``: the head at 30 degrees (``yaw`` says another angle)."""
    angle = yaw if yaw is not None else (30.0 if turned else 0.0)
    score = similarity if present else None
    return Observation(
        f"id{t:g}",
        f"images/e/u/c{t:g}.jpg",
        t,
        present,
        score,
        angle if present else None,
        0.0 if present else None,
        matched=score is not None and score >= CONFIG.similarity_threshold,
    )


def judged_in_order(observations: list[Observation], reference_pose=None) -> list[list[str]]:
    """Each capture's window reasons as they arrive in this order, as DecideVerdict judges them."""
    seen: list[Observation] = []
    codes = []
    for observation in observations:
        seen.append(observation)
        codes.append([reason.code for reason in window_reasons(seen, observation, CONFIG, reference_pose)])
    return codes


# -- AWAY ---------------------------------------------------------------------------------------
def test_away_after_three_captures_without_a_face_and_not_before():
    captures = [obs(0), obs(30, present=False), obs(60, present=False), obs(90, present=False), obs(100)]
    assert judged_in_order(captures) == [[], [], [], ["AWAY"], []]


def test_away_by_time_needs_two_captures_in_a_row_past_the_limit():
    assert judged_in_order([obs(0), obs(100, present=False), obs(121, present=False)]) == [[], [], ["AWAY"]]
    assert judged_in_order([obs(0), obs(60, present=False), obs(119, present=False)]) == [[], [], []]
    assert judged_in_order([obs(0), obs(500, present=False)]) == [[], []]  # one gap alone: the camera, maybe


def test_away_evidence_names_the_captures_and_how_long():
    captures = [obs(0), obs(30, present=False), obs(60, present=False), obs(90, present=False)]
    [reason] = window_reasons(captures, captures[-1], CONFIG)
    assert reason.evidence == {
        "captures": ["images/e/u/c30.jpg", "images/e/u/c60.jpg", "images/e/u/c90.jpg"],
        "absent_seconds": 90.0,
        "count": 3,
    }


def test_captures_out_of_order_never_raise_a_wrong_reason():
    # Taken at 0, 10, 20 without a face (and 15 with one), arriving 20, 0, 15, 10: each is judged on
    # what was taken before it and has arrived; none is judged on a later capture.
    absent = [obs(0, present=False), obs(10, present=False), obs(20, present=False)]
    late_face = obs(15)
    assert judged_in_order([absent[2], absent[0], late_face, absent[1]]) == [[], [], [], []]
    # In order, the third is AWAY; with the face at 15 between them, 20 is not (two in a row after it).
    assert judged_in_order(absent) == [[], [], ["AWAY"]]
    assert judged_in_order([absent[0], absent[1], late_face, absent[2]]) == [[], [], [], []]


def test_a_duplicate_observation_changes_nothing():
    captures = [obs(0, present=False), obs(10, present=False), obs(20, present=False)]
    assert window_reasons([*captures, captures[1], captures[2]], captures[2], CONFIG) == window_reasons(
        captures, captures[2], CONFIG
    )


# -- LOOKING_AWAY_SUSTAINED -----------------------------------------------------------------------
def test_a_single_glance_is_ok_three_in_five_are_sustained():
    glances = [obs(0), obs(10, turned=True), obs(20), obs(30, turned=True), obs(40), obs(50, turned=True)]
    assert judged_in_order(glances) == [[], [], [], [], [], ["LOOKING_AWAY_SUSTAINED"]]
    # The window is the last five captures with a face: an old glance has left it.
    later = [*glances, obs(60), obs(70), obs(80), obs(90, turned=True)]
    assert judged_in_order(later)[-1] == []


def test_only_a_turned_capture_is_judged_sustained():
    captures = [obs(0), obs(10), obs(20, turned=True), obs(30, turned=True), obs(40, turned=True), obs(50)]
    assert judged_in_order(captures) == [[], [], [], [], ["LOOKING_AWAY_SUSTAINED"], []]


def test_a_student_turned_from_the_first_capture_sits_that_way():
    # With nothing else to go by, a pose held from the start is the student's usual one: the
    # reference (counted twice) is outvoted by the third capture. The single-capture LOOKING_AWAY
    # (MaxYaw, absolute) still flags a head turned far.
    turned = [obs(10 * i, turned=True) for i in range(6)]
    assert judged_in_order(turned, reference_pose=(0.0, 0.0)) == [[]] * 6


@pytest.mark.parametrize("side", [-1, 1])
def test_a_camera_set_to_one_side_is_how_the_student_sits_not_looking_away(side):
    # The reference and every capture show the head turned about 30 degrees: the camera's place.
    seated = [obs(30 * i, yaw=side * (28 + i % 5)) for i in range(12)]
    assert judged_in_order(seated, reference_pose=(side * 30.0, 0.0)) == [[]] * 12
    # Whatever angle the reference has: a frontal one (taken elsewhere), or none known.
    assert judged_in_order(seated, reference_pose=(0.0, 0.0)) == [[]] * 12
    assert judged_in_order(seated, reference_pose=None) == [[]] * 12


def test_five_captures_turned_from_a_frontal_usual_pose_are_sustained():
    frontal = [obs(30 * i) for i in range(4)]
    turned = [obs(120 + 30 * i, yaw=32.0) for i in range(5)]
    codes = judged_in_order([*frontal, *turned], reference_pose=(0.0, 0.0))
    assert codes[:6] == [[]] * 6 and codes[6] == ["LOOKING_AWAY_SUSTAINED"]
    [reason] = window_reasons([*frontal, *turned[:3]], turned[2], CONFIG, (0.0, 0.0))
    assert reason.evidence["usual_yaw"] == 0.0 and reason.evidence["turned"] == 3


def test_two_isolated_glances_from_a_side_camera_are_ok():
    seated = [obs(30 * i, yaw=-30.0) for i in range(10)]
    seated[3], seated[7] = obs(90, yaw=2.0), obs(210, yaw=3.0)  # glances towards the screen's middle
    assert judged_in_order(seated, reference_pose=(-30.0, 0.0)) == [[]] * 10


def test_an_impostors_pose_never_becomes_the_students_usual_pose():
    frontal = [obs(30 * i) for i in range(5)]
    impostor = [obs(150 + 30 * i, yaw=35.0, similarity=40.0) for i in range(6)]  # not matched
    student_turned = [obs(400 + 30 * i, yaw=35.0) for i in range(3)]
    codes = judged_in_order([*frontal, *impostor, *student_turned], reference_pose=(0.0, 0.0))
    assert codes[-1] == ["LOOKING_AWAY_SUSTAINED"]  # judged against the student's frontal pose


def test_the_usual_pose_is_the_median_of_the_reference_and_the_students_matched_captures():
    from proctoring.windows import usual_pose

    earlier = [obs(i, yaw=y) for i, y in enumerate([20.0, 22.0, 90.0, 21.0])]
    assert usual_pose([], (10.0, -5.0)) == (10.0, -5.0)  # before any capture: the reference's pose
    assert usual_pose([], None) == (0.0, 0.0)  # frontal when the reference has none
    assert usual_pose(earlier[:1], (0.0, 0.0)) == (0.0, 0.0)  # the reference counts twice
    assert usual_pose(earlier, (0.0, 0.0)) == (20.5, 0.0)  # a glance (90) does not move the median
    assert usual_pose([*earlier, obs(9, yaw=40.0, similarity=30.0)], (0.0, 0.0)) == (20.5, 0.0)  # not matched


# -- IDENTITY_CHANGED ----------------------------------------------------------------------------
def test_a_face_that_matches_less_than_the_students_own_baseline_is_identity_changed():
    baseline = [obs(0, similarity=99.1), obs(10, similarity=98.7), obs(20, similarity=99.4)]
    near = [obs(30, similarity=91.0), obs(40, similarity=90.6), obs(50, similarity=90.9)]  # each above 90
    assert judged_in_order([*baseline, *near]) == [[], [], [], [], [], ["IDENTITY_CHANGED"]]
    [reason] = window_reasons([*baseline, *near], near[-1], CONFIG)
    assert reason.evidence["baseline"] == 99.1 and reason.evidence["similarities"] == [91.0, 90.6, 90.9]


@pytest.mark.parametrize(
    "similarities",
    [
        [99.0, 99.0, 91.5, 91.5, 91.5],  # two earlier captures: no baseline yet
        [99.0, 99.0, 99.0, 91.5, 98.8, 91.5],  # not three in a row
        [99.0, 99.0, 99.0, 91.5, 91.5, 91.5],  # a drop of 7.5, under 8
    ],
)
def test_identity_changed_needs_a_baseline_a_run_and_a_real_drop(similarities):
    captures = [obs(10 * i, similarity=s) for i, s in enumerate(similarities)]
    assert judged_in_order(captures)[-1] == []


# -- the stores ---------------------------------------------------------------------------------
def test_the_sqlite_timeline_keeps_one_observation_per_capture(tmp_path):
    timeline = SqliteTimeline(tmp_path / "state.sqlite3")
    timeline.record("e", "u", obs(0))
    replaced = Observation("id0", "images/e/u/c0.jpg", 0, True, 80.0, 31.5, -4.0, False)  # judged again: replaced
    kept = timeline.record("e", "u", replaced)
    assert kept == [replaced]
    assert timeline.record("e", "other", obs(5)) == [obs(5)]


def test_the_dynamodb_timeline_is_exact_under_concurrent_captures():
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="alert-history",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        timeline = DynamoDBTimeline("alert-history", client=client)
        captures = [obs(float(i), present=i % 3 != 0, similarity=90.0 + i / 10) for i in range(30)]
        threads = [threading.Thread(target=timeline.record, args=("e", "u", o)) for o in captures]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        again = timeline.record("e", "u", captures[7])  # a duplicate event: the same observation
    assert sorted(again, key=lambda o: o.t) == captures


# -- REPLAYED_CAPTURE ----------------------------------------------------------------------------
def _fingerprint(values: list[int], size: str = "640x480") -> str:
    import base64

    return f"v1:{size}:{base64.b64encode(bytes(values)).decode()}"


def test_the_same_frame_to_within_a_decoders_rounding_is_a_replay():
    from proctoring.windows import same_frame

    frame = [(37 * i) % 200 + 20 for i in range(128)]
    assert same_frame(_fingerprint(frame), _fingerprint(frame)) == 1.0
    rounded = [value + (i % 3 - 1) for i, value in enumerate(frame)]  # +-1: another decoder
    assert same_frame(_fingerprint(frame), _fingerprint(rounded)) == 1.0
    noisy = [value + (i % 7 - 3) for i, value in enumerate(frame)]  # a sensor's noise: +-3
    assert same_frame(_fingerprint(frame), _fingerprint(noisy)) is None
    assert same_frame(_fingerprint(frame), _fingerprint(frame, "320x240")) is None  # another size
    black = [0] * 100 + frame[:28]  # a dark frame: too few samples tell anything
    assert same_frame(_fingerprint(black), _fingerprint(black)) is None
    assert same_frame("v1:640x480:not base64!", _fingerprint(frame)) is None


def test_a_capture_equal_to_an_earlier_one_or_to_the_reference_is_replayed():
    frame = _fingerprint([(37 * i) % 200 + 20 for i in range(128)])
    other = _fingerprint([(53 * i) % 190 + 30 for i in range(128)])

    def seen(t: float, fingerprint: str) -> Observation:
        return Observation(f"id{t:g}", f"images/e/u/c{t:g}.jpg", t, True, 99.0, 0.0, 0.0, True, fingerprint)

    first, second, again = seen(0, frame), seen(30, other), seen(60, frame)
    [reason] = window_reasons([first, second, again], again, CONFIG)
    assert (reason.code, reason.evidence["same_as"]) == ("REPLAYED_CAPTURE", "images/e/u/c0.jpg")
    assert window_reasons([first, second], second, CONFIG) == []
    photo = seen(90, other)
    [reason] = window_reasons([photo], photo, CONFIG, reference=("reference/u.jpg", other))
    assert reason.evidence["same_as"] == "reference/u.jpg" and "reference photo" in reason.message
    late = seen(-10, frame)  # taken before the frame it equals: judged on what came before it only
    assert window_reasons([first, late], late, CONFIG) == []
