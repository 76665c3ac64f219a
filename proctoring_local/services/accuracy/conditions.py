"""What a webcam does to a face: the frame, the room's light, the sensor, the lens, the file.

Every function takes and returns a PIL image (RGB) and is deterministic for a given seed, so the
set is the same on every run.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from proctoring_local.services.accuracy.sources import Box

FRAME = (640, 480)


def webcam_frame(photo: Any, box: Box, face_share: float, size: tuple[int, int] = FRAME) -> Any:
    """A ``size`` frame in which the face of ``box`` spans ``face_share`` of the width, its centre a
    little above the middle (where a laptop camera puts a seated student). What lies outside the
    photo is the photo itself, blurred, as an out-of-focus room."""
    left, top, width, height = box
    crop_width = width / face_share
    crop_height = crop_width * size[1] / size[0]
    centre_x, centre_y = left + width / 2, top + height / 2
    region = (
        round(centre_x - crop_width / 2),
        round(centre_y - crop_height * 0.45),
        round(centre_x + crop_width / 2),
        round(centre_y + crop_height * 0.55),
    )
    room = photo.resize(size).filter(ImageFilter.GaussianBlur(12))
    frame = room.copy()
    inside = (max(0, region[0]), max(0, region[1]), min(photo.width, region[2]), min(photo.height, region[3]))
    scale = size[0] / (region[2] - region[0])
    part = photo.crop(inside).resize(
        (max(1, round((inside[2] - inside[0]) * scale)), max(1, round((inside[3] - inside[1]) * scale))),
        Image.Resampling.LANCZOS,
    )
    frame.paste(part, (round((inside[0] - region[0]) * scale), round((inside[1] - region[1]) * scale)))
    return frame


def face_box_in_frame(box: Box, face_share: float, size: tuple[int, int] = FRAME) -> Box:
    """Where ``webcam_frame`` puts the face of ``box``, in the frame's pixels."""
    width = round(size[0] * face_share)
    left = round(size[0] / 2 - width / 2)
    top = round(size[1] * 0.45 - width * box[3] / box[2] / 2)
    return left, top, width, round(width * box[3] / box[2])


def jpeg_bytes(image: Any, quality: int = 90, exif: bytes | None = None) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, **({"exif": exif} if exif else {}))
    return buffer.getvalue()


def grain(image: Any, sigma: float, seed: int) -> Any:
    """Sensor noise: Gaussian, per pixel and channel, as a small sensor at high gain makes."""
    pixels = np.asarray(image, dtype=np.float32)
    noise = np.random.default_rng(seed).normal(0.0, sigma, pixels.shape)
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))


def light(image: Any, gain: float) -> Any:
    """A dimmer (gain < 1) or brighter (gain > 1, clipping highlights) room."""
    return ImageEnhance.Brightness(image).enhance(gain)


def dim_room(image: Any, seed: int) -> Any:
    """A dim room as a webcam records it: a third of the light, and the noise of the gain it adds."""
    return grain(light(image, 0.33), 6.0, seed)


def defocus(image: Any, radius: float = 2.0) -> Any:
    return image.filter(ImageFilter.GaussianBlur(radius))


def motion_blur(image: Any, length: int = 9) -> Any:
    """A horizontal movement during the exposure."""
    import cv2

    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    return Image.fromarray(cv2.filter2D(np.asarray(image), -1, kernel))


def exif_rotated(image: Any) -> bytes:
    """The frame stored as a phone or a rotated webcam stores it: pixels turned a quarter, and the
    EXIF Orientation tag (6: rotate 90 degrees clockwise to view) that turns them back."""
    stored = image.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    return jpeg_bytes(stored, 90, exif.tobytes())


def mirrored(image: Any) -> Any:
    return ImageOps.mirror(image)


def turned_head(frame: Any, face: Box, yaw_degrees: float) -> Any:
    """The face of ``face`` turned by ``yaw_degrees`` about the head's vertical axis.

    A synthetic rotation of a 3-D face: the picture is laid on a head-shaped surface (an ellipsoid
    as deep as it is wide, with a nose ridge standing out by a fifth of the face's width, about
    what anthropometric tables give for adults), turned, and projected back (orthographically: a face
    is small against its distance from a webcam). Parts that come into view are filled from their
    surroundings (OpenCV's inpainting), as no photo shows them.
    """
    import cv2

    pixels = np.asarray(frame)
    left, top, width, height = face
    centre_x, centre_y = left + width / 2, top + height * 0.5
    half_w, half_h = width * 0.6, height * 0.72
    ys, xs = np.mgrid[0 : pixels.shape[0], 0 : pixels.shape[1]]
    u, v = (xs - centre_x) / half_w, (ys - centre_y) / half_h
    inside = u * u + v * v < 1.0
    depth = np.where(inside, half_w * np.sqrt(np.clip(1.0 - u * u - v * v, 0, 1)), 0.0)
    # The nose: a ridge from between the eyes to its tip, a fifth of the face's width high.
    nose_x = np.exp(-((xs - centre_x) ** 2) / (2 * (0.11 * width) ** 2))
    nose_y = np.exp(-((ys - (top + height * 0.58)) ** 2) / (2 * (0.16 * height) ** 2))
    depth = depth + np.where(inside, 0.2 * width * nose_x * nose_y, 0.0)
    angle = math.radians(yaw_degrees)
    # The head turns about an axis behind the face (the neck), at depth 0 of the ellipsoid's base.
    new_x = centre_x + (xs - centre_x) * math.cos(angle) + depth * math.sin(angle)
    new_z = -(xs - centre_x) * math.sin(angle) + depth * math.cos(angle)
    out = pixels.copy()
    filled = np.zeros(pixels.shape[:2], bool)
    # Background stays; the head is drawn over it, nearest surface last so that it wins.
    order = np.argsort(new_z[inside], kind="stable")
    src_y, src_x = ys[inside][order], xs[inside][order]
    dst_x = np.clip(np.round(new_x[inside][order]).astype(int), 0, pixels.shape[1] - 1)
    dst_y = src_y
    head_region = np.zeros(pixels.shape[:2], np.uint8)
    head_region[inside] = 1
    out[dst_y, dst_x] = pixels[src_y, src_x]
    filled[dst_y, dst_x] = True
    holes = ((head_region == 1) & ~filled).astype(np.uint8) * 255
    # The background uncovered where the head was: fill it from around.
    holes = cv2.dilate(holes, np.ones((3, 3), np.uint8))
    holes[filled] = 0
    return Image.fromarray(cv2.inpaint(out, holes, 5, cv2.INPAINT_TELEA))


def paste_face(frame: Any, photo: Any, box: Box, at: tuple[int, int], width: int) -> Any:
    """``frame`` with the head of ``box`` in ``photo`` pasted at ``at`` (top left), ``width`` px wide,
    feathered at its edges: a second person in the room."""
    left, top, w, h = box
    margin_x, margin_y = w * 0.35, h * 0.45
    region = (round(left - margin_x), round(top - margin_y), round(left + w + margin_x), round(top + h + margin_y))
    head = photo.crop(region)
    scale = width / (region[2] - region[0])
    head = head.resize((width, max(1, round(head.height * scale))), Image.Resampling.LANCZOS)
    mask = Image.new("L", head.size, 0)
    from PIL import ImageDraw

    ImageDraw.Draw(mask).ellipse((0, 0, head.width - 1, head.height - 1), fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(max(1, width // 25)))
    out = frame.copy()
    out.paste(head, at, mask)
    return out
