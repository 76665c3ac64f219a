"""What reaches the logs: structured step records, never image bytes, embeddings, secrets or signatures."""

from __future__ import annotations

import base64
import io
import logging
import re

import pytest

from proctoring_local.stand_ins.webhook_receiver import WebhookReceiver
from tests.builders import OK_ANSWERS, WEBHOOK_SECRET, synthetic_jpeg

OK = OK_ANSWERS


def forbidden_in(text: str, image: bytes) -> list[str]:
    problems = []
    if WEBHOOK_SECRET in text:
        problems.append("webhook secret")
    if "v1," in text or "webhook-signature" in text:
        problems.append("signature header")
    if base64.b64encode(image[:48]).decode()[:40] in text or "/9j/" in text:
        problems.append("image bytes (base64)")
    if "\\xff\\xd8" in text:
        problems.append("image bytes (repr)")
    if re.search(r"(-?0\.\d{3,}\s*,\s*){20,}", text):
        problems.append("a long vector of floats (an embedding)")
    return problems


@pytest.fixture
def debug_logs():
    """The steps' log records at DEBUG, formatted as in Lambda, collected in memory.

    The handlers share the Powertools service logger, created once per process (here, if no
    handler module has been loaded yet). Its handler, which Powertools holds on to, stays in
    place with its formatter; only its stream is pointed at a buffer for the test.
    """
    from aws_lambda_powertools import Logger

    Logger(service="proctoring")
    logger = logging.getLogger("proctoring")
    (handler,) = logger.handlers
    buffer = io.StringIO()
    saved_level, saved_stream = logger.level, handler.setStream(buffer)
    logger.setLevel(logging.DEBUG)
    yield buffer
    handler.setStream(saved_stream)
    logger.setLevel(saved_level)


def test_aws_path_logs_at_debug_hold_no_sensitive_data(make_aws_pipeline, capfd, debug_logs):
    image = synthetic_jpeg(77)
    with WebhookReceiver(secret=WEBHOOK_SECRET) as receiver:
        pipeline = make_aws_pipeline(webhook_url=receiver.url, POWERTOOLS_LOG_LEVEL="DEBUG")
        pipeline.reference("user", synthetic_jpeg(78))
        execution = pipeline.sfn.run(pipeline.upload("images/exam/user/c.jpg", image, **OK))
    assert execution.status == "SUCCEEDED"
    assert len(receiver.distinct()) == 1

    out, err = capfd.readouterr()
    logs = debug_logs.getvalue() + out + err
    assert '"message":"verdict"' in logs.replace(" ", "")  # the logs are there, and structured
    assert '"level":"DEBUG"' in logs.replace(" ", "") or '"message":"resultwritten"' in logs.replace(" ", "")
    assert forbidden_in(logs, image) == []


def test_local_analyzer_run_logs_no_embeddings_or_images(tmp_path, capfd, monkeypatch):
    from proctoring_local.services.demo_exam import _jpeg, _sources, _webcam
    from proctoring_local.services.run.workers import run_folder

    astronaut, _grace, _desk = _sources()
    capture = _jpeg(_webcam(astronaut, (80, 0, 400, 240)))
    (tmp_path / "reference").mkdir()
    (tmp_path / "reference" / "eileen.jpg").write_bytes(_jpeg(astronaut))
    (tmp_path / "images" / "exam" / "eileen").mkdir(parents=True)
    (tmp_path / "images" / "exam" / "eileen" / "c.jpg").write_bytes(capture)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")

    report = run_folder(tmp_path, workers=1, progress=False)

    assert report.complete
    out, err = capfd.readouterr()
    logs = out + err
    assert '"message":"compared"' in logs.replace(" ", "")  # the comparison step did log
    assert forbidden_in(logs, capture) == []
