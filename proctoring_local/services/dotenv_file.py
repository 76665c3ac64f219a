"""A ``.env`` file for the local tools, as the single-Lambda version's users configured it.

Read with python-dotenv from the run folder the command names when it holds one, else from the
current folder. What it sets applies only where the environment does not set the same name:
command-line flags, then the environment, then ``.env``, then the defaults. Every name of the
original file works as written (``PROCTORING_WEBHOOK_URL``, ``AWS_REGION``, prefixes with their
trailing slash); a name no tool reads is left out, and reported with the closest one that is.
Credentials are never read from it: a run folder may come from someone else (docs/security.md).
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Read by the tools besides the settings: the region, the webhook key, the log level.
OTHER_NAMES = frozenset({"AWS_REGION", "AWS_DEFAULT_REGION", "PROCTORING_WEBHOOK_SECRET", "POWERTOOLS_LOG_LEVEL"})
# Never taken from a .env: a folder can come from someone else, and these would choose whose AWS
# account the tools act in. They come from the user's own environment or AWS profile.
CREDENTIALS = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"})


@dataclass(frozen=True)
class EnvFile:
    """The ``.env`` read, and the names it set (those the environment did not set already)."""

    path: Path
    applied: frozenset[str]


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


def load_env_file(folder: str | os.PathLike[str] | None) -> EnvFile | None:
    """Apply the ``.env`` found for ``folder`` under the environment: the settings the tools read
    and the names above, never anything else (a name such as PYTHONWARNINGS or BROWSER would act
    on every process started after it) and never credentials. Each name left out is said, and why."""
    from dotenv import dotenv_values

    path = find_env_file(folder)
    if path is None:
        return None
    values = dotenv_values(path)
    for line in left_out_notes(path, values):
        print(line, file=sys.stderr)
    known = known_names()
    applied = set()
    for name, value in values.items():
        if value is not None and name in known and name not in os.environ:
            os.environ[name] = value
            applied.add(name)
    # boto3 reads AWS_DEFAULT_REGION; the original file, as Lambda does, names AWS_REGION.
    if os.environ.get("AWS_REGION") and not os.environ.get("AWS_DEFAULT_REGION"):
        os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"]
    return EnvFile(path, frozenset(applied))


def left_out_notes(path: Path, values: dict[str, str | None]) -> Iterator[str]:
    known = known_names()
    for name in values:
        if name in CREDENTIALS:
            yield (
                f"warning: {path}: {name} is left out: credentials are never read from a .env, which can come "
                "with a folder from someone else; set them in your shell or AWS profile (aws configure)"
            )
        elif name not in known:
            closest = difflib.get_close_matches(name.upper(), sorted(known), n=1, cutoff=0.6)
            hint = f"; did you mean {closest[0]}?" if closest else ""
            yield f"warning: {path}: {name} is not a setting any tool reads: left out of the environment{hint}"
