"""Reasons over a window of a student's captures: pure functions of the observations.

Each judged capture leaves an :class:`Observation` in the student's timeline (``proctoring.timeline``):
when it was taken, whether a face was there, whether the head was turned, its similarity to the
reference. A capture is judged on the observations taken **at or before its own time**, so one
that arrives late or out of order is judged on what preceded it, never on what came after, and
never changes the verdict of a capture already judged: a late capture can delay a window reason,
never raise a wrong one. A duplicate event or a redrive records the same observation again and is
answered from the idempotency store.

* ``AWAY``: no face in this capture and the ones before it, ``AWAY_CAPTURES`` in a row, or for
  more than ``AWAY_SECONDS`` since the last capture with a face (two captures in a row at least).
* ``LOOKING_AWAY_SUSTAINED``: the head turned past ``SUSTAINED_YAW`` degrees in ``SUSTAINED_MIN``
  of the last ``SUSTAINED_WINDOW`` captures with a face, this one included (a single glance is OK).
* ``IDENTITY_CHANGED``: the last ``IDENTITY_WINDOW`` captures' similarity to the reference all
  ``IDENTITY_DROP`` points or more below the student's own baseline (the median of at least
  ``IDENTITY_BASELINE`` earlier captures), even where each one alone is above the threshold: the
  face in the seat no longer matches the student's earlier captures as it did.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Observation:
    capture: str  # the capture's idempotency key: one observation per capture version
    key: str  # its S3 key, named in the evidence
    t: float  # when it was taken, seconds since the epoch
    present: bool  # a face at or above FACE_MIN_CONFIDENCE
    turned: bool  # the main face turned past SUSTAINED_YAW (or pitched past MAX_PITCH)
    similarity: float | None  # the main face's similarity to the reference, when compared

    def as_dict(self) -> dict[str, Any]:
        return {"k": self.key, "t": self.t, "p": self.present, "a": self.turned, "s": self.similarity}

    @classmethod
    def from_dict(cls, capture: str, item: dict[str, Any]) -> Observation:
        similarity = item.get("s")
        return cls(
            capture,
            str(item["k"]),
            float(item["t"]),
            bool(item["p"]),
            bool(item["a"]),
            None if similarity is None else float(similarity),
        )


class WindowConfig(Protocol):
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
    observations: Iterable[Observation], current: Observation, config: WindowConfig
) -> list[WindowReason]:
    """The window reasons that hold for ``current``, judged on the observations up to its time."""
    unique = {o.capture: o for o in observations}  # one per capture, however often it was recorded
    earlier = sorted(
        (o for o in unique.values() if o.capture != current.capture and o.t <= current.t),
        key=lambda o: (o.t, o.key),
    )
    found = [_away(earlier, current, config), _sustained(earlier, current, config), _identity(earlier, current, config)]
    return [reason for reason in found if reason is not None]


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


def _sustained(earlier: list[Observation], current: Observation, config: WindowConfig) -> WindowReason | None:
    if not (current.present and current.turned):
        return None
    window = [*[o for o in earlier if o.present][-(config.sustained_window - 1) :], current]
    turned = [o for o in window if o.turned]
    if len(turned) < config.sustained_min:
        return None
    return WindowReason(
        "LOOKING_AWAY_SUSTAINED",
        f"The head was turned away in {len(turned)} of the last {len(window)} captures with a face.",
        {"captures": [o.key for o in turned], "window": len(window), "turned": len(turned)},
    )


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
