"""Whole exams, labelled by behaviour: what a proctor meets first is a student's whole exam, not a
capture alone. Each student sits one exam of ``CAPTURES`` captures, 30 s apart, made from the same
real photos and webcam conditions as the single-capture set (``cases``), and behaves one way:

* honest: the camera to the left or to the right (the reference photo taken the same way), looking
  straight with two isolated glances, the room's light and the sensor's noise changing from capture
  to capture, moving closer and further (the face 20-45% of the frame);
* dishonest, from capture ``START`` on: a sustained turn, away from the desk, another person in the
  seat, a second person beside the student, a replayed camera (the same file again and again).

The exams run through the whole pipeline with the deployment's settings, escalation included.
For each behaviour: the students with any alert, those reaching ALERT_FINAL, and for a dishonest
one whether it was flagged and after how many of its captures, against the goals below.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from proctoring_local.services.accuracy import conditions as c
from proctoring_local.services.accuracy.sources import Photo, photos

EXAM = "accuracy_exams"
CAPTURES = 20
INTERVAL = 30  # seconds between captures
EXAM_START = 1796461200  # 2026-12-05 09:00 UTC
START = 8  # the capture a dishonest behaviour begins with
SIDE = 25.0  # degrees: a webcam set to one side
MAX_HONEST_ALERTED = 1 / 20  # goal: at most one honest student in 20 with any alert

# behaviour -> (honest, the captures within which it must be flagged, from its start)
BEHAVIOURS: dict[str, tuple[bool, int]] = {
    "camera_left": (True, 0),
    "camera_right": (True, 0),
    "glances": (True, 0),
    "light_and_noise": (True, 0),
    "closer_and_further": (True, 0),
    "sustained_turn": (False, 5),  # SUSTAINED_WINDOW
    "away": (False, 3),  # AWAY_CAPTURES
    "seat_taken": (False, 1),
    "second_person": (False, 1),
    "replayed_camera": (False, 1),
}


@dataclass(frozen=True)
class ExamStudent:
    student: str
    behaviour: str
    person: str
    source: str


def build_exams(root: Path, *, use_shared: bool = True, small: bool = False) -> list[ExamStudent]:
    """The exams under ``root`` (``images/accuracy_exams/{student}/c00.jpg``..., ``reference/``), the
    captures' times in their files, and ``exam_labels.json``."""
    people = [photo for photo in photos(use_shared) if photo.role == "reference" and photo.pose == "frontal"]
    per_honest, per_dishonest = (1, 1) if small else (3, 2)
    students: list[ExamStudent] = []
    rng = random.Random(2026)
    for behaviour, (honest, _window) in BEHAVIOURS.items():
        for n in range(per_honest if honest else per_dishonest):
            photo = people[(len(students) + n) % len(people)]
            other = people[(len(students) + n + 1) % len(people)]
            student = ExamStudent(f"{behaviour}_{n + 1}", behaviour, photo.person, photo.name)
            _write_exam(root, student, photo, other, rng)
            students.append(student)
    (root / "exam_labels.json").write_text(json.dumps([asdict(s) for s in students], indent=1) + "\n")
    return students


def _write_exam(root: Path, student: ExamStudent, photo: Photo, other: Photo, rng: random.Random) -> None:
    image, stranger = photo.load(), other.load()
    side = {"camera_left": -SIDE, "camera_right": SIDE}.get(student.behaviour, 0.0)
    reference = root / "reference" / f"{student.student}.jpg"
    reference.parent.mkdir(parents=True, exist_ok=True)
    reference.write_bytes(c.jpeg_bytes(c.grain(_frame(image, photo, 0.32, side), 2.0, rng.randrange(10**6)), 90))
    folder = root / "images" / EXAM / student.student
    folder.mkdir(parents=True, exist_ok=True)
    previous = b""
    for index in range(CAPTURES):
        data = _capture(student.behaviour, index, image, photo, stranger, other, rng, previous)
        path = folder / f"c{index:02d}.jpg"
        path.write_bytes(data)
        moment = EXAM_START + INTERVAL * index
        os.utime(path, (moment, moment))
        previous = data


def _frame(image: Any, photo: Photo, share: float, yaw: float) -> Any:
    frame = c.webcam_frame(image, photo.box, share)
    return c.turned_head(frame, c.face_box_in_frame(photo.box, share), yaw) if yaw else frame


def _capture(
    behaviour: str,
    index: int,
    image: Any,
    photo: Photo,
    stranger: Any,
    other: Photo,
    rng: random.Random,
    previous: bytes,
) -> bytes:
    """One capture of ``behaviour`` at ``index``: a frame, then the webcam's own grain and JPEG."""
    from PIL import Image

    late = index >= START
    share, yaw, gain, sigma = 0.32, rng.uniform(-2.0, 2.0), 1.0, rng.uniform(2.0, 4.0)
    if behaviour == "replayed_camera" and late:
        return previous  # the camera delivers the very same file again, from then on
    if behaviour in ("camera_left", "camera_right"):
        yaw += -SIDE if behaviour == "camera_left" else SIDE
    elif behaviour == "glances" and index in (6, 14):
        yaw = -27.0
    elif behaviour == "light_and_noise":
        gain, sigma = rng.uniform(0.55, 1.35), rng.uniform(2.0, 5.0)
    elif behaviour == "closer_and_further":
        share = rng.uniform(0.20, 0.45)
    elif behaviour == "sustained_turn" and START <= index < START + 5:
        yaw = -33.0  # "turned 30-35 degrees for five captures"
    frame: Any
    if behaviour == "away" and START <= index < START + 6:
        frame = _desk()
    elif behaviour == "seat_taken" and late:
        frame = _frame(stranger, other, share, yaw)
    elif behaviour == "second_person" and late:
        frame = Image.new("RGB", c.FRAME)
        frame.paste(c.webcam_frame(image, photo.box, 0.4).resize((320, 240)), (0, 120))
        frame.paste(c.webcam_frame(stranger, other.box, 0.4).resize((320, 240)), (320, 120))
    else:
        frame = _frame(image, photo, share, yaw)
    return c.jpeg_bytes(c.grain(c.light(frame, gain), sigma, rng.randrange(10**6)), 85)


