"""The photos the accuracy set is built from, with where each came from and what it shows.

Two portraits ship inside wheels the project installs, so a clean clone always has them. Where
``../shared/faces`` is present (24 photos of 7 people from the MIT-licensed ageitgey/face_recognition
repository, listed in its INDEX.md), those are used too; they are read from there, never copied.

Each face box (left, top, width, height, in the photo's own pixels) was found once with dlib's HOG
detector at twice the photo's size and checked by eye; it only frames the webcam capture built
from the photo. ``documented_yaw`` is the head turn INDEX.md states ("turned about 30 degrees").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

SHARED_FACES = Path(__file__).resolve().parents[4] / "shared" / "faces"  # beside the repository
SHARED_PROVENANCE = "ageitgey/face_recognition (MIT), via ../shared/faces"

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Photo:
    name: str  # file name, or the wheel it ships in
    person: str
    box: Box
    provenance: str
    role: str = "capture"  # reference: the student's enrolment photo; capture: a source of captures
    documented_yaw: float | None = None
    # frontal; turned: a glance, up to about 35 degrees (the angle INDEX.md gives, or by eye where it
    # gives none); three_quarter: INDEX.md's "three-quarter view", which may be anywhere from a
    # glance to turning away, so neither verdict is wrong: reported apart, left out of the rates.
    # Synthetic turns are added to frontal faces only, whose angle is then known.
    pose: str = "frontal"

    def load(self) -> Any:
        """The photo upright, RGB (PIL)."""
        from PIL import Image, ImageOps

        if self.name == "astronaut":
            from skimage import data

            return Image.fromarray(data.astronaut())
        if self.name == "grace_hopper.jpg":
            import matplotlib.cbook as cbook

            return Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
        with Image.open(SHARED_FACES / self.name) as image:
            return ImageOps.exif_transpose(image).convert("RGB")


WHEEL_PHOTOS = (
    Photo("astronaut", "eileen", (175, 76, 91, 91), "scikit-image (skimage.data.astronaut)", "reference"),
    Photo("grace_hopper.jpg", "grace", (180, 139, 187, 187), "matplotlib (sample_data/grace_hopper.jpg)", "reference"),
)

# One reference per person (a frontal portrait), the other photos are sources of captures. Photos
# with several people, or whose face is cut by the edge, are left to the cases that need them.
SHARED_PHOTOS = (
    Photo("obama.jpg", "obama", (358, 134, 255, 255), SHARED_PROVENANCE, "reference"),
    Photo("obama2.jpg", "obama", (170, 290, 269, 268), SHARED_PROVENANCE, documented_yaw=30, pose="turned"),
    Photo("obama1_knn.jpg", "obama", (561, 210, 397, 397), SHARED_PROVENANCE, documented_yaw=35, pose="turned"),
    Photo("obama3.jpg", "obama", (658, 292, 303, 303), SHARED_PROVENANCE),
    Photo("obama_small.jpg", "obama", (103, 68, 109, 108), SHARED_PROVENANCE),
    Photo("biden2.jpg", "biden", (450, 296, 463, 463), SHARED_PROVENANCE, "reference"),
    Photo("biden.jpg", "biden", (406, 216, 344, 344), SHARED_PROVENANCE),
    Photo("alex_lacamoire1.jpg", "alex", (604, 183, 347, 347), SHARED_PROVENANCE, "reference"),
    Photo("alex_lacamoire2.jpg", "alex", (276, 205, 323, 323), SHARED_PROVENANCE),
    Photo("alex-lacamoire.png", "alex", (184, 150, 156, 156), SHARED_PROVENANCE),
    Photo("kit_harington_test.jpg", "kit", (255, 160, 216, 216), SHARED_PROVENANCE, "reference", pose="turned"),
    Photo("kit_harington1.jpg", "kit", (683, 110, 131, 130), SHARED_PROVENANCE, pose="turned"),
    Photo("kit_harington2.jpg", "kit", (283, 98, 187, 187), SHARED_PROVENANCE, pose="three_quarter"),
    Photo("rose_leslie1.jpg", "rose", (594, 87, 287, 287), SHARED_PROVENANCE, "reference"),
    Photo("rose_leslie2.jpg", "rose", (171, 171, 268, 269), SHARED_PROVENANCE),
    Photo("lin-manuel-miranda.png", "lin", (241, 170, 322, 322), SHARED_PROVENANCE, "reference", pose="turned"),
)

# Real photos of two people side by side (each face's box, left to right as listed in INDEX.md).
SHARED_PAIRS = (
    ("two_people.jpg", ((253, 60, 146, 146), (788, 72, 176, 176))),
    ("kit_with_rose.jpg", ((79, 130, 76, 75), (247, 92, 108, 108))),
)


def photos(use_shared: bool = True) -> tuple[Photo, ...]:
    """The wheel photos, and the shared ones when present and wanted."""
    if use_shared and SHARED_FACES.is_dir():
        return WHEEL_PHOTOS + SHARED_PHOTOS
    return WHEEL_PHOTOS
