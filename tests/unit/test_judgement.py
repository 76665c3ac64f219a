"""Judging a capture, with plain data and a SQLite alert history."""

from __future__ import annotations

import unicodedata

import pytest

from proctoring.alerts import SqliteAlertHistory
from proctoring.config import Settings
from proctoring.judgement import judge_capture
from proctoring.keys import capture_identity
from proctoring.locate import capture_gone
from proctoring.policy import PolicyConfig
from tests.builders import face

SETTINGS = Settings.from_env({"ALERT_FINAL_THRESHOLD": "3", "ESCALATION_EXCLUDES": "REFERENCE_MISSING"})
POLICY = PolicyConfig.from_settings(SETTINGS)


@pytest.fixture
def history(tmp_path):
    return SqliteAlertHistory(tmp_path / "state.sqlite3")


def analysed(name: str, *, faces: int = 1, has_reference: bool = True, user: str = "ana") -> dict:
    """The state DecideVerdict receives; without a reference the state machine skips the comparison."""
    capture = capture_identity("bucket", f"images/exam/{user}/{name}.jpg", etag=f"etag-{name}", version_id=None)
    capture["reference"] = (
        {"key": "reference/ana.jpg", "etag": "r", "version_id": None, "size": 1, "status": "usable"}
        if has_reference
        else None
    )
    found = {"face_count": faces, "faces": [face() for _ in range(faces)], "image_quality": None}
    if has_reference:
        found["comparison"] = {"similarity": 99.0 if faces else None, "face_matches": []}
    return {
        "capture": capture,
        "analysis": {"faces": found, "labels": {"checked": True, "labels": [], "person_count": faces}},
    }


def test_an_ok_capture_reports_the_students_running_count_and_where_it_goes(history):
    result = judge_capture(analysed("c1"), SETTINGS, POLICY, history)
    assert (result["bucket"], result["key"], result["failed"]) == ("bucket", "results/exam/ana/c1.json", False)
    assert result["document"]["status"] == "OK"
    assert result["document"]["alert_count"] == 0


def test_alerts_are_counted_once_each_and_the_third_escalates(history):
    statuses = [judge_capture(analysed(f"c{i}", faces=0), SETTINGS, POLICY, history)["document"] for i in (1, 2, 3)]
    assert [(d["status"], d["alert_count"]) for d in statuses] == [("ALERT", 1), ("ALERT", 2), ("ALERT_FINAL", 3)]
    # The same capture judged again keeps its number: a retry never escalates anyone.
    again = judge_capture(analysed("c2", faces=0), SETTINGS, POLICY, history)["document"]
    assert (again["status"], again["alert_count"]) == ("ALERT", 2)
    assert history.alert_count("exam", "ana") == 3


def test_a_student_id_spelled_composed_or_decomposed_is_one_students_count(history):
    decomposed, composed = unicodedata.normalize("NFD", "josé"), unicodedata.normalize("NFC", "josé")
    documents = [
        judge_capture(analysed(f"c{i}", faces=0, user=user), SETTINGS, POLICY, history)["document"]
        for i, user in enumerate([decomposed, composed, decomposed])
    ]
    assert [(d["status"], d["alert_count"]) for d in documents] == [("ALERT", 1), ("ALERT", 2), ("ALERT_FINAL", 3)]
    assert [d["user_id"] for d in documents] == [decomposed, composed, decomposed]  # as each key spells it
    ok = judge_capture(analysed("c9", user=composed), SETTINGS, POLICY, history)["document"]
    assert (ok["status"], ok["alert_count"]) == ("OK", 3)


def test_an_alert_whose_reasons_are_all_excluded_is_shown_but_not_counted(history):
    judge_capture(analysed("c1", faces=0), SETTINGS, POLICY, history)
    document = judge_capture(analysed("c2", has_reference=False), SETTINGS, POLICY, history)["document"]
    assert (document["status"], document["reason"]) == ("ALERT", "REFERENCE_MISSING")
    assert document["alert_count"] == 1  # the running count, unchanged


def test_a_capture_deleted_before_its_analysis_is_an_error_document_that_counts_no_alert(history):
    state = analysed("c1", faces=0)
    state["analysis"]["faces"]["rejection"] = capture_gone(state["capture"])
    document = judge_capture(state, SETTINGS, POLICY, history)["document"]
    assert (document["status"], document["reason"]) == ("ERROR", "CAPTURE_NOT_FOUND")
    assert "images/exam/ana/c1.jpg no longer exists" in document["reasons"][0]["message"]
    assert history.alert_count("exam", "ana") == 0
