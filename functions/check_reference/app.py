"""CheckReference: analyse a student's reference photo once and store the check beside it.

Run by the enrolment rule when a photo is uploaded to the reference prefix (so the exam team
learns of an unusable one before the exam), and by the state machine for a capture whose reference
has no check for its current ETag yet.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from proctoring.analysis import get_analyzer
from proctoring.config import get_settings
from proctoring.enrolment import check_reference
from proctoring.errors import InvalidEvent
from proctoring.keys import key_candidates
from proctoring.locate import first_existing
from proctoring.observability import count, logger, metrics, step_handler
from proctoring.payloads import ReferenceRequest, ReferenceState
from proctoring.storage import get_storage

__all__ = ["lambda_handler", "metrics"]


@step_handler
def lambda_handler(event: ReferenceRequest, context: LambdaContext) -> ReferenceState:
    settings = get_settings()
    bucket, raw_key = event.get("bucket"), event.get("key")
    if not (isinstance(bucket, str) and isinstance(raw_key, str) and raw_key.startswith(settings.reference_prefix)):
        raise InvalidEvent(
            f"CheckReference needs a bucket and a key under {settings.reference_prefix!r}, got {event!r}"
        )
    storage = get_storage()
    # The rule passes the event's key as S3 wrote it in the event (a space may be a "+").
    found = first_existing(storage, bucket, key_candidates(raw_key))
    if found is None:
        raise FileNotFoundError(f"s3://{bucket}/{raw_key} does not exist")
    reference = check_reference(
        storage,
        get_analyzer(),
        bucket,
        found[0],
        reference_prefix=settings.reference_prefix,
        analyzer_name=settings.analyzer,
        min_face_confidence=settings.face_min_confidence,
    )
    count("ReferencesUsable" if reference["status"] == "usable" else "ReferencesUnusable")
    log = logger.info if reference["status"] == "usable" else logger.warning
    log(
        "reference checked",
        extra={"key": reference["key"], "status": reference["status"], "code": reference.get("code")},
    )
    return reference
