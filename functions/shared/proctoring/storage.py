"""Object storage behind one small interface: S3 on AWS, a folder on a laptop."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import posixpath
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
from typing import Any, Protocol

from .aws_errors import transient_reason
from .errors import ObjectTooLarge, StorageUnavailable

_TRANSIENT_S3_CODES = {
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "Throttling",
    "ThrottlingException",
    "503",
    "500",
}


@dataclass(frozen=True)
class StoredObject:
    body: bytes
    etag: str | None  # what :meth:`Storage.replace_json` compares against


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str | None = None
    version_id: str | None = None


class Storage(Protocol):
    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        """Metadata of ``key``, or None when it does not exist."""

    def read(self, bucket: str, key: str, version_id: str | None = None, *, max_bytes: int | None = None) -> bytes:
        """The object's bytes. Raises FileNotFoundError when it does not exist, and ObjectTooLarge,
        before reading it, when it holds more than ``max_bytes``."""

    def write_json(self, bucket: str, key: str, document: dict[str, Any]) -> str:
        """Write ``document`` as UTF-8 JSON; return its URI."""

    def create_json(self, bucket: str, key: str, document: dict[str, Any]) -> str | None:
        """Write ``document`` only if nothing is at ``key`` yet, atomically; its URI, or None if
        something was there."""

    def fetch(self, bucket: str, key: str) -> StoredObject:
        """The object's bytes with its ETag. Raises FileNotFoundError when it does not exist."""

    def replace_json(self, bucket: str, key: str, document: dict[str, Any], etag: str | None) -> str | None:
        """Write ``document`` only if the object at ``key`` is still the one :meth:`fetch` gave with
        ``etag``, atomically; its URI, or None if it changed (or went) meanwhile."""

    def list_keys(self, bucket: str, prefix: str) -> Iterator[str]:
        """The keys under ``prefix``, in S3's order (by key)."""


