"""``python -m dev run --analyzer rekognition``: the whole local run calling Rekognition over HTTP.

The workers build their own boto3 clients, so Rekognition stands on loopback
(``AWS_ENDPOINT_URL_REKOGNITION``), answering from the recorded responses and checking every
request against botocore's service model; S3 and DynamoDB stay emulated in-process.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from dev.__main__ import main
from tests.conftest import assert_valid, build_exam
from tests.fakes import RekognitionEndpoint


@pytest.fixture
def exam(tmp_path):
    return build_exam(tmp_path, captures=3)


def test_a_local_run_with_rekognition_calls_the_service_and_rides_out_a_throttle(exam, monkeypatch, capsys):
    with RekognitionEndpoint() as rekognition:
        monkeypatch.setenv("AWS_ENDPOINT_URL_REKOGNITION", rekognition.url)
        rekognition.fail("DetectLabels", "ThrottlingException")  # retried by the state machine
        assert main(["run", str(exam), "--analyzer", "rekognition", "--workers", "1", "--no-progress"]) == 0

    assert "analyzer: Amazon Rekognition in us-east-1" in capsys.readouterr().err
    documents = [assert_valid(json.loads(path.read_text())) for path in sorted(exam.glob("results/**/*.json"))]
    assert len(documents) == 6
    assert {(document["status"], document["analyzer"]) for document in documents} == {("OK", "rekognition")}
    assert all(document["analysis"]["objects_checked"] for document in documents)  # real labels, unlike local
    assert all(document["analysis"]["similarity"] == 99.46 for document in documents)
    calls = Counter(rekognition.calls)
    assert calls["ListCollections"] == 1  # the pre-run check
    assert calls["CompareFaces"] == 6
    assert calls["DetectLabels"] == 6 + 1  # one throttled, then answered
    # Captures and references each looked at once: a reference's faces are kept per worker.
    assert calls["DetectFaces"] == 6 + 2
