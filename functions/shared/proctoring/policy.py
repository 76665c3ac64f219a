"""The verdict policy: analysis in, verdict out. Pure functions, no AWS, no I/O.

Every reason has a stable code, a human sentence and its evidence. Several reasons can hold at
once; ``reason`` is the most serious, by the order of :data:`SEVERITY`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Final, TypedDict

from .config import Settings
from .payloads import DetectedLabels, Face, FaceMatch, FaceQuality, Pose, Rejection, Status
from .payloads import Reason as ReasonDocument
from .reason_codes import SEVERITY
from .sentences import as_sentence, measure, past

OK: Final = "OK"
ALERT: Final = "ALERT"
ALERT_FINAL: Final = "ALERT_FINAL"
ERROR: Final = "ERROR"

# Part of every verdict's idempotency key, with the thresholds: raise it when a rule changes what
# it decides, so that captures processed again after an upgrade are judged by the new rules rather
# than answered from stored verdicts. 2: FACE_MISMATCH judges the main face; faint faces are not faces.
# 3: ties (faces of one size, labels of one confidence) are broken the same way in any input order.
# 4: FACE_MISMATCH says when another face in the picture matches the reference.
# 6: reasons over a window of captures (AWAY, LOOKING_AWAY_SUSTAINED, IDENTITY_CHANGED).
# 7: LOOKING_AWAY_SUSTAINED against the student's usual pose; REPLAYED_CAPTURE.
RULES_VERSION = 7


WINDOW_SETTINGS = (
    "away_captures",
    "away_seconds",
    "sustained_yaw",
    "sustained_window",
    "sustained_min",
    "identity_window",
    "identity_drop",
    "identity_baseline",
)


@dataclass(frozen=True)
class PolicyConfig:
    """The thresholds the policy reads; the defaults are the settings' defaults."""

    similarity_threshold: float = Settings.similarity_threshold
    min_confidence: float = Settings.min_confidence
    max_labels: int = Settings.max_labels
    face_min_confidence: float = Settings.face_min_confidence
    max_yaw: float = Settings.max_yaw
    max_pitch: float = Settings.max_pitch
    min_brightness: float = Settings.min_brightness
    min_sharpness: float = Settings.min_sharpness
    forbidden_labels: tuple[str, ...] = Settings.forbidden_labels
    alert_final_threshold: int = Settings.alert_final_threshold
    escalation_excludes: tuple[str, ...] = Settings.escalation_excludes
    away_captures: int = Settings.away_captures
    away_seconds: float = Settings.away_seconds
    sustained_yaw: float = Settings.sustained_yaw
    sustained_window: int = Settings.sustained_window
    sustained_min: int = Settings.sustained_min
    identity_window: int = Settings.identity_window
    identity_drop: float = Settings.identity_drop
    identity_baseline: int = Settings.identity_baseline

    @classmethod
    def from_settings(cls, settings: Settings) -> PolicyConfig:
        return cls(
            similarity_threshold=settings.similarity_threshold,
            min_confidence=settings.min_confidence,
            max_labels=settings.max_labels,
            face_min_confidence=settings.face_min_confidence,
            max_yaw=settings.max_yaw,
            max_pitch=settings.max_pitch,
            min_brightness=settings.min_brightness,
            min_sharpness=settings.min_sharpness,
            forbidden_labels=settings.forbidden_labels,
            alert_final_threshold=settings.alert_final_threshold,
            escalation_excludes=settings.escalation_excludes,
            **{name: getattr(settings, name) for name in WINDOW_SETTINGS},
        )

    def fingerprint(self) -> str:
        """A short digest of the rules' version and every threshold: a verdict is reused only under
        the same policy."""
        canonical = json.dumps({"rules": RULES_VERSION, **asdict(self)}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Reason:
    code: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> ReasonDocument:
        return {"code": self.code, "message": self.message, "evidence": dict(self.evidence)}


@dataclass(frozen=True)
class Verdict:
    status: Status
    reasons: tuple[Reason, ...]
    face: Face | None
    labels: tuple[dict[str, Any], ...]
    notes: tuple[str, ...] = ()
    face_count: int = 0  # faces at or above FACE_MIN_CONFIDENCE: the ones the verdict counted
    similarity: float | None = None  # the main face's similarity to the reference, when compared

    @property
    def reason(self) -> str:
        return self.reasons[0].code if self.reasons else ""


def face_area(face: Face) -> float:
    """Share of the picture a face's box covers (the largest face is the student's)."""
    box = face.get("BoundingBox")
    return float(box["Width"]) * float(box["Height"]) if box else 0.0


def _canonical(item: Mapping[str, Any]) -> str:
    """The last tie-break of a sort: the same items in any input order end in the same order."""
    return json.dumps(item, sort_keys=True, default=str)


def filter_labels(labels: list[dict[str, Any]], config: PolicyConfig) -> list[dict[str, Any]]:
    """Labels at or above MinConfidence, the MaxLabels most confident ones (equally confident ones
    by name: which are kept must not depend on the order the analyzer listed them in)."""
    kept = [label for label in labels if float(label.get("Confidence", 0)) >= config.min_confidence]
    kept.sort(key=lambda label: (-float(label.get("Confidence", 0)), str(label.get("Name", "")), _canonical(label)))
    return kept[: config.max_labels]


def by_prominence(faces: Iterable[Face]) -> list[Face]:
    """Largest face first (the student's), then the more confident; any order in, one order out."""
    return sorted(faces, key=lambda face: (-face_area(face), -float(face.get("Confidence", 0)), _canonical(face)))


def confident_faces(faces: Iterable[Face] | None, min_confidence: float) -> list[Face]:
    """The detections that are faces: at or above FACE_MIN_CONFIDENCE (a poster, a pattern is not)."""
    return [face for face in faces or [] if float(face.get("Confidence", 0)) >= min_confidence]


def overlap(first: Mapping[str, Any], second: Mapping[str, Any]) -> float:
    """Intersection over union of two BoundingBoxes (ratios of the picture): 1 for the same box."""

    def edges(box: Mapping[str, Any]) -> tuple[float, float, float, float]:
        left, top = float(box.get("Left", 0)), float(box.get("Top", 0))
        return left, top, left + float(box.get("Width", 0)), top + float(box.get("Height", 0))

    (left1, top1, right1, bottom1), (left2, top2, right2, bottom2) = edges(first), edges(second)
    inter = max(0.0, min(right1, right2) - max(left1, left2)) * max(0.0, min(bottom1, bottom2) - max(top1, top2))
    union = (right1 - left1) * (bottom1 - top1) + (right2 - left2) * (bottom2 - top2) - inter
    return inter / union if union > 0 else 0.0


def main_face_similarity(analysis: PolicyInput, main_face: Face | None) -> float | None:
    """The similarity of the face being judged, the main one, to the reference.

    Not the best over every face: a student's photo held up beside someone else's face would match
    the reference well. CompareFaces answers each face of the capture with its box, which is matched
    to the main face's box; without such an answer (an analyzer that gives only its best), the best.
    """
    matches = analysis.get("face_matches") or []
    if main_face is not None and matches:
        box = main_face["BoundingBox"]
        # Ties (one box answered twice) go to the higher similarity, whatever the answers' order.
        score, match = max(
            ((overlap(box, m.get("BoundingBox") or {}), m) for m in matches),
            key=lambda pair: (pair[0], float(pair[1].get("Similarity", 0)), _canonical(pair[1])),
        )
        if score >= 0.5:
            return float(match["Similarity"])
    similarity = analysis.get("similarity")
    return None if similarity is None else float(similarity)


def _norm(name: str) -> str:
    return " ".join(name.lower().replace("-", " ").split())


class PolicyInput(TypedDict, total=False):
    """What the policy judges, gathered from the execution's state (``result.analysis_input``).

    * ``rejection`` when the capture could not be analysed -> ERROR.
    * ``faces``: the capture's faces; ``image_quality``: the whole image's, when it has none.
    * ``reference``: ``{"status": "ok"|"missing"|"invalid"|"skipped", "face_count", "error", "key"}``.
    * ``similarity``: best similarity of the reference face among the capture's faces;
      ``face_matches``: each compared face's ``Similarity`` and ``BoundingBox`` (the main face's counts).
    * ``labels``: DetectLabels' answer, or ``{}`` when labels were not looked for.
    """

    rejection: Rejection | None
    faces: list[Face]
    image_quality: FaceQuality | None
    reference: dict[str, Any]
    similarity: float | None
    face_matches: list[FaceMatch]
    labels: DetectedLabels | dict[str, Any]


def decide(analysis: PolicyInput, config: PolicyConfig) -> Verdict:
    """Decide OK / ALERT / ERROR for one capture: every reason that holds, the most serious first."""
    rejection = analysis.get("rejection")
    if rejection:
        reason = Reason(rejection["code"], as_sentence(rejection["message"]), {})
        return Verdict(status=ERROR, reasons=(reason,), face=None, labels=())

    faces = by_prominence(confident_faces(analysis.get("faces"), config.face_min_confidence))
    main_face = faces[0] if faces else None
    similarity, reference_reasons = _reference_reasons(analysis, faces, config)
    label_result: Mapping[str, Any] = analysis.get("labels") or {}
    labels = filter_labels(list(label_result.get("labels") or []), config)
    label_reasons, label_notes = _label_reasons(label_result, labels, config)
    pose_reasons, pose_notes = _pose_reasons(main_face, config)
    quality: Mapping[str, Any] = (
        (main_face.get("Quality") if main_face else None) or analysis.get("image_quality") or {}
    )
    # Judged: a confident face was compared with the reference (matching it or not).
    quality_reasons, quality_notes = _quality_reasons(quality, config, judged=similarity is not None)
    reasons = [
        *_face_reasons(faces),
        *reference_reasons,
        *label_reasons,
        *pose_reasons,
        *quality_reasons,
    ]
    reasons.sort(key=lambda reason: SEVERITY.index(reason.code))
    return Verdict(
        status=ALERT if reasons else OK,
        reasons=tuple(reasons),
        face=_shown_face(main_face),
        labels=tuple(labels),
        notes=(*label_notes, *pose_notes, *quality_notes),
        face_count=len(faces),
        similarity=similarity,
    )


def _face_reasons(faces: list[Face]) -> list[Reason]:
    if not faces:
        return [Reason("NO_FACE", "No face was found in the capture.", {})]
    if len(faces) > 1:
        evidence = {"count": len(faces), "boxes": [f["BoundingBox"] for f in faces]}
        return [Reason("MULTIPLE_FACES", f"{len(faces)} faces were found in the capture.", evidence)]
    return []


def _reference_reasons(
    analysis: PolicyInput, faces: list[Face], config: PolicyConfig
) -> tuple[float | None, list[Reason]]:
    """The main face's similarity (None where it was not compared), and what is wrong with the
    reference or the match."""
    reference = analysis.get("reference") or {}
    status = reference.get("status", "skipped")
    if status == "missing":
        expected = reference.get("expected_key")
        where = f" (looked for {expected}, or .jpeg/.png)" if expected else ""
        looked_for = {"expected_key": expected} if expected else {}
        return None, [Reason("REFERENCE_MISSING", f"The student has no reference photo{where}.", looked_for)]
    if status == "invalid":
        return None, [_reference_invalid(reference)]
    if status != "ok" or not faces:
        return None, []
    similarity = main_face_similarity(analysis, faces[0])
    if similarity is not None and similarity >= config.similarity_threshold:
        return similarity, []
    shown = (
        "no face matched it"
        if similarity is None
        else f"similarity {past(similarity, config.similarity_threshold, beyond=False)}"
    )
    evidence: dict[str, Any] = {"similarity": similarity, "threshold": config.similarity_threshold}
    message = f"The face does not match the reference ({shown}, threshold {config.similarity_threshold:g})"
    # The student beside someone of the same size, or their photo held up: the verdict still
    # judges the main face, but the proctor is told the student's face is in the picture.
    best = analysis.get("similarity")
    if best is not None and float(best) >= config.similarity_threshold:
        evidence["other_face_similarity"] = float(best)
        message += f"; another face in the picture does (similarity {float(best):.1f})"
    return similarity, [Reason("FACE_MISMATCH", f"{message}.", evidence)]


def _reference_invalid(reference: dict[str, Any]) -> Reason:
    count = reference.get("face_count")
    detail = reference.get("error") or (
        "it has no face" if count == 0 else f"it has {count} faces" if count else "it cannot be analysed"
    )
    key = reference.get("key")
    evidence: dict[str, Any] = {"key": key} if key else {}
    if count is not None:
        evidence["face_count"] = count
    if reference.get("error_code"):
        evidence["error_code"] = reference["error_code"]
    which = f" {key}" if key else ""
    return Reason("REFERENCE_INVALID", f"The reference photo{which} cannot be used: {detail}.", evidence)


def _label_reasons(
    label_result: Mapping[str, Any], labels: list[dict[str, Any]], config: PolicyConfig
) -> tuple[list[Reason], list[str]]:
    reasons, notes = [], []
    if label_result.get("checked"):
        forbidden = {_norm(name) for name in config.forbidden_labels}
        for label in labels:
            # Rekognition names one object several ways ("Mobile Phone", alias "Cell Phone"):
            # the configured name may be any of them.
            aliases = [str(alias.get("Name", "")) for alias in label.get("Aliases") or [] if isinstance(alias, dict)]
            if {_norm(name) for name in [str(label.get("Name", "")), *aliases]} & forbidden:
                confidence = round(float(label["Confidence"]), 2)
                reasons.append(
                    Reason(
                        "FORBIDDEN_OBJECT",
                        f"A forbidden object was seen: {label['Name']} ({confidence:.1f}%).",
                        {"label": label["Name"], "confidence": confidence},
                    )
                )
    elif label_result:
        notes.append("Objects (phones, books) were not checked: the analyzer has no object model.")
    person_count = label_result.get("person_count")
    if person_count is not None and int(person_count) > 1:
        reasons.append(
            Reason("EXTRA_PERSON", f"{person_count} people were seen in the capture.", {"count": int(person_count)})
        )
    return reasons, notes


def _pose_reasons(main_face: Face | None, config: PolicyConfig) -> tuple[list[Reason], list[str]]:
    if main_face is None:
        return [], []
    pose = main_face.get("Pose")
    if not pose:
        return [], ["The head pose could not be estimated: looking away was not checked."]
    yaw, pitch = float(pose.get("Yaw", 0)), float(pose.get("Pitch", 0))
    if abs(yaw) <= config.max_yaw and abs(pitch) <= config.max_pitch:
        return [], []
    angles = [
        measure(name, value, limit, beyond=True, unit=" degrees")
        for name, value, limit in (("yaw", yaw, config.max_yaw), ("pitch", pitch, config.max_pitch))
    ]
    evidence = {
        "pose": {k: v for k, v in pose.items() if k in ("Yaw", "Pitch", "Roll")},
        "limits": {"yaw": config.max_yaw, "pitch": config.max_pitch},
    }
    return [Reason("LOOKING_AWAY", f"The student is looking away ({'; '.join(angles)}).", evidence)], []


def _quality_reasons(
    quality: Mapping[str, Any], config: PolicyConfig, *, judged: bool
) -> tuple[list[Reason], list[str]]:
    """LOW_QUALITY: the capture could not be judged because it is too dark or too blurred.

    ``judged``: a confident face was found and compared with the reference. Then the picture was
    good enough to judge, whatever its light: a dim room is said in a note, not raised as an alert.
    """
    if not quality:
        return [], []
    brightness, sharpness = float(quality.get("Brightness", 100)), float(quality.get("Sharpness", 100))
    dark, blurred = brightness < config.min_brightness, sharpness < config.min_sharpness
    if not (dark or blurred):
        return [], []
    problem = " and ".join(word for word, holds in (("too dark", dark), ("too blurred", blurred)) if holds)
    measures = [
        measure("brightness", brightness, config.min_brightness, beyond=False),
        measure("sharpness", sharpness, config.min_sharpness, beyond=False),
    ]
    if judged:
        state = problem.replace("too ", "")
        return [], [f"The face is {state} ({'; '.join(measures)}) but was found and compared with the reference."]
    evidence = {
        "brightness": brightness,
        "sharpness": sharpness,
        "minimums": {"brightness": config.min_brightness, "sharpness": config.min_sharpness},
    }
    return [Reason("LOW_QUALITY", f"The capture is {problem} to judge ({'; '.join(measures)}).", evidence)], []


def _shown_face(main_face: Face | None) -> Face | None:
    """The main face as the document shows it: pose and quality go with every verdict, OK
    included, so that a proctor sees how near a threshold it was."""
    if main_face is None:
        return None
    face: Face = {"BoundingBox": main_face["BoundingBox"], "Confidence": main_face["Confidence"]}
    if main_face.get("Pose"):
        face["Pose"] = Pose(**main_face["Pose"])
    if main_face.get("Quality"):
        face["Quality"] = FaceQuality(**main_face["Quality"])
    return face


def escalate(status: Status, alert_number: int | None, threshold: int) -> Status:
    """ALERT_FINAL for the capture whose alert brings the student's count to ``threshold``.

    Alert numbers are unique per capture, so exactly one capture per exam and student escalates;
    later alerts stay ALERT.
    """
    if status == ALERT and alert_number is not None and alert_number == threshold:
        return ALERT_FINAL
    return status


def counts_toward_escalation(verdict: Verdict, config: PolicyConfig) -> bool:
    """Whether an alert adds to the student's count: unless every one of its reasons is excluded."""
    return verdict.status == ALERT and any(reason.code not in config.escalation_excludes for reason in verdict.reasons)
