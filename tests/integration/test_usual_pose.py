"""LOOKING_AWAY_SUSTAINED judged against the student's usual pose, through the real ASL with the
offline analyzer on a real portrait (Grace Hopper's, from matplotlib's wheel) turned by rendering:
a webcam set to one side is how a student sits, a sustained turn away from it is not."""

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


def capture(frame, yaw: float, seed: int) -> bytes:
    """A webcam capture: the portrait turned by ``yaw`` degrees, with sensor grain, as JPEG."""
    turned = turned_head(frame, face_box_in_frame(GRACE.box, 0.32), yaw) if yaw else frame
    pixels = np.asarray(turned).astype(float) + np.random.default_rng(seed).normal(0, 3, (480, 640, 3))
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
