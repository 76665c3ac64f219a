"""``proctoring review (DIR | s3://BUCKET) --references``: which students' reference photos
cannot be used, and why, before the exam.

Each reference's check is the one the pipeline stores beside it (``reference-checks/``, see
``proctoring.references``). In a run folder, a photo with no check for its current content is
checked here, by the same code as the CheckReference step, with the offline analyzer (or
``--analyzer rekognition``). On a bucket nothing is analysed: the enrolment rule checks each upload;
a photo listed as unchecked was uploaded before the stack existed, or its check failed (the
dead-letter queue has it), and its student's first capture checks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from proctoring.keys import REFERENCE_EXTENSIONS
from proctoring_local.services.targets import Target, bucket_listing
from proctoring_local.services.terminal import as_cell, printable_key


@dataclass(frozen=True)
class ReferenceRow:
    key: str
    status: str  # usable, unusable, unchecked
    code: str
    reason: str


def reference_infos(target: Target, reference_prefix: str) -> list[Any]:
    """The reference photos under the prefix (ObjectInfo each), by key."""
    from proctoring.storage import ObjectInfo

    infos: list[ObjectInfo | None]
    if target.on_s3:
        listed = bucket_listing(target.s3, target.bucket, reference_prefix)
        infos = [
            ObjectInfo(item["Key"], item["Size"], (item.get("ETag") or "").strip('"') or None)
            for item in listed
            if item["Key"].lower().endswith(REFERENCE_EXTENSIONS)
        ]
    else:
        assert target.root is not None
        folder = target.root / reference_prefix
        paths = sorted(path for path in folder.rglob("*") if path.is_file()) if folder.is_dir() else []
        keys = [path.relative_to(target.root).as_posix() for path in paths]
        infos = [target.storage.head(target.bucket, key) for key in keys if key.lower().endswith(REFERENCE_EXTENSIONS)]
    return sorted((info for info in infos if info is not None), key=lambda info: info.key)


def reference_rows(
    target: Target, reference_prefix: str, analyzer: Any | None, analyzer_name: str
) -> list[ReferenceRow]:
    """Every reference with its check; ``analyzer`` given: the unchecked ones are checked (and the
    checks stored) with it."""
    from proctoring.enrolment import check_reference
    from proctoring.references import stored_check

    rows = []
    for info in reference_infos(target, reference_prefix):
        state: Any = stored_check(
            target.storage, target.bucket, info, reference_prefix=reference_prefix, analyzer=analyzer_name
        )
        if state["status"] == "unchecked" and analyzer is not None:
            state = check_reference(
                target.storage,
                analyzer,
                target.bucket,
                info.key,
                reference_prefix=reference_prefix,
                analyzer_name=analyzer_name,
            )
        rows.append(ReferenceRow(info.key, state["status"], state.get("code", ""), state.get("reason", "")))
    return rows


def print_references(rows: list[ReferenceRow], where: str) -> None:
    from rich.console import Console
    from rich.table import Table

    counts = {status: sum(row.status == status for row in rows) for status in ("usable", "unusable", "unchecked")}
    console = Console()
    listed = ", ".join(f"{n} {s}" for s, n in counts.items())
    console.print(printable_key(f"{len(rows)} reference photo(s) in {where}: {listed}"), markup=False)
    to_show = [row for row in rows if row.status != "usable"]
    if not to_show:
        return
    table = Table(show_lines=False)
    for column in ("reference", "status", "why"):
        table.add_column(column)
    for row in to_show:
        why = f"{row.code}: {row.reason}" if row.code else row.reason or "no check for this photo yet"
        table.add_row(as_cell(row.key), as_cell(row.status), as_cell(why))
    console.print(table)
    console.print("Replace an unusable photo (same name) and it is checked again on upload.")


def local_analyzer(kind: str) -> Any:
    from proctoring.analysis import create_analyzer
    from proctoring.config import Settings

    return create_analyzer(kind, Settings.from_env().face_min_confidence)


def run_references(target: Target, reference_prefix: str, analyzer_kind: str) -> int:
    if target.on_s3:
        # The checks the deployment made, with Rekognition; nothing is analysed from here.
        rows = reference_rows(target, reference_prefix, None, "rekognition")
    else:
        rows = reference_rows(target, reference_prefix, local_analyzer(analyzer_kind), analyzer_kind)
    print_references(rows, target.text)
    return 0
