"""A student's whole exam through the real ASL, with the offline analyzer on a real portrait (Grace
Hopper's, from matplotlib's wheel) turned by rendering: a webcam set to one side is how a student
sits, a sustained turn away from it is not (LOOKING_AWAY_SUSTAINED against the usual pose); a
picture delivered twice is a replayed camera (REPLAYED_CAPTURE), a still student never is."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from proctoring_local.services.accuracy.conditions import face_box_in_frame, jpeg_bytes, turned_head, webcam_frame
from proctoring_local.services.accuracy.sources import WHEEL_PHOTOS
from proctoring_local.services.run.workers import run_folder

START = 1796461200  # 2026-12-05 09:00 UTC
GRACE = WHEEL_PHOTOS[1]


@pytest.fixture(scope="module")
def frame():
    return webcam_frame(GRACE.load(), GRACE.box, 0.32)


def capture(frame, yaw: float, seed: int, grain: float = 3.0) -> bytes:
    """A webcam capture: the portrait turned by ``yaw`` degrees, with sensor grain, as JPEG."""
    turned = turned_head(frame, face_box_in_frame(GRACE.box, 0.32), yaw) if yaw else frame
    pixels = np.asarray(turned).astype(float) + np.random.default_rng(seed).normal(0, grain, (480, 640, 3))
    return jpeg_bytes(Image.fromarray(np.clip(pixels, 0, 255).astype("uint8")), 85)


def exam(root, frame, students: dict[str, tuple[float, list[float]]]) -> dict[str, list[list[str]]]:
    """Each student's reference (at its yaw) and captures (at theirs), 30 s apart; judged; their
    reasons, capture by capture."""
    for student, (reference_yaw, yaws) in students.items():
        (root / "reference").mkdir(parents=True, exist_ok=True)
        (root / "reference" / f"{student}.jpg").write_bytes(capture(frame, reference_yaw, 999))
        folder = root / "images" / "exam" / student
        folder.mkdir(parents=True)
        for index, yaw in enumerate(yaws):
            path = folder / f"c{index:02d}.jpg"
            path.write_bytes(capture(frame, yaw, index))
            os.utime(path, (START + 30 * index,) * 2)
    assert run_folder(root, workers=1, progress=False).complete
    return {
        student: [
            [reason["code"] for reason in json.loads(path.read_text())["reasons"]]
            for path in sorted((root / "results" / "exam" / student).glob("*.json"))
        ]
        for student in students
    }


@pytest.mark.slow
def test_a_camera_to_one_side_gets_no_alert_and_a_sustained_turn_from_a_frontal_pose_does(tmp_path, frame):
    judged = exam(
        tmp_path,
        frame,
        {
            # The reference and all 12 captures turned about 28 degrees, on either side.
            "left": (-28.0, [-28.0] * 12),
            "right": (28.0, [28.0] * 12),
            # Frontal, with two isolated glances.
            "glances": (0.0, [0, 0, 0, -28, 0, 0, 0, 0, -28, 0]),
            # Four frontal captures, then five turned away.
            "turns": (0.0, [0, 0, 0, 0, -28, -28, -28, -28, -28]),
        },
    )
    assert judged["left"] == [[]] * 12 and judged["right"] == [[]] * 12
    assert judged["glances"] == [[]] * 10
    turned = judged["turns"][4:]
    assert turned[:2] == [[], []] and all("LOOKING_AWAY_SUSTAINED" in codes for codes in turned[2:]), judged["turns"]


@pytest.mark.slow
def test_a_replayed_picture_is_flagged_and_honest_still_frames_never_are(tmp_path, frame):
    """21 still captures of a student who does not move, each with its own sensor noise (sigma 2 to
    4), then a byte copy of an earlier capture and the reference photo uploaded as captures."""
    folder = tmp_path / "images" / "exam" / "still"
    folder.mkdir(parents=True)
    (tmp_path / "reference").mkdir()
    reference = capture(frame, 0.0, 999)
    (tmp_path / "reference" / "still.jpg").write_bytes(reference)
    honest = [capture(frame, 0.0, index, grain=2.0 + index % 3) for index in range(21)]
    uploads = [*honest, honest[4], reference]
    for index, data in enumerate(uploads):
        path = folder / f"c{index:02d}.jpg"
        path.write_bytes(data)
        os.utime(path, (START + 30 * index,) * 2)
    assert run_folder(tmp_path, workers=1, progress=False).complete
    documents = [json.loads((tmp_path / f"results/exam/still/c{i:02d}.json").read_text()) for i in range(23)]
    replayed = [[r for r in d["reasons"] if r["code"] == "REPLAYED_CAPTURE"] for d in documents]
    assert replayed[:21] == [[]] * 21  # every honest frame, however still
    assert replayed[21][0]["evidence"]["same_as"] == "images/exam/still/c04.jpg"
    assert replayed[22][0]["evidence"]["same_as"] == "reference/still.jpg"
    assert "reference photo" in replayed[22][0]["message"]
    assert documents[21]["status"] == "ALERT" and documents[21]["alert_count"] == 1  # counted like any alert
