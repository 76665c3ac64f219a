"""``proctoring bench``: numbers for the local pipeline, printed, never asserted.

For N generated captures (default 200, 640x480, built from the demo's real photos so the analyzer
does real work) it prints:

* raw analyzer throughput: decode + detect + compare + labels called directly, one process;
* whole-pipeline throughput with one worker and with every core, and the time split per step;
* orchestration overhead per image: the pipeline with a no-op analyzer;
* peak RSS of the runner and of its largest worker.

Every rate covers all N captures: a pipeline's from its worker being ready (models loaded) to the
last result, the first executions' warm-up included. The raw analyzer visits the captures in the
order the runner does (student by student): per-image cost varies with the picture, so comparing
different subsets or orders would not compare like with like.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any


class NullAnalyzer:
    """Answers instantly with one frontal face: what is left is orchestration and image I/O."""

    name = "null"

    def detect_faces(self, image: Any) -> list[dict[str, Any]]:
        return [
            {
                "BoundingBox": {"Width": 0.3, "Height": 0.4, "Left": 0.35, "Top": 0.2},
                "Confidence": 99.9,
                "Pose": {"Yaw": 1.0, "Pitch": 2.0, "Roll": 0.0},
                "Quality": {"Brightness": 60.0, "Sharpness": 60.0},
            }
        ]

    def compare_faces(self, reference: Any, capture: Any) -> dict[str, Any]:
        return {"similarity": 99.0, "face_matches": [], "faces": self.detect_faces(capture)}

    def detect_labels(self, image: Any, max_labels: int, min_confidence: float) -> dict[str, Any]:
        return {"checked": False, "labels": [], "person_count": 1}


def build_captures(
    root: Path, count: int, size: tuple[int, int], seed: int = 7, students: int | None = None
) -> list[Path]:
    """``count`` webcam-like captures of 2 real faces, spread over ``students`` (default count/10)."""
    from PIL import ImageEnhance, ImageOps

    from proctoring_local.services.demo_exam import _jpeg, _sources

    astronaut, grace, _desk = _sources()
    faces = {"eileen": (astronaut, (80, 0, 400, 240)), "grace": (grace, (0, 40, 512, 424))}
    rng = random.Random(seed)
    students = students or max(1, count // 10)
    paths = []
    for student in range(students):
        who = "eileen" if student % 2 == 0 else "grace"
        photo, _box = faces[who]
        (root / "reference").mkdir(parents=True, exist_ok=True)
        (root / "reference" / f"student{student:03d}.jpg").write_bytes(_jpeg(photo))
    for index in range(count):
        student = index % students
        # One capture in eight shows the other person: some alerts, as in a real exam.
        who = ("eileen" if student % 2 == 0 else "grace") if index % 8 else ("grace" if student % 2 == 0 else "eileen")
        photo, (left, top, right, bottom) = faces[who]
        dx, dy = rng.randint(-20, 20), rng.randint(-15, 15)
        frame = photo.crop((max(0, left + dx), max(0, top + dy), right + dx, bottom + dy)).resize(size)
        frame = ImageEnhance.Brightness(frame).enhance(rng.uniform(0.8, 1.2))
        if rng.random() < 0.5:
            frame = ImageOps.mirror(frame)
        path = root / "images" / "bench_exam" / f"student{student:03d}" / f"capture_{index:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_jpeg(frame))
        paths.append(path)
    return paths


def raw_analyzer_rate(root: Path, paths: list[Path]) -> tuple[float, float]:
    """Images/s and seconds per image of the analyzer called directly, in this process."""
    from proctoring.analysis.local import LocalAnalyzer
    from proctoring.images import prepare_image

    analyzer = LocalAnalyzer()
    references: dict[str, Any] = {}
    started = time.perf_counter()
    for path in paths:
        student = path.parent.name
        if student not in references:
            data = (root / "reference" / f"{student}.jpg").read_bytes()
            references[student] = prepare_image(data, f"reference/{student}")
        image = prepare_image(path.read_bytes(), str(path))
        analyzer.detect_faces(image)
        analyzer.compare_faces(references[student], image)
        analyzer.detect_labels(image, 10, 75)
    elapsed = time.perf_counter() - started
    return len(paths) / elapsed, elapsed / len(paths)


_LARGEST_IMAGE = """
import sys
from PIL import Image
from proctoring.images import MAX_PIXELS
width = 8000
Image.new("RGBA", (width, MAX_PIXELS // width), (90, 120, 150, 255)).save(sys.argv[1])
"""

_PREPARE_IN_A_STEP = """
import resource, sys
import boto3, aws_lambda_powertools  # what an image step has loaded before the image arrives
from proctoring.images import prepare_image
prepare_image(open(sys.argv[1], "rb").read(), "largest").jpeg_bytes()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def largest_image_peak(folder: Path) -> int:
    """Peak RSS (MB) of a fresh process that loads what an image step loads, then prepares the
    largest image accepted: a MAX_PIXELS RGBA PNG (a PNG, unlike a JPEG, is decoded at full size).
    Built and measured in child processes, so neither shows in this process's own peak."""
    import subprocess
    import sys

    path = folder / "largest.png"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", _LARGEST_IMAGE, str(path)], check=True, env=environment)
    command = [sys.executable, "-c", _PREPARE_IN_A_STEP, str(path)]
    measured = subprocess.run(command, check=True, env=environment, capture_output=True, text=True)
    path.unlink()
    return int(measured.stdout.strip())
