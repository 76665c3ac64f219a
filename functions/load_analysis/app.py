"""LoadAnalysis: one capture of a re-score, with its stored analysis and what must be done again."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from proctoring.analysis import get_analyzer
from proctoring.config import get_settings
from proctoring.enrolment import check_reference
from proctoring.observability import about, count, metrics, step_handler
from proctoring.rescore import item_state
from proctoring.storage import get_storage

__all__ = ["lambda_handler", "metrics"]


@step_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings, storage = get_settings(), get_storage()
    bucket = event["bucket"]

    def check(reference_key: str) -> Any:  # a reference never checked yet: as CheckReference does
        return check_reference(
            storage,
            get_analyzer(),
            bucket,
            reference_key,
            reference_prefix=settings.reference_prefix,
            analyzer_name=settings.analyzer,
            min_face_confidence=settings.face_min_confidence,
        )

    state = item_state(storage, bucket, event["key"], settings, event["request"], check)
    if state.get("skip"):
        count("RescoreSkipped")
        return state
    about(state["capture"].get("exam_id"), state["capture"].get("user_id"))
    count({"reuse": "AnalysesReused", "compare": "ComparisonsRepeated", "analyse": "AnalysesRepeated"}[state["plan"]])
    return {**state, "settings": {"webhook_enabled": event["webhook_enabled"]}}
