"""Finding a run folder's captures, naming their documents, and running one capture.

A capture is a file under ``DIR/images/{exam}/{student}/`` (or IMAGES_PREFIX); hidden files are
skipped, linked folders followed once each, and what is neither file nor folder is named.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proctoring.keys import alert_subject
from proctoring_local.services.checks import UsageError
from proctoring_local.services.terminal import printable_key
from proctoring_local.stand_ins.stack import LOCAL_BUCKET

if TYPE_CHECKING:
    from proctoring.config import Settings


def run_bucket(settings: Settings | None) -> str:
    """The bucket a run's captures are said to be in: the one they were copied from (``proctoring
    run s3://BUCKET``), so that documents name their real source, else the local stand-in."""
    return (settings.capture_bucket if settings else "") or LOCAL_BUCKET


@dataclass
class CaptureOutcome:
    key: str
    status: str  # the result document's status, or MISSING when no document was written
    execution: str  # SUCCEEDED / FAILED / NOT_MATCHED / NOT_RUN (no room for its result's name) / RUNNER_ERROR
    reason: str = ""
    undelivered: str = ""  # why the webhook never accepted the document, when it did not
    codes: tuple[str, ...] = ()  # every reason code of the document
    reference_problem: str = ""  # the REFERENCE_INVALID sentence, naming the file, when there is one


def student_of(key: str, images_prefix: str) -> tuple[str, str] | None:
    """(exam, student) of a capture key laid out as the convention says, else None; as the alert
    count knows them, so ``josé`` composed and decomposed is one row and one worker's queue."""
    parts = key.removeprefix(images_prefix).split("/")
    return alert_subject(parts[0], parts[1]) if key.startswith(images_prefix) and len(parts) == 3 else None


def _files_under(folder: Path) -> list[Path]:
    """Every file under ``folder``, hidden ones (``.DS_Store``) left out. Linked folders are
    followed (captures kept on another disk), each real folder once, so a link loop ends."""
    return [path for path in _entries_under(folder) if path.is_file()]


def not_files_under(folder: Path) -> list[tuple[Path, str]]:
    """Entries under ``folder`` that are neither folders nor files, each with what it is: no
    upload can come of them, so the runner names them rather than pass them over in silence."""
    found = []
    for path in _entries_under(folder):
        if path.is_file():
            continue
        if path.is_symlink() and not path.exists():
            found.append((path, f"a link to {os.readlink(path)}, which does not exist"))
        elif path.is_fifo():
            found.append((path, "a named pipe"))
        elif path.is_socket():
            found.append((path, "a socket"))
        else:
            found.append((path, "not a regular file"))
    return found


def _entries_under(folder: Path) -> list[Path]:
    """What ``os.walk`` lists as non-folders under ``folder``, hidden ones left out, linked
    folders followed once each."""
    seen: set[tuple[int, int]] = set()
    files: list[Path] = []
    for directory, subdirectories, names in os.walk(folder, followlinks=True):
        stat = os.stat(directory)
        if (stat.st_dev, stat.st_ino) in seen:
            subdirectories[:] = []
            continue
        seen.add((stat.st_dev, stat.st_ino))
        subdirectories[:] = [name for name in subdirectories if not name.startswith(".")]
        files.extend(Path(directory) / name for name in names if not name.startswith("."))
    return files


def _relative_to(path: Path, root: Path) -> str:
    """``path`` as a key under ``root``: spelled through the folder (a linked exam folder stays
    inside it), or else with links resolved on both sides."""
    for inside, outer in ((Path(os.path.abspath(path)), Path(os.path.abspath(root))), (path.resolve(), root.resolve())):
        try:
            return inside.relative_to(outer).as_posix()
        except ValueError:
            continue
    raise UsageError(f"{path} is not inside {root}")


def find_captures(root: Path, only: list[str] | None = None, images_prefix: str = "images/") -> list[str]:
    """Keys of the capture files under ``root/images`` (or IMAGES_PREFIX); ``only`` filters by glob,
    path or folder (an exam's or a student's: every capture under it), with or without the prefix."""
    images_prefix = images_prefix.strip("/") + "/"
    images = root / images_prefix
    keys = sorted(path.relative_to(root).as_posix() for path in _files_under(images))
    if only:
        wanted: list[str] = []
        for pattern in only:
            candidate = Path(pattern)
            if candidate.is_absolute() or candidate.exists():
                pattern = _relative_to(candidate, root)
            folders = tuple(f"{prefix}{pattern.rstrip('/')}/" for prefix in ("", images_prefix))
            matched = [
                key
                for key in keys
                if fnmatch.fnmatchcase(key, pattern)
                or key == pattern
                or fnmatch.fnmatchcase(key, f"{images_prefix}{pattern}")
                or key.startswith(folders)
            ]
            if not matched:
                raise UsageError(f"no capture under {images} matches {pattern!r}")
            wanted.extend(key for key in matched if key not in wanted)
        keys = wanted
    return keys


def result_key_for(key: str, settings: Settings | None = None) -> str:
    """Where the pipeline writes the document for ``key``: the same rule ParseKey applies, with the
    same prefixes (the defaults unless ``settings`` say otherwise)."""
    from proctoring.config import Settings
    from proctoring.keys import capture_identity

    settings = settings or Settings()
    identity = capture_identity(
        "",
        key,
        etag=None,
        version_id=None,
        images_prefix=settings.images_prefix,
        results_prefix=settings.results_prefix,
    )
    return identity["result_key"]


