"""Each student's timeline in an exam: one observation per judged capture (``proctoring.windows``).

On AWS, one item per exam and student in the alert-history table (key ``{exam}/{student}#timeline``),
one attribute per capture, each written by a single UpdateItem: concurrent captures never lose each
other's observation, and a duplicate or a redrive writes the same one again. Locally, a table of the
run folder's SQLite state file. ``record`` answers every observation of the student after its own
write (a consistent read), which the window rules then judge.
"""

from __future__ import annotations

import os
import time
from typing import Any, Protocol

from .alerts import _capture_attribute, _transient_as_unavailable
from .config import Settings, get_settings, local_state_file
from .errors import ConfigurationError
from .sqlite_file import SqliteFile
from .windows import Observation


class Timeline(Protocol):
    def record(self, exam_id: str, user_id: str, observation: Observation) -> list[Observation]:
        """Keep this capture's observation (replacing its earlier one); every observation of the student."""


def _number(value: float) -> dict[str, str]:
    return {"N": repr(float(value))}


def _optional(value: float | None) -> dict[str, Any]:
    return {"NULL": True} if value is None else _number(value)


class DynamoDBTimeline:
    def __init__(self, table_name: str, ttl_days: int = 30, client: Any = None) -> None:
        if client is None:
            from .aws_clients import client as aws_client

            client = aws_client("dynamodb")
        self._client = client
        self._table = table_name
        self._ttl_days = ttl_days

    @staticmethod
    def _key(exam_id: str, user_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"{exam_id}/{user_id}#timeline"}}

    def record(self, exam_id: str, user_id: str, observation: Observation) -> list[Observation]:
        value: dict[str, Any] = {
            "k": {"S": observation.key},
            "t": _number(observation.t),
            "p": {"BOOL": observation.present},
            "s": _optional(observation.similarity),
            "y": _optional(observation.yaw),
            "q": _optional(observation.pitch),
            "m": {"BOOL": observation.matched},
            "f": {"NULL": True} if observation.fingerprint is None else {"S": observation.fingerprint},
            "c": {"S": observation.capture},
        }
        with _transient_as_unavailable("UpdateItem"):
            self._client.update_item(
                TableName=self._table,
                Key=self._key(exam_id, user_id),
                UpdateExpression="SET #o = :o, expires_at = :expires",
                ExpressionAttributeNames={"#o": "o_" + _capture_attribute(observation.capture)},
                ExpressionAttributeValues={
                    ":o": {"M": value},
                    ":expires": {"N": str(int(time.time()) + self._ttl_days * 86400)},
                },
            )
        with _transient_as_unavailable("GetItem"):
            item = self._client.get_item(
                TableName=self._table, Key=self._key(exam_id, user_id), ConsistentRead=True
            ).get("Item", {})
        return [self._observation(value["M"]) for name, value in item.items() if name.startswith("o_")]

    @staticmethod
    def _observation(item: dict[str, Any]) -> Observation:
        def number(name: str) -> float | None:
            value = item.get(name, {}).get("N")
            return None if value is None else float(value)

        return Observation(
            item["c"]["S"],
            item["k"]["S"],
            float(item["t"]["N"]),
            bool(item["p"]["BOOL"]),
            number("s"),
            number("y"),
            number("q"),
            bool(item.get("m", {}).get("BOOL", False)),
            item.get("f", {}).get("S"),
        )


_INSERT = (
    "INSERT OR REPLACE INTO timeline (exam_id, user_id, capture_id, key, taken, present, similarity, yaw, pitch,"
    " matched, fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_LEGACY = (
    "INSERT OR REPLACE INTO timeline (exam_id, user_id, capture_id, key, taken, present, similarity, yaw, pitch,"
    " matched, fingerprint, turned) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)"
)


class SqliteTimeline:
    # The pose and the match came with the usual-pose rule: a state file from before gains them.
    _ADDED = (("yaw", "REAL"), ("pitch", "REAL"), ("matched", "INTEGER NOT NULL DEFAULT 0"), ("fingerprint", "TEXT"))

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._db = SqliteFile(
            path,
            "CREATE TABLE IF NOT EXISTS timeline ("
            " exam_id TEXT NOT NULL, user_id TEXT NOT NULL, capture_id TEXT NOT NULL, key TEXT NOT NULL,"
            " taken REAL NOT NULL, present INTEGER NOT NULL, similarity REAL,"
            " yaw REAL, pitch REAL, matched INTEGER NOT NULL DEFAULT 0, fingerprint TEXT,"
            " PRIMARY KEY (exam_id, user_id, capture_id))",
        )
        with self._db.transaction() as conn:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(timeline)")}
            for name, kind in self._ADDED:
                if name not in columns:
                    conn.execute(f"ALTER TABLE timeline ADD COLUMN {name} {kind}")
        # Its "turned" flag (NOT NULL) is now derived from the pose, never read: written as 0.
        self._insert = _INSERT_LEGACY if "turned" in columns else _INSERT

    def record(self, exam_id: str, user_id: str, observation: Observation) -> list[Observation]:
        with self._db.transaction() as conn:
            conn.execute(
                self._insert,
                (
                    exam_id,
                    user_id,
                    observation.capture,
                    observation.key,
                    observation.t,
                    int(observation.present),
                    observation.similarity,
                    observation.yaw,
                    observation.pitch,
                    int(observation.matched),
                    observation.fingerprint,
                ),
            )
            rows = conn.execute(
                "SELECT capture_id, key, taken, present, similarity, yaw, pitch, matched, fingerprint FROM timeline"
                " WHERE exam_id = ? AND user_id = ?",
                (exam_id, user_id),
            ).fetchall()
        return [Observation(r[0], r[1], r[2], bool(r[3]), r[4], r[5], r[6], bool(r[7]), r[8]) for r in rows]


_timeline: Timeline | None = None


def get_timeline(settings: Settings | None = None) -> Timeline:
    global _timeline
    if _timeline is None:
        settings = settings or get_settings()
        if settings.alert_history == "sqlite":
            _timeline = SqliteTimeline(local_state_file(settings))
        else:
            if not settings.alert_table:
                raise ConfigurationError("ALERT_TABLE is not set")
            _timeline = DynamoDBTimeline(settings.alert_table, settings.history_ttl_days)
    return _timeline


def set_timeline(timeline: Timeline | None) -> None:
    global _timeline
    _timeline = timeline
