"""Powertools idempotency, with DynamoDB on AWS and SQLite for local runs.

The SQLite layer implements Powertools' documented extension point (``BasePersistenceLayer``) with
the same conditional-write rules as its DynamoDB layer, so ``@idempotent`` behaves the same on a
laptop: a second run over the same folder returns the stored response instead of repeating the
side effect.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from pathlib import Path

from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer, IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from .config import Settings, get_settings, local_state_file
from .errors import ConfigurationError

INPROGRESS = "INPROGRESS"


class SqlitePersistenceLayer(BasePersistenceLayer):
    """Idempotency records in one SQLite file, safe across threads and processes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._connect() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS idempotency ("
                " id TEXT PRIMARY KEY, status TEXT NOT NULL, expiration INTEGER,"
                " in_progress_expiration INTEGER, data TEXT, validation TEXT)"
            )

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            # WAL with NORMAL sync stays consistent after a crash; only the last commits can be lost.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=60000")
            self._local.conn = conn
        return conn

    @staticmethod
    def _record(row: tuple) -> DataRecord:
        return DataRecord(
            idempotency_key=row[0],
            status=row[1],
            expiry_timestamp=row[2],
            in_progress_expiry_timestamp=row[3],
            response_data=row[4] or "",
            payload_hash=row[5] or "",
        )

    def _get_record(self, idempotency_key: str) -> DataRecord:
        row = (
            self._connect()
            .execute(
                "SELECT id, status, expiration, in_progress_expiration, data, validation FROM idempotency WHERE id = ?",
                (idempotency_key,),
            )
            .fetchone()
        )
        if row is None:
            raise IdempotencyItemNotFoundError
        return self._record(row)

    def _put_record(self, data_record: DataRecord) -> None:
        conn = self._connect()
        now = int(time.time())
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                "SELECT id, status, expiration, in_progress_expiration, data, validation FROM idempotency WHERE id = ?",
                (data_record.idempotency_key,),
            ).fetchone()
            if row is not None:
                old = self._record(row)
                expired = old.expiry_timestamp is not None and old.expiry_timestamp < now
                stale = (
                    old.status == INPROGRESS
                    and old.in_progress_expiry_timestamp is not None
                    and old.in_progress_expiry_timestamp < now * 1000
                )
                if not (expired or stale):
                    conn.execute("ROLLBACK")
                    raise IdempotencyItemAlreadyExistsError(old_data_record=old)
            conn.execute(
                "INSERT OR REPLACE INTO idempotency (id, status, expiration, in_progress_expiration, data, validation)"
                " VALUES (?, ?, ?, ?, NULL, ?)",
                (
                    data_record.idempotency_key,
                    data_record.status,
                    data_record.expiry_timestamp,
                    data_record.in_progress_expiry_timestamp,
                    data_record.payload_hash or None,
                ),
            )
            conn.execute("COMMIT")
        except IdempotencyItemAlreadyExistsError:
            raise
        except Exception:
            conn.execute("ROLLBACK")
            raise

    def _update_record(self, data_record: DataRecord) -> None:
        self._connect().execute(
            "UPDATE idempotency SET status = ?, expiration = ?, data = ?, validation = COALESCE(?, validation)"
            " WHERE id = ?",
            (
                data_record.status,
                data_record.expiry_timestamp,
                data_record.response_data,
                data_record.payload_hash or None,
                data_record.idempotency_key,
            ),
        )

    def _delete_record(self, data_record: DataRecord) -> None:
        self._connect().execute("DELETE FROM idempotency WHERE id = ?", (data_record.idempotency_key,))


def create_persistence_layer(settings: Settings | None = None) -> BasePersistenceLayer:
    settings = settings or get_settings()
    if settings.idempotency_store == "sqlite":
        return SqlitePersistenceLayer(local_state_file(settings))
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    if not settings.idempotency_table:
        raise ConfigurationError("IDEMPOTENCY_TABLE is not set")
    return DynamoDBPersistenceLayer(table_name=settings.idempotency_table)


def idempotency_config(event_key_jmespath: str, settings: Settings | None = None) -> IdempotencyConfig:
    settings = settings or get_settings()
    return IdempotencyConfig(
        event_key_jmespath=event_key_jmespath,
        raise_on_no_idempotency_key=True,
        expires_after_seconds=settings.idempotency_ttl_seconds,
    )


class ConfiguredPersistenceLayer(BasePersistenceLayer):
    """The store named by the settings (``IDEMPOTENCY_STORE``), created on first use.

    Handlers decorate at import time; resolving the store lazily lets the local runner and the
    tests choose it through the environment before the first invocation.
    """

    def __init__(self) -> None:
        super().__init__()
        self._delegate: BasePersistenceLayer | None = None
        self._lock = threading.Lock()
        _layers.add(self)

    @property
    def delegate(self) -> BasePersistenceLayer:
        if self._delegate is None:
            with self._lock:
                if self._delegate is None:
                    self._delegate = create_persistence_layer()
        return self._delegate

    def reset(self) -> None:
        self._delegate = None

    def _get_record(self, idempotency_key: str) -> DataRecord:
        return self.delegate._get_record(idempotency_key)

    def _put_record(self, data_record: DataRecord) -> None:
        self.delegate._put_record(data_record)

    def _update_record(self, data_record: DataRecord) -> None:
        self.delegate._update_record(data_record)

    def _delete_record(self, data_record: DataRecord) -> None:
        self.delegate._delete_record(data_record)


# Each handler module owns one layer (Powertools configures a layer for one function);
# the registry lets tests and the local runner reset them all when the settings change.
_layers: weakref.WeakSet[ConfiguredPersistenceLayer] = weakref.WeakSet()


def reset_persistence_layers() -> None:
    for layer in list(_layers):
        layer.reset()
