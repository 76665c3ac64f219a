"""``proctoring review ... --html FILE``: the captures to look at as one page, beside each
student's reference photo, with the faces the analysis found boxed.

The page is a single file with the pictures inside it (no server, nothing fetched): it holds
students' faces, so it is biometric data, to be kept and shared as the captures are.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from itertools import groupby
from typing import TYPE_CHECKING, Any

from proctoring_local.services.html_page import content_security_policy

if TYPE_CHECKING:
    from proctoring_local.services.targets import Target
    from proctoring_local.services.verdicts import Verdict

THUMBNAIL_SIDE = 480
MAIN_FACE = (220, 30, 30)  # the face the verdict judged
OTHER_FACE = (245, 160, 0)  # any other face found

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
section { border-top: 2px solid #ccc; margin-top: 1.5em; padding-top: .5em; }
.row { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
figure { margin: 0; max-width: 480px; }
figure img { display: block; max-width: 100%; border: 1px solid #ccc; }
figcaption { font-size: 13px; }
.status { color: #fff; padding: 0 .4em; border-radius: 3px; font-weight: 600; background: #555; }
.ALERT_FINAL { background: #b00020; } .ALERT { background: #c66a00; } .OK { background: #2e7d32; }
.missing { width: 240px; padding: 1em; background: #f3f3f3; border: 1px dashed #aaa; }
ul { margin: .3em 0; padding-left: 1.2em; }
"""


def face_boxes(document: dict[str, Any]) -> list[tuple[dict[str, float], tuple[int, int, int]]]:
    """The boxes a proctor should see: the judged face, then every other face the document names."""
    boxes = []
    main = (document.get("face") or {}).get("BoundingBox")
    if main:
        boxes.append((main, MAIN_FACE))
    for reason in document.get("reasons") or []:
        for box in (reason.get("evidence") or {}).get("boxes") or []:
            if box != main:
                boxes.append((box, OTHER_FACE))
    return boxes


def thumbnail_jpeg(
    data: bytes, boxes: Iterable[tuple[dict[str, float], tuple[int, int, int]]] = (), side: int = THUMBNAIL_SIDE
) -> bytes:
    """The picture as a JPEG, upright as the analysis saw it, at most ``side`` pixels on its longer
    side, with ``boxes`` (Rekognition's ratios) drawn. Raises ImageRejected when the file cannot be
    shown (the same checks the pipeline makes)."""
    from PIL import ImageDraw

    from proctoring.images import prepare_image

    image = prepare_image(data, identity="review", max_side=side).image
    draw = ImageDraw.Draw(image)
    width, height = image.size
    line = max(2, round(max(width, height) / 160))
    for box, colour in boxes:
        left, top = float(box.get("Left", 0)) * width, float(box.get("Top", 0)) * height
        right, bottom = left + float(box.get("Width", 0)) * width, top + float(box.get("Height", 0)) * height
        draw.rectangle((left, top, right, bottom), outline=colour, width=line)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=82)
    return buffer.getvalue()


def thumbnail_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def read_thumbnail(target: Target, key: str, side: int = THUMBNAIL_SIDE, boxes: Any = ()) -> tuple[bytes | None, str]:
    """The thumbnail of the object at ``key``, or None and why it cannot be shown. Never more than
    the size a capture may have is read: a larger file is too large to show, whatever it holds."""
    from proctoring.errors import ObjectTooLarge
    from proctoring.images import MAX_SOURCE_BYTES, ImageRejected

    try:
        return thumbnail_jpeg(target.storage.read(target.bucket, key, max_bytes=MAX_SOURCE_BYTES), boxes, side), ""
    except FileNotFoundError:
        return None, "no longer there"
    except ObjectTooLarge as exc:
        return None, f"too large to show ({exc.size / 1048576:.1f} MB; at most {MAX_SOURCE_BYTES // 1048576} MB)"
    except ImageRejected as exc:
        return None, f"cannot be shown: {exc.message}"


