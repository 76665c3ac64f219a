"""Decoding and normalising images, with a specific reason for every image we refuse.

Every analysis step loads its image through :func:`prepare_image`, so both analyzers see the
same upright, 8-bit RGB picture whatever the upload was (EXIF-rotated, CMYK, RGBA, 16-bit).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass, field

from PIL import Image, ImageFile, ImageFilter, ImageOps, ImageStat, UnidentifiedImageError

from .payloads import FaceQuality, Rejection

# Rekognition's limits: 5 MB as bytes, 15 MB from S3, 80 px a side; JPEG and PNG only.
MAX_INLINE_BYTES = 5 * 1024 * 1024
MAX_SOURCE_BYTES = 15 * 1024 * 1024
MIN_SIDE = 80
ACCEPTED_FORMATS = {"JPEG", "PNG", "MPO"}  # MPO: JPEG with extra frames, as some phones write
# A 15 MB JPEG can declare a huge canvas; refuse decompression bombs instead of running out of memory.
MAX_PIXELS = 60_000_000
ANALYSIS_MAX_SIDE = 1920

Image.MAX_IMAGE_PIXELS = MAX_PIXELS
ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageRejected(Exception):
    """The image cannot be analysed. ``code`` is a stable reason code for the result document."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def as_dict(self) -> Rejection:
        return {"code": self.code, "message": self.message}


@dataclass
class PreparedImage:
    """An upright RGB image ready for analysis. ``identity`` names the exact source version."""

    image: Image.Image
    identity: str
    source_format: str
    source_size: tuple[int, int]
    _jpeg: bytes | None = field(default=None, repr=False)

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height

    def jpeg_bytes(self) -> bytes:
        """JPEG bytes under Rekognition's 5 MB inline limit (encoded once, on first use)."""
        if self._jpeg is None:
            quality = 90
            while True:
                buffer = io.BytesIO()
                self.image.save(buffer, format="JPEG", quality=quality)
                data = buffer.getvalue()
                if len(data) <= MAX_INLINE_BYTES or quality <= 50:
                    break
                quality -= 15
            self._jpeg = data
        return self._jpeg


def _sniff_unsupported(data: bytes) -> str | None:
    head = data[:32]
    if head[4:8] == b"ftyp" and any(brand in head[8:32] for brand in (b"heic", b"heix", b"mif1", b"msf1", b"hevc")):
        return "HEIC"
    if head[4:8] == b"ftyp" and b"avif" in head[8:32]:
        return "AVIF"
    return None


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in {"I;16", "I;16B", "I;16L", "I"}:
        # 16-bit greyscale: scale to 8 bits instead of letting Pillow clip at 255.
        image = image.point(lambda value: value / 256).convert("L")
    if image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info):
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")  # no copy when it already is
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def prepare_image(data: bytes, identity: str, max_side: int = ANALYSIS_MAX_SIDE) -> PreparedImage:
    """Decode ``data`` and return it upright, RGB, at most ``max_side`` pixels on its longer side.

    Raises :class:`ImageRejected` with a specific code for every input that cannot be analysed.
    """
    _check_file(data)
    image, source_format, source_size = _decode(data, max_side)
    # A broken EXIF block must not lose an otherwise good image: analyse it as stored. In place:
    # otherwise an upright image is copied whole, which for a large PNG is hundreds of MB.
    with contextlib.suppress(Exception):
        ImageOps.exif_transpose(image, in_place=True)
    upright = _to_rgb(image)
    if max(upright.size) > max_side:
        # Down to max_side, but never below Rekognition's minimum side: a very wide picture keeps
        # a longer side instead (scaling a 4000x100 strip to 1920x48 would make it unreadable).
        scale = max(max_side / max(upright.size), MIN_SIDE / min(upright.size))
        if scale < 1:
            new_size = (max(MIN_SIDE, round(upright.width * scale)), max(MIN_SIDE, round(upright.height * scale)))
            upright = upright.resize(new_size, Image.Resampling.LANCZOS)
    return PreparedImage(image=upright, identity=identity, source_format=source_format, source_size=source_size)


