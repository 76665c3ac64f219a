"""Object keys: the naming convention ``images/{exam_id}/{user_id}/{file}`` and what derives from it.

Pure functions, no AWS imports.
"""

from __future__ import annotations

import hashlib
import posixpath
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote_plus

from .payloads import Capture

# In order of preference; upper case too, as cameras and phones write it (S3 keys are case-sensitive).
REFERENCE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG")
MAX_SEGMENT_LENGTH = 255
MAX_KEY_BYTES = 1024  # S3's limit on a key, in UTF-8 bytes


class InvalidCaptureKey(ValueError):
    """The key does not follow ``{images_prefix}{exam_id}/{user_id}/{file}``."""

    code = "INVALID_KEY"


@dataclass(frozen=True)
class CaptureKey:
    key: str
    exam_id: str
    user_id: str
    file_name: str

    def result_key(self, results_prefix: str) -> str:
        return f"{results_prefix}{self.exam_id}/{self.user_id}/{result_name(self.file_name)}.json"

    def reference_keys(self, reference_prefix: str) -> list[str]:
        """Where the student's reference photo may be, in order of preference.

        The student's id as the capture spells it comes first, then its other Unicode forms: a
        folder synced from a Mac spells ``josé`` decomposed (NFD), an upload from elsewhere composed
        (NFC), and S3 compares keys byte for byte.
        """
        spellings = dict.fromkeys(
            [self.user_id, unicodedata.normalize("NFC", self.user_id), unicodedata.normalize("NFD", self.user_id)]
        )
        return [f"{reference_prefix}{user}{ext}" for user in spellings for ext in REFERENCE_EXTENSIONS]


def result_name(file_name: str) -> str:
    """The result document's name, before ``.json``: the convention's ``.jpg`` is dropped (in any case).

    Any other extension stays (``c1.png`` gives ``c1.png.json``): a capture and a file beside it
    that differ only in extension, ``c1.jpg`` and a ``c1.png`` re-upload or a ``c1.txt`` sidecar,
    must not share, and overwrite, one result document.
    """
    stem, ext = posixpath.splitext(file_name)
    return stem if stem and ext.lower() == ".jpg" else file_name


def _check_segment(segment: str, what: str, key: str) -> None:
    if segment == "":
        raise InvalidCaptureKey(f"key {key!r} has an empty {what}")
    if segment in {".", ".."}:
        raise InvalidCaptureKey(f"key {key!r} has {segment!r} as its {what}")
    if len(segment) > MAX_SEGMENT_LENGTH:
        raise InvalidCaptureKey(f"key {key!r} has a {what} longer than {MAX_SEGMENT_LENGTH} characters")
    if any(unicodedata.category(ch) in {"Cc", "Cf"} for ch in segment):
        raise InvalidCaptureKey(f"key {key!r} has control characters in its {what}")


def parse_capture_key(key: str, images_prefix: str = "images/") -> CaptureKey:
    """Split a capture key into exam, user and file, refusing anything outside the convention."""
    if not key.startswith(images_prefix):
        raise InvalidCaptureKey(f"key {key!r} is not under {images_prefix!r}")
    if key.endswith("/"):
        # What the S3 console's "Create folder" uploads: an empty object named like a folder.
        raise InvalidCaptureKey(f"key {key!r} is a folder marker (it ends with '/'), not a capture")
    rest = key[len(images_prefix) :]
    parts = rest.split("/")
    if len(parts) != 3:
        raise InvalidCaptureKey(
            f"key {key!r} must be {images_prefix}{{exam_id}}/{{user_id}}/{{file}}, "
            f"found {len(parts)} segment(s) after the prefix"
        )
    exam_id, user_id, file_name = parts
    _check_segment(exam_id, "exam_id", key)
    _check_segment(user_id, "user_id", key)
    _check_segment(file_name, "file name", key)
    stem, _ext = posixpath.splitext(file_name)
    if not stem or stem.startswith("."):
        raise InvalidCaptureKey(f"key {key!r} has a file name without a name before its extension")
    return CaptureKey(key=key, exam_id=exam_id, user_id=user_id, file_name=file_name)


def result_key_candidates(result_key: str, s3_input: str) -> list[str]:
    """Where a capture's document may stand, in the order captures claim them.

    First ``result_key``, the convention's name. The convention is not one-to-one (``c1.jpg`` and
    ``c1.JPG`` both name ``c1.json``, as do ``c1`` and ``c1.jpg``), so when another capture's
    document holds that name, the capture's whole file name (``c1.JPG.json``), then that with a
    digest of its URI, which no other capture shares. Each stays within S3's key limit and a file
    system's 255-byte names (a long name is cut before its digest), so a folder holds them too.
    """
    folder = result_key[: result_key.rfind("/") + 1]
    file_name = s3_input.rpartition("/")[2]
    digest = hashlib.sha256(_utf8(s3_input)).hexdigest()[:8]
    stem = _utf8(file_name)[:200].decode("utf-8", "ignore")
    candidates = [result_key]
    for name in (f"{file_name}.json" if file_name else "", f"{stem}~{digest}.json"):
        key = folder + name
        fits = len(_utf8(name)) <= MAX_SEGMENT_LENGTH and len(_utf8(key)) <= MAX_KEY_BYTES
        if name and fits and key not in candidates:
            candidates.append(key)
    return candidates


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def key_candidates(raw_key: str) -> list[str]:
    """Keys to try for an event's key: URL-decoded first, then the key as it arrived.

    Classic S3 notifications URL-encode keys (space as ``+``); the EventBridge form is not
    documented either way, so both are tried and the one that exists wins.
    """
    decoded = unquote_plus(raw_key)
    return [decoded] if decoded == raw_key else [decoded, raw_key]


