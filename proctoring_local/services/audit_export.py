"""``proctoring audit``: an exam's audit record as one CSV row per entry, oldest first."""

from __future__ import annotations

import csv
from typing import Any, TextIO

from proctoring_local.services.verdicts import csv_cell

AUDIT_COLUMNS = (
    "at",
    "kind",
    "exam_id",
    "user_id",
    "capture",
    "status",
    "reasons",
    "decision",
    "decided_by",
    "decision_reason",
    "standing_alerts",
    "by",
    "analyzer",
    "rules_version",
    "id",
)


def audit_row(entry: dict[str, Any]) -> list[str]:
    decision = entry.get("decision") or {}
    values = {
        **{column: entry.get(column) for column in AUDIT_COLUMNS},
        "status": entry.get("status") or entry.get("system_status"),
        "reasons": " ".join(str(reason.get("code")) for reason in entry.get("reasons") or []),
        "decision": decision.get("action"),
        "decided_by": decision.get("by"),
        "decision_reason": decision.get("reason"),
    }
    return [csv_cell(values[column]) for column in AUDIT_COLUMNS]


def write_audit_csv(entries: list[dict[str, Any]], out: TextIO) -> None:
    writer = csv.writer(out)
    writer.writerow(AUDIT_COLUMNS)
    ordered = sorted(entries, key=lambda entry: (str(entry.get("at") or ""), str(entry.get("id"))))
    writer.writerows(audit_row(entry) for entry in ordered)
