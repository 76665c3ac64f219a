"""SqliteFile: one connection per process, atomic transactions, safe to open from many threads."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import threading

import pytest

from proctoring.errors import StorageUnavailable
from proctoring.sqlite_file import SqliteFile

SCHEMA = "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)"


def increment(db: SqliteFile, name: str) -> int:
    # Read, then write: only atomic because the transaction takes the write lock first.
    with db.transaction() as conn:
        row = conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        value = (row[0] if row else 0) + 1
        conn.execute("INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)", (name, value))
    return value


def read(path, name: str) -> int | None:
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
    return row[0] if row else None


def test_creates_the_folder_and_the_schema_and_reopens_existing_data(tmp_path):
    path = tmp_path / "nested" / "state.sqlite3"
    db = SqliteFile(path, SCHEMA)
    assert increment(db, "a") == 1
    again = SqliteFile(path, SCHEMA)  # the schema is idempotent; the data stays
    assert increment(again, "a") == 2
    assert read(path, "a") == 2
    with db.connection() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_one_connection_per_process_shared_by_threads(tmp_path):
    db = SqliteFile(tmp_path / "state.sqlite3", SCHEMA)
    seen = []

    def grab():
        with db.connection() as conn:
            seen.append(id(conn))

    threads = [threading.Thread(target=grab) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 1


def test_a_failing_transaction_is_rolled_back_and_the_file_stays_usable(tmp_path):
    db = SqliteFile(tmp_path / "state.sqlite3", SCHEMA)
    increment(db, "a")
    with pytest.raises(RuntimeError), db.transaction() as conn:
        conn.execute("UPDATE counters SET value = 100 WHERE name = 'a'")
        raise RuntimeError("step failed halfway")
    assert read(tmp_path / "state.sqlite3", "a") == 1
    assert increment(db, "a") == 2


def test_concurrent_increments_from_threads_are_exact(tmp_path):
    db = SqliteFile(tmp_path / "state.sqlite3", SCHEMA)
    barrier = threading.Barrier(8)

    def work():
        barrier.wait()
        for _ in range(25):
            increment(db, "shared")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert read(tmp_path / "state.sqlite3", "shared") == 200


def _increment_in_child(path: str, times: int) -> None:
    db = SqliteFile(path, SCHEMA)
    for _ in range(times):
        increment(db, "shared")


def test_concurrent_increments_from_processes_are_exact(tmp_path):
    path = str(tmp_path / "state.sqlite3")
    SqliteFile(path, SCHEMA)
    context = multiprocessing.get_context("spawn")  # what the local runner uses
    workers = [context.Process(target=_increment_in_child, args=(path, 30)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    assert read(path, "shared") == 90


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # forking is the point
def test_a_forked_child_opens_its_own_connection(tmp_path):
    path = tmp_path / "state.sqlite3"
    db = SqliteFile(path, SCHEMA)
    increment(db, "shared")  # the parent's connection is open before the fork
    with db.connection() as conn:
        parent_connection = id(conn)

    def child():
        increment(db, "shared")
        with db.connection() as conn:
            if id(conn) == parent_connection:
                raise SystemExit("the child used the connection it inherited")

    worker = multiprocessing.get_context("fork").Process(target=child)
    worker.start()
    worker.join(60)
    assert worker.exitcode == 0
    assert increment(db, "shared") == 3  # the parent's connection still works after the child used its own


def test_a_file_held_by_another_process_past_the_busy_timeout_is_storage_unavailable(tmp_path):
    """StorageUnavailable is what the state machine retries; the lock holder's data is untouched."""
    path = tmp_path / "state.sqlite3"
    db = SqliteFile(path, SCHEMA, busy_timeout=0.2)
    increment(db, "a")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        with pytest.raises(StorageUnavailable, match="SQLITE_BUSY"):
            increment(db, "a")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert increment(db, "a") == 2  # usable again once the lock is released


def test_an_error_that_is_not_transient_stays_what_it_is(tmp_path):
    db = SqliteFile(tmp_path / "state.sqlite3", SCHEMA)
    with pytest.raises(sqlite3.OperationalError, match="no such table"), db.connection() as conn:
        conn.execute("SELECT * FROM missing")


def test_a_failed_commit_leaves_no_transaction_open(tmp_path):
    path = tmp_path / "state.sqlite3"
    db = SqliteFile(path, SCHEMA)
    with db.connection() as conn:
        # A deferred foreign key check fails at COMMIT, not at the statement.
        conn.execute("CREATE TABLE child (parent TEXT REFERENCES counters(name) DEFERRABLE INITIALLY DEFERRED)")
        conn.execute("PRAGMA foreign_keys = ON")
    with pytest.raises(sqlite3.IntegrityError), db.transaction() as conn:
        conn.execute("INSERT INTO child (parent) VALUES ('nobody')")
    with db.connection() as conn:
        assert not conn.in_transaction
        assert conn.execute("SELECT COUNT(*) FROM child").fetchone()[0] == 0
    assert increment(db, "a") == 1


def _open_new_files_at_once(paths: list[str], barrier) -> None:
    failures = 0
    for path in paths:
        barrier.wait()  # every process opens the same new file at the same moment
        try:
            SqliteFile(path, SCHEMA)
        except Exception:  # counted: the exit code is the report
            failures += 1
    os._exit(3 if failures else 0)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # forking is the point
def test_processes_creating_the_same_new_file_at_once_all_open_it(tmp_path):
    """Both runner workers create the state file on their first capture. Switching a new file to
    WAL from several processes at once can deadlock, and SQLite then answers SQLITE_BUSY at once;
    without waiting that out, about one new file in thirty here failed to open in some process."""
    context = multiprocessing.get_context("fork")
    paths = [str(tmp_path / f"state-{number}.sqlite3") for number in range(300)]
    barrier = context.Barrier(6)
    workers = [context.Process(target=_open_new_files_at_once, args=(paths, barrier)) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [worker.exitcode for worker in workers] == [0] * 6


class _BusyAtFirst:
    """A connection whose journal-mode switch answers SQLITE_BUSY ``times`` times, as in that deadlock."""

    def __init__(self, connection: sqlite3.Connection, times: int) -> None:
        self._connection, self.times = connection, times

    def execute(self, sql: str, *args):
        if sql.startswith("PRAGMA journal_mode") and self.times:
            self.times -= 1
            error = sqlite3.OperationalError("database is locked")
            error.sqlite_errorname = "SQLITE_BUSY"
            raise error
        return self._connection.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self._connection, name)


def test_opening_waits_out_a_busy_answer(tmp_path, monkeypatch):
    connect = sqlite3.connect
    opened: list[_BusyAtFirst] = []

    def busy_connect(*args, **kwargs):
        opened.append(_BusyAtFirst(connect(*args, **kwargs), times=3))
        return opened[-1]

    monkeypatch.setattr(sqlite3, "connect", busy_connect)
    db = SqliteFile(tmp_path / "state.sqlite3", SCHEMA)
    assert opened[0].times == 0  # all three busy answers were waited out
    assert increment(db, "a") == 1


def test_opening_gives_up_after_the_busy_timeout(tmp_path, monkeypatch):
    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: _BusyAtFirst(connect(*a, **k), 10**9))
    with pytest.raises(StorageUnavailable, match="SQLITE_BUSY"):
        SqliteFile(tmp_path / "state.sqlite3", SCHEMA, busy_timeout=0.2)
