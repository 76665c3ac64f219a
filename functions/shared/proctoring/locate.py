"""ParseKey's work: from an upload event's key to the capture, its result key and its reference.

Apart from the image steps' code on purpose: ParseKey needs no image library.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .config import Settings
from .errors import InvalidEvent
from .keys import capture_identity, key_candidates, parse_capture_key
from .payloads import Capture, Rejection
from .references import stored_check
from .storage import ObjectInfo, Storage


def uploaded_object(detail: Any, capture_bucket: str = "") -> tuple[str, dict[str, Any]]:
    """The bucket name and the object of an S3 "Object Created" event's ``detail``.

    EventBridge only ever delivers well-formed events for the pipeline's own bucket; anything else
    is an execution started by hand with the wrong input, refused with what is wrong with it.
    """
    detail = detail if isinstance(detail, dict) else {}
    bucket = detail.get("bucket").get("name") if isinstance(detail.get("bucket"), dict) else None
    obj = detail.get("object") if isinstance(detail.get("object"), dict) else {}
    if not (isinstance(bucket, str) and bucket and isinstance(obj.get("key"), str) and obj["key"]):
        raise InvalidEvent(
            "the input is not an S3 Object Created event: it needs detail.bucket.name and detail.object.key"
        )
    if capture_bucket and bucket != capture_bucket:
        raise InvalidEvent(f"the event is about bucket {bucket!r}; this pipeline serves {capture_bucket!r}")
    return bucket, obj


def locate_capture(
    storage: Storage,
    bucket: str,
    raw_key: str,
    *,
    etag: str | None,
    version_id: str | None,
    size: int | None,
    settings: Settings,
    sequencer: str | None = None,
) -> Capture:
    """Resolve the event's key, parse it, and find the student's reference photo and its check.

    Returns the ``capture`` state. Keys outside the convention, and objects that no longer
    exist, come back with a ``rejection`` so the state machine still writes a result document.
    """
    candidates = key_candidates(raw_key)
    found = [(candidate, info) for candidate in candidates if (info := storage.head(bucket, candidate)) is not None]
    # When both spellings exist ("a b.jpg" and "a+b.jpg"), the one with the event's ETag is the upload.
    wanted = (etag or "").strip('"')
    found.sort(key=lambda pair: not (wanted and pair[1].etag == wanted))
    key, info = found[0] if found else (candidates[0], None)
    capture = capture_identity(
        bucket,
        key,
        etag=etag or (info.etag if info else None),
        version_id=version_id or (info.version_id if info else None),
        sequencer=sequencer,
        images_prefix=settings.images_prefix,
        results_prefix=settings.results_prefix,
    )
    # The event names one version of the object; a newer upload of the same key may be there by now.
    size = size if size is not None else (info.size if info else None)
    capture.update({"size": size, "reference": None})
    if "rejection" in capture:
        return capture
    if info is None:
        capture["rejection"] = capture_gone(capture)
        return capture
    reference_keys = parse_capture_key(key, settings.images_prefix).reference_keys(settings.reference_prefix)
    capture["reference_expected"] = reference_keys[0]  # named in a REFERENCE_MISSING verdict
    found_reference = first_existing(storage, bucket, reference_keys)
    if found_reference is not None:
        # Compare reads this version: a reference replaced meanwhile is judged next time.
        capture["reference"] = stored_check(
            storage,
            bucket,
            found_reference[1],
            reference_prefix=settings.reference_prefix,
            analyzer=settings.analyzer,
        )
    return capture


def first_existing(storage: Storage, bucket: str, keys: Iterable[str]) -> tuple[str, ObjectInfo] | None:
    """The first of ``keys`` that exists in ``bucket``, with its metadata; None when none does."""
    return next(((key, info) for key in keys if (info := storage.head(bucket, key)) is not None), None)


def capture_gone(capture: Capture) -> Rejection:
    """The rejection of a capture deleted between its upload and its analysis: nothing to retry."""
    version = f" (version {capture['version_id']})" if capture.get("version_id") else ""
    return {
        "code": "CAPTURE_NOT_FOUND",
        "message": (
            f"the capture {capture['s3_input']}{version} no longer exists; it was deleted before it could be analysed"
        ),
    }
