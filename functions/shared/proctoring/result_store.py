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
from .keys import result_key_candidates
from .storage import Storage

# A document deleted between a refused create and the read that follows (or, on S3, another
# conditional write to the name still in flight) sends the claim round again; this many times.
_CLAIM_ATTEMPTS = 3


@dataclass(frozen=True)
class StoredResult:
    key: str
    uri: str | None  # None when ``only_if_absent`` kept the document already there
    written: bool


def owner_of(raw: bytes) -> str | None:
    """The capture (its ``s3_input``) a stored document is about; None for anything else there."""
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    owner = document.get("s3_input") if isinstance(document, dict) else None
    return owner if isinstance(owner, str) else None


def _claim(storage: Storage, bucket: str, key: str, document: dict[str, Any]) -> tuple[str | None, str | None]:
    """(its URI, None) when ``document`` was created at ``key``; (None, the owner) when one was there."""
    for _ in range(_CLAIM_ATTEMPTS):
        if uri := storage.create_json(bucket, key, document):
            return uri, None
        try:
            return None, owner_of(storage.read(bucket, key))
        except FileNotFoundError:
            continue  # gone since the create was refused: claim it again
    raise StorageUnavailable(f"{key} kept changing while the result for {document.get('s3_input')} was written")


def store_result(
    storage: Storage, bucket: str, result_key: str, document: dict[str, Any], *, only_if_absent: bool = False
) -> StoredResult:
    """Write ``document`` at the first of its capture's candidate names that is free or its own.

    ``only_if_absent`` keeps a document of the same capture already there instead of replacing it.
    Raises :class:`ResultNameTaken` when other captures' documents hold every candidate.
    """
    source = document.get("s3_input")
    if not isinstance(source, str):  # not a capture's document: no one to tell apart
        return StoredResult(result_key, storage.write_json(bucket, result_key, document), True)
    candidates = result_key_candidates(result_key, source)
    for key in candidates:
        uri, owner = _claim(storage, bucket, key, document)
        if uri:
            return StoredResult(key, uri, True)
        if owner == source:
            if only_if_absent:
                return StoredResult(key, None, False)
            return StoredResult(key, storage.write_json(bucket, key, document), True)
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
