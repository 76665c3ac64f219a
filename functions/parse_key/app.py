"""ParseKey: turn the S3 "Object Created" event into the capture this execution is about, with the
student's reference photo and its stored check."""

from __future__ import annotations

from aws_lambda_powertools.utilities.data_classes import S3EventBridgeNotificationEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from proctoring.config import get_settings
from proctoring.locate import locate_capture, uploaded_object
from proctoring.observability import about, count, logger, metrics, step_handler
from proctoring.payloads import Capture
from proctoring.storage import get_storage

__all__ = ["lambda_handler", "metrics"]


@step_handler
@event_source(data_class=S3EventBridgeNotificationEvent)
def lambda_handler(event: S3EventBridgeNotificationEvent, context: LambdaContext) -> Capture:
    settings = get_settings()
    bucket, obj = uploaded_object(event.raw_event.get("detail"), settings.capture_bucket)
    capture = locate_capture(
        get_storage(),
        bucket,
        obj["key"],  # raw: the typed event's `.key` already URL-decodes, which loses a literal "+"
        etag=obj.get("etag"),
        version_id=obj.get("version-id"),
        size=obj.get("size"),
        settings=settings,
        sequencer=obj.get("sequencer"),
    )
    if "rejection" not in capture:
        capture["captured_at"] = event.raw_event.get("time")  # when S3 finished the upload
    count("CapturesReceived")  # against PersistResult's ResultsWritten: did every upload get its document?
    if "rejection" in capture:
        logger.warning("capture rejected", extra={"key": capture["key"], "code": capture["rejection"]["code"]})
        count("CapturesRejected")
    else:
        about(capture["exam_id"], capture["user_id"])
        reference = capture.get("reference")
        logger.info("capture located", extra={"reference": reference["status"] if reference else "missing"})
    return capture
