"""What a run found, capture by capture, and the summary printed below it."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from proctoring_local.services.run.captures import CaptureOutcome, student_of
from proctoring_local.services.terminal import as_cell, printable_key
from proctoring_local.services.verdicts import NEEDS_A_LOOK, natural_order

STATUSES = ("OK", "ALERT", "ALERT_FINAL", "ERROR")


@dataclass
class RunReport:
    root: Path
    outcomes: list[CaptureOutcome] = field(default_factory=list)
    seconds: float = 0.0
    step_seconds: dict[str, float] = field(default_factory=dict)
    analyses_reused: int = 0  # captures whose analyses came from an earlier run (stand_ins.analysis_cache)
    workers: int = 1
    results_prefix: str = "results"
    images_prefix: str = "images/"
    reference_prefix: str = "reference/"

    @property
    def rate(self) -> float:
        """Images/s from the moment the first worker was ready (models loaded) to the last result."""
        return len(self.outcomes) / self.seconds if self.seconds else 0.0

    @property
    def complete(self) -> bool:
        return all(outcome.status in STATUSES for outcome in self.outcomes if outcome.execution != "NOT_MATCHED")

    @property
    def undelivered(self) -> list[CaptureOutcome]:
        """Documents the webhook never accepted (after every retry); each records why."""
        return [outcome for outcome in self.outcomes if outcome.undelivered]

    @property
    def failed(self) -> list[CaptureOutcome]:
        """Executions that ended FAILED: a step failed after its retries (not a verdict, not bad input)."""
        return [outcome for outcome in self.outcomes if outcome.execution == "FAILED"]

    def by_student(self) -> dict[tuple[str, str], Counter[str]]:
        table: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        for outcome in self.outcomes:
            student = student_of(outcome.key, self.images_prefix) or ("(invalid key)", "")
            table[student]["captures"] += 1
            table[student][outcome.status] += 1
        return dict(sorted(table.items(), key=lambda item: natural_order(item[0])))


def proctoring_command() -> str:
    """The ``proctoring`` command, as a user would type it: bare when the shell finds this very one
    (an activated venv), else its path (``.venv/bin/proctoring`` from the project's folder, what
    ``make demo`` made): a bare ``proctoring`` may be another install, or none."""
    installed = Path(sys.executable).with_name("proctoring")
    if not installed.exists():  # not installed (a checkout run with python -m proctoring_local)
        return f"{shlex.quote(sys.executable)} -m proctoring_local"
    found = shutil.which("proctoring")
    if found and Path(found).resolve() == installed.resolve():
        return "proctoring"
    relative = os.path.relpath(installed)
    return shlex.quote(relative if not relative.startswith("..") else str(installed))


SHOWN = 20  # names listed below the table before the rest is only counted


def and_more(count: int, what: str = "") -> str:
    """``"and 5 more <what>"`` for the items past the first SHOWN, or ``""`` when all were shown."""
    return f"and {count - SHOWN} more {what}".rstrip() if count > SHOWN else ""


def missing_reference_lines(report: RunReport) -> list[str]:
    """Students judged without a reference, and any reference file that differs only in case or
    has a format references may not have."""
    from proctoring.keys import REFERENCE_EXTENSIONS

    students = sorted(
        {
            student[1]
            for outcome in report.outcomes
            if "REFERENCE_MISSING" in outcome.codes and (student := student_of(outcome.key, report.images_prefix))
        },
        key=natural_order,
    )
    if not students:
        return []
    folder = report.root / report.reference_prefix
    by_folded_stem: dict[str, list[Path]] = defaultdict(list)
    for path in folder.iterdir() if folder.is_dir() else []:
        if path.is_file():
            by_folded_stem[path.stem.casefold()].append(path)
    where = f"{folder}"
    if not folder.is_dir():
        where += " (a file, not a folder)" if folder.exists() else " (there is no such folder)"
    lines = [f"No reference photo in {where} for {len(students)} student(s): {', '.join(students[:SHOWN])}"]
    if more := and_more(len(students)):
        lines[0] += f" {more}"
    for name in students:
        for path in by_folded_stem.get(name.casefold(), []):
            if path.suffix not in REFERENCE_EXTENSIONS:
                lines.append(f"  {path.name} is there, but a reference must be a .jpg, .jpeg or .png file")
            elif path.stem != name:
                lines.append(f"  {path.name} is there, but ids are case-sensitive: name it {name}{path.suffix}")
    return lines


def unusable_reference_lines(report: RunReport) -> list[str]:
    """Students whose reference photo exists but cannot be used, each with what is wrong with it."""
    problems: dict[str, str] = {}
    for outcome in report.outcomes:
        if outcome.reference_problem and (student := student_of(outcome.key, report.images_prefix)):
            problems.setdefault(student[1], outcome.reference_problem)
    if not problems:
        return []
    return (
        [f"Reference photo unusable for {len(problems)} student(s):"]
        + [f"  {student}: {problem}" for student, problem in sorted(problems.items())[:SHOWN]]
        + ([f"  {more}"] if (more := and_more(len(problems))) else [])
    )


def review_command(report: RunReport) -> str:
    """The command that explains this run's alerts. review reads the prefixes from the environment
    as the runner does, so a run under other prefixes (the menu's what-if run writes its own results
    folder) names them, or review would read another run's documents."""
    from proctoring.config import Settings

    defaults = Settings()
    prefixes = {
        "IMAGES_PREFIX": (report.images_prefix, defaults.images_prefix),
        "REFERENCE_PREFIX": (report.reference_prefix, defaults.reference_prefix),
        "RESULTS_PREFIX": (report.results_prefix, defaults.results_prefix),
    }
    settings = [
        f"{name}={shlex.quote(value.strip('/'))}"
        for name, (value, default) in prefixes.items()
        if value != default  # both normalised by Settings, with their trailing slash
    ]
    return " ".join([*settings, proctoring_command(), "review", shlex.quote(str(report.root))])


