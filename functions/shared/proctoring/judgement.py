"""Judging one capture: the verdict policy, the student's alert count and escalation, and the
result document. No image work, so DecideVerdict imports nothing it does not use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from .alerts import AlertHistory
from .config import Settings
from .keys import alert_subject
from .payloads import Capture, ExecutionState, JudgedResult
from .policy import (
    ALERT,
    ERROR,
    OK,
    PolicyConfig,
    Reason,
    Verdict,
    counts_toward_escalation,
    decide,
    escalate,
)
from .reason_codes import SEVERITY
from .result import analysis_input, build_document, utc_now, verdict_digest
from .timeline import Timeline
from .windows import Observation, window_reasons


def judge_capture(
    event: ExecutionState,
    settings: Settings,
    policy: PolicyConfig,
    history: AlertHistory,
    timeline: Timeline | None = None,
) -> JudgedResult:
    """The verdict on one capture's analysis, with the reasons over the student's earlier captures
    (``timeline``), counted in the student's alert history and escalated, as the result document and
    where it goes."""
    capture = event["capture"]
    analysis = analysis_input(event)
    verdict = decide(analysis, policy)
    if timeline is not None and verdict.status != ERROR:
        analysed: Mapping[str, Any] = event.get("analysis") or {}
        fingerprint = (analysed.get("faces") or {}).get("fingerprint")
        verdict = with_window_reasons(verdict, capture, policy, timeline, fingerprint)
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
    result: JudgedResult = {
        "bucket": capture["bucket"],
        "key": capture["result_key"],
        "idempotency_key": capture["idempotency_key"],
        "failed": False,
        "document": document,
    }
    if rescore:
        result["unchanged"] = rescore.get("previous_digest") == verdict_digest(document)
    return result


def with_window_reasons(
    verdict: Verdict, capture: Capture, policy: PolicyConfig, timeline: Timeline, fingerprint: str | None = None
) -> Verdict:
    """Record this capture in the student's timeline; add the window reasons that hold for it."""
    taken = captured_at(capture)
    if taken is None:  # no time to place it by (an execution started by hand without one)
        return verdict
    face: Mapping[str, Any] = verdict.face or {}
    pose: Mapping[str, Any] = face.get("Pose") or {}
    observation = Observation.of(
        capture["idempotency_key"],
        capture["key"],
        taken,
        present=verdict.face_count > 0,
        similarity=verdict.similarity,
        pose=pose,
        threshold=policy.similarity_threshold,
        fingerprint=fingerprint,
    )
    observations = timeline.record(*_student(capture), observation)
    reference = capture.get("reference")
    photo = (reference["key"], reference["fingerprint"]) if reference and reference.get("fingerprint") else None
    found = window_reasons(observations, observation, policy, reference_pose(capture), photo)
    if not found:
        return verdict
    reasons = [*verdict.reasons, *(Reason(item.code, item.message, item.evidence) for item in found)]
    reasons.sort(key=lambda reason: SEVERITY.index(reason.code))
    return replace(verdict, status=ALERT, reasons=tuple(reasons))


def reference_pose(capture: Capture) -> tuple[float, float] | None:
    """The (yaw, pitch) of the face in the student's reference photo, from its check; None when
    unknown (no reference, or a check made before poses were kept)."""
    reference = capture.get("reference")
    pose = reference.get("pose") if reference else None
    if not pose or "Yaw" not in pose:
        return None
    return float(pose["Yaw"]), float(pose.get("Pitch", 0.0))


def captured_at(capture: Capture) -> float | None:
    """When the capture was taken, in seconds since the epoch: the S3 event's time (locally, the
    file's modification time); None when the event had none."""
    text = capture.get("captured_at")
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _student(capture: Capture) -> tuple[str, str]:
    """The (exam, student) an alert counts for. Only a key that follows the convention, which
    names both, is judged; any other is an ERROR before it gets here."""
    exam_id, user_id = capture["exam_id"], capture["user_id"]
    if exam_id is None or user_id is None:
        raise ValueError(f"{capture['key']!r} names no exam and student; it cannot be counted")
    return alert_subject(exam_id, user_id)
