"""The in-process engine's own parts: state copies and the local tracing provider."""

from __future__ import annotations

import copy
import multiprocessing
import os
import random
from collections import OrderedDict

import pytest
from aws_lambda_powertools import Tracer

from dev.engine import LambdaContext, NoTracingProvider, json_copy, use_no_tracing_when_disabled
from dev.ids import fast_uuid4


def test_json_copy_is_deep_and_keeps_shared_parts_shared():
    shared = {"face": [1.5, 2]}
    state = {"a": shared, "b": shared, "flags": [True, None, "x"], "n": 3}
    copied = json_copy(state)
    assert copied == state
    copied["a"]["face"].append(9)
    assert shared == {"face": [1.5, 2]}, "the original changed through the copy"
    assert copied["a"] is copied["b"], "shared sub-objects became two objects (deepcopy keeps them one)"


def test_json_copy_falls_back_to_deepcopy_for_other_types():
    class Marker:
        def __init__(self, value):
            self.value = value

    state = {"ordered": OrderedDict(x=1), "marker": Marker([1])}
    copied = json_copy(state)
    assert type(copied["ordered"]) is OrderedDict
    assert copied["marker"] is not state["marker"] and copied["marker"].value == [1]
    copied["marker"].value.append(2)
    assert state["marker"].value == [1]


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
def test_a_forked_child_draws_different_local_ids():
    context = multiprocessing.get_context("fork")
    queue = context.SimpleQueue()
    child = context.Process(target=lambda: queue.put(fast_uuid4()))
    child.start()
    child.join(30)
    assert queue.get() != fast_uuid4()
