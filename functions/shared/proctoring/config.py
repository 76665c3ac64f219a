"""Settings, read once from the environment.

Every threshold has a default documented in the README; SAM parameters set the same names as
Lambda environment variables, and the local runner sets them from its command line.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .reason_codes import SEVERITY

DEFAULT_FORBIDDEN_LABELS = (
    "Cell Phone",
    "Mobile Phone",
    "Phone",
    "Book",
    "Laptop",
    "Tablet Computer",
    "Headphones",
)


def _env(environ: Mapping[str, str], name: str, default: str) -> str:
    value = environ.get(name)
    return default if value is None or value.strip() == "" else value.strip()


def _float(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = _env(environ, name, str(default))
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"setting {name} must be a number, got {raw!r}") from exc


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = _env(environ, name, str(default))
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"setting {name} must be an integer, got {raw!r}") from exc


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    return _env(environ, name, str(default)).lower() in {"1", "true", "yes"}


def _prefix(environ: Mapping[str, str], name: str, default: str) -> str:
    value = _env(environ, name, default).strip("/")
    return f"{value}/"


# Each bounded setting: (lowest, highest or None). The template's parameters have the same bounds
# (a test checks), and settings that come from elsewhere (the local tools, a re-score) are held to them.
BOUNDS: dict[str, tuple[float, float | None]] = {
    "min_confidence": (0, 100),
    "similarity_threshold": (0, 100),
    "face_min_confidence": (0, 100),
    "local_max_faces": (1, 100),
    "min_brightness": (0, 100),
    "min_sharpness": (0, 100),
    "max_yaw": (0, 180),
    "max_pitch": (0, 90),
    "max_labels": (1, 100),  # bounds the execution state, see proctoring.pipeline
    "alert_final_threshold": (1, None),
    "away_captures": (2, 100),
    "away_seconds": (1, 86400),
    "sustained_yaw": (0, 180),
    "sustained_window": (2, 100),
    "sustained_min": (2, 100),
    "identity_window": (1, 100),
    "identity_drop": (0, 100),
    "identity_baseline": (1, 100),
    "history_ttl_days": (1, None),
    "idempotency_ttl_seconds": (1, None),
    "webhook_connect_timeout": (0.1, None),
    "webhook_read_timeout": (0.1, None),
}


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
    # The offline analyzer describes at most this many faces, the largest (a crowd would cost a
    # second of embedding per few faces; Rekognition's own cap is 100).
    local_max_faces: int = 20
    max_yaw: float = 40.0
    max_pitch: float = 25.0
    min_brightness: float = 20.0
    min_sharpness: float = 5.0
    forbidden_labels: tuple[str, ...] = DEFAULT_FORBIDDEN_LABELS
    alert_final_threshold: int = 3
    # Reason codes whose alerts do not count toward ALERT_FINAL (say REFERENCE_MISSING, when
    # references may arrive after the exam started); an alert counts if any other reason holds.
    escalation_excludes: tuple[str, ...] = ()
    # Reasons over a window of a student's captures (proctoring.windows)
    away_captures: int = 3
    away_seconds: float = 120.0
    sustained_yaw: float = 25.0
    sustained_window: int = 5
    sustained_min: int = 3
    identity_window: int = 3
    identity_drop: float = 8.0
    identity_baseline: int = 3
    # The bucket the pipeline serves (the stack's, or the existing one): an execution started by
    # hand with another bucket's event is refused. Empty: any (local runs, where a folder is the bucket).
    capture_bucket: str = ""
    # Where the audit record goes (proctoring.audit): the stack's Object Lock bucket; empty, the
    # capture bucket (a run folder).
    audit_bucket: str = ""
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

    def __post_init__(self) -> None:
        for name, (low, high) in BOUNDS.items():
            value = getattr(self, name)
            if value < low or (high is not None and value > high):
                allowed = f"between {low} and {high}" if high is not None else f"at least {low}"
                raise ValueError(f"setting {name.upper()} must be {allowed}, got {value}")
        unknown = [code for code in self.escalation_excludes if code not in SEVERITY]
        if unknown:
            raise ValueError(
                f"setting ESCALATION_EXCLUDES names unknown reason code(s) {', '.join(unknown)}; "
                f"the alert codes are {', '.join(SEVERITY)}"
            )
        # Results under the images prefix would each start another execution, forever; a
        # reference there would be judged as a capture. The prefixes must not contain each other.
        prefixes = {
            "IMAGES_PREFIX": self.images_prefix,
            "REFERENCE_PREFIX": self.reference_prefix,
            "RESULTS_PREFIX": self.results_prefix,
        }
        for name, prefix in prefixes.items():
            # A key's folders, relative to the bucket (or the run folder): never a way out of it.
            if prefix == "/" or any(part in {"", ".", ".."} for part in prefix.removesuffix("/").split("/")):
                raise ValueError(f"setting {name} must be a folder name such as 'images', got {prefix!r}")
        for (name, prefix), (other_name, other) in itertools.permutations(prefixes.items(), 2):
            if other.startswith(prefix):
                raise ValueError(
                    f"settings {name} ({prefix!r}) and {other_name} ({other!r}) overlap; "
                    "the images, reference and results prefixes must be separate folders"
                )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Each setting from its environment variable (``os.environ`` unless given); unset or blank
        keeps the field's default."""
        environ = os.environ if environ is None else environ
        labels = tuple(
            label.strip()
            for label in _env(environ, "FORBIDDEN_LABELS", ",".join(cls.forbidden_labels)).split(",")
            if label.strip()
        )
        excludes = tuple(
            dict.fromkeys(
                code.strip().upper() for code in _env(environ, "ESCALATION_EXCLUDES", "").split(",") if code.strip()
            )
        )
        return cls(
            images_prefix=_prefix(environ, "IMAGES_PREFIX", cls.images_prefix),
            reference_prefix=_prefix(environ, "REFERENCE_PREFIX", cls.reference_prefix),
            results_prefix=_prefix(environ, "RESULTS_PREFIX", cls.results_prefix),
            min_confidence=_float(environ, "MIN_CONFIDENCE", cls.min_confidence),
            max_labels=_int(environ, "MAX_LABELS", cls.max_labels),
            similarity_threshold=_float(environ, "SIMILARITY_THRESHOLD", cls.similarity_threshold),
            face_min_confidence=_float(environ, "FACE_MIN_CONFIDENCE", cls.face_min_confidence),
            local_max_faces=_int(environ, "LOCAL_MAX_FACES", cls.local_max_faces),
            max_yaw=_float(environ, "MAX_YAW", cls.max_yaw),
            max_pitch=_float(environ, "MAX_PITCH", cls.max_pitch),
            min_brightness=_float(environ, "MIN_BRIGHTNESS", cls.min_brightness),
            min_sharpness=_float(environ, "MIN_SHARPNESS", cls.min_sharpness),
            forbidden_labels=labels,
            alert_final_threshold=_int(environ, "ALERT_FINAL_THRESHOLD", cls.alert_final_threshold),
            escalation_excludes=excludes,
            away_captures=_int(environ, "AWAY_CAPTURES", cls.away_captures),
            away_seconds=_float(environ, "AWAY_SECONDS", cls.away_seconds),
            sustained_yaw=_float(environ, "SUSTAINED_YAW", cls.sustained_yaw),
            sustained_window=_int(environ, "SUSTAINED_WINDOW", cls.sustained_window),
            sustained_min=_int(environ, "SUSTAINED_MIN", cls.sustained_min),
            identity_window=_int(environ, "IDENTITY_WINDOW", cls.identity_window),
            identity_drop=_float(environ, "IDENTITY_DROP", cls.identity_drop),
            identity_baseline=_int(environ, "IDENTITY_BASELINE", cls.identity_baseline),
            capture_bucket=_env(environ, "CAPTURE_BUCKET", cls.capture_bucket),
            audit_bucket=_env(environ, "AUDIT_BUCKET", cls.audit_bucket),
            analyzer=_env(environ, "ANALYZER", cls.analyzer).lower(),
            storage=_env(environ, "STORAGE", cls.storage).lower(),
            local_root=_env(environ, "LOCAL_ROOT", cls.local_root),
            state_dir=_env(environ, "STATE_DIR", cls.state_dir),
            alert_history=_env(environ, "ALERT_HISTORY", cls.alert_history).lower(),
            alert_table=_env(environ, "ALERT_TABLE", cls.alert_table),
            idempotency_store=_env(environ, "IDEMPOTENCY_STORE", cls.idempotency_store).lower(),
            idempotency_table=_env(environ, "IDEMPOTENCY_TABLE", cls.idempotency_table),
            idempotency_ttl_seconds=_int(environ, "IDEMPOTENCY_TTL_SECONDS", cls.idempotency_ttl_seconds),
            history_ttl_days=_int(environ, "HISTORY_TTL_DAYS", cls.history_ttl_days),
            # PROCTORING_WEBHOOK_URL: the single-Lambda version's name, for its users' .env files.
            webhook_url=_env(environ, "WEBHOOK_URL", _env(environ, "PROCTORING_WEBHOOK_URL", cls.webhook_url)),
            webhook_secret_parameter=_env(environ, "WEBHOOK_SECRET_PARAMETER", cls.webhook_secret_parameter),
            webhook_secret=_env(environ, "WEBHOOK_SECRET", cls.webhook_secret),
            webhook_allow_http=_bool(environ, "WEBHOOK_ALLOW_HTTP", cls.webhook_allow_http),
            webhook_connect_timeout=_float(environ, "WEBHOOK_CONNECT_TIMEOUT", cls.webhook_connect_timeout),
            webhook_read_timeout=_float(environ, "WEBHOOK_READ_TIMEOUT", cls.webhook_read_timeout),
        )


