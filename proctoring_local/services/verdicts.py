"""``proctoring review (DIR | s3://BUCKET)``: the verdicts a proctor has to look at.

Reads every result document under the results prefix, of a run folder or of the deployed bucket
(with the user's credentials), and lists the captures that need a person, ``ALERT_FINAL``,
``ALERT`` and ``ERROR``, student by student, each with its reasons in the document's own words.
``--references`` lists the reference photos that cannot be used instead (``services.reference_checks``).
``--csv FILE`` writes every document, whatever its status, as one row for a spreadsheet.
"""

from __future__ import annotations

import csv
import json
import os
import re
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from natsort import natsort_keygen, ns

from proctoring.errors import ObjectTooLarge
from proctoring_local.services.checks import UsageError
from proctoring_local.services.targets import READERS, Target, bucket_listing
from proctoring_local.services.terminal import as_cell, printable_key

if TYPE_CHECKING:
    from rich.console import Console

# Students and captures as people count them: s1, s2, s10 (not s1, s10, s2).
natural_order = natsort_keygen(alg=ns.IGNORECASE)

NEEDS_A_LOOK = ("ALERT_FINAL", "ALERT", "ERROR")
STATUSES = ("OK", *NEEDS_A_LOOK)
# A result document is a few kB; a file much larger under results/ is not one, and is not read.
MAX_DOCUMENT_BYTES = 1024 * 1024
CSV_COLUMNS = (
    "exam_id",
    "user_id",
    "capture",
    "status",
    "reason",
    "reasons",
    "alert_count",
    "similarity",
    "faces",
    "people",
    "objects_checked",
    "notification",
    "processed_at",
    "s3_input",
    "result",
    "details",
)
# A cell a spreadsheet would read as a formula (a capture named "=HYPERLINK(...)", say) is written
# as text: OWASP's advice against CSV injection.
# A spreadsheet runs a cell that starts with one of = + - @ as a formula; it splits cells on
# whichever separator its locale uses (',' or ';', or a tab), so a name may hold the start of a
# cell: a quote goes before such a character at the start and after any separator.
_FORMULA_AT_A_CELLS_START = re.compile(r"(^|[,;\t\r\n|])(?=[=+\-@\t\r])")


@dataclass(frozen=True)
class Verdict:
    """One result document, as a proctor reads it."""

    result: str  # the document's key
    exam_id: str
    user_id: str
    capture: str
    status: str
    document: dict[str, Any]

    @property
    def codes(self) -> list[str]:
        return [str(item.get("code", "")) for item in self.document.get("reasons") or []]

    @property
    def details(self) -> list[str]:
        return [str(detail) for detail in self.document.get("details") or []]

    @property
    def why(self) -> str:
        """The reasons' sentences (the details less the notes that hold for every capture alike)."""
        messages = [str(item.get("message", "")) for item in self.document.get("reasons") or []]
        return "\n".join(message for message in messages if message) or "\n".join(self.details) or self.status

    def capture_key(self, bucket: str) -> str | None:
        """The capture's key in ``bucket``, from the document's ``s3_input``."""
        s3_input = str(self.document.get("s3_input") or "")
        prefix = f"s3://{bucket}/"
        return s3_input.removeprefix(prefix) if s3_input.startswith(prefix) else None

    @property
    def objects_unchecked(self) -> bool:
        return (self.document.get("analysis") or {}).get("objects_checked") is False


def as_verdict(result: str, document: dict[str, Any]) -> Verdict:
    """``document`` read from ``result``; a key outside the convention has no exam or student, so
    the capture is named by its whole key."""
    s3_input = str(document.get("s3_input") or "")
    exam, user = document.get("exam_id"), document.get("user_id")
    capture = document.get("capture") if exam and user else None
    return Verdict(
        result=result,
        exam_id=str(exam or "(invalid key)"),
        user_id=str(user or ""),
        capture=str(capture or s3_input.split("/", 3)[-1] or result),
        status=str(document.get("status") or "?"),
        document=document,
    )


def folder_results(root: Path, results_prefix: str) -> Iterator[str]:
    """Keys of the documents under a run folder's results (hidden files, a write's staging copy
    say, left out)."""
    folder = root / results_prefix
    for path in sorted(folder.rglob("*.json")) if folder.is_dir() else []:
        relative = path.relative_to(root)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            yield relative.as_posix()


def bucket_results(client: Any, bucket: str, results_prefix: str) -> Iterator[str]:
    for item in bucket_listing(client, bucket, results_prefix):
        if item["Key"].endswith(".json"):
            yield item["Key"]


def read_verdicts(target: Target, keys: Iterator[str]) -> tuple[list[Verdict], list[str]]:
    """The documents at ``keys``, read ``READERS`` at once, and a line for each one that is not a
    result document (not JSON, not an object)."""

    def read(key: str) -> Verdict | str:
        try:
            document = json.loads(target.storage.read(target.bucket, key, max_bytes=MAX_DOCUMENT_BYTES))
        except FileNotFoundError:
            return f"{key}: deleted while the review read it"
        except ObjectTooLarge as exc:
            return f"{key}: {exc.size / 1048576:.1f} MB, not a result document (they are a few kB): not read"
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return f"{key}: not JSON ({exc})"
        if not isinstance(document, dict) or "status" not in document:
            return f"{key}: not a result document (no status)"
        return as_verdict(key, document)

    with ThreadPoolExecutor(max_workers=READERS) as pool:
        answers = list(pool.map(read, keys))
    verdicts = sorted(
        (answer for answer in answers if isinstance(answer, Verdict)),
        key=lambda verdict: natural_order((verdict.exam_id, verdict.user_id, verdict.capture)),
    )
    return verdicts, [answer for answer in answers if isinstance(answer, str)]


def csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return _FORMULA_AT_A_CELLS_START.sub(r"\1'", text)


def csv_row(verdict: Verdict) -> list[str]:
    document = verdict.document
    analysis = document.get("analysis") or {}
    values = {
        "exam_id": document.get("exam_id"),
        "user_id": document.get("user_id"),
        "capture": verdict.capture,
        "status": verdict.status,
        "reason": document.get("reason"),
        "reasons": ";".join(verdict.codes),
        "alert_count": document.get("alert_count"),
        "similarity": analysis.get("similarity"),
        "faces": analysis.get("face_count"),
        "people": analysis.get("person_count"),
        "objects_checked": analysis.get("objects_checked"),
        "notification": (document.get("notification") or {}).get("status"),
        "processed_at": document.get("processed_at"),
        "s3_input": document.get("s3_input"),
        "result": verdict.result,
        "details": " | ".join(verdict.details),
    }
    return [csv_cell(values[column]) for column in CSV_COLUMNS]


def write_csv(verdicts: list[Verdict], out: TextIO) -> None:
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_row(verdict) for verdict in verdicts)


def print_review(verdicts: list[Verdict], where: str, statuses: tuple[str, ...]) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console()
    if not verdicts:
        console.print(f"No result document in {escape(where)} yet.", soft_wrap=True)
        return
    shown = [verdict for verdict in verdicts if verdict.status in statuses]
    counts = {status: sum(verdict.status == status for verdict in verdicts) for status in STATUSES}
    console.print(
        f"{len(verdicts)} result document(s) in {escape(where)}: "
        + ", ".join(f"{count} {status}" for status, count in counts.items() if count),
        soft_wrap=True,
    )
    if not shown:
        console.print(f"None is {' or '.join(statuses)}: nothing to look at.")
        return
    exams = sorted({verdict.exam_id for verdict in shown})
    several_exams = len(exams) > 1
    where_shown = "" if several_exams else f" in {escape(exams[0])}"
    title = f"To look at{where_shown}: {' / '.join(statuses)}"
    if console.width < WIDE_TABLE:
        _print_blocks(console, title, shown, several_exams)
    else:
        _print_table(console, title, shown, several_exams)
    unchecked = sum(verdict.objects_unchecked for verdict in shown)
    if unchecked:
        console.print(
            f"Objects (phones, books) were not checked in {unchecked} of these: the offline analyzer has no "
            "object model (the documents say so too).",
            soft_wrap=True,
        )


# Below this many columns the reasons would wrap a few words a line beside the names: each capture is
# then a line of its own, its reasons indented below it on the whole width.
WIDE_TABLE = 110


def _print_blocks(console: Console, title: str, shown: list[Verdict], several_exams: bool) -> None:
    import textwrap

    console.print(title, style="bold", markup=False)
    previous = None
    for verdict in shown:
        if previous is not None and (verdict.exam_id, verdict.user_id) != previous:
            console.print()
        previous = (verdict.exam_id, verdict.user_id)
        count = verdict.document.get("alert_count")
        names = (verdict.exam_id, verdict.user_id) if several_exams else (verdict.user_id,)
        where = "/".join((*names, verdict.capture)) if verdict.user_id else verdict.capture  # a key out of place
        alert = "" if count is None else f" (alert {count})"
        console.print(printable_key(f"{where}  {verdict.status}{alert}"), markup=False, highlight=False, soft_wrap=True)
        for reason in map(printable_key, verdict.why.splitlines()):
            folded = textwrap.fill(reason, console.width - 1, initial_indent="    ", subsequent_indent="    ")
            console.print(folded, markup=False, highlight=False, soft_wrap=True)


def _print_table(console: Console, title: str, shown: list[Verdict], several_exams: bool) -> None:
    from rich.table import Table

    table = Table(title=title)
    for column in (*(("exam",) if several_exams else ()), "student", "capture", "status", "alert #"):
        # Names and keys fold rather than push the reason out of a narrow terminal.
        table.add_column(
            column,
            justify="right" if column == "alert #" else "left",
            no_wrap=column in ("status", "alert #"),
            overflow="fold",
        )
    table.add_column("why", ratio=1, overflow="fold")
    previous = None
    for verdict in shown:
        student = (verdict.exam_id, verdict.user_id)
        if previous is not None and student != previous:
            table.add_section()
        count = verdict.document.get("alert_count")
        names = (verdict.exam_id, verdict.user_id) if several_exams else (verdict.user_id,)
        table.add_row(
            *(as_cell(text) for text in (*names, verdict.capture, verdict.status)),
            "" if count is None else str(count),
            "\n".join(as_cell(line) for line in verdict.why.splitlines()),
        )
        previous = student
    console.print(table)


def write_file(path: str, text: str, encoding: str = "utf-8", *, owner_only: bool = False) -> None:
    """Write ``text`` to ``path``; ``owner_only`` makes a regular file readable by its owner alone,
    whatever the umask, and also when an earlier file of that name was readable by others."""
    try:
        if not owner_only:
            Path(path).write_text(text, encoding=encoding, newline="")
            return
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        # Not a device or a pipe (--html /dev/stdout): their modes are not this page's to change.
        if hasattr(os, "fchmod") and stat.S_ISREG(os.fstat(descriptor).st_mode):
            os.fchmod(descriptor, 0o600)
        with open(descriptor, "w", encoding=encoding, newline="") as out:
            out.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write {path} ({exc.strerror or exc})") from exc
