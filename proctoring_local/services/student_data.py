"""Everything held about one student, on a run folder or the deployed stack: found once, then
exported (GDPR Art. 15) or erased (Art. 17).

What is found: the captures, reference photo and its check, analyses, result documents and
decision documents (every S3 version and delete marker), the alert history and timeline items,
the idempotency records whose stored answer names the student's keys, and locally the rows of the
run folder's SQLite files. The audit record is not part of it: it is kept on its own retention
(Art. 17(3)(b)); an erasure adds its receipt there.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import zipfile
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from proctoring_local.services.checks import UsageError
from proctoring_local.services.targets import Target

PER_EXAM = ("images", "results", "analyses", "decisions")  # prefix kinds laid out {exam}/{student}/


@dataclass
class Found:
    student: str
    exams: list[str]
    objects: list[tuple[str, str | None]] = field(default_factory=list)  # (key, version id); None: a folder's file
    items: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (table, key) of DynamoDB items
    rows: list[tuple[str, str, str, tuple[Any, ...]]] = field(default_factory=list)  # (file, table, where, args)

    def counts(self) -> dict[str, int]:
        return {"objects": len(self.objects), "table_items": len(self.items), "sqlite_rows": len(self.rows)}


def prefixes(settings: Any) -> dict[str, str]:
    from proctoring.decisions import DECISIONS_PREFIX

    return {
        "images": settings.images_prefix,
        "results": settings.results_prefix,
        "analyses": "analyses/",
        "decisions": DECISIONS_PREFIX,
    }


def reference_keys(student: str, settings: Any) -> list[str]:
    from proctoring.keys import REFERENCE_EXTENSIONS
    from proctoring.references import check_key

    photos = [f"{settings.reference_prefix}{student}{ext}" for ext in REFERENCE_EXTENSIONS]
    return photos + [check_key(photo, settings.reference_prefix) for photo in photos]


def student_markers(student: str, exams: list[str], settings: Any, with_reference: bool) -> list[str]:
    """Key prefixes that name the student: a stored record mentioning one is about them."""
    markers = [f"{prefix}{exam}/{student}/" for exam in exams for prefix in prefixes(settings).values()]
    return markers + (reference_keys(student, settings) if with_reference else [])


def _check_id(text: str, what: str) -> str:
    if not text or "/" in text or text in {".", ".."}:
        raise UsageError(f"{what} must be one segment of a capture's key, got {text!r}")
    return text


def find(target: Target, student: str, exam: str | None, settings: Any) -> Found:
    _check_id(student, "--student")
    if exam is not None:
        _check_id(exam, "--exam")
    exams = [exam] if exam else sorted(_exams(target, student, settings))
    found = Found(student, exams)
    keys = [f"{prefix}{name}/{student}/" for name in exams for prefix in prefixes(settings).values()]
    exact = [] if exam else reference_keys(student, settings)
    if target.on_s3:
        for prefix in keys:
            found.objects.extend(_versions(target, prefix))
        for key in exact:
            found.objects.extend(version for version in _versions(target, key) if version[0] == key)
        _find_items(target, found, student, exams, settings, with_reference=exam is None)
    else:
        assert target.root is not None
        root = target.root
        for prefix in keys:
            folder = root / prefix
            if folder.is_dir():
                found.objects.extend(
                    (path.relative_to(root).as_posix(), None) for path in sorted(folder.rglob("*")) if path.is_file()
                )
        found.objects.extend((key, None) for key in exact if (root / key).is_file())
        _find_rows(root, found, student, exams, settings, with_reference=exam is None)
    return found


def _exams(target: Target, student: str, settings: Any) -> set[str]:
    """The exams with anything of the student under any per-exam prefix."""
    exams: set[str] = set()
    for prefix in prefixes(settings).values():
        if target.on_s3:
            pages = target.s3.get_paginator("list_objects_v2").paginate(
                Bucket=target.bucket, Prefix=prefix, Delimiter="/"
            )
            names = [p["Prefix"][len(prefix) :].rstrip("/") for page in pages for p in page.get("CommonPrefixes", [])]
            for name in names:
                listed = target.s3.list_object_versions(
                    Bucket=target.bucket, Prefix=f"{prefix}{name}/{student}/", MaxKeys=1
                )
                if listed.get("Versions") or listed.get("DeleteMarkers"):
                    exams.add(name)
        else:
            assert target.root is not None
            folder = target.root / prefix
            if folder.is_dir():
                exams.update(path.name for path in folder.iterdir() if (path / student).is_dir())
    return exams


def _versions(target: Target, prefix: str) -> Iterator[tuple[str, str | None]]:
    for page in target.s3.get_paginator("list_object_versions").paginate(Bucket=target.bucket, Prefix=prefix):
        for version in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            yield version["Key"], version["VersionId"]


def _names_student(data: Any, markers: list[str]) -> bool:
    if not data:
        return False
    try:
        text = json.dumps(json.loads(data), ensure_ascii=False)
    except (TypeError, ValueError):
        text = str(data)
    return any(marker in text for marker in markers)


def _find_items(
    target: Target, found: Found, student: str, exams: list[str], settings: Any, with_reference: bool
) -> None:
    if not settings.alert_table or not settings.idempotency_table:
        raise UsageError(
            "set ALERT_TABLE and IDEMPOTENCY_TABLE (the stack's outputs AlertHistoryTableName and "
            "IdempotencyTableName) so that the student's table items are found too"
        )
    import boto3

    dynamodb = boto3.client("dynamodb")
    for exam in exams:
        for pk in (f"{exam}/{student}", f"{exam}/{student}#timeline"):
            item_key = {"pk": {"S": pk}}
            if "Item" in dynamodb.get_item(TableName=settings.alert_table, Key=item_key, ConsistentRead=True):
                found.items.append((settings.alert_table, item_key))
    markers = student_markers(student, exams, settings, with_reference)
    for page in dynamodb.get_paginator("scan").paginate(TableName=settings.idempotency_table):
        for item in page.get("Items", []):
            if _names_student((item.get("data") or {}).get("S"), markers):
                found.items.append((settings.idempotency_table, {"id": item["id"]}))


def _find_rows(root: Path, found: Found, student: str, exams: list[str], settings: Any, with_reference: bool) -> None:
    state, cache = root / ".proctoring" / "state.sqlite3", root / ".proctoring" / "analyses.sqlite3"
    markers = student_markers(student, exams, settings, with_reference)
    if state.exists():
        with closing(sqlite3.connect(state)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            for table in ("alert_captures", "timeline"):
                if table in tables:
                    for exam in exams:
                        for (rowid,) in db.execute(
                            f"SELECT rowid FROM {table} WHERE exam_id = ? AND user_id = ?",  # noqa: S608 - fixed names
                            (exam, student),
                        ):
                            found.rows.append((str(state), table, "rowid = ?", (rowid,)))
            if "idempotency" in tables:
                for row_id, data in db.execute("SELECT id, data FROM idempotency"):
                    if _names_student(data, markers):
                        found.rows.append((str(state), "idempotency", "id = ?", (row_id,)))
    if cache.exists():
        with closing(sqlite3.connect(cache)) as db:
            for rowid, key in db.execute("SELECT rowid, capture_key FROM analyses"):
                if any(key.startswith(marker) or key == marker for marker in markers):
                    found.rows.append((str(cache), "analyses", "rowid = ?", (rowid,)))


# -- access -------------------------------------------------------------------------------------
def export(target: Target, found: Found, out: Path, settings: Any) -> int:
    """Write ``out`` (a zip): every object version, table item and row found, the audit entries
    about the student, and a manifest. The number of files in it."""
    from proctoring.audit import EXAMS

    written = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, version in found.objects:
            if target.on_s3:
                try:
                    body = target.s3.get_object(Bucket=target.bucket, Key=key, VersionId=version)["Body"].read()
                except target.s3.exceptions.ClientError:
                    continue  # a delete marker: no body
                archive.writestr(f"objects/{key}/{version}", body)
            else:
                assert target.root is not None
                archive.write(target.root / key, f"objects/{key}")
            written += 1
        tables: dict[str, list[Any]] = {}
        if target.on_s3:
            import boto3

            dynamodb = boto3.client("dynamodb")
            for table, item_key in found.items:
                tables.setdefault(table, []).append(dynamodb.get_item(TableName=table, Key=item_key).get("Item"))
        for path, table, where, args in found.rows:
            with closing(sqlite3.connect(path)) as db:
                db.row_factory = sqlite3.Row
                row = db.execute(f"SELECT * FROM {table} WHERE {where}", args).fetchone()  # noqa: S608 - fixed names
                tables.setdefault(f"{Path(path).name}:{table}", []).append(dict(row) if row else None)
        for name, rows in tables.items():
            archive.writestr(f"tables/{name.replace(':', '/')}.json", json.dumps(rows, indent=2, ensure_ascii=False))
            written += 1
        audit = audit_log(target, settings)
        for exam in found.exams:
            for key in audit.storage.list_keys(audit.bucket, f"{EXAMS}{exam}/{found.student}/"):
                archive.writestr(f"audit/{key}", audit.storage.read(audit.bucket, key))
                written += 1
        manifest = {
            "student": found.student,
            "exams": found.exams,
            "source": target.text,
            "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **found.counts(),
        }
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
    return written + 1


# -- erasure ------------------------------------------------------------------------------------
def erase(target: Target, found: Found, by: str, exam: str | None, settings: Any) -> dict[str, Any]:
    """Remove everything found; write the receipt to the audit record and return it."""
    from proctoring.audit import operation_entry

    if target.on_s3:
        batch = [{"Key": key, "VersionId": version} for key, version in found.objects]
        for start in range(0, len(batch), 1000):
            answer = target.s3.delete_objects(Bucket=target.bucket, Delete={"Objects": batch[start : start + 1000]})
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise UsageError(f"S3 refused to delete {first['Key']}: {first['Code']}: {first['Message']}")
        if found.items:
            import boto3

            dynamodb = boto3.client("dynamodb")
            for table, item_key in found.items:
                dynamodb.delete_item(TableName=table, Key=item_key)
    else:
        assert target.root is not None
        for key, _ in found.objects:
            (target.root / key).unlink(missing_ok=True)
        _remove_empty_folders(target.root, found, settings)
        by_file: dict[str, list[tuple[str, str, tuple[Any, ...]]]] = {}
        for path, table, where, args in found.rows:
            by_file.setdefault(path, []).append((table, where, args))
        for path, deletions in by_file.items():
            with closing(sqlite3.connect(path)) as db:
                with db:
                    for table, where, args in deletions:
                        db.execute(f"DELETE FROM {table} WHERE {where}", args)  # noqa: S608 - fixed names
                db.execute("VACUUM")  # no deleted row left readable in a free page
    receipt = operation_entry(
        "erasure",
        by,
        {"student": found.student, "exams": found.exams, "whole_student": exam is None, **found.counts()},
        exam_id=exam,
    )
    receipt["user_id"] = found.student if exam else None
    audit_log(target, settings).record({k: v for k, v in receipt.items() if v is not None})
    return receipt


def _remove_empty_folders(root: Path, found: Found, settings: Any) -> None:
    for exam in found.exams:
        for prefix in prefixes(settings).values():
            for folder in (root / prefix / exam / found.student, root / prefix / exam):
                with contextlib.suppress(OSError):  # not empty (other students), or not there
                    folder.rmdir()


def audit_log(target: Target, settings: Any) -> Any:
    from proctoring.audit import AuditLog

    if target.on_s3:
        if not settings.audit_bucket:
            raise UsageError("set AUDIT_BUCKET (the stack's output AuditBucketName): the audit record is kept there")
        return AuditLog(target.storage, settings.audit_bucket)
    return AuditLog(target.storage, target.bucket)


def caller(target: Target) -> str:
    """Who runs the command: the AWS identity's ARN on a bucket, the login name on a folder."""
    if target.on_s3:
        import boto3

        return str(boto3.client("sts").get_caller_identity()["Arn"])
    import getpass

    return getpass.getuser()
