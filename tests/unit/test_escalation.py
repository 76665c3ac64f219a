"""Escalation to ALERT_FINAL: once, at the threshold, unless every reason is excluded."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proctoring.policy import (
    ALERT,
    ALERT_FINAL,
    ERROR,
    OK,
    PolicyConfig,
    counts_toward_escalation,
    decide,
    escalate,
)
from tests.builders import face, policy_input

CONFIG = PolicyConfig()


@pytest.mark.parametrize(
    ("status", "number", "threshold", "expected"),
    [
        (ALERT, 1, 3, ALERT),
        (ALERT, 2, 3, ALERT),
        (ALERT, 3, 3, ALERT_FINAL),
        (ALERT, 4, 3, ALERT),
        (ALERT, 1, 1, ALERT_FINAL),
        (OK, 3, 3, OK),
        (ERROR, 3, 3, ERROR),
        (ALERT, None, 3, ALERT),
    ],
)
def test_escalation_happens_once_at_the_threshold(status, number, threshold, expected):
    assert escalate(status, number, threshold) == expected


@pytest.mark.parametrize(
    ("reference", "faces", "excludes", "counts"),
    [
        ({"status": "missing"}, [face()], (), True),  # by default every alert counts
        ({"status": "missing"}, [face()], ("REFERENCE_MISSING",), False),
        ({"status": "missing"}, [], ("REFERENCE_MISSING",), True),  # NO_FACE beside it
        ({"status": "invalid", "face_count": 0}, [face()], ("REFERENCE_MISSING", "REFERENCE_INVALID"), False),
        ({"status": "ok"}, [face()], ("REFERENCE_MISSING",), False),  # an OK never counts
    ],
)
def test_an_alert_counts_toward_escalation_unless_all_its_reasons_are_excluded(reference, faces, excludes, counts):
    verdict = decide(policy_input(reference=reference, faces=faces), PolicyConfig(escalation_excludes=excludes))
    assert counts_toward_escalation(verdict, PolicyConfig(escalation_excludes=excludes)) is counts


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=10), st.integers(min_value=0, max_value=30))
def test_exactly_one_capture_escalates_once_the_count_reaches_the_threshold(threshold, alerts):
    statuses = [escalate(ALERT, number, threshold) for number in range(1, alerts + 1)]
    assert statuses.count(ALERT_FINAL) == (1 if alerts >= threshold else 0)
    assert statuses.count(ALERT) == alerts - statuses.count(ALERT_FINAL)
