"""ParseKey: turn the S3 "Object Created" event into the capture this execution is about."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3EventBridgeNotificationEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from proctoring.config import get_settings
from proctoring.locate import locate_capture, uploaded_object
from proctoring.storage import get_storage

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_source(data_class=S3EventBridgeNotificationEvent)
def lambda_handler(event: S3EventBridgeNotificationEvent, context: LambdaContext) -> dict[str, Any]:
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
    # Against PersistResult's ResultsWritten: did every upload get its document?
    metrics.add_metric(name="CapturesReceived", unit=MetricUnit.Count, value=1)
    if "rejection" in capture:
        logger.warning("capture rejected", extra={"key": capture["key"], "code": capture["rejection"]["code"]})
        metrics.add_metric(name="CapturesRejected", unit=MetricUnit.Count, value=1)
    else:
        logger.append_keys(exam_id=capture["exam_id"], user_id=capture["user_id"])
        logger.info("capture located", extra={"has_reference": capture["reference_key"] is not None})
    return capture