def _check_file(data: bytes) -> None:
    """Refuse, before decoding, what the file's size or first bytes already rule out."""
    size = len(data)
    if size == 0:
        raise ImageRejected("IMAGE_EMPTY", "the file is empty (0 bytes)")
    if size > MAX_SOURCE_BYTES:
        raise ImageRejected(
            "IMAGE_TOO_LARGE", f"the file is {size / 1048576:.1f} MB; the limit is {MAX_SOURCE_BYTES // 1048576} MB"
        )
    unsupported = _sniff_unsupported(data)
    if unsupported:
        raise ImageRejected("IMAGE_FORMAT_UNSUPPORTED", f"{unsupported} images are not supported; upload JPEG or PNG")


def _decode(data: bytes, max_side: int) -> tuple[Image.Image, str, tuple[int, int]]:
    """The decoded image, its format and its size as stored, or the rejection saying why not."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            source_format = image.format or "UNKNOWN"
            if source_format not in ACCEPTED_FORMATS:
                raise ImageRejected(
                    "IMAGE_FORMAT_UNSUPPORTED", f"{source_format} images are not supported; upload JPEG or PNG"
                )
            source_size = image.size
            if min(source_size) < MIN_SIDE:
                raise ImageRejected(
                    "IMAGE_TOO_SMALL",
                    f"the image is {source_size[0]}x{source_size[1]} px; each side must be at least {MIN_SIDE} px",
                )
            if source_format in {"JPEG", "MPO"}:
                # Let libjpeg decode at a reduced scale when the picture is far larger than needed.
                image.draft("RGB", (max_side, max_side))
            image.load()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow refuses before the size is known to us; its own message ends in "DOS attack.".
        raise ImageRejected(
            "IMAGE_TOO_LARGE", f"the image has more than {MAX_PIXELS // 1_000_000} million pixels, too many to analyse"
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageRejected("IMAGE_UNREADABLE", "the file is not an image in a known format") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected("IMAGE_CORRUPT", f"the image could not be decoded: {exc}") from exc
    return image, source_format, source_size


def image_quality(image: Image.Image, box: tuple[int, int, int, int] | None = None) -> FaceQuality:
    """Brightness and sharpness on Rekognition's 0-100 scales, of the whole image or of ``box``.

    Brightness is mean luminance scaled to 0-100. Sharpness maps the variance of a Laplacian-like
    edge filter through ``100 * (1 - exp(-var / 300))``: a blurred picture scores near 0, a crisp
    webcam frame 60-100.
    """
    import math

    grey = image.convert("L")
    if box is not None:
        grey = grey.crop(box)
    if grey.width < 3 or grey.height < 3:
        return {"Brightness": 0.0, "Sharpness": 0.0}
    if max(grey.size) > 512:
        grey = grey.copy()
        grey.thumbnail((512, 512))
    brightness = ImageStat.Stat(grey).mean[0] / 255 * 100
    edges = grey.filter(ImageFilter.Kernel((3, 3), [0, 1, 0, 1, -4, 1, 0, 1, 0], scale=1, offset=128))
    variance = ImageStat.Stat(edges).var[0]
    sharpness = 100 * (1 - math.exp(-variance / 300))
    return {"Brightness": round(brightness, 2), "Sharpness": round(sharpness, 2)}


# A capture's fingerprint: the green value of 128 pixels at fixed places of the decoded picture
# (a few hundred bytes in the timeline, never the image). A real sensor never delivers the same
# frame twice: its noise differs in nearly every pixel; a replayed file decodes to the same values.
FINGERPRINT_SAMPLES = 128
_SAMPLE_PLACES = tuple(((0.5 + 0.6180339887 * i) % 1.0, (0.5 + 0.7548776662 * i) % 1.0) for i in range(128))


def pixel_fingerprint(image: Image.Image) -> str:
    """``v1:{width}x{height}:{base64 of the samples}`` of an upright RGB picture."""
    import base64

    width, height = image.size
    green = image.getchannel("G").load()
    places = ((min(width - 1, int(x * width)), min(height - 1, int(y * height))) for x, y in _SAMPLE_PLACES)
    samples = bytes(int(green[place]) for place in places)  # type: ignore[index,arg-type]  # one band: an int
    return f"v1:{width}x{height}:{base64.b64encode(samples).decode('ascii')}"
