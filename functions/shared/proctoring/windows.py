"""Reasons over a window of a student's captures: pure functions of the observations.

Each judged capture leaves an :class:`Observation` in the student's timeline (``proctoring.timeline``):
when it was taken, whether a face was there, the head's pose, its similarity to the reference
and whether it matched. A capture is judged on the observations taken **at or before its own time**, so one
that arrives late or out of order is judged on what preceded it, never on what came after, and
never changes the verdict of a capture already judged: a late capture can delay a window reason,
never raise a wrong one. A duplicate event or a redrive records the same observation again and is
answered from the idempotency store.

* ``AWAY``: no face in this capture and the ones before it, ``AWAY_CAPTURES`` in a row, or for
  more than ``AWAY_SECONDS`` since the last capture with a face (two captures in a row at least).
* ``LOOKING_AWAY_SUSTAINED``: the head turned ``SUSTAINED_YAW`` degrees or more from the student's
  usual pose in this exam (:func:`usual_pose`) in ``SUSTAINED_MIN`` of the last ``SUSTAINED_WINDOW``
  captures with a face, this one included (a single glance is OK; a webcam set to one side is not
  looking away). The angles are kept, so a re-score with other settings judges them again.
* ``IDENTITY_CHANGED``: the last ``IDENTITY_WINDOW`` captures' similarity to the reference all
  ``IDENTITY_DROP`` points or more below the student's own baseline (the median of at least
  ``IDENTITY_BASELINE`` earlier captures), even where each one alone is above the threshold: the
  face in the seat no longer matches the student's earlier captures as it did.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Observation:
    capture: str  # the capture's idempotency key: one observation per capture version
    key: str  # its S3 key, named in the evidence
    t: float  # when it was taken, seconds since the epoch
    present: bool  # a face at or above FACE_MIN_CONFIDENCE
    similarity: float | None  # the main face's similarity to the reference, when compared
    yaw: float | None = None  # the main face's pose, degrees (None: no face, or no pose found)
    pitch: float | None = None
    matched: bool = False  # the main face matched the student (similarity at or above the threshold)
    fingerprint: str | None = None  # proctoring.images.pixel_fingerprint: 128 pixel values, not the image

    @classmethod
    def of(
        cls,
        capture: str,
        key: str,
        t: float,
        *,
        present: bool,
        similarity: float | None,
        pose: Mapping[str, Any],
        threshold: float,
        fingerprint: str | None = None,
    ) -> Observation:
        """A judged capture's observation: the main face's ``pose`` (Rekognition's shape) and
        similarity; it matched the student at ``threshold`` (SIMILARITY_THRESHOLD) or above."""
        angled = present and "Yaw" in pose
        return cls(
            capture,
            key,
            t,
            present,
            similarity,
            float(pose["Yaw"]) if angled else None,
            float(pose.get("Pitch", 0.0)) if angled else None,
            # Only the student's own face says how the student sits: an impostor's pose never counts.
            matched=similarity is not None and similarity >= threshold,
            fingerprint=fingerprint,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "k": self.key,
            "t": self.t,
            "p": self.present,
            "s": self.similarity,
            "y": self.yaw,
            "q": self.pitch,
            "m": self.matched,
            "f": self.fingerprint,
        }

    @classmethod
    def from_dict(cls, capture: str, item: dict[str, Any]) -> Observation:
        def number(name: str) -> float | None:
            value = item.get(name)
            return None if value is None else float(value)

        return cls(
            capture,
            str(item["k"]),
            float(item["t"]),
            bool(item["p"]),
            number("s"),
            number("y"),
            number("q"),
            bool(item.get("m", False)),
            item.get("f"),
        )


class WindowConfig(Protocol):
    @property
    def max_pitch(self) -> float: ...
    @property
    def sustained_yaw(self) -> float: ...
    @property
    def away_captures(self) -> int: ...
    @property
    def away_seconds(self) -> float: ...
    @property
    def sustained_window(self) -> int: ...
    @property
    def sustained_min(self) -> int: ...
    @property
    def identity_window(self) -> int: ...
    @property
    def identity_drop(self) -> float: ...
    @property
    def identity_baseline(self) -> int: ...


@dataclass(frozen=True)
class WindowReason:
    code: str
    message: str
    evidence: dict[str, Any]


def window_reasons(
    observations: Iterable[Observation],
    current: Observation,
    config: WindowConfig,
    reference_pose: tuple[float, float] | None = None,
    reference: tuple[str, str] | None = None,
) -> list[WindowReason]:
    """The window reasons that hold for ``current``, judged on the observations up to its time.
    ``reference_pose``: the reference photo's (yaw, pitch), the student's usual pose until their
    own captures say it (:func:`usual_pose`); ``reference``: its key and fingerprint."""
    unique = {o.capture: o for o in observations}  # one per capture, however often it was recorded
    earlier = sorted(
        (o for o in unique.values() if o.capture != current.capture and o.t <= current.t),
        key=lambda o: (o.t, o.key),
    )
    found = [
        _away(earlier, current, config),
        _sustained(earlier, current, config, reference_pose),
        _identity(earlier, current, config),
        _replayed(earlier, current, reference),
    ]
    return [reason for reason in found if reason is not None]


# The reference photo's pose counts as this many captures of the student's: enough that one or two
# glances early in the exam are judged against it, few enough that a webcam set to one side (the
# reference taken elsewhere, frontal) becomes the usual pose by the third capture.
REFERENCE_WEIGHT = 2


def usual_pose(earlier: list[Observation], reference_pose: tuple[float, float] | None) -> tuple[float, float]:
    """How the student sits in this exam: the median (yaw, pitch) of the reference photo's pose
    (frontal when unknown), counted ``REFERENCE_WEIGHT`` times, and of every earlier capture whose
    face matched the student. A webcam set to one side turns them all alike; glances, and a turn
    shorter than the time the student sat as usual, do not move a median; an impostor's face (not
    matched) never counts."""
    prior = reference_pose or (0.0, 0.0)
    poses = [prior] * REFERENCE_WEIGHT
    poses += [(o.yaw, o.pitch or 0.0) for o in earlier if o.present and o.matched and o.yaw is not None]
    return statistics.median(p[0] for p in poses), statistics.median(p[1] for p in poses)


def is_turned(observation: Observation, usual: tuple[float, float], config: WindowConfig) -> bool:
    """The head turned SUSTAINED_YAW or more from the usual pose (or pitched past MAX_PITCH from it)."""
    if not observation.present or observation.yaw is None:
        return False
    pitch = observation.pitch or 0.0
    return abs(observation.yaw - usual[0]) >= config.sustained_yaw or abs(pitch - usual[1]) > config.max_pitch


def _away(earlier: list[Observation], current: Observation, config: WindowConfig) -> WindowReason | None:
    if current.present:
        return None
    run = [current]
    for observation in reversed(earlier):
        if observation.present:
            break
        run.insert(0, observation)
    last_present = next((o for o in reversed(earlier) if o.present), None)
    absent_seconds = current.t - (last_present.t if last_present else run[0].t)
    by_count = len(run) >= config.away_captures
    by_time = len(run) >= 2 and last_present is not None and absent_seconds > config.away_seconds
    if not (by_count or by_time):
        return None
    since = "since the last capture with a face" if last_present else "since the first capture without one"
    return WindowReason(
        "AWAY",
        f"No face in {len(run)} captures in a row, for {absent_seconds:.0f} s {since}.",
        {"captures": [o.key for o in run], "absent_seconds": round(absent_seconds, 1), "count": len(run)},
    )


def _sustained(
    earlier: list[Observation], current: Observation, config: WindowConfig, reference_pose: tuple[float, float] | None
) -> WindowReason | None:
    def turned(observation: Observation) -> bool:
        before = [o for o in earlier if (o.t, o.key) < (observation.t, observation.key)]
        return is_turned(observation, usual_pose(before, reference_pose), config)

    usual = usual_pose(earlier, reference_pose)
    if not is_turned(current, usual, config):
        return None
    window = [*[o for o in earlier if o.present][-(config.sustained_window - 1) :], current]
    away = [o for o in window if o is current or turned(o)]
    if len(away) < config.sustained_min:
        return None
    return WindowReason(
        "LOOKING_AWAY_SUSTAINED",
        f"The head was turned away from the student's usual pose (yaw {usual[0]:.0f}) in {len(away)} of the last "
        f"{len(window)} captures with a face.",
        {
            "captures": [o.key for o in away],
            "window": len(window),
            "turned": len(away),
            "usual_yaw": round(usual[0], 1),
            "usual_pitch": round(usual[1], 1),
        },
    )


def _replayed(
    earlier: list[Observation], current: Observation, reference: tuple[str, str] | None
) -> WindowReason | None:
    """The very frame of an earlier capture, or the reference photo, delivered again: a picture
    replayed (a virtual camera), which a real sensor's noise never gives."""
    if not current.fingerprint:
        return None
    candidates = [
        *(reversed([(o.key, o.fingerprint) for o in earlier if o.fingerprint])),
        *([reference] if reference else []),
    ]
    for key, fingerprint in candidates:
        share = same_frame(current.fingerprint, fingerprint) if fingerprint else None
        if share is not None:
            what = "the student's reference photo" if reference and key == reference[0] else f"the capture {key}"
            return WindowReason(
                "REPLAYED_CAPTURE",
                f"The capture is the same picture as {what}: a camera never delivers the same frame twice.",
                {"same_as": key, "same_samples": share},
            )
    return None


