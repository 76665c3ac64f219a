"""``proctoring demo DIR``: a sample exam built from real photos that ship inside wheels.

scikit-image's ``astronaut`` (Eileen Collins) and matplotlib's ``grace_hopper.jpg`` are the two
students with references; a third student has none. Every capture has its expected verdict in
``DIR/expected.json``; ``proctoring demo`` checks the pipeline against it, and so does a test.

No photo of a turned head ships in a wheel, so "turned away" is a synthetic rotation of the frontal
portrait laid on a head-shaped surface (``services.accuracy.conditions.turned_head``), by 60 degrees:
past what the offline, frontal face detector finds, so it is NO_FACE offline.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

from proctoring.keys import parse_capture_key
from proctoring_local.services.accuracy.conditions import turned_head
from proctoring_local.services.checks import claim_build_folder

EXAM = "demo_exam"
GRACE_CAM_FACE = (233, 137, 215, 215)  # her face in grace_cam (left, top, width, height)


EXAM_START = 1796461200  # 2026-12-05 09:00 UTC


def _sources() -> tuple[Any, Any, Any]:
    import matplotlib.cbook as cbook
    from PIL import Image
    from skimage import data

    astronaut = Image.fromarray(data.astronaut())
    grace = Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
    desk = Image.fromarray(data.coffee())  # a coffee cup on a table: the student has left
    return astronaut, grace, desk


def _jpeg(image: Any, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


# Each capture's grain is seeded (the demo is the same on every machine). The offline analyzer's
# readings move by a few points with a frame's grain (a 30-degree glance reads 26 to 35): these
# seeds give the glances and the lookalike readings away from their limits, as expected.json says.
GRAIN_SEED = 200


def _grain(image: Any, seed: int, sigma: float = 1.0) -> Any:
    """``image`` as a webcam's sensor delivers it: its own noise in every frame, so that no two
    captures are the same picture (only a replayed file is: REPLAYED_CAPTURE)."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(image.convert("RGB")).astype(np.float32)
    pixels += np.random.default_rng(seed).normal(0.0, sigma, pixels.shape).astype(np.float32)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _webcam(image: Any, box: tuple[int, int, int, int]) -> Any:
    return image.crop(box).resize((640, 480))


def _lookalike(face: Any, other: Any, share: float) -> Any:
    """``other``'s face laid over ``face``'s, aligned on their 68 landmarks, at ``share`` (a face
    morph, as morphing attacks make): another person who resembles the student."""
    import cv2
    import dlib
    import numpy as np
    from PIL import Image

    from proctoring.analysis.local import models_dir

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(models_dir() / "shape_predictor_68_face_landmarks.dat"))

    def landmarks(image: Any) -> Any:
        pixels = np.asarray(image)
        shape = predictor(pixels, detector(pixels, 1)[0])
        return np.array([[point.x, point.y] for point in shape.parts()], dtype=np.float32)

    target = landmarks(face)
    matrix, _ = cv2.estimateAffinePartial2D(landmarks(other), target)
    warped = cv2.warpAffine(np.asarray(other), matrix, face.size).astype(np.float32)
    mask = np.zeros((face.size[1], face.size[0]), np.float32)
    cv2.fillConvexPoly(mask, cv2.convexHull(target.astype(np.int32)), 1.0)
    mask = cv2.GaussianBlur(mask, (31, 31), 0)[..., None] * share
    blended = np.asarray(face).astype(np.float32) * (1 - mask) + warped * mask
    return Image.fromarray(blended.clip(0, 255).astype(np.uint8))


