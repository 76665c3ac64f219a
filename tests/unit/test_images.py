from __future__ import annotations

import io
import struct
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFilter

from proctoring.images import (
    MAX_INLINE_BYTES,
    ImageRejected,
    image_quality,
    prepare_image,
)
from tests.builders import synthetic_jpeg


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def rejected(data: bytes) -> ImageRejected:
    with pytest.raises(ImageRejected) as error:
        prepare_image(data, "test")
    return error.value


def test_a_good_jpeg_is_prepared_as_rgb():
    prepared = prepare_image(synthetic_jpeg(1), "id")
    assert prepared.image.mode == "RGB"
    assert (prepared.width, prepared.height) == (640, 480)
    assert prepared.source_format == "JPEG"
    assert prepared.jpeg_bytes()[:2] == b"\xff\xd8"


def test_zero_bytes():
    assert rejected(b"").code == "IMAGE_EMPTY"


def test_truncated_jpeg():
    data = synthetic_jpeg(2)
    error = rejected(data[: len(data) // 2])
    assert error.code == "IMAGE_CORRUPT"
    assert "truncated" in error.message


def test_text_renamed_jpg():
    error = rejected(b"this is a text file, renamed capture.jpg\n" * 20)
    assert error.code == "IMAGE_UNREADABLE"


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "BMP", "TIFF"])
def test_other_formats_are_refused_by_name(fmt):
    data = encode(Image.new("RGB", (200, 200), "gray"), fmt)
    error = rejected(data)
    assert error.code == "IMAGE_FORMAT_UNSUPPORTED"
    assert fmt in error.message


def test_heic_is_recognised_and_refused():
    # An ISO-BMFF 'ftyp' box with the HEIC brand, as phones write.
    header = struct.pack(">I4s4sI4s4s", 24, b"ftyp", b"heic", 0, b"mif1", b"heic")
    error = rejected(header + b"\x00" * 2000)
    assert error.code == "IMAGE_FORMAT_UNSUPPORTED"
    assert "HEIC" in error.message


def test_cmyk_jpeg_becomes_rgb():
    data = encode(Image.new("CMYK", (300, 200), (0, 255, 255, 0)), "JPEG")
    prepared = prepare_image(data, "cmyk")
    assert prepared.image.mode == "RGB"
    red, green, blue = prepared.image.getpixel((150, 100))
    assert red > 200 and green < 60 and blue < 60


def test_rgba_png_is_flattened_on_white():
    image = Image.new("RGBA", (200, 200), (0, 0, 255, 0))
    image.paste((0, 0, 255, 255), (50, 50, 150, 150))
    prepared = prepare_image(encode(image, "PNG"), "rgba")
    assert prepared.image.mode == "RGB"
    assert prepared.image.getpixel((10, 10)) == (255, 255, 255)
    assert prepared.image.getpixel((100, 100)) == (0, 0, 255)


def test_16_bit_png_keeps_its_tones():
    pixels = np.zeros((200, 200), dtype=np.uint16)
    pixels[:, :100] = 40000
    image = Image.fromarray(pixels)
    prepared = prepare_image(encode(image, "PNG"), "i16")
    left, right = prepared.image.getpixel((50, 100)), prepared.image.getpixel((150, 100))
    assert prepared.image.mode == "RGB"
    assert 150 <= left[0] <= 160  # 40000 / 256 = 156, not clipped to 255
    assert right[0] == 0