def stored_result_path(root: Path, key: str, settings: Settings | None = None) -> Path | None:
    """The document the pipeline wrote for ``key``, or None: at :func:`result_key_for`, unless another
    capture's document holds that name (see ``proctoring.result_store``)."""
    from proctoring.result_store import find_result
    from proctoring.storage import LocalStorage

    bucket = run_bucket(settings)
    found = find_result(LocalStorage(root), bucket, result_key_for(key, settings), f"s3://{bucket}/{key}")
    return None if found is None else root / found[0]


def shared_results(keys: list[str], settings: Settings | None = None) -> dict[str, list[str]]:
    """Captures whose result documents the convention gives one name (``c1`` and ``c1.jpg``)."""
    by_result: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        if not key_name_problem(key):  # the others are not run (see process_capture)
            by_result[result_key_for(key, settings)].append(key)
    return {result: sorted(sources) for result, sources in by_result.items() if len(sources) > 1}


def key_name_problem(key: str) -> str:
    """Why a file's name cannot be an S3 key, or "" when it can: S3 keys are UTF-8, and a name
    written on another system (Latin-1, say) need not be."""
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid UTF-8, as an S3 key must be; rename it (not run, so nothing was counted or sent)"
    return ""


def result_name_problem(document_path: Path, root: Path) -> str:
    """Why this file system cannot hold the result document's name, or "" when it can.

    The capture's own name fits, but ``.json`` is one byte longer than ``.jpg`` (five when
    another extension is kept), so a capture named near the limit has no room for its result.
    """
    try:
        limit = os.pathconf(root, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):  # no pathconf (Windows): the common limit
        limit = 255
    size = len(os.fsencode(document_path.name))
    if size <= limit:
        return ""
    return (
        f"its result document's name would be {size} bytes, longer than this file system allows ({limit}); "
        "rename the capture (not run, so nothing was counted or sent)"
    )


# EXIF tags: the Exif IFD, its DateTimeOriginal and OffsetTimeOriginal.
_EXIF_IFD, _DATE_TIME_ORIGINAL, _OFFSET_TIME_ORIGINAL = 0x8769, 0x9003, 0x9011


def capture_time(path: Path, modified: float | None = None) -> datetime:
    """When the capture was taken, as the S3 event's time stands for it on AWS: the camera's EXIF
    ``DateTimeOriginal`` where the file has one (with its ``OffsetTimeOriginal``, else this
    machine's time zone), the file's modification time otherwise. A folder copied without its
    times (plain ``cp``) keeps the EXIF one."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            exif = image.getexif().get_ifd(_EXIF_IFD)
        text = str(exif.get(_DATE_TIME_ORIGINAL, "")).strip().rstrip("\0")
        if text:
            taken = datetime.strptime(text, "%Y:%m:%d %H:%M:%S")
            offset = str(exif.get(_OFFSET_TIME_ORIGINAL, "")).strip().rstrip("\0")
            if offset:
                return datetime.strptime(f"{text} {offset}", "%Y:%m:%d %H:%M:%S %z").astimezone(UTC)
            return taken.astimezone().astimezone(UTC)  # a wall time: this machine's zone
    except (OSError, ValueError, UnidentifiedImageError, SyntaxError):
        pass  # no EXIF, a broken one, or no picture at all (the pipeline says so): the file's time
    return datetime.fromtimestamp(path.stat().st_mtime if modified is None else modified, UTC)


def process_capture(sfn: Any, rule: Any, root: Path, key: str, settings: Settings | None = None) -> CaptureOutcome:
    """Upload event -> rule -> execution -> the document's status. Never raises: a fault in the
    runner itself (say, the file vanished mid-run) is reported for this capture, and the
    student's other captures still run."""
    from proctoring.storage import file_etag
    from proctoring_local.stand_ins.events import object_created_event

    if problem := key_name_problem(key):
        return CaptureOutcome(printable_key(key), "MISSING", "NOT_RUN", problem)
    try:
        path = root / key
        stat = path.stat()
        taken = capture_time(path, stat.st_mtime)
        event = object_created_event(run_bucket(settings), key, size=stat.st_size, etag=file_etag(path), at=taken)
        if not rule.matches(event):
            return CaptureOutcome(key, "NOT_MATCHED", "NOT_MATCHED")
        document_path = root / result_key_for(key, settings)
        if problem := result_name_problem(document_path, root):
            return CaptureOutcome(key, "MISSING", "NOT_RUN", problem)
        execution = sfn.run(event)
        sfn.forget(execution.arn)
        stored = stored_result_path(root, key, settings)
        if stored is None:
            return CaptureOutcome(key, "MISSING", execution.status, execution.error or "")
        document = json.loads(stored.read_text())
        reason = document.get("reason", "")
        if execution.status == "FAILED" and document.get("error"):
            reason = f"{reason} ({document['error'].get('name')}: {document['error'].get('message')})"
        notification = document.get("notification") or {}
        undelivered = (notification.get("last_error") or "failed") if notification.get("status") == "failed" else ""
        reasons = document.get("reasons") or []
        codes = tuple(item.get("code", "") for item in reasons)
        reference_problem = next((r.get("message", "") for r in reasons if r.get("code") == "REFERENCE_INVALID"), "")
        return CaptureOutcome(key, document["status"], execution.status, reason, undelivered, codes, reference_problem)
    except Exception as exc:  # noqa: BLE001 - reported per capture, see the docstring
        return CaptureOutcome(key, "MISSING", "RUNNER_ERROR", f"{type(exc).__name__}: {exc}")
