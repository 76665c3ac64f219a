"""``proctoring audit``, ``erase`` and ``export``: the audit record, and a student's rights over
their data (GDPR Art. 15 and 17), on a run folder or the deployed stack."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from proctoring_local.commands.options import Commands
from proctoring_local.services.audit_export import write_audit_csv
from proctoring_local.services.checks import UsageError
from proctoring_local.services.student_data import audit_log, caller, erase, export, find
from proctoring_local.services.targets import aws_refusals, open_target
from proctoring_local.services.terminal import printable_key
from proctoring_local.services.verdicts import write_file


def _target(args: argparse.Namespace, command: str):  # type: ignore[no-untyped-def]
    from proctoring.config import Settings

    settings = Settings.from_env()
    return open_target(args.target, command, settings.images_prefix), settings


def cmd_audit(args: argparse.Namespace) -> int:
    target, settings = _target(args, "audit")
    with aws_refusals(f"reading the audit record of {target.text}"):
        entries = list(audit_log(target, settings).entries(args.exam))
    if not entries:
        raise UsageError(f"no audit entry for exam {args.exam!r} in {target.text}")
    text = io.StringIO()
    write_audit_csv(entries, text)
    write_file(args.csv, text.getvalue(), owner_only=True)
    print(f"{len(entries)} audit entries of exam {printable_key(args.exam)} written to {args.csv}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    target, settings = _target(args, "export")
    out = Path(args.out)
    with aws_refusals(f"reading what {target.text} holds about the student"):
        found = find(target, args.student, args.exam, settings)
        if not found.objects and not found.items and not found.rows:
            raise UsageError(f"nothing about student {args.student!r} in {target.text}")
        files = export(target, found, out, settings)
    out.chmod(0o600)
    counts = found.counts()
    print(
        f"{files} files about {printable_key(args.student)} written to {out}: {counts['objects']} objects, "
        f"{counts['table_items'] + counts['sqlite_rows']} records, and their audit entries"
    )
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    target, settings = _target(args, "erase")
    with aws_refusals(f"finding what {target.text} holds about the student"):
        found = find(target, args.student, args.exam, settings)
    counts = found.counts()
    scope = f"exam {args.exam}" if args.exam else f"every exam ({', '.join(found.exams) or 'none'}) and the reference"
    print(
        f"To erase for student {printable_key(args.student)} in {target.text}, {printable_key(scope)}: "
        f"{counts['objects']} object versions (captures, reference, analyses, results, decisions), "
        f"{counts['table_items']} table items, {counts['sqlite_rows']} SQLite rows. "
        "The audit record stays (GDPR Art. 17(3)(b)), with a receipt of this erasure.",
        file=sys.stderr,
    )
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("not erased: add --yes to confirm without a terminal")
        if input("Erase? This cannot be undone. [y/N] ").strip().lower() not in {"y", "yes"}:
            raise UsageError("not erased: not confirmed")
    with aws_refusals(f"erasing from {target.text}"):
        receipt = erase(target, found, args.by or caller(target), args.exam, settings)
    print(f"erased; receipt {receipt['id']} in the audit record")
    return 0


def register(commands: Commands) -> None:
    audit = commands.add_parser("audit", help="export an exam's audit record (verdicts, decisions, erasures) as CSV")
    audit.add_argument("target", metavar="DIR|s3://BUCKET", help="a run folder, or the deployed bucket")
    audit.add_argument("--exam", required=True, metavar="ID")
    audit.add_argument("--csv", required=True, metavar="FILE")
    audit.set_defaults(handler=cmd_audit)

    erase_parser = commands.add_parser("erase", help="erase everything held about a student (GDPR Art. 17)")
    erase_parser.add_argument("target", metavar="DIR|s3://BUCKET")
    erase_parser.add_argument("--student", required=True, metavar="ID")
    erase_parser.add_argument("--exam", metavar="ID", help="only this exam (the reference photo stays)")
    erase_parser.add_argument("--by", metavar="NAME", help="who erases (default: your AWS identity, or login name)")
    erase_parser.add_argument("--yes", action="store_true", help="do not ask (scripts)")
    erase_parser.set_defaults(handler=cmd_erase)

    export_parser = commands.add_parser("export", help="write everything held about a student to a zip (GDPR Art. 15)")
    export_parser.add_argument("target", metavar="DIR|s3://BUCKET")
    export_parser.add_argument("--student", required=True, metavar="ID")
    export_parser.add_argument("--exam", metavar="ID", help="only this exam")
    export_parser.add_argument("--out", required=True, metavar="FILE.zip")
    export_parser.set_defaults(handler=cmd_export)
