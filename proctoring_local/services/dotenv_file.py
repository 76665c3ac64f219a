"""A ``.env`` file for the local tools, as the single-Lambda version's users configured it.

Read with python-dotenv from the run folder the command names when it holds one, else from the
current folder. What it sets applies only where the environment does not set the same name:
command-line flags, then the environment, then ``.env``, then the defaults. Every name of the
original file works as written (``PROCTORING_WEBHOOK_URL``, ``AWS_REGION``, prefixes with their
trailing slash); a name no tool reads is reported with the closest one that is.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

# Read by boto3 and the tools besides the settings: credentials and region, the webhook key.
OTHER_NAMES = frozenset(
    {
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "PROCTORING_WEBHOOK_SECRET",
        "POWERTOOLS_LOG_LEVEL",
    }
)


class _Recording(dict[str, str]):
    """An empty environment that notes every name asked of it."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self.asked.add(key)
        return default


def settings_names() -> frozenset[str]:
    """The environment names the settings read: found by reading them, so never out of step."""
    from proctoring.config import Settings

    recording = _Recording()
    Settings.from_env(recording)
    return frozenset(recording.asked)


def known_names() -> frozenset[str]:
    return settings_names() | OTHER_NAMES


def find_env_file(folder: str | os.PathLike[str] | None) -> Path | None:
    """The run folder's ``.env`` if it has one, else the current folder's; None when neither has."""
    candidates = [Path(folder) / ".env"] if folder and Path(folder).is_dir() else []
    candidates.append(Path.cwd() / ".env")
    return next((path for path in candidates if path.is_file()), None)


def load_env_file(folder: str | os.PathLike[str] | None) -> Path | None:
    """Apply the ``.env`` found for ``folder`` under the environment; the file, or None."""
    from dotenv import dotenv_values

    path = find_env_file(folder)
    if path is None:
        return None
    values = dotenv_values(path)
    for line in unknown_name_notes(path, values):
        print(line, file=sys.stderr)
    for name, value in values.items():
        if value is not None and name not in os.environ:
            os.environ[name] = value
    # boto3 reads AWS_DEFAULT_REGION; the original file, as Lambda does, names AWS_REGION.
    if os.environ.get("AWS_REGION") and not os.environ.get("AWS_DEFAULT_REGION"):
        os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"]
    return path


def unknown_name_notes(path: Path, values: dict[str, str | None]) -> Iterator[str]:
    known = known_names()
    for name in values:
        if name in known:
            continue
        closest = difflib.get_close_matches(name.upper(), sorted(known), n=1, cutoff=0.6)
        hint = f"; did you mean {closest[0]}?" if closest else ""
        yield f"warning: {path}: {name} is not a setting any tool reads (it is ignored){hint}"