def print_summary(report: RunReport, *, name_missing_references: bool = True) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Proctoring results", show_lines=False)
    table.add_column("exam")
    table.add_column("student")
    # Captures without a verdict get their own columns, when there are any, so that every row adds up.
    unjudged = {"MISSING": "missing", "NOT_MATCHED": "unmatched"}
    present = {outcome.status for outcome in report.outcomes}
    columns = {"captures": "captures", **{status: status for status in STATUSES}}
    columns.update({status: title for status, title in unjudged.items() if status in present})
    for title in columns.values():
        table.add_column(title, justify="right")
    totals: Counter[str] = Counter()
    for (exam, student), counts in report.by_student().items():
        totals.update(counts)
        table.add_row(as_cell(exam), as_cell(student), *(str(counts.get(column, 0)) for column in columns))
    table.add_section()
    table.add_row("total", "", *(str(totals.get(column, 0)) for column in columns))
    console = Console()
    console.print(table)
    rate, count = report.rate, len(report.outcomes)
    console.print(
        f"{count} capture{'s' if count != 1 else ''} in {report.seconds:.1f} s ({rate:.2f} images/s, "
        f"{report.workers} worker{'s' if report.workers > 1 else ''})"
    )
    if report.analyses_reused:
        console.print(
            f"{report.analyses_reused} capture(s) unchanged since an earlier run reused its analyses "
            "(a replaced reference is still compared again; "
            "`proctoring run DIR --reanalyse` analyses everything again)"
        )

    def name_some(lines: list[str], what: str) -> None:
        for line in lines[:SHOWN]:
            console.print(printable_key(line.rstrip()), markup=False)
        if more := and_more(len(lines), what):
            console.print(f"... {more}")

    name_some([f"execution FAILED for {o.key}: {o.reason}" for o in report.failed], "FAILED executions")
    if report.failed:
        console.print(f"{len(report.failed)} execution(s) FAILED after retries; their ERROR documents say why.")
    name_some(
        [f"webhook delivery failed for {o.key}: {o.undelivered}" for o in report.undelivered], "failed deliveries"
    )
    if any(o.undelivered.endswith(("HTTP 401", "HTTP 403")) for o in report.undelivered):
        console.print("The receiver refused the signature: does it use the same secret as --webhook-secret?")
    missing = [outcome for outcome in report.outcomes if outcome.status == "MISSING"]
    name_some(
        [f"no result document for {o.key}: {o.execution} {o.reason}" for o in missing], "without a result document"
    )
    reference_lines = [*missing_reference_lines(report), *unusable_reference_lines(report)]
    for line in reference_lines if name_missing_references else []:
        console.print(printable_key(line), markup=False, soft_wrap=True)  # paths stay whole, to copy
    unmatched = [outcome for outcome in report.outcomes if outcome.execution == "NOT_MATCHED"]
    if unmatched:
        console.print(f"{len(unmatched)} file(s) not matched by the upload rule, not processed.")
    console.print(printable_key(f"Results: {report.root / report.results_prefix.strip('/')}"), markup=False)

    to_look_at = sum(outcome.status in NEEDS_A_LOOK for outcome in report.outcomes)
    if to_look_at:
        command = review_command(report)
        line = f"Why each of the {to_look_at} alert(s) and error(s): {command}"
        console.print(printable_key(line), markup=False, soft_wrap=True)