def encode_document(document: dict[str, Any]) -> bytes:
    """Canonical JSON for result documents: the same document always gives the same bytes."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True, indent=2).encode("utf-8") + b"\n"


class S3Storage:
    """Storage on Amazon S3. Transient S3 failures surface as :class:`StorageUnavailable`."""

    def __init__(self, client: Any = None) -> None:
        if client is None:
            from .aws_clients import client as aws_client

            # Retries are declared once, in the state machine; the SDK makes a single attempt.
            client = aws_client("s3")
        self._client = client

    @staticmethod
    def _translate(exc: Exception, operation: str) -> Exception:
        reason = transient_reason(exc, _TRANSIENT_S3_CODES)
        return exc if reason is None else StorageUnavailable(f"S3 {operation} failed: {reason}")

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        from botocore.exceptions import ClientError

        try:
            response = self._client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise self._translate(exc, "HeadObject") from exc
        except Exception as exc:
            raise self._translate(exc, "HeadObject") from exc
        return ObjectInfo(
            key=key,
            size=int(response.get("ContentLength", 0)),
            etag=(response.get("ETag") or "").strip('"') or None,
            version_id=response.get("VersionId"),
        )

    def read(self, bucket: str, key: str, version_id: str | None = None, *, max_bytes: int | None = None) -> bytes:
        return self._get(bucket, key, version_id, max_bytes).body

    def list_keys(self, bucket: str, prefix: str) -> Iterator[str]:
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                yield from (item["Key"] for item in page.get("Contents", []))
        except Exception as exc:
            raise self._translate(exc, "ListObjectsV2") from exc

    def fetch(self, bucket: str, key: str) -> StoredObject:
        return self._get(bucket, key, None)

    def _get(self, bucket: str, key: str, version_id: str | None, max_bytes: int | None = None) -> StoredObject:
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id and version_id != "null":
            kwargs["VersionId"] = version_id
        try:
            response = self._client.get_object(**kwargs)
            if max_bytes is not None and int(response.get("ContentLength") or 0) > max_bytes:
                response["Body"].close()
                raise ObjectTooLarge(f"s3://{bucket}/{key}", int(response["ContentLength"]), max_bytes)
            return StoredObject(response["Body"].read(), (response.get("ETag") or "").strip('"') or None)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in {"NoSuchKey", "404", "NoSuchVersion"}:
                version = f" (version {version_id})" if "VersionId" in kwargs else ""
                raise FileNotFoundError(f"s3://{bucket}/{key}{version} does not exist") from exc
            raise self._translate(exc, "GetObject") from exc
        except ObjectTooLarge:
            raise
        except Exception as exc:
            raise self._translate(exc, "GetObject") from exc

    def _put_json(self, bucket: str, key: str, document: dict[str, Any], **conditions: str) -> str:
        body = encode_document(document)
        self._client.put_object(
            Bucket=bucket, Key=key, Body=body, ContentType="application/json; charset=utf-8", **conditions
        )
        return f"s3://{bucket}/{key}"

    def write_json(self, bucket: str, key: str, document: dict[str, Any]) -> str:
        try:
            return self._put_json(bucket, key, document)
        except Exception as exc:
            raise self._translate(exc, "PutObject") from exc

    def create_json(self, bucket: str, key: str, document: dict[str, Any]) -> str | None:
        return self._conditional_put(bucket, key, document, IfNoneMatch="*")  # refused when the key exists

    def replace_json(self, bucket: str, key: str, document: dict[str, Any], etag: str | None) -> str | None:
        return self._conditional_put(bucket, key, document, IfMatch=f'"{etag}"')

    def _conditional_put(self, bucket: str, key: str, document: dict[str, Any], **condition: str) -> str | None:
        from botocore.exceptions import ClientError

        try:
            return self._put_json(bucket, key, document, **condition)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            # 412: the condition does not hold. 409: another conditional write to the key is in
            # flight, so it will not either. 404: an If-Match on a key that went meanwhile.
            if code in {"PreconditionFailed", "412", "ConditionalRequestConflict", "409", "NoSuchKey", "404"}:
                return None
            raise self._translate(exc, "PutObject") from exc
        except Exception as exc:
            raise self._translate(exc, "PutObject") from exc


_REPLACING = threading.Lock()  # LocalStorage.replace_json's compare-and-replace, for every instance


@functools.lru_cache(maxsize=4096)
def _resolve_inside(root: Path, key: str) -> Path:
    """``root/key``, refused when the key itself leads out of ``root`` (``..``, an absolute path).

    The check is on the key, as S3 keys are names: a symlink the user placed under the root (an
    exam folder on another disk, say) is followed, the way a user expects of a folder.
    """
    # A backslash is a separator only on Windows; elsewhere it is an ordinary character of a name.
    normalised = posixpath.normpath(key.replace("\\", "/") if os.sep == "\\" else key)
    if normalised.startswith(("/", "../")) or normalised in {".", ".."} or PureWindowsPath(normalised).drive:
        raise PermissionError(f"key {key!r} points outside the storage root")
    return root / normalised


def resolves_within(folder: Path, path: Path) -> bool:
    """Whether ``path`` (existing or not) is inside ``folder`` once every link on the way is followed."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return existing.resolve().is_relative_to(folder.resolve())


