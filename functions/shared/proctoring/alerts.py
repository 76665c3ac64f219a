"""Alert history: how many alerts stand for each student in each exam.

``record_alert`` is idempotent per capture: the same capture always gets the same alert number,
however often it is recorded, and concurrent captures get distinct consecutive numbers. The
escalation rule (``policy.escalate``) relies on that to give ALERT_FINAL once the standing
alerts reach the threshold. A proctor's decision (``stand``) takes a capture out of the count
(dismissed) or puts it in (flagged, or a dismissal reversed); the next alert is numbered from
what stands.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from .aws_errors import transient_reason
from .config import Settings, get_settings, local_state_file
from .errors import ConfigurationError, StorageUnavailable
from .sqlite_file import SqliteFile


class AlertHistory(Protocol):
    def record_alert(self, exam_id: str, user_id: str, capture_id: str) -> int:
        """Count this capture's alert once; return its number (1 for the student's first alert)."""

    def alert_count(self, exam_id: str, user_id: str) -> int:
        """How many alerts of the student stand in the exam so far."""

    def stand(self, exam_id: str, user_id: str, capture_id: str, counts: bool) -> int:
        """Make the capture count toward the student's alerts, or not (a proctor's decision);
        idempotent. The number of alerts that stand afterwards."""


def _capture_attribute(capture_id: str) -> str:
    return "c_" + hashlib.sha256(capture_id.encode()).hexdigest()[:32]


def _dismissed_attribute(capture_id: str) -> str:
    return "x_" + hashlib.sha256(capture_id.encode()).hexdigest()[:32]


# What outlasts the SDK's own retries and is worth the state machine's: throttling and 5xx.
_DYNAMODB_TRANSIENT = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
}


@contextmanager
def _transient_as_unavailable(operation: str) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        reason = transient_reason(exc, _DYNAMODB_TRANSIENT)
        if reason is not None:
            raise StorageUnavailable(f"DynamoDB {operation} failed: {reason}") from exc
        raise


class DynamoDBAlertHistory:
    """One item per exam and student: ``alert_count`` plus one attribute per counted capture.

    A single conditional UpdateItem increments the count and stores the capture's number, so the
    write is atomic and a duplicate capture fails the condition instead of counting twice.
    """

    def __init__(self, table_name: str, ttl_days: int = 30, client: Any = None) -> None:
        if client is None:
            from .aws_clients import client as aws_client

            client = aws_client("dynamodb")
        self._client = client
        self._table = table_name
        self._ttl_days = ttl_days

    @staticmethod
    def _key(exam_id: str, user_id: str) -> dict[str, Any]:
        # "/" is the one character neither id can hold (each is one segment of the capture's key).
        return {"pk": {"S": f"{exam_id}/{user_id}"}}

    def record_alert(self, exam_id: str, user_id: str, capture_id: str) -> int:
        from botocore.exceptions import ClientError

        attribute = _capture_attribute(capture_id)
        expires = int(time.time()) + self._ttl_days * 86400
        try:
            with _transient_as_unavailable("UpdateItem"):
                response = self._client.update_item(
                    TableName=self._table,
                    Key=self._key(exam_id, user_id),
                    UpdateExpression=(
                        "SET alert_count = if_not_exists(alert_count, :zero) + :one, "
                        "#capture = if_not_exists(alert_count, :zero) + :one, "
                        "exam_id = :exam, user_id = :user, expires_at = :expires"
                    ),
                    ConditionExpression="attribute_not_exists(#capture)",
                    ExpressionAttributeNames={"#capture": attribute},
                    ExpressionAttributeValues={
                        ":zero": {"N": "0"},
                        ":one": {"N": "1"},
                        ":exam": {"S": exam_id},
                        ":user": {"S": user_id},
                        ":expires": {"N": str(expires)},
                    },
                    ReturnValues="UPDATED_NEW",
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            # Counted before: the capture keeps the number it got then.
            with _transient_as_unavailable("GetItem"):
                item = self._client.get_item(
                    TableName=self._table, Key=self._key(exam_id, user_id), ConsistentRead=True
                )["Item"]
            return int(item[attribute]["N"])
        return int(response["Attributes"]["alert_count"]["N"])

    def alert_count(self, exam_id: str, user_id: str) -> int:
        with _transient_as_unavailable("GetItem"):
            item = self._client.get_item(
                TableName=self._table,
                Key=self._key(exam_id, user_id),
                ConsistentRead=True,
                ProjectionExpression="alert_count",
            ).get("Item")
        return int(item["alert_count"]["N"]) if item else 0

    def stand(self, exam_id: str, user_id: str, capture_id: str, counts: bool) -> int:
        # Each change is one conditional UpdateItem: a repeated decision fails its condition and
        # changes nothing; the count moves with the capture's own mark, atomically.
        names = {"#capture": _capture_attribute(capture_id), "#dismissed": _dismissed_attribute(capture_id)}
        if counts:
            self.record_alert(exam_id, user_id, capture_id)  # counted now, unless counted before
            self._update_if(
                "REMOVE #dismissed SET alert_count = alert_count + :one",
                "attribute_exists(#capture) AND attribute_exists(#dismissed)",
                exam_id,
                user_id,
                names,
            )
        else:
            self._update_if(
                "SET #dismissed = :one, alert_count = alert_count - :one",
                "attribute_exists(#capture) AND attribute_not_exists(#dismissed)",
                exam_id,
                user_id,
                names,
            )
        return self.alert_count(exam_id, user_id)

    def _update_if(self, update: str, condition: str, exam_id: str, user_id: str, names: dict[str, str]) -> None:
        from botocore.exceptions import ClientError

        try:
            with _transient_as_unavailable("UpdateItem"):
                self._client.update_item(
                    TableName=self._table,
                    Key=self._key(exam_id, user_id),
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={":one": {"N": "1"}},
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise


class SqliteAlertHistory:
    """The same contract in a SQLite file in the run folder; safe across threads and processes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._db = SqliteFile(
            path,
            "CREATE TABLE IF NOT EXISTS alert_captures ("
            " exam_id TEXT NOT NULL, user_id TEXT NOT NULL, capture_id TEXT NOT NULL,"
            " alert_number INTEGER NOT NULL, standing INTEGER NOT NULL DEFAULT 1,"
            " PRIMARY KEY (exam_id, user_id, capture_id))",
        )
        self.path = self._db.path
        with self._db.transaction() as conn:  # a state file from before decisions existed
            columns = {row[1] for row in conn.execute("PRAGMA table_info(alert_captures)")}
            if "standing" not in columns:
                conn.execute("ALTER TABLE alert_captures ADD COLUMN standing INTEGER NOT NULL DEFAULT 1")

    def record_alert(self, exam_id: str, user_id: str, capture_id: str) -> int:
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT alert_number FROM alert_captures WHERE exam_id = ? AND user_id = ? AND capture_id = ?",
                (exam_id, user_id, capture_id),
            ).fetchone()
            if row is not None:
                return int(row[0])
            number = self._standing(conn, exam_id, user_id) + 1
            conn.execute(
                "INSERT INTO alert_captures (exam_id, user_id, capture_id, alert_number) VALUES (?, ?, ?, ?)",
                (exam_id, user_id, capture_id, number),
            )
            return number

    def alert_count(self, exam_id: str, user_id: str) -> int:
        with self._db.connection() as conn:
            return self._standing(conn, exam_id, user_id)

    def stand(self, exam_id: str, user_id: str, capture_id: str, counts: bool) -> int:
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT standing FROM alert_captures WHERE exam_id = ? AND user_id = ? AND capture_id = ?",
                (exam_id, user_id, capture_id),
            ).fetchone()
            if row is None and counts:
                number = self._standing(conn, exam_id, user_id) + 1
                conn.execute(
                    "INSERT INTO alert_captures (exam_id, user_id, capture_id, alert_number) VALUES (?, ?, ?, ?)",
                    (exam_id, user_id, capture_id, number),
                )
            elif row is not None:
                conn.execute(
                    "UPDATE alert_captures SET standing = ? WHERE exam_id = ? AND user_id = ? AND capture_id = ?",
                    (int(counts), exam_id, user_id, capture_id),
                )
            return self._standing(conn, exam_id, user_id)

    @staticmethod
    def _standing(conn: Any, exam_id: str, user_id: str) -> int:
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM alert_captures WHERE exam_id = ? AND user_id = ? AND standing = 1",
            (exam_id, user_id),
        ).fetchone()
        return int(count)


_history: AlertHistory | None = None


def get_alert_history(settings: Settings | None = None) -> AlertHistory:
    global _history
    if _history is None:
        settings = settings or get_settings()
        if settings.alert_history == "sqlite":
            _history = SqliteAlertHistory(local_state_file(settings))
        else:
            if not settings.alert_table:
                raise ConfigurationError("ALERT_TABLE is not set")
            _history = DynamoDBAlertHistory(settings.alert_table, settings.history_ttl_days)
    return _history


def set_alert_history(history: AlertHistory | None) -> None:
    global _history
    _history = history
