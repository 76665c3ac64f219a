"""Every AWS client the steps make has the project's timeouts and attempts (proctoring.aws_clients)."""

from __future__ import annotations

import pytest

from proctoring.aws_clients import TIMEOUTS


def _config_of(client):
    config = client.meta.config
    return config.connect_timeout, config.read_timeout, config.retries["total_max_attempts"]


def _expected(service):
    timeouts = TIMEOUTS[service]
    return timeouts.connect, timeouts.read, timeouts.attempts


def test_storage_reads_s3_with_its_timeouts_and_one_attempt():
    from proctoring.storage import S3Storage

    assert _config_of(S3Storage()._client) == _expected("s3") == (2, 4, 1)


def test_the_analyzer_calls_rekognition_with_its_timeouts_and_one_attempt():
    from proctoring.analysis.rekognition import RekognitionAnalyzer

    assert _config_of(RekognitionAnalyzer()._client) == _expected("rekognition")


def test_the_alert_history_and_the_idempotency_table_use_dynamodbs_timeouts():
    from proctoring.alerts import DynamoDBAlertHistory
    from proctoring.config import Settings
    from proctoring.idempotency import create_persistence_layer

    assert _config_of(DynamoDBAlertHistory("alert-history")._client) == _expected("dynamodb")
    layer = create_persistence_layer(Settings(idempotency_store="dynamodb", idempotency_table="idempotency"))
    assert _config_of(layer.client) == _expected("dynamodb")


@pytest.mark.parametrize("service", ["ssm", "secretsmanager"])
def test_the_webhook_secret_is_read_with_the_parameter_stores_timeouts(service):
    from proctoring.notify import _provider

    assert _config_of(_provider(service).client) == _expected(service)
