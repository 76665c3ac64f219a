"""The result document: one per upload, at ``results/{exam_id}/{user_id}/{file}.json``.

Pure functions: they shape plain data into the published schema
(``functions/shared/proctoring/schemas/result.schema.json``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .keys import capture_identity, key_candidates
from .payloads import Capture, ExecutionState, Notification, ObjectVersion, ResultDocument, Status
from .policy import ERROR, PolicyInput, Verdict
from .sentences import as_sentence

SCHEMA_VERSION = "1.0"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def object_version(capture: Capture) -> ObjectVersion:
    """Which upload of the key was judged. ``sequencer`` (the S3 event's) orders uploads of one key."""
    return {"version_id": capture.get("version_id"), "etag": capture.get("etag"), "sequencer": capture.get("sequencer")}


def analysis_input(state: ExecutionState) -> PolicyInput:
    """Gather what the policy needs from the state machine's accumulated state."""
    capture: Mapping[str, Any] = state.get("capture") or {}
    analysis: Mapping[str, Any] = state.get("analysis") or {}
    faces: Mapping[str, Any] = analysis.get("faces") or {}
    comparison = faces.get("comparison") or {}
    rejection = capture.get("rejection") or faces.get("rejection")
    return {
        "rejection": rejection,
        "faces": faces.get("faces") or [],
        "image_quality": faces.get("image_quality"),
        "reference": reference_input(capture.get("reference"), capture.get("reference_expected")),
        "similarity": comparison.get("similarity"),
        "face_matches": comparison.get("face_matches") or [],
        "labels": analysis.get("labels") or {},
    }


def reference_input(reference: Mapping[str, Any] | None, expected_key: str | None) -> dict[str, Any]:
    """The reference as the policy reads it: missing, invalid (with why, from its check), or ok
    (compared: a face with no similarity is then a mismatch, never a pass). The key goes along so
    that a verdict names the file to replace."""
    if not reference:
        return {"status": "missing", "expected_key": expected_key}
    if reference.get("status") == "unusable":
        invalid = {"status": "invalid", "key": reference["key"], "error": reference.get("reason")}
        if reference.get("code"):
            invalid["error_code"] = reference["code"]
        if reference.get("face_count") is not None:
            invalid["face_count"] = reference["face_count"]
        return invalid
    return {"status": "ok", "face_count": 1, "key": reference["key"]}


def build_document(
    capture: Capture,
    verdict: Verdict,
    *,
    status: Status,
    alert_count: int | None,
    analyzer: str,
    processed_at: str,
    analysis: PolicyInput,
) -> ResultDocument:
    labels = analysis.get("labels") or {}
    document: ResultDocument = {
        "schema_version": SCHEMA_VERSION,
        "status": status,
        "reason": verdict.reason,
        "reasons": [reason.as_dict() for reason in verdict.reasons],
        "details": [reason.message for reason in verdict.reasons] + list(verdict.notes),
        "face": verdict.face,
        "exam_id": capture.get("exam_id"),
        "user_id": capture.get("user_id"),
        "capture": capture.get("file_name"),
        "captured_at": capture.get("captured_at"),
        "s3_input": capture.get("s3_input"),
        "object_version": object_version(capture),
        "alert_count": alert_count,
        "analyzer": analyzer,
        "processed_at": processed_at,
        "notification": None,
        # Nothing was analysed when the input was refused: no analysis block rather than a misleading one.
        "analysis": None
        if status == ERROR
        else {
            # The faces the verdict counted, so that it agrees with MULTIPLE_FACES and NO_FACE.
            "face_count": verdict.face_count,
            "similarity": verdict.similarity,  # the main face's, which the verdict judged
            "reference": (analysis.get("reference") or {}).get("status"),
            "objects_checked": bool(labels.get("checked")) if labels else False,
            "person_count": labels.get("person_count"),
            "labels": [{"Name": label["Name"], "Confidence": label["Confidence"]} for label in verdict.labels],
            "image_quality": analysis.get("image_quality"),
        },
    }
    if status == ERROR:
        document["error"] = {"name": verdict.reason, "message": verdict.reasons[0].message}
    return document


def _error_message(error: dict[str, Any]) -> str:
    cause = error.get("Cause") or ""
    try:
        parsed = json.loads(cause)
    except (TypeError, ValueError):
        return str(cause)[:1000]
    if isinstance(parsed, dict):
        return str(parsed.get("errorMessage") or parsed.get("errorType") or cause)[:1000]
    return str(cause)[:1000]


def capture_from_event(event: ExecutionState, images_prefix: str, results_prefix: str) -> Capture:
    """Best-effort capture identity straight from the S3 event, for failures before ParseKey answered."""
    detail = event.get("detail") or {}
    obj = detail.get("object") or {}
    raw_key = obj.get("key", "")
    return capture_identity(
        (detail.get("bucket") or {}).get("name", ""),
        key_candidates(raw_key)[0] if raw_key else "",
        etag=obj.get("etag"),
        version_id=obj.get("version-id"),
        sequencer=obj.get("sequencer"),
        images_prefix=images_prefix,
        results_prefix=results_prefix,
    )


def failure_document(capture: Capture, error: dict[str, Any], *, analyzer: str, processed_at: str) -> ResultDocument:
    """The ERROR document for a step that failed for good (after the state machine's retries)."""
    name = str(error.get("Error") or "UnknownError")
    message = _error_message(error)
    sentence = as_sentence(f"Processing failed after retries: {name}: {message}")
    return {
        "schema_version": SCHEMA_VERSION,
        "status": ERROR,
        "reason": "PROCESSING_FAILED",
        "reasons": [
            {
                "code": "PROCESSING_FAILED",
                "message": sentence,
                "evidence": {"error": name},
            }
        ],
        "details": [sentence],
        "face": None,
        "exam_id": capture.get("exam_id"),
        "user_id": capture.get("user_id"),
        "capture": capture.get("file_name"),
        "captured_at": capture.get("captured_at"),
        "s3_input": capture.get("s3_input"),
        "object_version": object_version(capture),
        "alert_count": None,
        "analyzer": analyzer,
        "processed_at": processed_at,
        "notification": None,
        "error": {"name": name, "message": message},
    }


def notification_from_error(error: dict[str, Any]) -> Notification:
    """The ``notification`` record for a webhook delivery that failed for good.

    The Notify step raises with a JSON message ``{"attempt", "http_status", "error"}``; the state
    machine's Catch hands that over as ``{"Error", "Cause"}``.
    """
    details: dict[str, Any] = {}
    message = _error_message(error)
    try:
        parsed = json.loads(message)
        if isinstance(parsed, dict):
            details = parsed
    except ValueError:
        details = {"error": message}
    return {
        "status": "failed",
        "attempts": details.get("attempt"),
        "http_status": details.get("http_status"),
        "last_error": f"{error.get('Error', 'Error')}: {details.get('error', message)}",
    }


# What judging a capture again changes without the verdict changing: when the document was
# written, the re-score's mark, the delivery's record, and an OK capture's alert count (the
# student's count when it was judged; a re-score judges it when every alert is already counted).
# A proctor's decisions are about the verdict, not part of it.
_NOT_THE_VERDICT = frozenset({"processed_at", "rejudged", "notification", "alert_count", "decisions"})


def verdict_digest(document: Mapping[str, Any]) -> str:
    """A digest of everything a document says about the capture (status, every reason with its
    evidence, the face, the analysis...), the same for a document judged again with the same
    outcome: a re-score writes and sends only documents whose digest changed. An alert's count
    follows its status (ALERT_FINAL is the count reaching the threshold)."""
    import hashlib

    kept = {name: value for name, value in document.items() if name not in _NOT_THE_VERDICT}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def with_notification(document: ResultDocument, notification: Notification) -> ResultDocument:
    return {**document, "notification": notification}


def schema(name: str = "result") -> dict[str, Any]:
    """The published JSON Schema: ``result`` (the stored document) or ``webhook`` (the POST body)."""
    from importlib import resources

    loaded: dict[str, Any] = json.loads(
        resources.files("proctoring").joinpath(f"schemas/{name}.schema.json").read_text()
    )
    return loaded
