"""DecideVerdict: apply the verdict policy, count alerts, escalate, and build the result document.

Each judgement also keeps the capture's analysis (``proctoring.analyses``) for re-scores.

Idempotent (Powertools) per capture version, reference version, result key, analyzer and policy: a
duplicate event, a redrive or a second local run returns the stored verdict, so the document is
rewritten identically; a capture judged again after its reference, the analyzer or a threshold
changed gets a fresh verdict. Alerts are counted once per capture version either way (the alert history is keyed
on the capture alone).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from proctoring.alerts import get_alert_history
from proctoring.analyses import store_analysis
from proctoring.audit import get_audit_log, verdict_entry
from proctoring.config import Settings, get_settings, with_overrides
from proctoring.idempotency import ConfiguredPersistenceLayer, idempotency_config, once_per_payload, replay_counter
from proctoring.judgement import judge_capture
from proctoring.observability import about, count, logger, metrics, step_handler
from proctoring.payloads import ExecutionState, JudgedResult
from proctoring.policy import PolicyConfig
from proctoring.storage import get_storage
from proctoring.timeline import get_timeline

__all__ = ["lambda_handler", "metrics"]

persistence_layer = ConfiguredPersistenceLayer()
# With the result key in it, a capture processed after ResultsPrefix changed is written where results now go.
# A re-score's run is in it too: each run judges again (alerts are still counted once per capture).
once_per_judgement = idempotency_config(
    "[event.capture.idempotency_key, event.capture.reference.etag, event.capture.result_key, analyzer, policy,"
    " event.rescore.run]",
    on_replay=replay_counter(metrics, "VerdictsReplayed"),
)


@step_handler
def lambda_handler(event: ExecutionState, context: LambdaContext) -> JudgedResult:
    once_per_judgement.register_lambda_context(context)
    # A re-score may override the deployment's settings for its run (CheckRescoreRequest checked them).
    settings = with_overrides(get_settings(), event.get("policy_overrides"))
    capture = event["capture"]
    about(capture.get("exam_id"), capture.get("user_id"))
    policy = PolicyConfig.from_settings(settings)
    judgement = {"event": event, "analyzer": settings.analyzer, "policy": policy.fingerprint()}
    # This event's place among the key's uploads, not the stored verdict's: an upload whose bytes
    # match an earlier one's is judged as that one was, yet is the later upload (PersistResult).
    result = judge(judgement=judgement, settings=settings, policy=policy)
    # What was analysed is kept, so that a re-score judges it again without analysing it again.
    store_analysis(get_storage(), capture["bucket"], event, settings.analyzer)
    return {**result, "sequencer": capture.get("sequencer")}


@once_per_payload(data_keyword_argument="judgement", persistence_store=persistence_layer, config=once_per_judgement)
def judge(judgement: dict[str, Any], settings: Settings, policy: PolicyConfig) -> JudgedResult:
    """The verdict for one judgement (the idempotency payload); settings and policy are what it names."""
    result = judge_capture(judgement["event"], settings, policy, get_alert_history(), get_timeline())
    document = result["document"]
    get_audit_log(result["bucket"], settings).record(verdict_entry(document, settings, policy))
    count(f"Verdict{document['status'].title().replace('_', '')}")
    logger.info(
        "verdict",
        extra={"status": document["status"], "reason": document["reason"], "alert_count": document["alert_count"]},
    )
    return result