def test_exif_rotated_photo_is_analysed_upright():
    # Stored landscape 400x200 with a red left half; Orientation 6 means "rotate 90° clockwise to view".
    image = Image.new("RGB", (400, 200), "blue")
    image.paste((255, 0, 0), (0, 0, 200, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    prepared = prepare_image(encode(image, "JPEG", exif=exif.tobytes()), "exif")
    assert (prepared.width, prepared.height) == (200, 400)
    top = prepared.image.getpixel((100, 50))
    assert top[0] > 200 and top[2] < 60  # the stored left half is now on top


@pytest.mark.parametrize(("size", "code"), [((79, 400), "IMAGE_TOO_SMALL"), ((400, 79), "IMAGE_TOO_SMALL")])
def test_under_80_px_on_a_side(size, code):
    error = rejected(encode(Image.new("RGB", size, "gray"), "PNG"))
    assert error.code == code
    assert "80" in error.message


def test_exactly_80_px_is_accepted():
    assert prepare_image(encode(Image.new("RGB", (80, 80), "gray"), "PNG"), "min").width == 80


def test_over_15_mb_is_too_large():
    data = synthetic_jpeg(3) + b"\x00" * (15 * 1024 * 1024)
    assert rejected(data).code == "IMAGE_TOO_LARGE"


def test_over_5_mb_is_still_analysed_under_the_inline_limit():
    # Noise compresses badly: a 3000x2500 PNG of noise is well over 5 MB.
    noise = Image.effect_noise((3000, 2500), 120).convert("RGB")
    data = encode(noise, "PNG")
    assert len(data) > MAX_INLINE_BYTES
    prepared = prepare_image(data, "big")
    assert max(prepared.width, prepared.height) == 1920
    assert len(prepared.jpeg_bytes()) <= MAX_INLINE_BYTES


@pytest.mark.parametrize(("size", "expected"), [((4000, 3000), (1920, 1440)), ((3000, 4000), (1440, 1920))])
def test_large_pictures_are_scaled_to_1920_on_the_longer_side(size, expected):
    assert prepare_image(encode(Image.new("RGB", size, "grey"), "JPEG"), "x").image.size == expected


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_very_wide_picture_keeps_rekognitions_minimum_side(fmt):
    """Scaled to 1920 px long, a 4000x100 strip would be 48 px high: under Rekognition's 80 px."""
    prepared = prepare_image(encode(Image.new("RGB", (4000, 100), "grey"), fmt), "strip")
    assert prepared.image.size == (3200, 80)
    tall = prepare_image(encode(Image.new("RGB", (90, 5000), "grey"), fmt), "tall")
    assert tall.image.size == (80, 4444)  # scaled only as far as the minimum side allows


def test_decompression_bomb_is_refused_as_too_large():
    data = encode(Image.new("L", (9000, 9000), 0), "PNG")  # 81 Mpx, a few hundred KB
    error = rejected(data)
    assert error.code == "IMAGE_TOO_LARGE"
    assert error.message == "the image has more than 60 million pixels, too many to analyse"


def test_quality_tells_dark_and_blurred_from_good():
    good = prepare_image(synthetic_jpeg(4), "good").image
    dark = good.point(lambda value: value // 12)
    blurred = good.filter(ImageFilter.GaussianBlur(8))
    good_q, dark_q, blurred_q = image_quality(good), image_quality(dark), image_quality(blurred)
    assert dark_q["Brightness"] < 15 < good_q["Brightness"]
    assert blurred_q["Sharpness"] < good_q["Sharpness"] / 2
    assert 0 <= blurred_q["Sharpness"] <= 100


def _seed_images() -> list[bytes]:
    """Small real files of every accepted kind, to damage: JPEG (with EXIF rotation, CMYK) and PNG
    (RGBA, palette, 16-bit)."""
    pixels = Image.fromarray((np.random.default_rng(1).random((96, 120, 3)) * 255).astype("uint8"))
    rotated = Image.Exif()
    rotated[0x0112] = 6
    return [
        encode(pixels, "JPEG"),
        encode(pixels, "JPEG", exif=rotated.tobytes()),
        encode(pixels.convert("CMYK"), "JPEG"),
        encode(pixels, "PNG"),
        encode(pixels.convert("RGBA"), "PNG"),
        encode(pixels.convert("P"), "PNG"),
        encode(pixels.convert("I;16"), "PNG"),
    ]


SEEDS = _seed_images()
edit_kinds = st.sampled_from(["set", "cut", "insert", "truncate"])
damage = st.lists(
    st.tuples(edit_kinds, st.floats(0, 1), st.binary(min_size=1, max_size=16)),
    min_size=1,
    max_size=6,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(SEEDS))), damage)
def test_any_damaged_file_is_prepared_or_refused_with_a_code(seed, edits):
    """Bytes flipped, cut, inserted or lost anywhere: an upright RGB image at least 80 px a side, or
    ImageRejected with its code, never another exception (which would fail the step instead)."""
    data = bytearray(SEEDS[seed])
    for edit, where, chunk in edits:
        at = int(where * (len(data) - 1)) if data else 0
        if edit == "set":
            data[at : at + len(chunk)] = chunk
        elif edit == "cut":
            del data[at : at + len(chunk) * 4]
        elif edit == "insert":
            data[at:at] = chunk
        else:
            del data[at:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns of the corrupt EXIF blocks this makes
        try:
            prepared = prepare_image(bytes(data), "fuzz")
        except ImageRejected as error:
            assert error.code in {"IMAGE_EMPTY", "IMAGE_CORRUPT", "IMAGE_UNREADABLE", "IMAGE_TOO_SMALL",
                                  "IMAGE_FORMAT_UNSUPPORTED", "IMAGE_TOO_LARGE"}  # fmt: skip
            return
    assert prepared.image.mode == "RGB" and min(prepared.image.size) >= 80