def _figure(target: Target, key: str | None, caption: str, boxes: Any = ()) -> str:
    """The picture at ``key`` with ``caption``, or the caption with why it cannot be shown."""
    if key is None:
        return f'<div class="missing">{caption}</div>'
    data, why = read_thumbnail(target, key, THUMBNAIL_SIDE, boxes)
    if data is None:
        return f'<div class="missing">{caption}<br>{html.escape(key)}: {html.escape(why)}</div>'
    return (
        f'<figure><img src="{thumbnail_uri(data)}" alt="{html.escape(key)}"><figcaption>{caption}</figcaption></figure>'
    )


def reference_key(target: Target, capture_key: str, images_prefix: str, reference_prefix: str) -> str | None:
    """The student's reference photo, looked up as ParseKey looks it up; None when there is none."""
    from proctoring.keys import InvalidCaptureKey, parse_capture_key
    from proctoring.locate import first_existing

    try:
        candidates = parse_capture_key(capture_key, images_prefix).reference_keys(reference_prefix)
    except InvalidCaptureKey:
        return None
    found = first_existing(target.storage, target.bucket, candidates)
    return found[0] if found else None


def render_page(
    target: Target,
    verdicts: list[Verdict],
    statuses: tuple[str, ...],
    images_prefix: str,
    reference_prefix: str,
    notes: Mapping[str, str] | None = None,
) -> str:
    """The page for the ``verdicts`` whose status is in ``statuses``, student by student; ``notes``
    (by result key) add a line to a capture's caption.

    The pictures are read and drawn ``READERS`` at once (from a bucket, each is a round trip).
    """
    from proctoring_local.services.targets import READERS
    from proctoring_local.services.verdicts import STATUSES

    escape = html.escape
    shown = [verdict for verdict in verdicts if verdict.status in statuses]
    # Literal markup, and the figures still to be made, in page order.
    parts: list[str | Callable[[], str]] = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f'<meta http-equiv="Content-Security-Policy" content="{content_security_policy(styles=(_STYLE,))}">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>Proctoring review: {escape(target.text)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>To look at in {escape(target.text)}</h1>",
        f"<p>{len(shown)} of {len(verdicts)} result document(s): {escape(' / '.join(statuses))}. "
        "Red box: the face the verdict judged; orange: other faces found.</p>",
    ]
    for (exam, user), group in groupby(shown, key=lambda verdict: (verdict.exam_id, verdict.user_id)):
        captures = list(group)
        first_key = captures[0].capture_key(target.bucket)
        parts.append(f"<section><h2>{escape(exam)} / {escape(user)}</h2><div class='row'>")
        parts.append(partial(_reference_figure, target, first_key, images_prefix, reference_prefix))
        for verdict in captures:
            status = verdict.status if verdict.status in STATUSES else "ERROR"  # a class name of ours only
            count = verdict.document.get("alert_count")
            caption = (
                f"<b>{escape(verdict.capture)}</b> "
                f"<span class='status {status}'>{escape(verdict.status)}</span>"
                + (f" alert #{escape(str(count))}" if count is not None else "")
                + "<ul>"
                + "".join(f"<li>{escape(line)}</li>" for line in verdict.why.splitlines())
                + "</ul>"
                + (f"<p><i>{escape(notes[verdict.result])}</i></p>" if notes and verdict.result in notes else "")
            )
            key, boxes = verdict.capture_key(target.bucket), face_boxes(verdict.document)
            parts.append(partial(_figure, target, key, caption, boxes))
        parts.append("</div></section>")
    parts.append("</body></html>\n")
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        return "".join(pool.map(lambda part: part if isinstance(part, str) else part(), parts))


def _reference_figure(target: Target, capture_key: str | None, images_prefix: str, reference_prefix: str) -> str:
    reference = reference_key(target, capture_key, images_prefix, reference_prefix) if capture_key else None
    return _figure(target, reference, "reference photo" if reference else "no reference photo")