def rejected_result_key(raw_key: str, results_prefix: str = "results/", images_prefix: str = "images/") -> str:
    """Where the result of a key outside the convention goes: one flat, escaped file name.

    Escaping every ``/`` keeps ``..`` and empty segments from ever forming a path. ``~`` is escaped
    too, so an escaped name never holds one and ``~`` can mark what no key under the prefix spells:
    where a long name was cut before its digest, and a key with nothing under the prefix (the
    prefix itself, or a key outside it), named ``~`` and the whole key, so that ``x/y.jpg`` does
    not share ``images/x/y.jpg``'s ``x%2Fy.jpg``.
    """
    rest = raw_key[len(images_prefix) :] if raw_key.startswith(images_prefix) else ""
    name = _escaped_name(rest) if rest else "~" + _escaped_name(raw_key)
    if len(name) > 200:
        digest = hashlib.sha256(raw_key.encode()).hexdigest()[:16]
        name = f"{name[:180]}~{digest}"
    return f"{results_prefix}_invalid/{name}.json"


def _escaped_name(text: str) -> str:
    return quote(text, safe="").replace("~", "%7E")


def alert_subject(exam_id: str, user_id: str) -> tuple[str, str]:
    """The exam and student an alert counts for: the ids in Unicode's composed form (NFC), so that
    ``josé`` spelled decomposed (a folder synced from a Mac) and composed is one student, as it is
    for the reference photo (:meth:`CaptureKey.reference_keys`)."""
    return unicodedata.normalize("NFC", exam_id), unicodedata.normalize("NFC", user_id)


def sequencer_order(sequencer: Any) -> int | None:
    """An S3 event's ``sequencer`` as a number, or None when there is none (an event built by hand).

    S3 documents its comparison as: left-pad the shorter with zeros, then compare the hex strings;
    that is comparing their values. Only events for one key compare: the greater is the later upload.
    """
    if not isinstance(sequencer, str) or not sequencer or len(sequencer) > 64:
        return None
    try:
        return int(sequencer, 16)
    except ValueError:
        return None


def idempotency_key(bucket: str, key: str, version: str | None, etag: str | None) -> str:
    """Identity of one uploaded object version; the same upload always gives the same key."""
    identity = f"{bucket}/{key}#{version or ''}#{(etag or '').strip(chr(34))}"
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()


def capture_identity(
    bucket: str,
    key: str,
    *,
    etag: str | None,
    version_id: str | None,
    sequencer: str | None = None,
    images_prefix: str = "images/",
    results_prefix: str = "results/",
) -> Capture:
    """Who and what a key is about, and where its result goes: the fields every path needs.

    Keys outside the convention get their ``_invalid`` result key and a ``rejection``. The event's
    ``sequencer`` orders uploads of one key; one that is not S3's hex form is dropped.
    """
    etag = (etag or "").strip('"') or None
    identity: Capture = {
        "bucket": bucket,
        "key": key,
        "s3_input": f"s3://{bucket}/{key}",
        "etag": etag,
        "version_id": version_id,
        "sequencer": sequencer if sequencer_order(sequencer) is not None else None,
        "idempotency_key": idempotency_key(bucket, key, version_id, etag),
        "exam_id": None,
        "user_id": None,
        "file_name": None,
        "result_key": "",
    }
    try:
        parsed = parse_capture_key(key, images_prefix)
    except InvalidCaptureKey as exc:
        identity["result_key"] = rejected_result_key(key, results_prefix, images_prefix)
        identity["rejection"] = {"code": exc.code, "message": str(exc)}
        return identity
    result_key = parsed.result_key(results_prefix)
    if len(result_key.encode("utf-8")) > MAX_KEY_BYTES:
        # A key near S3's limit has no room for its result (``.json`` is longer than ``.jpg``):
        # rejected, it gets a shortened ``_invalid`` result instead of a write S3 would refuse.
        identity["result_key"] = rejected_result_key(key, results_prefix, images_prefix)
        identity["rejection"] = {
            "code": InvalidCaptureKey.code,
            "message": f"key {key!r} is too long: its result key would be {len(result_key.encode('utf-8'))} bytes, "
            f"over S3's {MAX_KEY_BYTES}",
        }
        return identity
    identity.update(
        {"exam_id": parsed.exam_id, "user_id": parsed.user_id, "file_name": parsed.file_name, "result_key": result_key}
    )
    return identity
