"""``proctoring run --analyzer rekognition``: the whole local run calling Rekognition over HTTP.

The workers build their own boto3 clients, so Rekognition stands on loopback
(``AWS_ENDPOINT_URL_REKOGNITION``), answering from the hand-written responses and checking every
request against botocore's service model; S3 and DynamoDB stay emulated in-process.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from proctoring_local.__main__ import main
from tests.builders import assert_valid, build_exam
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
    # Each reference checked once, and its check kept beside it; the captures need no DetectFaces.
    assert calls["DetectFaces"] == 2
    assert len(list(exam.glob("reference-checks/*.json"))) == 2


def test_a_second_run_over_the_same_folder_calls_rekognition_for_nothing_but_the_check(exam, monkeypatch, capsys):
    with RekognitionEndpoint() as rekognition:
        monkeypatch.setenv("AWS_ENDPOINT_URL_REKOGNITION", rekognition.url)
        command = ["run", str(exam), "--analyzer", "rekognition", "--workers", "1", "--no-progress"]
        assert main(command) == 0
        first = [path.read_text() for path in sorted(exam.glob("results/**/*.json"))]
        calls_before = len(rekognition.calls)
        assert main(command) == 0
        second = Counter(rekognition.calls[calls_before:])
        assert main([*command, "--reanalyse"]) == 0
        third = Counter(rekognition.calls[calls_before + sum(second.values()) :])

    assert second == {"ListCollections": 1}  # the analyses are reused: nothing paid for twice
    assert [path.read_text() for path in sorted(exam.glob("results/**/*.json"))] == first
    assert "6 capture(s) unchanged since an earlier run reused its analyses (a replaced reference" in " ".join(
        capsys.readouterr().out.split()
    )
    assert third["CompareFaces"] == 6 and third["DetectLabels"] == 6  # --reanalyse asks again
