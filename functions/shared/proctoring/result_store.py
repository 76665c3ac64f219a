"""Where a result document is written, so that no capture's document ever replaces another's.

A capture's document goes to the convention's name unless another capture's document holds it
(``c1.jpg`` and ``c1.JPG`` both name ``c1.json``); then to the next of
:func:`~proctoring.keys.result_key_candidates`. A name is claimed with a create-only write, so of
two captures racing for it exactly one wins; a document is recognised as a capture's own by its
``s3_input``, so a redrive or a duplicate rewrites the same document in the same place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .errors import ResultNameTaken, StorageUnavailable
from .keys import result_key_candidates, sequencer_order
from .payloads import Persisted, PersistRequest
from .result import notification_from_error, with_notification
from .storage import Storage

# A document that changes between a look and a conditional write (deleted, replaced, or on S3
# another conditional write to the name in flight) sends the claim round again; this many times.
_ATTEMPTS = 4


@dataclass(frozen=True)
class StoredResult:
    key: str
    uri: str | None  # None when the document already there was kept
    written: bool
    superseded: bool = False  # kept: it is about a later upload of the same key


def _parsed(raw: bytes) -> dict[str, Any]:
    try:
        document = json.loads(raw)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def owner_of(raw: bytes) -> str | None:
    """The capture (its ``s3_input``) a stored document is about; None for anything else there."""
    owner = _parsed(raw).get("s3_input")
    return owner if isinstance(owner, str) else None


def is_later_upload(stored: dict[str, Any], sequencer: str | None) -> bool:
    """Whether ``stored`` judged a later upload of the key than the one whose event had
    ``sequencer``: an execution that finishes late must not put an older upload's verdict back."""
    ours = sequencer_order(sequencer)
    theirs = sequencer_order((stored.get("object_version") or {}).get("sequencer"))
    return ours is not None and theirs is not None and theirs > ours


def is_same_upload(stored: dict[str, Any], document: dict[str, Any]) -> bool:
    """Whether two documents judge the same upload of the same key."""
    ours, theirs = document.get("object_version") or {}, stored.get("object_version") or {}
    return (ours.get("version_id"), ours.get("etag")) == (theirs.get("version_id"), theirs.get("etag"))


def _place(
    storage: Storage, bucket: str, key: str, document: dict[str, Any], only_if_absent: bool, sequencer: str | None
) -> StoredResult | None:
    """Write ``document`` at ``key`` if the name is free or holds the same capture's document;
    None when another capture's document (or anything else) holds it.

    Each write is conditional on what was last seen there, so a document that changed in between
    (a later upload's execution finishing at that moment) is looked at again, not overwritten.
    """
    for _ in range(_ATTEMPTS):
        if uri := storage.create_json(bucket, key, document):
            return StoredResult(key, uri, True)
        try:
            there = storage.fetch(bucket, key)
        except FileNotFoundError:
            continue  # gone since the create was refused: claim it again
        stored = _parsed(there.body)
        if stored.get("s3_input") != document["s3_input"]:
            return None
        if only_if_absent:
            return StoredResult(key, None, False)
        if is_later_upload(stored, sequencer):
            return StoredResult(key, None, False, superseded=True)
        if stored.get("decisions") and is_same_upload(stored, document):
            # A proctor's decisions stay with the verdict they were made on, through a delivery
            # record, a redrive or a re-score (history is never rewritten).
            document = {**document, "decisions": stored["decisions"]}
        if uri := storage.replace_json(bucket, key, document, there.etag):
            return StoredResult(key, uri, True)
    raise StorageUnavailable(f"{key} kept changing while the result for {document['s3_input']} was written")


def store_result(
    storage: Storage,
    bucket: str,
    result_key: str,
    document: dict[str, Any],
    *,
    only_if_absent: bool = False,
    sequencer: str | None = None,
) -> StoredResult:
    """Write ``document`` at the first of its capture's candidate names that is free or its own.

    ``only_if_absent`` keeps a document of the same capture already there instead of replacing it;
    so does a document about a later upload of the same key than the one whose event had
    ``sequencer`` (the document's own when not given; see :func:`is_later_upload`).
    Raises :class:`ResultNameTaken` when other captures' documents hold every candidate.
    """
    source = document.get("s3_input")
    if not isinstance(source, str):  # not a capture's document: no one to tell apart
        return StoredResult(result_key, storage.write_json(bucket, result_key, document), True)
    if sequencer is None:
        sequencer = (document.get("object_version") or {}).get("sequencer")
    candidates = result_key_candidates(result_key, source)
    for key in candidates:
        if placed := _place(storage, bucket, key, document, only_if_absent, sequencer):
            return placed
    raise ResultNameTaken(f"other captures' documents hold every name the result for {source} may take: {candidates}")


def find_result(storage: Storage, bucket: str, result_key: str, s3_input: str) -> tuple[str, dict[str, Any]] | None:
    """The key and document :func:`store_result` wrote for the capture ``s3_input``, or None."""
    for key in result_key_candidates(result_key, s3_input):
        try:
            raw = storage.read(bucket, key)
        except FileNotFoundError:
            continue
        if owner_of(raw) == s3_input:
            return key, json.loads(raw)
    return None


def persist(storage: Storage, request: PersistRequest) -> tuple[Persisted, str]:
    """Write a step's document with its delivery record (PersistResult's and Notify's work), and
    name the outcome for the metrics: the final document (``ResultsWritten``, one per capture, as
    ParseKey's ``CapturesReceived``), or the early pending one, or kept for a later upload."""
    document = request["document"]
    if "notification_error" in request:
        document = with_notification(document, notification_from_error(request["notification_error"]))
    elif "notification" in request:
        document = with_notification(document, request["notification"])
    # The early "pending" write only fills an empty place: a duplicate event or a redrive must not
    # turn a document an earlier execution finished back into "pending".
    pending = bool(request.get("only_if_absent"))
    stored = store_result(
        storage,
        request["bucket"],
        request["key"],
        dict(document),
        only_if_absent=pending,
        sequencer=request.get("sequencer"),
    )
    outcome = "ResultsWritten"
    if pending:
        outcome = "PendingResultsWritten" if stored.written else "PendingResultsKept"
    elif stored.superseded:  # a later upload of the key was judged first; its document stands
        outcome = "ResultsSuperseded"
    persisted: Persisted = {
        "uri": stored.uri,
        "key": stored.key,
        "status": document["status"],
        "written": stored.written,
        "superseded": stored.superseded,
    }
    return persisted, outcome
