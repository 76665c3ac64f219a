"""Judging one capture: the verdict policy, the student's alert count and escalation, and the
result document. No image work, so DecideVerdict imports nothing it does not use.
"""

from __future__ import annotations

from .alerts import AlertHistory
from .config import Settings
from .keys import alert_subject
from .payloads import Capture, ExecutionState, JudgedResult
from .policy import ALERT, OK, PolicyConfig, counts_toward_escalation, decide, escalate
from .result import analysis_input, build_document, utc_now


def judge_capture(
    event: ExecutionState, settings: Settings, policy: PolicyConfig, history: AlertHistory
) -> JudgedResult:
    """The verdict on one capture's analysis, counted in the student's alert history and escalated,
    as the result document and where it goes."""
    capture = event["capture"]
    analysis = analysis_input(event)
    verdict = decide(analysis, policy)
    status, alert_count = verdict.status, None
    if counts_toward_escalation(verdict, policy):
        alert_count = history.record_alert(*_student(capture), capture["idempotency_key"])
        status = escalate(status, alert_count, settings.alert_final_threshold)
    elif status in {OK, ALERT}:  # an OK, or an alert whose reasons are all excluded from escalation
        alert_count = history.alert_count(*_student(capture))
    document = build_document(
        capture,
        verdict,
        status=status,
        alert_count=alert_count,
        analyzer=settings.analyzer,
        processed_at=utc_now(),
        analysis=analysis,
    )
    if rescore := event.get("rescore"):
        document["rejudged"] = {
            "run": rescore["run"],
            "previous_status": rescore.get("previous_status"),
            "previous_reason": rescore.get("previous_reason"),
        }
    return {
        "bucket": capture["bucket"],
        "key": capture["result_key"],
        "idempotency_key": capture["idempotency_key"],
        "failed": False,
        "document": document,
    }


def _student(capture: Capture) -> tuple[str, str]:
    """The (exam, student) an alert counts for. Only a key that follows the convention, which
    names both, is judged; any other is an ERROR before it gets here."""
    exam_id, user_id = capture["exam_id"], capture["user_id"]
    if exam_id is None or user_id is None:
        raise ValueError(f"{capture['key']!r} names no exam and student; it cannot be counted")
    return alert_subject(exam_id, user_id)
