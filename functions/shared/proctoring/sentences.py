"""The sentences of a verdict's reasons: a measure beside its limit, written so that no rounding
makes an alert read as within its limit."""

from __future__ import annotations


def is_past(value: float, limit: float, *, beyond: bool) -> bool:
    """``beyond``: past the limit in magnitude (angles); otherwise below it."""
    return abs(value) > limit if beyond else value < limit


def past(value: float, limit: float, *, beyond: bool) -> str:
    """``value`` with as few decimals (one to three) as show it on the wrong side of ``limit``.

    A yaw of -40.04 printed as "-40" or "-40.0" beside a limit of 40 reads as within it.
    ``beyond``: the value is past the limit in magnitude (angles); otherwise below it.
    """
    for places in (1, 2, 3):
        shown = f"{value:.{places}f}"
        if is_past(float(shown), limit, beyond=beyond):
            return shown
    return repr(value)


def measure(name: str, value: float, limit: float, *, beyond: bool, unit: str = "") -> str:
    """``name value``, and the limit when the value is past it (``beyond``: in magnitude; else below)."""
    if is_past(value, limit, beyond=beyond):
        return f"{name} {past(value, limit, beyond=beyond)}{unit}, {'beyond ±' if beyond else 'below '}{limit:g}"
    return f"{name} {value:.1f}{unit}"


def as_sentence(message: str) -> str:
    """An error's message as the sentence a proctor reads beside the alerts' sentences.

    The messages are written to fit inside a sentence too ("The reference photo cannot be used:
    the file is empty (0 bytes)."), so they start in lower case and end without a full stop.
    """
    message = message.strip()
    if message[:1].islower():
        message = message[0].upper() + message[1:]
    return message if not message or message.endswith((".", "!", "?")) else f"{message}."
