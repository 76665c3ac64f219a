"""Powertools idempotency over the SQLite layer, as the local runner uses it."""

from __future__ import annotations

import threading

import pytest
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from proctoring.idempotency import ConfiguredPersistenceLayer, SqlitePersistenceLayer


@pytest.fixture
def layer(tmp_path):
    return SqlitePersistenceLayer(tmp_path / "state.sqlite3")


def make(layer, calls, expires=3600, fail_first=0):
    config = IdempotencyConfig(event_key_jmespath="key", expires_after_seconds=expires)
    failures = [fail_first]

    @idempotent_function(data_keyword_argument="event", persistence_store=layer, config=config)
    def effect(event: dict) -> dict:
        calls.append(event["key"])
        if failures[0]:
            failures[0] -= 1
            raise RuntimeError("transient")
        return {"done": event["key"], "n": len(calls)}

    return effect


def test_the_effect_runs_once_and_its_result_is_replayed(layer):
    calls = []
    effect = make(layer, calls)
    first = effect(event={"key": "a", "noise": 1})
    second = effect(event={"key": "a", "noise": 2})
    assert first == second == {"done": "a", "n": 1}
    assert calls == ["a"]
    assert effect(event={"key": "b"}) == {"done": "b", "n": 2}


def test_a_failure_clears_the_record_so_a_retry_runs_again(layer):
    calls = []
    effect = make(layer, calls, fail_first=1)
    with pytest.raises(RuntimeError):
        effect(event={"key": "a"})
    assert effect(event={"key": "a"}) == {"done": "a", "n": 2}


def test_a_concurrent_duplicate_is_told_to_retry(layer):
    started, release = threading.Event(), threading.Event()
    config = IdempotencyConfig(event_key_jmespath="key")

    @idempotent_function(data_keyword_argument="event", persistence_store=layer, config=config)
    def slow(event: dict) -> dict:
        started.set()
        release.wait(5)
        return {"ok": True}

    worker = threading.Thread(target=lambda: slow(event={"key": "a"}))
    worker.start()
    started.wait(5)
    try:
        with pytest.raises(IdempotencyAlreadyInProgressError):
            slow(event={"key": "a"})
    finally:
        release.set()
        worker.join()
    assert slow(event={"key": "a"}) == {"ok": True}


def test_an_expired_record_runs_the_effect_again(layer):
    calls = []
    effect = make(layer, calls, expires=-1)  # already expired when written
    effect(event={"key": "a"})
    effect(event={"key": "a"})
    assert calls == ["a", "a"]


def test_records_survive_a_new_process_view_of_the_file(tmp_path):
    calls = []
    make(SqlitePersistenceLayer(tmp_path / "s.sqlite3"), calls)(event={"key": "a"})
    make(SqlitePersistenceLayer(tmp_path / "s.sqlite3"), calls)(event={"key": "a"})
    assert calls == ["a"]


def test_configured_layer_follows_the_settings(local_env):
    layer = ConfiguredPersistenceLayer()
    assert isinstance(layer.delegate, SqlitePersistenceLayer)
    assert layer.delegate.path == local_env / ".proctoring" / "state.sqlite3"
    calls = []
    make(layer, calls)(event={"key": "x"})
    make(layer, calls)(event={"key": "x"})
    assert calls == ["x"]


def test_concurrent_first_invocations_both_see_a_configured_layer(local_env, monkeypatch):
    # Powertools flags a layer configured before compiling its key expression; a second
    # invocation arriving in that window must wait, not hash with no expression.
    import jmespath
    from aws_lambda_powertools.utilities.idempotency.persistence import base

    compiling = threading.Event()
    original_compile = jmespath.compile

    def slow_compile(expression):
        compiling.set()
        threading.Event().wait(0.2)
        return original_compile(expression)

    monkeypatch.setattr(base.jmespath, "compile", slow_compile)
    layer = ConfiguredPersistenceLayer()
    config = IdempotencyConfig(event_key_jmespath="key")
    first = threading.Thread(target=layer.configure, args=(config, "effect"))
    first.start()
    assert compiling.wait(5)
    layer.configure(config, "effect")  # the second invocation, while the first is configuring
    assert layer.event_key_compiled_jmespath is not None
    first.join()
