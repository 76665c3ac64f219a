"""The Lambda emulation the engine uses: context, handler calls, the local tracing provider."""

from __future__ import annotations

import copy
import multiprocessing
import os
import random

import pytest
from aws_lambda_powertools import Tracer

from proctoring_local.stand_ins.ids import fast_uuid4
from proctoring_local.stand_ins.lambdas import LambdaContext, NoTracingProvider, use_no_tracing_when_disabled


def test_disabled_tracing_uses_the_no_op_provider(monkeypatch):
    monkeypatch.setattr(Tracer, "_config", copy.copy(Tracer._default_config))
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    use_no_tracing_when_disabled()
    tracer = Tracer()
    assert isinstance(tracer.provider, NoTracingProvider)

    @tracer.capture_lambda_handler
    def handler(event, context):
        if event.get("fail"):
            raise ValueError("boom")
        return {"ok": event["n"]}

    assert handler({"n": 2}, LambdaContext("F")) == {"ok": 2}
    with pytest.raises(ValueError, match="boom"):
        handler({"fail": True}, LambdaContext("F"))


def test_enabled_tracing_keeps_the_xray_provider(monkeypatch):
    monkeypatch.setattr(Tracer, "_config", copy.copy(Tracer._default_config))
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "false")
    use_no_tracing_when_disabled()
    assert Tracer._config["provider"] is None


def test_local_ids_do_not_follow_the_global_random_seed():
    random.seed(7)
    first = fast_uuid4()
    random.seed(7)
    assert fast_uuid4() != first
    assert first.version == 4


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # forking is the point
def test_a_forked_child_draws_different_local_ids():
    context = multiprocessing.get_context("fork")
    queue = context.SimpleQueue()
    child = context.Process(target=lambda: queue.put(fast_uuid4()))
    child.start()
    child.join(30)
    assert queue.get() != fast_uuid4()


def test_a_step_interrupted_mid_delivery_is_retried_once_its_function_timeout_has_passed(local_env):
    """Ctrl-C during a local run leaves Notify's idempotency record in progress. It must expire
    with the function's timeout from template.yaml (as a crashed Lambda's does), not later: the
    next run's retries outlast that, instead of ending in a failed delivery."""
    import json
    import time

    from proctoring import notify
    from proctoring.sqlite_file import SqliteFile
    from proctoring_local.stand_ins import template as tpl
    from proctoring_local.stand_ins.lambdas import invoke_handler, load_handler_module
    from tests.builders import ROOT

    timeouts = {step["resource"]: step["timeout"] for step in tpl.step_functions().values()}
    assert (timeouts["NotifyFunction"], timeouts["DecideVerdictFunction"]) == (20, 30)

    class Interrupted:
        def send(self, document, idempotency_key, attempt):
            raise KeyboardInterrupt  # the runner stopped while the POST was in flight

    notify.set_notifier(Interrupted())
    module = load_handler_module(ROOT / "functions" / "notify")
    event = json.loads((ROOT / "events" / "notify.json").read_text())
    started = time.time()
    with pytest.raises(KeyboardInterrupt):
        invoke_handler(module, "NotifyFunction", event, timeouts["NotifyFunction"])

    (state,) = list(local_env.rglob("*.sqlite3"))
    with SqliteFile(state, "SELECT 1").connection() as conn:
        rows = conn.execute("SELECT status, in_progress_expiration FROM idempotency").fetchall()
    assert [status for status, _ in rows] == ["INPROGRESS"]
    expires = rows[0][1] / 1000
    assert started + timeouts["NotifyFunction"] - 1 <= expires <= time.time() + timeouts["NotifyFunction"]
    # Until then another attempt is told the delivery is in progress; the state machine retries it.
    result, errored = invoke_handler(module, "NotifyFunction", event, timeouts["NotifyFunction"])
    assert errored and result["errorType"] == "IdempotencyAlreadyInProgressError"
