"""What a capture costs, counted from the real executions' histories: the state transitions of each
path through the ASL, and the Rekognition calls, the reference's above all."""

from __future__ import annotations

import pytest

from proctoring_local.stand_ins.webhook_receiver import WebhookReceiver
from tests.builders import CAPTURE_KEY, OK_ANSWERS, WEBHOOK_SECRET, synthetic_jpeg

USER = "user_456"


@pytest.fixture
def receiver():
    with WebhookReceiver(secret=WEBHOOK_SECRET) as running:
        yield running


@pytest.fixture
def pipeline(make_aws_pipeline, receiver):
    """With the webhook on: the longest paths."""
    return make_aws_pipeline(webhook_url=receiver.url)


def capture(index: int, user: str = USER) -> str:
    return f"images/exam_123/{user}/capture_{index:03d}.jpg"


def run(pipeline, key: str, seed: int, **answers):
    before = len(pipeline.rekognition.calls)
    execution = pipeline.sfn.run(pipeline.upload(key, synthetic_jpeg(seed), **answers))
    assert execution.status == "SUCCEEDED", execution.error
    return execution.entered_states(), pipeline.rekognition.calls[before:]


def test_an_ok_capture_takes_twelve_transitions_and_two_calls_with_a_webhook(pipeline):
    pipeline.reference(USER, synthetic_jpeg(1000))
    pipeline.enrol(USER)

    states, calls = run(pipeline, CAPTURE_KEY, 1, **OK_ANSWERS)

    assert [*states[:3], *sorted(states[3:5]), *states[5:]] == [  # the branches start in either order
        "ParseKey",
        "RouteCapture",
        "CompareAndDetectLabels",
        "CompareToReference",
        "DetectLabels",
        "HasFace",
        "DecideVerdict",
        "IsWebhookConfigured",
        "PersistResult",
        "Notify",
        "Finish",
        "Done",
    ]
    assert len(states) == 12
    assert sorted(calls) == ["compare_faces", "detect_labels"]  # no DetectFaces at all


def test_without_a_webhook_one_transition_less(make_aws_pipeline):
    pipeline = make_aws_pipeline()
    pipeline.reference(USER, synthetic_jpeg(1000))
    pipeline.enrol(USER)

    states, _ = run(pipeline, CAPTURE_KEY, 1, **OK_ANSWERS)

    assert len(states) == 11 and states[-3:] == ["PersistResultWithoutWebhook", "Finish", "Done"]


def test_a_reference_is_analysed_once_whatever_the_number_of_captures(pipeline):
    students = [f"student{n}" for n in range(3)]
    for n, student in enumerate(students):
        pipeline.reference(student, synthetic_jpeg(2000 + n))
    reference_calls, most_calls, paths = 0, 0, []
    for index in range(12):  # no enrolment: the first capture of each student checks its reference
        states, calls = run(pipeline, capture(index, students[index % 3]), index, **OK_ANSWERS)
        reference_calls += calls.count("detect_faces")
        most_calls = max(most_calls, len(calls))
        paths.append(len(states))

    assert reference_calls == 3  # one per student
    assert most_calls == 3  # never more than 3 calls for a capture
    assert paths == [14] * 3 + [12] * 9  # CheckReference and the Choice once more, for the first three


def test_a_replaced_reference_is_analysed_again_once(pipeline):
    pipeline.reference(USER, synthetic_jpeg(1000))
    pipeline.enrol(USER)
    assert run(pipeline, capture(1), 1, **OK_ANSWERS)[1].count("detect_faces") == 0

    pipeline.reference(USER, synthetic_jpeg(1001))  # a new photo: a new ETag, not checked yet
    states, calls = run(pipeline, capture(2), 2, **OK_ANSWERS)
    assert calls.count("detect_faces") == 1 and "CheckReference" in states
    assert run(pipeline, capture(3), 3, **OK_ANSWERS)[1].count("detect_faces") == 0


@pytest.mark.parametrize(
    ("case", "transitions", "calls"),
    [
        # CompareFaces refuses a capture without a face; DetectFaces settles that it has none.
        ("no face", 13, ["compare_faces", "detect_faces", "detect_labels"]),
        ("no reference", 11, ["detect_faces", "detect_labels"]),
        ("unusable reference", 11, ["detect_faces", "detect_labels"]),
        ("key outside the convention", 8, []),
    ],
)
def test_the_other_paths(pipeline, case, transitions, calls):
    if case == "unusable reference":
        pipeline.reference(USER, synthetic_jpeg(1000), faces="detect_faces_two")
        assert pipeline.enrol(USER)["code"] == "SEVERAL_FACES"
    elif case != "no reference":
        pipeline.reference(USER, synthetic_jpeg(1000))
        pipeline.enrol(USER)
    key = "images/stray.jpg" if case == "key outside the convention" else CAPTURE_KEY
    answers = {"detect_faces": "detect_faces_none" if case == "no face" else "detect_faces_one"}

    states, made = run(pipeline, key, 5, **answers, detect_labels="detect_labels_person")

    assert len(states) == transitions, states
    assert sorted(made) == calls
    assert states[-3:] == ["Notify", "Finish", "Done"]