@lru_cache(maxsize=1)
def _desk() -> Any:
    """The empty desk and room (scikit-image's coffee cup), as the webcam sees it."""
    from PIL import Image
    from skimage import data

    return Image.fromarray(data.coffee()).convert("RGB").resize(c.FRAME)


@dataclass
class BehaviourScore:
    behaviour: str
    honest: bool
    window: int
    students: int = 0
    alerted: int = 0  # students with any alert
    final: int = 0  # students reaching ALERT_FINAL
    flagged: int = 0  # dishonest: flagged after the behaviour began
    within: int = 0  # ...within its window
    after: list[int | None] | None = None  # dishonest: captures until flagged, per student
    by: list[str] | None = None  # dishonest: the reason that flagged it, per student


def score_exams(root: Path) -> list[BehaviourScore]:
    """Each behaviour's figures, read from the exams' documents."""
    students = [ExamStudent(**item) for item in json.loads((root / "exam_labels.json").read_text())]
    scores = {name: BehaviourScore(name, honest, window) for name, (honest, window) in BEHAVIOURS.items()}
    for student in students:
        score = scores[student.behaviour]
        folder = root / "results" / EXAM / student.student
        documents = [json.loads((folder / f"c{i:02d}.json").read_text()) for i in range(CAPTURES)]
        statuses = [document["status"] for document in documents]
        score.students += 1
        score.alerted += any(status in ("ALERT", "ALERT_FINAL") for status in statuses)
        score.final += "ALERT_FINAL" in statuses
        if not score.honest:
            alerts = [i for i in range(START, CAPTURES) if statuses[i] in ("ALERT", "ALERT_FINAL")]
            after = alerts[0] - START + 1 if alerts else None
            score.after = [*(score.after or []), after]
            score.by = [*(score.by or []), documents[alerts[0]]["reason"] if alerts else "-"]
            score.flagged += after is not None
            score.within += after is not None and after <= score.window
    return [score for score in scores.values() if score.students]


def exam_lines(scores: list[BehaviourScore]) -> list[str]:
    lines = [f"whole exams: {CAPTURES} captures each, {INTERVAL} s apart; dishonest from capture {START + 1}"]
    lines.append(f"  {'behaviour':<20} {'students':>8} {'any alert':>9} {'ALERT_FINAL':>11}  flagged (after captures)")
    for score in scores:
        flagged = ""
        if not score.honest:
            pairs = zip(score.after or [], score.by or [], strict=True)
            after = ", ".join("-" if a is None else f"{a} {by}" for a, by in pairs)
            flagged = f"{score.flagged}/{score.students} ({after}; within {score.window})"
        name = f"{score.behaviour}{'' if score.honest else ' *'}"
        lines.append(f"  {name:<20} {score.students:>8} {score.alerted:>9} {score.final:>11}  {flagged}")
    honest = [s for s in scores if s.honest]
    students = sum(s.students for s in honest)
    alerted = sum(s.alerted for s in honest)
    lines.append("  (* dishonest)")
    lines.append(
        f"goals: honest students reaching ALERT_FINAL {sum(s.final for s in honest)} (goal 0); honest students "
        f"with any alert {alerted} of {students} (goal <= 1 in 20); dishonest behaviours flagged within their "
        f"window {sum(s.within for s in scores if not s.honest)} of {sum(s.students for s in scores if not s.honest)}"
    )
    return lines


def exam_goal_problems(scores: list[BehaviourScore]) -> list[str]:
    honest = [s for s in scores if s.honest]
    problems = []
    if final := sum(s.final for s in honest):
        problems.append(f"{final} honest student(s) reached ALERT_FINAL (goal: none)")
    students, alerted = sum(s.students for s in honest), sum(s.alerted for s in honest)
    if students and alerted / students > MAX_HONEST_ALERTED:
        problems.append(f"{alerted} of {students} honest students had an alert (goal: at most 1 in 20)")
    problems += [
        f"{s.behaviour}: flagged within {s.window} capture(s) for {s.within} of {s.students} students"
        for s in scores
        if not s.honest and s.within < s.students
    ]
    return problems


def measure_exams(root: Path, *, analyzer: str = "local", workers: int | None = None) -> list[BehaviourScore]:
    """Run the exams built in ``root`` through the pipeline, with the deployment's settings."""
    from proctoring_local.services.run.workers import run_folder

    run_folder(root, analyzer=analyzer, workers=workers, progress=False)
    return score_exams(root)