def build_demo(root: Path) -> dict[str, dict[str, Any]]:
    """Write the demo exam into ``root`` (replacing an earlier demo there); return the expectations."""
    from PIL import Image, ImageEnhance, ImageOps

    root = Path(root)
    claim_build_folder(root, "demo")
    astronaut, grace, desk = _sources()
    eileen_cam = _webcam(astronaut, (80, 0, 400, 240))
    grace_cam = _webcam(grace, (0, 40, 512, 424))

    two = Image.new("RGB", (640, 480))
    two.paste(_webcam(grace, (0, 40, 512, 424)).resize((320, 240)), (0, 120))
    two.paste(eileen_cam.resize((320, 240)), (320, 120))

    files: dict[str, bytes] = {
        "reference/eileen.jpg": _jpeg(astronaut),
        "reference/grace.jpg": _jpeg(grace),
        "reference/dana.jpg": _jpeg(ImageOps.mirror(grace)),
        "reference/ines.jpg": _jpeg(grace),
    }
    expected: dict[str, dict[str, Any]] = {}

    def capture(user: str, name: str, frame: Any, status: str, reasons: list[str], why: str) -> None:
        """A capture: a frame with its own sensor grain (or bytes as uploaded, a cut-short file)."""
        key = f"images/{EXAM}/{user}/{name}.jpg"
        files[key] = frame if isinstance(frame, bytes) else _jpeg(_grain(frame, GRAIN_SEED + len(files)))
        expected[key] = {"status": status, "reasons": reasons, "why": why}

    capture("eileen", "01_ok", eileen_cam, "OK", [], "her own face, frontal, well lit")
    capture("eileen", "02_mismatch", grace_cam, "ALERT", ["FACE_MISMATCH"], "another person in her seat")
    # A dim room whose face can still be compared is judged (OK, with a note); with the light off,
    # nothing can be: no face is found, and the dark is the reason.
    dark = ImageEnhance.Brightness(eileen_cam).enhance(0.05)
    capture("eileen", "03_too_dark", dark, "ALERT", ["NO_FACE", "LOW_QUALITY"], "the room light is off")
    capture("grace", "01_ok", ImageOps.mirror(grace_cam), "OK", [], "her own face (mirrored webcam)")
    capture("grace", "02_two_faces", two, "ALERT", ["MULTIPLE_FACES"], "someone next to her")
    capture("grace", "03_no_face", desk.resize((640, 480)), "ALERT", ["NO_FACE"], "she left the desk")
    capture(
        "grace",
        "04_turned_away",
        turned_head(grace_cam, GRACE_CAM_FACE, 60),
        "ALERT_FINAL",
        ["NO_FACE"],
        "turned 60 degrees away, past what the frontal detector finds; third alert: escalates",
    )
    broken = _jpeg(grace_cam)
    capture("grace", "05_corrupt", broken[: len(broken) // 3], "ERROR", ["IMAGE_CORRUPT"], "upload cut short")
    capture(
        "nora",
        "01_no_reference",
        ImageOps.mirror(eileen_cam),
        "ALERT",
        ["REFERENCE_MISSING"],
        "nora has no reference photo",
    )

    # Reasons over several captures (written in order: a capture's time is its file's).
    glance = turned_head(grace_cam, GRACE_CAM_FACE, 30)
    capture("dana", "01_ok", grace_cam, "OK", [], "her own face")
    capture("dana", "02_glance", glance, "OK", [], "a glance aside (30 degrees): alone, fine")
    capture("dana", "03_glance", glance, "OK", [], "another glance: two of three")
    capture(
        "dana", "04_glance", glance, "ALERT", ["LOOKING_AWAY_SUSTAINED"], "a third glance in four captures: sustained"
    )
    # Someone who resembles the student sits in: each capture alone matches (about 91.5, above 90),
    # but no longer as her own captures did (99.98).
    lookalike = _lookalike(grace_cam, eileen_cam, 0.93)
    capture("ines", "01_ok", grace_cam, "OK", [], "her own face")
    capture("ines", "02_ok", grace_cam, "OK", [], "her own face")
    capture("ines", "03_ok", grace_cam, "OK", [], "her own face")
    capture("ines", "04_lookalike", lookalike, "OK", [], "a lookalike: alone, a match")
    capture("ines", "05_lookalike", lookalike, "OK", [], "the lookalike again: two in a row")
    capture("ines", "06_lookalike", lookalike, "ALERT", ["IDENTITY_CHANGED"], "three in a row below her own captures")
    empty = desk.resize((640, 480))
    capture("dana", "05_left", empty, "ALERT", ["NO_FACE"], "she left the desk")
    capture("dana", "06_left", empty, "ALERT_FINAL", ["NO_FACE"], "still away; her third alert escalates")
    capture("dana", "07_left", empty, "ALERT", ["AWAY", "NO_FACE"], "three captures in a row without her: away")

    taken: dict[str, int] = {}
    for key, data in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if key.startswith("images/"):
            # A capture a minute from the exam's start, per student: the time the window reasons
            # and the report read (locally, a capture's time is its file's).
            student = key.split("/")[2]
            minute = taken[student] = taken.get(student, -1) + 1
            moment = EXAM_START + 60 * minute
            os.utime(path, (moment, moment))
    (root / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    return expected


def check_results(root: Path, expected: dict[str, dict[str, Any]]) -> list[str]:
    """Differences between the result documents and the expectations (empty when all agree)."""
    problems = []
    for key, want in expected.items():
        path = root / parse_capture_key(key).result_key("results/")
        if not path.is_file():
            problems.append(f"{key}: no result document")
            continue
        document = json.loads(path.read_text())
        codes = [reason["code"] for reason in document["reasons"]]
        if document["status"] != want["status"] or not set(want["reasons"]) <= set(codes):
            problems.append(f"{key}: expected {want['status']} {want['reasons']}, got {document['status']} {codes}")
    return problems
