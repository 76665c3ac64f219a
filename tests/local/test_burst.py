"""The burst simulation (proctoring burst): the ASL's throttling retries against a quota."""

from __future__ import annotations

import json

import pytest

from proctoring_local.__main__ import main
from proctoring_local.services.burst import RetryPolicy, simulate, throttling_policies
from proctoring_local.stand_ins.template import DEFINITION

QUOTAS = {"DetectFaces": 50, "CompareFaces": 50, "DetectLabels": 50}


def test_the_policies_are_the_asls_own():
    policies = throttling_policies()
    assert set(policies) == {"DetectFaces", "CompareFaces", "DetectLabels"}
    detect_faces = json.loads(DEFINITION.read_text())["States"]["DetectFaces"]
    retry = next(r for r in detect_faces["Retry"] if "RekognitionThrottled" in r["ErrorEquals"])
    assert policies["DetectFaces"] == RetryPolicy(
        interval=retry["IntervalSeconds"],
        max_attempts=retry["MaxAttempts"],
        backoff_rate=retry["BackoffRate"],
        max_delay=retry["MaxDelaySeconds"],
        full_jitter=True,
    )


def test_within_the_quota_nothing_waits_and_nothing_fails():
    outcome = simulate(40, QUOTAS, throttling_policies())
    assert (outcome.failed, outcome.most_retries, outcome.last_verdict) == (0, 0, 0.0)


def test_without_retries_everything_past_the_first_seconds_quota_fails():
    none = {api: RetryPolicy(2, 0, 2, 60, True) for api in QUOTAS}
    assert simulate(500, QUOTAS, none).failed == 450


def test_the_asls_retries_absorb_an_exam_start_burst_far_above_the_quota():
    # 3,000 students' first captures in the same second, 60 times the quota: none ends in ERROR.
    outcome = simulate(3000, QUOTAS, throttling_policies(), seed=1)
    assert outcome.failed == 0
    assert outcome.last_verdict > 3000 / 50  # it took the quota's time to drain
    # The policy it replaced (6 retries, waits capped at 30 s) lost about one in ten.
    shorter = {api: RetryPolicy(2, 6, 2, 30, True) for api in QUOTAS}
    assert simulate(3000, QUOTAS, shorter, seed=1).failed > 150


def test_a_burst_spread_over_time_within_the_quota_never_retries():
    outcome = simulate(3000, QUOTAS, throttling_policies(), over=60.0)
    assert (outcome.failed, outcome.most_retries) == (0, 0)


def test_the_command_prints_the_policy_and_the_outcome(capsys):
    assert main(["burst", "-n", "200", "--tps", "20", "--runs", "2"]) == 0
    out = capsys.readouterr().out
    assert "DetectFaces   10 retries, 2 s x2, at most 60 s each, full jitter" in out
    assert "200 uploads at once; quotas per second: DetectFaces 20" in out
    assert "ERROR documents (throttled past the last retry): mean 0.0, max 0 of 200, over 2 runs" in out


@pytest.mark.parametrize(("args", "message"), [(["--over", "-1"], "must be 0 or more"), (["--tps", "0"], "at least 1")])
def test_bad_burst_options_are_refused(args, message, capsys):
    with pytest.raises(SystemExit):
        main(["burst", *args])
    assert message in capsys.readouterr().err
