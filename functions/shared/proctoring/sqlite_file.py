"""One SQLite file shared by the local alert history and idempotency store.

A process keeps one connection per file and serialises its threads on a lock: the state machine
runs every Task on a new thread, so a connection per thread would mean a new connection (and its
PRAGMAs) for every step. Processes coordinate through SQLite's own locks (WAL, busy timeout).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import StorageUnavailable

# Error names (Python 3.11+: sqlite3.Error.sqlite_errorname) that mean "not now" rather than "wrong":
# another process held the file past the busy timeout, or the disk failed. The ASL retries
# StorageUnavailable; any other SQLite error is a bug and is not retried.
_TRANSIENT = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_FULL")


def _error_name(exc: sqlite3.Error) -> str:
    return getattr(exc, "sqlite_errorname", "") or ""


@contextmanager
def _transient_as_unavailable(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as exc:
        name = _error_name(exc)
        if name.startswith(_TRANSIENT):
            raise StorageUnavailable(f"local state file {path.name}: {name}: {exc}") from exc
        raise


class SqliteFile:
    """The file at ``path``, created with the tables of ``schema`` (idempotent DDL) if missing.

    ``busy_timeout`` is how long a statement waits for another process's write lock.
    """

    def __init__(self, path: str | os.PathLike[str], schema: str, *, busy_timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout = busy_timeout
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        with self.connection() as conn:
            self._execute_when_free(conn, schema)

    def _connection(self) -> sqlite3.Connection:
        # A forked child must not share its parent's connection: reconnect when the pid changes.
        if self._conn is None or self._pid != os.getpid():
            conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False)
            self._execute_when_free(conn, "PRAGMA journal_mode=WAL")
            # WAL with NORMAL sync stays consistent after a crash; only the last commits can be lost.
            conn.execute("PRAGMA synchronous=NORMAL")
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def _execute_when_free(self, conn: sqlite3.Connection, sql: str) -> None:
        """Run a set-up statement, waiting up to the busy timeout while the file is busy.

        Processes opening a new file at once all switch it to WAL: each holds a shared lock and
        wants an exclusive one, and SQLite breaks that deadlock by answering SQLITE_BUSY at once,
        without its busy handler. Once one of them has switched, the others go through.
        """
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                conn.execute(sql)
                return
            except sqlite3.OperationalError as exc:
                if not _error_name(exc).startswith("SQLITE_BUSY") or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """The connection, for statements that need no transaction of their own."""
        with self._lock, _transient_as_unavailable(self.path):
            yield self._connection()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT: takes the write lock first, so read-then-write is atomic
        across threads and processes. Rolled back when the block or the commit raises, so the
        shared connection is never left inside a transaction."""
        with self._lock, _transient_as_unavailable(self.path):
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise


def sqlite_problems(path: Path) -> list[str]:
    """What SQLite finds wrong with the file at ``path``: nothing when it is sound or absent."""
    if not path.exists():
        return []
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
            problems = [row[0] for row in db.execute("PRAGMA quick_check")]
    except sqlite3.Error as exc:
        problems = [str(exc)]
    return [] if problems == ["ok"] else problems