def local_state_file(settings: Settings) -> str:
    """The SQLite file holding alert history and idempotency records for local runs."""
    if settings.state_dir:
        return str(Path(settings.state_dir) / "state.sqlite3")
    if not settings.local_root:
        raise ValueError("local state needs LOCAL_ROOT or STATE_DIR")
    return str(Path(settings.local_root) / ".proctoring" / "state.sqlite3")


def with_overrides(settings: Settings, overrides: Mapping[str, str] | None) -> Settings:
    """``settings`` with some of them given again by their environment names (a re-score's
    ``--set SIMILARITY_THRESHOLD=85``), checked as any setting is; unknown names are refused."""
    if not overrides:
        return settings
    from dataclasses import asdict

    allowed = {"SIMILARITY_THRESHOLD", "FACE_MIN_CONFIDENCE", "MAX_YAW", "MAX_PITCH", "MIN_BRIGHTNESS"}
    allowed |= {"MIN_SHARPNESS", "FORBIDDEN_LABELS", "ALERT_FINAL_THRESHOLD", "ESCALATION_EXCLUDES"}
    allowed |= {"AWAY_CAPTURES", "AWAY_SECONDS", "SUSTAINED_YAW", "SUSTAINED_WINDOW", "SUSTAINED_MIN"}
    allowed |= {"IDENTITY_WINDOW", "IDENTITY_DROP", "IDENTITY_BASELINE"}
    unknown = sorted(set(overrides) - allowed)
    if unknown:
        raise ValueError(
            f"a re-score can set only the verdict's settings ({', '.join(sorted(allowed))}), not {', '.join(unknown)}"
        )
    current = {name.upper(): value for name, value in asdict(settings).items()}
    base = {name: ",".join(v) if isinstance(v, tuple) else str(v) for name, v in current.items()}
    return Settings.from_env({**base, **{name: str(value) for name, value in overrides.items()}})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings for this process. Tests and the local runner call ``get_settings.cache_clear()``."""
    return Settings.from_env()
