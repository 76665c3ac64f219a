"""One SQLite file shared by the local alert history and idempotency store.

A process keeps one connection per file and serialises its threads on a lock: the state machine
runs every Task on a new thread, so a connection per thread would mean a new connection (and its
PRAGMAs) for every step. Processes coordinate through SQLite's own locks (WAL, busy timeout).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class SqliteFile:
    """The file at ``path``, created with the tables of ``schema`` (idempotent DDL) if missing."""

    def __init__(self, path: str | os.PathLike[str], schema: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        with self.connection() as conn:
            conn.execute(schema)

    def _connection(self) -> sqlite3.Connection:
        # A forked child must not share its parent's connection: reconnect when the pid changes.
        if self._conn is None or self._pid != os.getpid():
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            # WAL with NORMAL sync stays consistent after a crash; only the last commits can be lost.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=60000")
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """The connection, for statements that need no transaction of their own."""
        with self._lock:
            yield self._connection()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT: takes the write lock first, so read-then-write is atomic
        across threads and processes. Rolled back when the block raises."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
