"""Alert history: exact counts, sequentially, concurrently and with duplicates, in SQLite and DynamoDB."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from proctoring.alerts import DynamoDBAlertHistory, SqliteAlertHistory
from proctoring.errors import StorageUnavailable
from proctoring.policy import ALERT, ALERT_FINAL, escalate
from proctoring_local.stand_ins.stack import create_tables


@pytest.fixture(params=["sqlite", "dynamodb"])
def history(request, tmp_path):
    if request.param == "sqlite":
        yield SqliteAlertHistory(tmp_path / "state.sqlite3")
        return
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        table, _ = create_tables(client)
        yield DynamoDBAlertHistory(table, client=client)


def test_sequential_alerts_count_up(history):
    numbers = [history.record_alert("exam", "ana", f"capture-{i}") for i in range(4)]
    assert numbers == [1, 2, 3, 4]
    assert history.alert_count("exam", "ana") == 4
    assert history.alert_count("exam", "ben") == 0
    assert history.alert_count("other", "ana") == 0


def test_a_duplicate_gets_its_original_number_and_counts_once(history):
    assert history.record_alert("exam", "ana", "c1") == 1
    assert history.record_alert("exam", "ana", "c2") == 2
    assert history.record_alert("exam", "ana", "c1") == 1
    assert history.record_alert("exam", "ana", "c2") == 2
    assert history.alert_count("exam", "ana") == 2


def test_students_and_exams_are_counted_apart(history):
    history.record_alert("exam1", "ana", "c1")
    history.record_alert("exam2", "ana", "c1")
    history.record_alert("exam1", "ben", "c1")
    assert history.alert_count("exam1", "ana") == 1
    assert history.alert_count("exam2", "ana") == 1


def test_ids_holding_the_separator_are_counted_apart(history):
    # Any character but "/" may be in an exam or student id (they are key segments).
    history.record_alert("a#b", "c", "c1")
    history.record_alert("a", "b#c", "c2")
    assert history.alert_count("a#b", "c") == 1
    assert history.alert_count("a", "b#c") == 1


def test_ten_concurrent_alerts_give_one_alert_final_and_a_count_of_ten(history):
    with ThreadPoolExecutor(max_workers=10) as pool:
        numbers = list(pool.map(lambda i: history.record_alert("exam", "ana", f"capture-{i}"), range(10)))
    assert sorted(numbers) == list(range(1, 11))
    statuses = [escalate(ALERT, number, 3) for number in numbers]
    assert statuses.count(ALERT_FINAL) == 1
    assert history.alert_count("exam", "ana") == 10


def test_concurrent_duplicates_count_once(history):
    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = list(pool.map(lambda i: history.record_alert("exam", "ana", f"capture-{i % 4}"), range(16)))
    assert history.alert_count("exam", "ana") == 4
    by_capture = {}
    for i, number in enumerate(numbers):
        by_capture.setdefault(i % 4, set()).add(number)
    assert all(len(values) == 1 for values in by_capture.values())
    assert sorted(value.pop() for value in by_capture.values()) == [1, 2, 3, 4]


def test_sqlite_history_is_shared_between_processes(tmp_path):
    import multiprocessing

    path = tmp_path / "state.sqlite3"
    SqliteAlertHistory(path)
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        numbers = pool.starmap(_record_in_process, [(str(path), f"capture-{i}") for i in range(8)])
    assert sorted(numbers) == list(range(1, 9))


def _record_in_process(path: str, capture: str) -> int:
    return SqliteAlertHistory(path).record_alert("exam", "ana", capture)


def test_dynamodb_items_expire_with_ttl():
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        table, _ = create_tables(client)
        DynamoDBAlertHistory(table, ttl_days=30, client=client).record_alert("exam", "ana", "c1")
        item = client.get_item(TableName=table, Key={"pk": {"S": "exam/ana"}})["Item"]
        import time

        assert 29 * 86400 < int(item["expires_at"]["N"]) - time.time() <= 30 * 86400


@pytest.mark.parametrize(
    ("operation", "call"),
    [
        ("update_item", lambda history: history.record_alert("exam", "ana", "c1")),
        ("get_item", lambda history: history.alert_count("exam", "ana")),
    ],
)
@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ProvisionedThroughputExceededException", StorageUnavailable),
        ("ThrottlingException", StorageUnavailable),
        ("InternalServerError", StorageUnavailable),
        ("ResourceNotFoundException", ClientError),  # a wrong table name is not worth a retry
    ],
)
def test_dynamodb_throttling_is_storage_unavailable_and_other_errors_stay(operation, call, code, expected):
    """StorageUnavailable is what the state machine retries, whichever call was throttled."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_client_error(operation, service_error_code=code, http_status_code=400)
        with pytest.raises(expected):  # StorageUnavailable is no ClientError: either way, never both
            call(DynamoDBAlertHistory("alert-history", client=client))


@pytest.mark.parametrize("endpoint", ["refused", "silent"])
def test_unreachable_dynamodb_is_storage_unavailable(unreachable_aws, endpoint):
    history = DynamoDBAlertHistory("alert-history", client=unreachable_aws("dynamodb", endpoint))
    with pytest.raises(StorageUnavailable, match="UpdateItem"):
        history.record_alert("exam", "ana", "c1")
    with pytest.raises(StorageUnavailable, match="GetItem"):
        history.alert_count("exam", "ana")


def test_a_throttled_read_after_a_duplicate_is_storage_unavailable():
    client = boto3.client("dynamodb", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_client_error("update_item", service_error_code="ConditionalCheckFailedException")
        stubber.add_client_error("get_item", service_error_code="ThrottlingException")
        with pytest.raises(StorageUnavailable, match="GetItem"):
            DynamoDBAlertHistory("alert-history", client=client).record_alert("exam", "ana", "c1")


# Ids as a student's key segments may spell them: unicode, "#", spaces, but never "/".
segment_ids = st.text(st.characters(codec="utf-8", exclude_characters="/"), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    students=st.lists(st.tuples(segment_ids, segment_ids), min_size=1, max_size=3, unique=True),
    recorded=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 5)), max_size=25),
)
def test_any_sequence_of_alerts_with_repeats_is_counted_as_the_model_says(history, students, recorded):
    """Both stores against a plain model: each capture keeps the number it first got, numbers run
    1, 2, 3... per student with no gap, and the count is the captures seen."""
    run = uuid.uuid4().hex  # a fresh exam per example: the store outlives Hypothesis' examples
    model: dict[tuple[str, str], dict[str, int]] = {}
    for student_index, capture_index in recorded:
        exam, user = students[student_index % len(students)]
        exam, capture = f"{run}{exam}", f"capture-{capture_index}"
        numbers = model.setdefault((exam, user), {})
        expected = numbers.setdefault(capture, len(numbers) + 1)
        assert history.record_alert(exam, user, capture) == expected
    for exam, user in students:
        assert history.alert_count(f"{run}{exam}", user) == len(model.get((f"{run}{exam}", user), {}))