class LocalStorage:
    """A folder standing in for the bucket: key ``a/b.jpg`` is ``root/a/b.jpg``.

    ETags are MD5 of the content, as S3 gives for single-part uploads; there are no versions.
    :meth:`replace_json` compares and replaces under a lock of this process: atomic among its
    threads, as the local runner needs (it never gives one student's captures to two processes).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        return _resolve_inside(self.root, key)

    def _inside(self, folder: Path) -> None:
        if not resolves_within(self.root, folder):
            raise PermissionError(
                f"{folder} leads out of {self.root} through a link; documents are written only inside"
            )

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        try:
            path = self._path(key)
        except PermissionError:
            return None
        if not path.is_file():
            return None
        return ObjectInfo(key=key, size=path.stat().st_size, etag=file_etag(path), version_id=None)

    def read(self, bucket: str, key: str, version_id: str | None = None, *, max_bytes: int | None = None) -> bytes:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist")
        if max_bytes is None:
            return path.read_bytes()
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)  # the file may be growing: never more than this
            if len(data) > max_bytes:
                raise ObjectTooLarge(str(path), max(os.fstat(handle.fileno()).st_size, len(data)), max_bytes)
        return data

    def list_keys(self, bucket: str, prefix: str) -> Iterator[str]:
        # The folder of the prefix is walked; hidden files (.DS_Store, temporary files) are no objects.
        folder = self._path(prefix.rpartition("/")[0]) if "/" in prefix else self.root
        if not folder.is_dir():
            return
        keys = (path.relative_to(self.root).as_posix() for path in folder.rglob("*") if path.is_file())
        yield from sorted(key for key in keys if key.startswith(prefix) and not key.rpartition("/")[2].startswith("."))

    @contextlib.contextmanager
    def _staged(self, key: str, document: dict[str, Any]) -> Iterator[tuple[Path, str]]:
        """The document in a temporary file beside ``key``'s path, gone afterwards if still there:
        moved or linked into place whole, a reader never sees half a document."""
        path = self._path(key)
        # Links are followed when reading (an exam kept on another disk), never when writing: a
        # folder received from someone else may hold one that leads to where documents must not go.
        self._inside(path.parent)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._inside(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(encode_document(document))
            yield path, tmp
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def write_json(self, bucket: str, key: str, document: dict[str, Any]) -> str:
        with self._staged(key, document) as (path, tmp):
            os.replace(tmp, path)
        return str(path)

    def create_json(self, bucket: str, key: str, document: dict[str, Any]) -> str | None:
        with self._staged(key, document) as (path, tmp):
            try:
                os.link(tmp, path)  # fails if the name is taken
            except FileExistsError:
                return None
        return str(path)

    def fetch(self, bucket: str, key: str) -> StoredObject:
        body = self.read(bucket, key)
        return StoredObject(body, _md5_of(body))

    def replace_json(self, bucket: str, key: str, document: dict[str, Any], etag: str | None) -> str | None:
        with self._staged(key, document) as (path, tmp), _REPLACING:
            try:
                current = _md5_of(path.read_bytes())
            except FileNotFoundError:
                return None
            if current != etag:
                return None
            os.replace(tmp, path)
        return str(path)


def file_etag(path: Path) -> str:
    """MD5 of the file, as S3 gives for single-part uploads; cached while size and mtime hold."""
    stat = path.stat()
    cache_key = (str(path), stat.st_size, stat.st_mtime_ns)
    cached = _etags.get(cache_key)
    if cached is None:
        cached = _md5(path)
        if len(_etags) > 10_000:
            _etags.clear()
        _etags[cache_key] = cached
    return cached


_etags: dict[tuple[str, int, int], str] = {}


def _md5_of(body: bytes) -> str:
    return hashlib.md5(body, usedforsecurity=False).hexdigest()


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


_storage: Storage | None = None


def get_storage() -> Storage:
    """The storage this process was configured for (``STORAGE=s3|local``), built once."""
    global _storage
    if _storage is None:
        from .config import get_settings

        settings = get_settings()
        if settings.storage == "local":
            if not settings.local_root:
                from .errors import ConfigurationError

                raise ConfigurationError("STORAGE=local needs LOCAL_ROOT")
            _storage = LocalStorage(settings.local_root)
        else:
            _storage = S3Storage()
    return _storage


def set_storage(storage: Storage | None) -> None:
    """Replace the process's storage (tests, local runner)."""
    global _storage
    _storage = storage
