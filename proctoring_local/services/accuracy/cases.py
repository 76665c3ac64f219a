"""The labelled set: webcam-like captures of real photos, each with the verdict it must get.

Students are the people with a reference photo; each student's captures are built from their own
photos (genuine: the verdict must be ``OK``), from other people's (an impostor in the seat:
``FACE_MISMATCH``), from scenes with no one in them (``NO_FACE``), with a second person beside or
behind the student (``MULTIPLE_FACES``) and with the head turned well away (``LOOKING_AWAY``).
``labels.json`` beside the captures holds every case's expected verdict, category, condition and
source photo.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from proctoring_local.services.accuracy import conditions as c
from proctoring_local.services.accuracy.sources import SHARED_FACES, SHARED_PAIRS, SHARED_PROVENANCE, Box, Photo, photos

EXAM = "accuracy"
MID = 0.32  # the face's share of the frame's width for the conditions below: a student at a laptop

# (name, what it does) -> image or JPEG bytes. Benign: the student's own face must stay OK.
GENUINE_CONDITIONS: dict[str, Callable[[Any, Box, int], Any]] = {
    "near": lambda photo, box, seed: c.webcam_frame(photo, box, 0.45),
    "mid": lambda photo, box, seed: c.webcam_frame(photo, box, MID),
    "far": lambda photo, box, seed: c.webcam_frame(photo, box, 0.2),
    "jpeg30": lambda photo, box, seed: c.jpeg_bytes(c.webcam_frame(photo, box, MID), 30),
    "grain": lambda photo, box, seed: c.grain(c.webcam_frame(photo, box, MID), 14.0, seed),
    "dim": lambda photo, box, seed: c.dim_room(c.webcam_frame(photo, box, MID), seed),
    "bright": lambda photo, box, seed: c.light(c.webcam_frame(photo, box, MID), 1.7),
    "defocus": lambda photo, box, seed: c.defocus(c.webcam_frame(photo, box, MID)),
    "motion": lambda photo, box, seed: c.motion_blur(c.webcam_frame(photo, box, MID)),
    "exif_rotated": lambda photo, box, seed: c.exif_rotated(c.webcam_frame(photo, box, MID)),
    "mirrored": lambda photo, box, seed: c.mirrored(c.webcam_frame(photo, box, MID)),
    "glance_25": lambda photo, box, seed: c.turned_head(
        c.webcam_frame(photo, box, MID), c.face_box_in_frame(box, MID), 25
    ),
    "glance_25_left": lambda photo, box, seed: c.turned_head(
        c.webcam_frame(photo, box, MID), c.face_box_in_frame(box, MID), -25
    ),
    "dim_jpeg50": lambda photo, box, seed: c.jpeg_bytes(c.dim_room(c.webcam_frame(photo, box, MID), seed), 50),
}
IMPOSTOR_CONDITIONS = ("mid", "dim", "jpeg30")
TURNED_AWAY = (50, -50, 65)
BEHIND_SHARE = 0.5  # a second person's face width against the student's


@dataclass(frozen=True)
class Case:
    key: str  # the capture's key in the run folder
    student: str
    expected: str  # OK, or the reason code the capture must raise
    # genuine, glance (a turn of 25-35 degrees), three_quarter (reported apart), impostor,
    # no_face, two_faces, person_behind, turned_away
    category: str
    condition: str
    source: str  # the photo(s) it was built from, and where they came from


def build_set(root: Path, use_shared: bool = True, small: bool = False) -> list[Case]:
    """Write the references, the captures and ``labels.json`` under ``root``; return the cases.

    ``small``: a few conditions per photo (the test suite's version).
    """
    chosen = photos(use_shared)
    references = {photo.person: photo for photo in chosen if photo.role == "reference"}
    cases: list[Case] = []
    files: dict[str, bytes] = {}

    def add(student: str, name: str, image: Any, expected: str, category: str, condition: str, source: str) -> None:
        # Each labelled capture in an exam of its own: a label judges one capture, while the window
        # reasons judge a student's sequence of captures (their own tests measure those).
        key = f"images/{EXAM}-{len(cases):04d}/{student}/{name}.jpg"
        files[key] = image if isinstance(image, bytes) else c.jpeg_bytes(image, 90)
        cases.append(Case(key, student, expected, category, condition, source))

    for person, photo in references.items():
        files[f"reference/{person}.jpg"] = c.jpeg_bytes(photo.load(), 92)
    conditions = (
        {name: GENUINE_CONDITIONS[name] for name in ("mid", "dim", "grain", "glance_25")}
        if small
        else GENUINE_CONDITIONS
    )
    people = sorted(references)
    seed = 0
    for photo in chosen:
        if photo.person not in references:
            continue
        image = photo.load()
        for name, make in conditions.items():
            if name.startswith("glance") and not _known_frontal(photo):
                continue
            seed += 1
            category = {"turned": "glance", "three_quarter": "three_quarter"}.get(photo.pose, "genuine")
            category = "glance" if name.startswith("glance") else category
            add(
                photo.person,
                f"{_stem(photo)}_{name}",
                make(image, photo.box, seed),
                "OK",
                category,
                name,
                _source(photo),
            )
        # The same photo in someone else's seat: the next person's, in name order.
        other = people[(people.index(photo.person) + 1) % len(people)]
        for name in IMPOSTOR_CONDITIONS[:1] if small else IMPOSTOR_CONDITIONS:
            seed += 1
            made = GENUINE_CONDITIONS[name](image, photo.box, seed)
            add(other, f"impostor_{_stem(photo)}_{name}", made, "FACE_MISMATCH", "impostor", name, _source(photo))
        if not _known_frontal(photo):
            continue
        frame = c.webcam_frame(image, photo.box, MID)
        face = c.face_box_in_frame(photo.box, MID)
        for yaw in TURNED_AWAY[:1] if small else TURNED_AWAY:
            turned = c.turned_head(frame, face, yaw)
            add(
                photo.person,
                f"{_stem(photo)}_turned_{yaw}",
                turned,
                "LOOKING_AWAY",
                "turned_away",
                f"yaw {yaw}",
                _source(photo),
            )
    _add_scenes(add, people, small)
    _add_company(add, chosen, references, small)
    root.mkdir(parents=True, exist_ok=True)
    for key, data in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "labels.json").write_text(json.dumps([asdict(case) for case in cases], indent=1) + "\n")
    return cases


def _known_frontal(photo: Photo) -> bool:
    """Synthetic turns are added to the frontal enrolment portraits only: a turn adds to the face's
    own angle, which is known (about 0) only for those."""
    return photo.role == "reference" and photo.pose == "frontal"


def _stem(photo: Photo) -> str:
    return Path(photo.name).stem.replace("-", "_")


def _source(photo: Photo) -> str:
    return f"{photo.name} ({photo.provenance})"


def _add_scenes(add: Callable[..., None], people: list[str], small: bool) -> None:
    """Empty desks and rooms: pictures with no face, from scikit-image's sample data."""
    from PIL import Image
    from skimage import data

    scenes = {
        "coffee": data.coffee(),
        "rocket": data.rocket(),
        "hubble": data.hubble_deep_field(),
        "coins": data.coins(),
    }
    for index, (name, pixels) in enumerate(sorted(scenes.items())[: 2 if small else None]):
        image = Image.fromarray(pixels).convert("RGB").resize(c.FRAME)
        student = people[index % len(people)]
        add(student, f"empty_{name}", image, "NO_FACE", "no_face", name, f"skimage.data.{name} (scikit-image)")
    dark = c.grain(Image.new("RGB", c.FRAME, (6, 6, 8)), 3.0, 7)
    add(people[0], "empty_dark_room", dark, "NO_FACE", "no_face", "lights off", "generated")


def _add_company(
    add: Callable[..., None], chosen: tuple[Photo, ...], references: dict[str, Photo], small: bool
) -> None:
    """A second person beside the student (two real faces side by side) or behind them (smaller)."""
    from PIL import Image

    people = sorted(references)
    for index, student in enumerate(people[: 2 if small else None]):
        own, other = references[student], references[people[(index + 1) % len(people)]]
        frame = c.webcam_frame(own.load(), own.box, MID)
        # Someone a step behind the chair, about twice as far from the camera: half the student's face.
        behind_width = round(c.FRAME[0] * MID * BEHIND_SHARE * 1.7)  # the pasted head has 35% margins
        behind = c.paste_face(frame, other.load(), other.box, (c.FRAME[0] - behind_width - 20, 20), behind_width)
        add(
            student,
            "person_behind",
            behind,
            "MULTIPLE_FACES",
            "person_behind",
            f"second face behind, {BEHIND_SHARE:.0%} of the student's",
            f"{_source(own)} + {_source(other)}",
        )
        side = Image.new("RGB", c.FRAME)
        side.paste(c.webcam_frame(own.load(), own.box, 0.4).resize((320, 240)), (0, 120))
        side.paste(c.webcam_frame(other.load(), other.box, 0.4).resize((320, 240)), (320, 120))
        add(
            student,
            "person_beside",
            side,
            "MULTIPLE_FACES",
            "two_faces",
            "side by side",
            f"{_source(own)} + {_source(other)}",
        )
    if SHARED_FACES.is_dir() and any(photo.provenance == SHARED_PROVENANCE for photo in chosen) and not small:
        for name, boxes in SHARED_PAIRS:
            with Image.open(SHARED_FACES / name) as opened:
                photo = opened.convert("RGB")
            left = min(box[0] for box in boxes)
            right = max(box[0] + box[2] for box in boxes)
            span = (left, min(box[1] for box in boxes), right - left, max(box[3] for box in boxes))
            frame = c.webcam_frame(photo, span, 0.6)
            add(
                people[0],
                f"pair_{Path(name).stem}",
                frame,
                "MULTIPLE_FACES",
                "two_faces",
                "real photo of two",
                f"{name} ({SHARED_PROVENANCE})",
            )


def load_labels(root: Path) -> list[Case]:
    return [Case(**item) for item in json.loads((root / "labels.json").read_text())]
