"""Settings, read once from the environment.

Every threshold has a default documented in the README; SAM parameters set the same names as
Lambda environment variables, and the local runner sets them from its command line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache

DEFAULT_FORBIDDEN_LABELS = (
    "Cell Phone",
    "Mobile Phone",
    "Phone",
    "Book",
    "Laptop",
    "Tablet Computer",
    "Headphones",
)


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value.strip() == "" else value.strip()


def _float(name: str, default: float) -> float:
    raw = _env(name, str(default))
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"setting {name} must be a number, got {raw!r}") from exc


def _int(name: str, default: int) -> int:
    raw = _env(name, str(default))
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"setting {name} must be an integer, got {raw!r}") from exc


def _prefix(name: str, default: str) -> str:
    value = _env(name, default).strip("/")
    return f"{value}/"


@dataclass(frozen=True)
class Settings:
    images_prefix: str = "images/"
    reference_prefix: str = "reference/"
    results_prefix: str = "results/"
    # Verdict policy
    min_confidence: float = 75.0
    max_labels: int = 10
    similarity_threshold: float = 90.0
    face_min_confidence: float = 90.0
    max_yaw: float = 35.0
    max_pitch: float = 25.0
    min_brightness: float = 20.0
    min_sharpness: float = 5.0
    forbidden_labels: tuple[str, ...] = DEFAULT_FORBIDDEN_LABELS
    alert_final_threshold: int = 3
    # Backends
    analyzer: str = "rekognition"
    storage: str = "s3"
    local_root: str = ""
    state_dir: str = ""
    alert_history: str = "dynamodb"
    alert_table: str = ""
    idempotency_store: str = "dynamodb"
    idempotency_table: str = ""
    idempotency_ttl_seconds: int = 15 * 24 * 3600
    history_ttl_days: int = 30
    # Webhook
    webhook_url: str = ""
    webhook_secret_parameter: str = ""
    webhook_secret: str = field(default="", repr=False)
    webhook_allow_http: bool = False
    webhook_connect_timeout: float = 3.0
    webhook_read_timeout: float = 10.0

    @classmethod
    def from_env(cls) -> Settings:
        labels = tuple(
            label.strip()
            for label in _env("FORBIDDEN_LABELS", ",".join(DEFAULT_FORBIDDEN_LABELS)).split(",")
            if label.strip()
        )
        return cls(
            images_prefix=_prefix("IMAGES_PREFIX", "images"),
            reference_prefix=_prefix("REFERENCE_PREFIX", "reference"),
            results_prefix=_prefix("RESULTS_PREFIX", "results"),
            min_confidence=_float("MIN_CONFIDENCE", 75.0),
            max_labels=_int("MAX_LABELS", 10),
            similarity_threshold=_float("SIMILARITY_THRESHOLD", 90.0),
            face_min_confidence=_float("FACE_MIN_CONFIDENCE", 90.0),
            max_yaw=_float("MAX_YAW", 35.0),
            max_pitch=_float("MAX_PITCH", 25.0),
            min_brightness=_float("MIN_BRIGHTNESS", 20.0),
            min_sharpness=_float("MIN_SHARPNESS", 5.0),
            forbidden_labels=labels,
            alert_final_threshold=_int("ALERT_FINAL_THRESHOLD", 3),
            analyzer=_env("ANALYZER", "rekognition").lower(),
            storage=_env("STORAGE", "s3").lower(),
            local_root=_env("LOCAL_ROOT", ""),
            state_dir=_env("STATE_DIR", ""),
            alert_history=_env("ALERT_HISTORY", "dynamodb").lower(),
            alert_table=_env("ALERT_TABLE", ""),
            idempotency_store=_env("IDEMPOTENCY_STORE", "dynamodb").lower(),
            idempotency_table=_env("IDEMPOTENCY_TABLE", ""),
            idempotency_ttl_seconds=_int("IDEMPOTENCY_TTL_SECONDS", 15 * 24 * 3600),
            history_ttl_days=_int("HISTORY_TTL_DAYS", 30),
            webhook_url=_env("WEBHOOK_URL", ""),
            webhook_secret_parameter=_env("WEBHOOK_SECRET_PARAMETER", ""),
            webhook_secret=_env("WEBHOOK_SECRET", ""),
            webhook_allow_http=_env("WEBHOOK_ALLOW_HTTP", "false").lower() in {"1", "true", "yes"},
            webhook_connect_timeout=_float("WEBHOOK_CONNECT_TIMEOUT", 3.0),
            webhook_read_timeout=_float("WEBHOOK_READ_TIMEOUT", 10.0),
        )


def local_state_file(settings: Settings) -> str:
    """The SQLite file holding alert history and idempotency records for local runs."""
    from pathlib import Path

    if settings.state_dir:
        return str(Path(settings.state_dir) / "state.sqlite3")
    if not settings.local_root:
        raise ValueError("local state needs LOCAL_ROOT or STATE_DIR")
    return str(Path(settings.local_root) / ".proctoring" / "state.sqlite3")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings for this process. Tests and the local runner call ``get_settings.cache_clear()``."""
    return Settings.from_env()
