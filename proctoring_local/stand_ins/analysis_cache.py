"""Analyses a local run can reuse: the answers of the image steps from earlier runs over the folder.

Running ``proctoring run`` again after adding captures, replacing a reference or changing a
verdict threshold should not analyse every unchanged image again: with the offline analyzer that
is most of the run's time, with Rekognition it is paid for per call. So the runner keeps, in
``DIR/.proctoring/analyses.sqlite3``, what DetectFaces, CompareToReference and DetectLabels
answered, and answers the same input from there next time. Every other step still runs: the
verdict is decided, counted, written and sent by the state machine as before, so a changed
threshold still gives fresh verdicts.

An answer is reused only for the same step input (the capture's key and ETag, which locally is
the MD5 of its bytes, and for the comparison its reference's), the same analysis settings
(analyzer, MinConfidence, MaxLabels, the face confidence floor) and the same analysis code and
libraries. What is not stored: errors (retried next time), and answers about a file that was
not there (it may be by the next run). Local only: on AWS every execution analyses its capture.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import inspect
import json
import sqlite3
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proctoring.errors import StorageUnavailable
from proctoring.sqlite_file import SqliteFile

if TYPE_CHECKING:
    from proctoring.analysis.base import FaceAnalyzer
    from proctoring.config import Settings

FILE_NAME = "analyses.sqlite3"

# The steps whose answers depend only on their input, the settings below and the image bytes
# (by their functions' code folders).
CACHED_STEPS = ("detect_faces", "compare_to_reference", "detect_labels")

# Settings the image steps never read; everything else is part of the fingerprint, so a setting
# added later invalidates the stored answers until it is listed here. Verdict thresholds are here:
# changing one re-judges the stored analyses rather than repeating them.
NOT_READ_BY_ANALYSIS = frozenset(
    {
        "results_prefix",
        "similarity_threshold",
        "max_yaw",
        "max_pitch",
        "min_brightness",
        "min_sharpness",
        "forbidden_labels",
        "alert_final_threshold",
        "escalation_excludes",
        "local_root",  # the folder may move; the stored answers move with it
        "state_dir",
        "alert_history",
        "alert_table",
        "idempotency_store",
        "idempotency_table",
        "idempotency_ttl_seconds",
        "history_ttl_days",
        "webhook_url",
        "webhook_secret_parameter",
        "webhook_secret",
        "webhook_allow_http",
        "webhook_connect_timeout",
        "webhook_read_timeout",
    }
)

# What computes the answers besides the project's code: the image and model libraries.
LIBRARIES = ("Pillow", "pillow-heif", "numpy", "dlib-bin", "dlib", "face-recognition-models", "opencv-python-headless")

# Fields of the capture in a step's input that its answer does not depend on: when the upload
# happened (every step), and the reference (the steps that look at the capture alone), so that a
# replaced reference repeats only the comparisons.
_IGNORED = {
    "detect_faces": ("sequencer", "reference"),
    "detect_labels": ("sequencer", "reference"),
    "compare_to_reference": ("sequencer",),
}


def analysis_fingerprint(settings: Settings, analyzer: FaceAnalyzer) -> str:
    """What the stored answers were computed with: settings, analyzer, code and library versions."""
    from proctoring import images, pipeline, policy
    from proctoring.analysis import base
    from proctoring_local.stand_ins import template

    sources = {base.__file__, images.__file__, pipeline.__file__, policy.__file__}
    sources |= {str(path) for path in Path(base.__file__).parent.glob("*.py")}
    for step in template.step_functions().values():
        if Path(step["code_dir"]).name in CACHED_STEPS:
            sources.add(str(Path(step["code_dir"]) / "app.py"))
    analyzer_source = inspect.getsourcefile(type(analyzer))
    if analyzer_source:
        sources.add(analyzer_source)
    digest = hashlib.sha256()
    relevant = {name: value for name, value in dataclasses.asdict(settings).items() if name not in NOT_READ_BY_ANALYSIS}
    digest.update(json.dumps(relevant, sort_keys=True, default=str).encode())
    digest.update(f"{type(analyzer).__module__}.{type(analyzer).__qualname__}:{analyzer.name}".encode())
    for source in sorted(sources):
        digest.update(Path(source).read_bytes())
    for library in LIBRARIES:
        try:
            digest.update(f"{library}=={metadata.version(library)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{library} absent".encode())
    return digest.hexdigest()


def reusable(answer: Any) -> bool:
    """Whether an answer may be stored: not about a file that was missing when the step ran."""
    if not isinstance(answer, dict):
        return False
    rejection = answer.get("rejection") or {}
    if rejection.get("code") == "CAPTURE_NOT_FOUND":
        return False
    reference = answer.get("reference") or {}
    return reference.get("status") != "missing"


_COLUMN_TYPES = {
    "id": "TEXT PRIMARY KEY",
    "fingerprint": "TEXT NOT NULL",
    "capture_key": "TEXT NOT NULL",
    "step": "TEXT NOT NULL",
    "answer": "TEXT NOT NULL",
    "stored_at": "INTEGER NOT NULL",
}
COLUMNS = tuple(_COLUMN_TYPES)


def discard_if_unusable(path: Path) -> str:
    """Remove a store that is damaged (a disk that filled up, a sync tool's half copy) or laid out
    otherwise than this code expects (written by another version of it), and say why: it only
    holds answers the analyzer gives again. "" when it is sound or absent."""
    from proctoring.sqlite_file import sqlite_problems

    problems = sqlite_problems(path)
    if problems:
        why = f"was damaged ({'; '.join(problems[:3])})"
    elif path.exists():
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
            columns = tuple(row[1] for row in db.execute("PRAGMA table_info(analyses)"))
        if not columns or columns == COLUMNS:
            return ""
        why = "was written by another version of this tool"
    else:
        return ""
    for companion in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        companion.unlink(missing_ok=True)
    return f"{path} {why} and was removed: every capture is analysed again"


def _open(path: str | Path) -> SqliteFile:
    columns = ", ".join(f"{name} {kind}" for name, kind in _COLUMN_TYPES.items())
    db = SqliteFile(path, f"CREATE TABLE IF NOT EXISTS analyses ({columns})")
    with db.connection() as conn:
        conn.execute("CREATE INDEX IF NOT EXISTS analyses_by_capture ON analyses (capture_key)")
    return db


def forget_other_captures(path: Path, keys: list[str]) -> None:
    """Drop the answers about captures that are no longer in the folder (``keys`` are those that
    are): a student's deleted captures leave no face boxes behind."""
    if not path.exists():
        return
    db = _open(path)
    with db.transaction() as conn:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS present (key TEXT PRIMARY KEY)")
        conn.execute("DELETE FROM present")
        conn.executemany("INSERT OR IGNORE INTO present VALUES (?)", ((key,) for key in keys))
        conn.execute("DELETE FROM analyses WHERE capture_key NOT IN (SELECT key FROM present)")
        conn.execute("DROP TABLE present")


class AnalysisCache:
    """The stored answers of one run folder, shared by the runner's worker processes."""

    def __init__(self, path: str | Path, fingerprint: str, *, reuse: bool = True) -> None:
        self._db = _open(path)
        self.fingerprint = fingerprint
        # Answers computed with other settings, code or libraries will never be asked for again
        # (the fingerprint is part of every id): drop them rather than let the file grow.
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM analyses WHERE fingerprint != ?", (fingerprint,))
        self.reuse = reuse
        self.reused: dict[str, int] = {}
        self._count_lock = threading.Lock()  # several executions in flight share the counters

    def _id(self, step: str, payload: dict[str, Any]) -> str:
        step_input = dict(payload)
        if isinstance(step_input.get("capture"), dict):
            ignored = _IGNORED.get(step, ("sequencer",))
            step_input["capture"] = {k: v for k, v in step_input["capture"].items() if not k.startswith(ignored)}
        text = json.dumps([self.fingerprint, step, step_input], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def get(self, step: str, payload: dict[str, Any]) -> Any | None:
        """The stored answer to this input, or None (always None with ``reuse`` off)."""
        if not self.reuse:
            return None
        try:
            with self._db.connection() as conn:
                row = conn.execute("SELECT answer FROM analyses WHERE id = ?", (self._id(step, payload),)).fetchone()
        except (sqlite3.Error, StorageUnavailable):
            # A store that cannot answer (the disk, another process's lock past the timeout) only
            # costs the analysis; it must never fail the step, which is not its to fail.
            return None
        if row is None:
            return None
        with self._count_lock:
            self.reused[step] = self.reused.get(step, 0) + 1
        return json.loads(row[0])

    def put(self, step: str, payload: dict[str, Any], answer: Any) -> None:
        if not reusable(answer):
            return
        # As in get: a store that cannot take it only means the next run analyses it again.
        with contextlib.suppress(sqlite3.Error, StorageUnavailable), self._db.connection() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO analyses (id, fingerprint, capture_key, step, answer, stored_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    self._id(step, payload),
                    self.fingerprint,
                    (payload.get("capture") or {}).get("key", ""),
                    step,
                    json.dumps(answer, separators=(",", ":")),
                    int(time.time()),
                ),
            )