def _identity(earlier: list[Observation], current: Observation, config: WindowConfig) -> WindowReason | None:
    if current.similarity is None:
        return None
    compared = [o for o in earlier if o.similarity is not None]
    recent = [*compared[-(config.identity_window - 1) :], current] if config.identity_window > 1 else [current]
    baseline_part = compared[: len(compared) - (len(recent) - 1)]
    if len(recent) < config.identity_window or len(baseline_part) < config.identity_baseline:
        return None
    baseline = statistics.median(o.similarity for o in baseline_part if o.similarity is not None)
    limit = baseline - config.identity_drop
    if not all(o.similarity is not None and o.similarity < limit for o in recent):
        return None
    scores = [round(o.similarity, 2) for o in recent if o.similarity is not None]
    return WindowReason(
        "IDENTITY_CHANGED",
        f"The face no longer matches the student's earlier captures: similarity {', '.join(map(str, scores))} "
        f"in the last {len(recent)} captures, against {baseline:.2f} before (a drop of {config.identity_drop:g} "
        "or more).",
        {
            "captures": [o.key for o in recent],
            "similarities": scores,
            "baseline": round(baseline, 2),
            "baseline_captures": len(baseline_part),
            "drop": config.identity_drop,
        },
    )


def same_frame(first: str, second: str, *, tolerance: int = 1, share: float = 0.9) -> float | None:
    """Of two fingerprints (``proctoring.images.pixel_fingerprint``): the share of samples equal to
    within ``tolerance`` (a decoder's rounding) when they show the same frame, else None. Samples
    clipped in both (black or white, where a sensor's noise does not show) are left out; with fewer
    than a third of them left, nothing is decided (a blank frame)."""
    import base64

    try:
        version_a, size_a, data_a = first.split(":", 2)
        version_b, size_b, data_b = second.split(":", 2)
        if (version_a, size_a) != (version_b, size_b) or version_a != "v1":
            return None
        a, b = base64.b64decode(data_a), base64.b64decode(data_b)
    except ValueError:
        return None
    if len(a) != len(b) or not a:
        return None
    informative = [(x, y) for x, y in zip(a, b, strict=True) if not (max(x, y) <= 2 or min(x, y) >= 253)]
    if len(informative) < len(a) // 3:
        return None
    close = sum(abs(x - y) <= tolerance for x, y in informative) / len(informative)
    return round(close, 3) if close >= share else None
