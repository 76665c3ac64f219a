"""Powertools idempotency, with DynamoDB on AWS and SQLite for local runs.

The SQLite layer implements Powertools' documented extension point (``BasePersistenceLayer``) with
the same conditional-write rules as its DynamoDB layer, so ``@idempotent`` behaves the same on a
laptop: a second run over the same folder returns the stored response instead of repeating the
side effect.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    IdempotencyConfig,
    IdempotentHookFunction,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from .config import Settings, get_settings, local_state_file
from .errors import ConfigurationError
from .sqlite_file import SqliteFile

INPROGRESS = "INPROGRESS"

_Params = ParamSpec("_Params")
_Result = TypeVar("_Result")


def once_per_payload(
    *, data_keyword_argument: str, persistence_store: BasePersistenceLayer, config: IdempotencyConfig
) -> Callable[[Callable[_Params, _Result]], Callable[_Params, _Result]]:
    """Powertools' ``idempotent_function``, keeping the decorated function's signature for the type
    checker (Powertools' own decorator is unannotated, which would make every caller's result Any)."""
    decorator = idempotent_function(
        data_keyword_argument=data_keyword_argument, persistence_store=persistence_store, config=config
    )
    return cast(Callable[[Callable[_Params, _Result]], Callable[_Params, _Result]], decorator)


class SqlitePersistenceLayer(BasePersistenceLayer):
    """Idempotency records in one SQLite file, safe across threads and processes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated
        self._db = SqliteFile(
            path,
            "CREATE TABLE IF NOT EXISTS idempotency ("
            " id TEXT PRIMARY KEY, status TEXT NOT NULL, expiration INTEGER,"
            " in_progress_expiration INTEGER, data TEXT, validation TEXT)",
        )
        self.path = self._db.path

    @staticmethod
    def _record(row: tuple[Any, ...]) -> DataRecord:
        return DataRecord(
            idempotency_key=row[0],
            status=row[1],
            expiry_timestamp=row[2],
            in_progress_expiry_timestamp=row[3],
            response_data=row[4] or "",
            payload_hash=row[5] or "",
        )

    def _get_record(self, idempotency_key: str) -> DataRecord:
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT id, status, expiration, in_progress_expiration, data, validation FROM idempotency WHERE id = ?",
                (idempotency_key,),
            ).fetchone()
        if row is None:
            raise IdempotencyItemNotFoundError
        return self._record(row)

    def _put_record(self, data_record: DataRecord) -> None:
        now = int(time.time())
        with self._db.transaction() as conn:
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

    def _update_record(self, data_record: DataRecord) -> None:
        with self._db.connection() as conn:
            conn.execute(
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
        with self._db.connection() as conn:
            conn.execute("DELETE FROM idempotency WHERE id = ?", (data_record.idempotency_key,))


def create_persistence_layer(settings: Settings | None = None) -> BasePersistenceLayer:
    settings = settings or get_settings()
    if settings.idempotency_store == "sqlite":
        return SqlitePersistenceLayer(local_state_file(settings))
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    if not settings.idempotency_table:
        raise ConfigurationError("IDEMPOTENCY_TABLE is not set")
    from .aws_clients import config

    return DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto_config=config("dynamodb"))


def replay_counter(metrics: Metrics, name: str) -> IdempotentHookFunction:
    """A response hook that counts, as metric ``name``, the responses answered from the store: the
    duplicate events and redrives the idempotency absorbed."""

    def count(response: Any, idempotent_data: DataRecord) -> Any:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
        return response

    return count


def idempotency_config(
    event_key_jmespath: str,
    settings: Settings | None = None,
    *,
    on_replay: IdempotentHookFunction | None = None,
) -> IdempotencyConfig:
    """``on_replay`` is Powertools' response hook: it sees each response answered from the store."""
    settings = settings or get_settings()
    return IdempotencyConfig(
        event_key_jmespath=event_key_jmespath,
        raise_on_no_idempotency_key=True,
        expires_after_seconds=settings.idempotency_ttl_seconds,
        response_hook=on_replay,
    )


class ConfiguredPersistenceLayer(BasePersistenceLayer):
    """The store named by the settings (``IDEMPOTENCY_STORE``), created on first use.

    Handlers decorate at import time; resolving the store lazily lets the local runner and the
    tests choose it through the environment before the first invocation.
    """

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated
        self._delegate: BasePersistenceLayer | None = None
        self._lock = threading.Lock()
        self._configure_lock = threading.Lock()
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

    def configure(
        self, config: IdempotencyConfig, function_name: str | None = None, key_prefix: str | None = None
    ) -> None:
        # Powertools marks a layer configured before it compiles the key expression, so a second
        # invocation starting meanwhile would hash with no expression. One invocation at a time per
        # process (Lambda) never sees that; the local runner's concurrent executions do.
        with self._configure_lock:
            super().configure(config, function_name, key_prefix)

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
