"""How often the verdicts are wrong on the labelled set, and whether that is within the goals."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from proctoring_local.services.accuracy.cases import Case

GENUINE = ("genuine", "glance")
# Categories that must alert, and the reason each must give.
MUST_ALERT = ("impostor", "no_face", "two_faces", "person_behind", "turned_away")
# The goals: at most this share of genuine captures alerted, and no capture that must alert passed.
MAX_FALSE_ALERT_RATE = 0.02
QUALITY_AND_POSE = ("LOW_QUALITY", "LOOKING_AWAY")


@dataclass
class Judged:
    case: Case
    status: str
    reason: str  # the most serious reason given, "" for OK
    codes: tuple[str, ...]
    document: dict[str, Any] = field(repr=False)

    @property
    def alerted(self) -> bool:
        return self.status != "OK"

    @property
    def wrong(self) -> bool:
        """A genuine capture alerted, or a capture that must alert passed or gave another reason."""
        if self.case.category == "three_quarter":
            return False  # either verdict stands: reported apart
        if self.case.expected == "OK":
            return self.alerted
        return self.case.expected not in self.codes


@dataclass
class Score:
    judged: list[Judged]

    def of(self, *categories: str) -> list[Judged]:
        return [item for item in self.judged if item.case.category in categories]

    def false_alerts_by_reason(self) -> Counter[str]:
        """Genuine captures alerted, counted under every reason each was given."""
        counts: Counter[str] = Counter()
        for item in self.of(*GENUINE):
            counts.update(item.codes if item.alerted else ())
        return counts

    def false_alert_rate(self) -> float:
        genuine = self.of(*GENUINE)
        return sum(item.alerted for item in genuine) / len(genuine) if genuine else 0.0

    def misses(self, category: str) -> tuple[int, int, int]:
        """(passed as OK, alerted for another reason, total) for a category that must alert."""
        items = self.of(category)
        passed = sum(not item.alerted for item in items)
        other = sum(item.alerted and item.case.expected not in item.codes for item in items)
        return passed, other, len(items)

    def confusion(self) -> dict[str, Counter[str]]:
        """Expected verdict against the verdict's main reason (OK where there is none)."""
        table: dict[str, Counter[str]] = defaultdict(Counter)
        for item in self.judged:
            table[item.case.expected][item.reason or item.status] += 1
        return dict(table)

    def goal_problems(self) -> list[str]:
        """Each goal the set does not meet, in words; empty when all are met."""
        problems = []
        rate = self.false_alert_rate()
        if rate > MAX_FALSE_ALERT_RATE:
            problems.append(f"false alerts on genuine captures: {rate:.1%}, over {MAX_FALSE_ALERT_RATE:.0%}")
        for reason in QUALITY_AND_POSE:
            if count := self.false_alerts_by_reason()[reason]:
                problems.append(f"{count} genuine capture(s) alerted for {reason}; the goal is none")
        for category in MUST_ALERT:
            passed, _other, total = self.misses(category)
            if passed:
                problems.append(f"{passed} of {total} {category} capture(s) passed as OK; the goal is none")
        return problems


def judge(cases: list[Case], documents: dict[str, dict[str, Any]]) -> Score:
    """Pair each case with its result document (a case without one counts as an ERROR)."""
    judged = []
    for case in cases:
        document = documents.get(case.key) or {"status": "ERROR", "reason": "NO_DOCUMENT", "reasons": []}
        codes = tuple(str(reason.get("code", "")) for reason in document.get("reasons") or [])
        judged.append(Judged(case, str(document["status"]), str(document.get("reason") or ""), codes, document))
    return Score(judged)


def report_lines(score: Score, analyzer: str) -> list[str]:
    genuine = score.of(*GENUINE)
    lines = [
        f"analyzer: {analyzer}",
        f"false alerts on genuine captures: {sum(i.alerted for i in genuine)} of {len(genuine)} "
        f"({score.false_alert_rate():.1%}; goal <= {MAX_FALSE_ALERT_RATE:.0%})",
    ]
    by_reason = score.false_alerts_by_reason()
    lines += [f"  {reason:<16} {count:>3} ({count / len(genuine):.1%})" for reason, count in by_reason.most_common()]
    glances = score.of("glance")
    if glances:
        lines.append(f"  of which head turns of 25 to 35 degrees: {sum(i.alerted for i in glances)} of {len(glances)}")
    undocumented = score.of("three_quarter")
    if undocumented:
        reasons = Counter(code for item in undocumented for code in item.codes)
        lines.append(
            f"three-quarter views (not scored): {sum(i.alerted for i in undocumented)} of "
            f"{len(undocumented)} alerted ({', '.join(f'{code} {n}' for code, n in reasons.most_common()) or 'none'})"
        )
    lines.append("captures that must alert:")
    for category in MUST_ALERT:
        passed, other, total = score.misses(category)
        if total:
            lines.append(
                f"  {category:<14} missed (passed as OK) {passed} of {total} ({passed / total:.0%}); "
                f"alerted for another reason {other}"
            )
    confusion = score.confusion()
    columns = sorted({given for row in confusion.values() for given in row}, key=lambda name: (name != "OK", name))
    lines.append("confusion: expected (rows) against the verdict's main reason (columns)")
    lines.append("  " + " " * 15 + "".join(f"{name[:14]:>15}" for name in columns))
    for expected in sorted(confusion, key=lambda name: (name != "OK", name)):
        row = confusion[expected]
        lines.append(f"  {expected:<15}" + "".join(f"{row.get(name, 0):>15}" for name in columns))
    return lines
