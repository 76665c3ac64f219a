"""``proctoring run s3://BUCKET``: the captures already in a bucket, judged on this machine by the
same ASL, with the user's credentials, as the single-Lambda version's ``local_tester.py`` did.

The chosen captures (``--exam``, ``--student``, ``--limit``) and their students' reference photos
are copied into a local run folder (``--out``, default ``runs/BUCKET``), keeping their keys; the
run is then ``proctoring run`` on that folder, with Rekognition by default, and its documents
name the bucket as their source. They stay in the folder unless ``--write-results`` puts them under
the bucket's results prefix. Before anything is called, the number of captures and the Rekognition
calls and dollars they cost are printed, and confirmed unless ``--yes``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from proctoring.storage import resolves_within
from proctoring_local.services.checks import UsageError
from proctoring_local.services.targets import bucket_listing

PRICE_PER_CALL = 0.001  # Rekognition, per image analysed (us-east-1 list price, first million a month)
# What each S3 call needs, to name the missing permission when AWS refuses one.
PERMISSIONS = {
    "ListObjectsV2": "s3:ListBucket on arn:aws:s3:::{bucket}",
    "GetObject": "s3:GetObject on arn:aws:s3:::{bucket}/{prefix}*",
    "PutObject": "s3:PutObject on arn:aws:s3:::{bucket}/{prefix}*",
    "HeadObject": "s3:GetObject on arn:aws:s3:::{bucket}/{prefix}*",
}


@dataclass(frozen=True)
class Selection:
    captures: list[str]  # keys
    references: list[str]  # keys of the chosen students' reference photos
    students: int

    def most_calls(self, analyzer: str) -> int:
        """At most 3 per capture; 2 with a usable reference (CompareFaces, DetectLabels) plus one
        DetectFaces per reference, checked once."""
        return 0 if analyzer != "rekognition" else 2 * len(self.captures) + len(self.references)


def refused(error: Any, operation: str, bucket: str, prefix: str) -> UsageError:
    """AWS's refusal as a usage error naming what was refused and the permission it needs."""
    from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError

    if isinstance(error, NoCredentialsError):
        return UsageError(
            "no AWS credentials: set AWS_PROFILE (or the AWS_ACCESS_KEY_ID pair) in your shell, or run aws configure "
            "(a .env never sets credentials)"
        )
    if isinstance(error, NoRegionError):
        return UsageError("no AWS region: set AWS_REGION in the environment or .env")
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in {"AccessDenied", "403", "AllAccessDisabled"}:
            needed = PERMISSIONS.get(operation, operation).format(bucket=bucket, prefix=prefix)
            return UsageError(f"AWS refused {operation} on s3://{bucket}/{prefix}: access denied; it needs {needed}")
        if code in {"NoSuchBucket", "404"}:
            return UsageError(f"no bucket named {bucket} (or none your credentials can see)")
        if code in {"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"}:
            region = error.response.get("Error", {}).get("Region") or "its own region"
            return UsageError(f"s3://{bucket} is in another region ({region}): set AWS_REGION to it")
        message = error.response.get("Error", {}).get("Message", "")
        return UsageError(f"AWS answered {code} to {operation} on s3://{bucket}: {message}")
    return UsageError(f"{operation} on s3://{bucket}: {error}")


def _call(operation: str, bucket: str, prefix: str, function: Callable[[], Any]) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return function()
    except (BotoCoreError, ClientError) as error:
        raise refused(error, operation, bucket, prefix) from error


def select(
    s3: Any,
    bucket: str,
    settings: Any,
    *,
    exam: str | None,
    student: str | None,
    limit: int | None,
) -> Selection:
    prefix = settings.images_prefix + (f"{exam}/" if exam else "") + (f"{student}/" if exam and student else "")
    listed = _call("ListObjectsV2", bucket, prefix, lambda: list(bucket_listing(s3, bucket, prefix)))
    keys = [item["Key"] for item in listed if not item["Key"].endswith("/")]
    if student and not exam:  # a student across exams: images/*/STUDENT/*
        keys = [key for key in keys if key.removeprefix(settings.images_prefix).split("/")[1:2] == [student]]
    keys = sorted(keys)[:limit] if limit else sorted(keys)
    if not keys:
        where = f"s3://{bucket}/{prefix}" + (f" (student {student})" if student and not exam else "")
        raise UsageError(f"no capture under {where}")
    return with_references(s3, bucket, settings, keys)


def with_references(s3: Any, bucket: str, settings: Any, keys: list[str]) -> Selection:
    """The captures ``keys`` with their students' reference photos, found as ParseKey finds them."""
    from proctoring.keys import parse_capture_key

    references_listed = _call(
        "ListObjectsV2",
        bucket,
        settings.reference_prefix,
        lambda: {item["Key"] for item in bucket_listing(s3, bucket, settings.reference_prefix)},
    )
    students, references = set(), []
    for key in keys:
        try:
            candidates = parse_capture_key(key, settings.images_prefix).reference_keys(settings.reference_prefix)
        except ValueError:
            continue  # outside the convention: judged as such (an ERROR document)
        students.add(tuple(key.removeprefix(settings.images_prefix).split("/")[:2]))
        found = next((candidate for candidate in candidates if candidate in references_listed), None)
        if found and found not in references:
            references.append(found)
    return Selection(keys, references, len(students))


@dataclass(frozen=True)
class Refused:
    """An object left in the bucket, and why: its key or its size."""

    key: str
    why: str


def local_path(folder: Path, key: str) -> Path:
    """Where ``key`` is copied: ``folder/key``. A key is a name a student's upload chose, so one that
    would land anywhere else (absolute, ``..``, an empty or ``.`` segment that the folder would
    fold away, or a link inside the folder that leads out of it) raises ValueError saying why."""
    segments = key.split("/")
    if key.startswith("/"):
        raise ValueError("an absolute key")
    if "\0" in key:
        raise ValueError("a NUL in the key")
    if any(segment in {"", ".", ".."} for segment in segments):
        raise ValueError("a '..', '.' or empty segment in the key: its copy would not be at its own name")
    path = folder.joinpath(*segments)
    if not resolves_within(folder, path):
        raise ValueError(f"the folder holds a link on the way to it that leads out of {folder}")
    return path


def copy_down(s3: Any, bucket: str, keys: list[str], folder: Path, limit: int | None = None) -> list[Refused]:
    """Each object to ``folder/KEY``, unless a copy with the same ETag is there already; the objects
    refused, by key and why. Sizes are checked before the download, and the download stops at the
    limit (the object may grow in between): a file is written only whole, and only inside ``folder``."""
    from proctoring.images import MAX_SOURCE_BYTES
    from proctoring.storage import file_etag

    limit = MAX_SOURCE_BYTES if limit is None else limit
    folder.mkdir(parents=True, exist_ok=True)
    refusals: list[Refused] = []
    for key in keys:
        try:
            path = local_path(folder, key)
        except ValueError as why:
            refusals.append(_refusal(bucket, key, str(why)))
            continue
        head = _call("HeadObject", bucket, key, partial(s3.head_object, Bucket=bucket, Key=key))
        if int(head["ContentLength"]) > limit:
            refusals.append(_refusal(bucket, key, _too_large(int(head["ContentLength"]), limit)))
            continue
        if path.is_file() and not path.is_symlink() and file_etag(path) == head["ETag"].strip('"'):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if not resolves_within(folder, path):  # a link made while copying
            refusals.append(_refusal(bucket, key, f"a link on the way to it leads out of {folder}"))
            continue
        response = _call("GetObject", bucket, key, partial(s3.get_object, Bucket=bucket, Key=key, IfMatch=head["ETag"]))
        if (size := _stream_to(path, response["Body"], limit)) is not None:
            refusals.append(_refusal(bucket, key, _too_large(size, limit)))
    return refusals


def _too_large(size: int, limit: int) -> str:
    return (
        f"{size / 1048576:.1f} MB or more, over the {limit / 1048576:.0f} MB a capture may have "
        "(the deployed pipeline answers IMAGE_TOO_LARGE): not copied"
    )


def _refusal(bucket: str, key: str, why: str) -> Refused:
    from proctoring_local.services.terminal import printable_key

    print(f"refused s3://{bucket}/{printable_key(key)}: {why}", file=sys.stderr)
    return Refused(key, why)


def _stream_to(path: Path, body: Any, limit: int) -> int | None:
    """The body into ``path``, through a temporary file beside it; the size read when it passed
    ``limit`` (then nothing is written), else None."""
    import contextlib
    import os
    import tempfile

    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".download-")
    try:
        with os.fdopen(fd, "wb") as out:
            size = 0
            for chunk in body.iter_chunks(1024 * 1024):
                size += len(chunk)
                if size > limit:
                    return size
                out.write(chunk)
        os.replace(temporary, path)
        return None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        body.close()


def confirm(
    selection: Selection, analyzer: str, bucket: str, out: Path, write_results: bool, yes: bool, asking: bool = False
) -> None:
    """Say what the run costs; go on with ``yes``, else ask (``asking``: the menu, which reads its
    answers from standard input whatever it is)."""
    calls = selection.most_calls(analyzer)
    cost = (
        f"at most {calls} Rekognition calls (2 a capture, 1 a reference; 3 for a capture with no face), "
        f"about ${calls * PRICE_PER_CALL:.2f} at list price"
        if analyzer == "rekognition"
        else "no Rekognition call (offline analyzer)"
    )
    where = f"s3://{bucket}/results/" if write_results else f"{out}/results/ (--write-results: to the bucket)"
    print(
        f"{len(selection.captures)} capture(s) of {selection.students} student(s) in s3://{bucket}, "
        f"{len(selection.references)} reference photo(s): {cost}. Results to {where}.",
        file=sys.stderr,
    )
    if yes:
        return
    if not (asking or sys.stdin.isatty()):
        raise UsageError("not run: add --yes to confirm without a terminal")
    if input("Proceed? [y/N] ").strip().lower() not in {"y", "yes"}:
        raise UsageError("not run: not confirmed")


def write_back(s3: Any, bucket: str, out: Path, report: Any, settings: Any) -> int:
    """Put the documents of this run's captures under the bucket's results prefix."""
    from dataclasses import replace

    from proctoring_local.services.run.captures import stored_result_path

    settings = replace(settings, capture_bucket=bucket)  # the documents name the bucket as their source
    written = 0
    for outcome in report.outcomes:
        path = stored_result_path(out, outcome.key, settings)
        if path is None:
            continue
        key = path.relative_to(out).as_posix()
        _call(
            "PutObject",
            bucket,
            settings.results_prefix,
            partial(s3.put_object, Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType="application/json"),
        )
        written += 1
    return written


class BucketSource:
    """A bucket's captures for the runner and the menu: chosen, confirmed, copied into ``out``."""

    def __init__(
        self, target: str, out: str | None, analyzer: str, *, write_results: bool, yes: bool, asking: bool = False
    ) -> None:
        import boto3

        from proctoring.config import Settings

        self.bucket = target.removeprefix("s3://").strip("/")
        if not self.bucket or "/" in self.bucket:
            raise UsageError(f"expected s3://BUCKET, got {target!r} (choose captures with --exam, --student, --limit)")
        self.settings = Settings.from_env()
        self.s3 = _call("ListObjectsV2", self.bucket, "", lambda: boto3.client("s3"))
        self.out = Path(out or Path("runs") / self.bucket)
        self.analyzer, self.write_results, self.yes, self.asking = analyzer, write_results, yes, asking
        self.refused: list[Refused] = []

    def select(self, exam: str | None = None, student: str | None = None, limit: int | None = None) -> Selection:
        return select(self.s3, self.bucket, self.settings, exam=exam, student=student, limit=limit)

    def prepare(self, captures: list[str]) -> dict[str, str]:
        """Confirm the cost of judging ``captures``, copy them and their references down; the run's
        extra environment."""
        selection = with_references(self.s3, self.bucket, self.settings, sorted(set(captures)))
        confirm(selection, self.analyzer, self.bucket, self.out, self.write_results, self.yes, self.asking)
        self.refused = copy_down(self.s3, self.bucket, selection.captures + selection.references, self.out)
        return {"CAPTURE_BUCKET": self.bucket}

    def copied(self, captures: list[str]) -> list[str]:
        """``captures`` but those the copy refused."""
        refused = {refusal.key for refusal in self.refused}
        return [key for key in captures if key not in refused]

    def with_refusals(self, report: Any) -> Any:
        """The run's report with a line for each capture left in the bucket, and why."""
        from proctoring_local.services.run.captures import CaptureOutcome

        images = self.settings.images_prefix
        left = [CaptureOutcome(r.key, "MISSING", "NOT_RUN", r.why) for r in self.refused if r.key.startswith(images)]
        report.outcomes.extend(left)
        return report

    def finish(self, report: Any) -> None:
        if self.write_results:
            count = write_back(self.s3, self.bucket, self.out, report, self.settings)
            print(
                f"{count} result document(s) written to s3://{self.bucket}/{self.settings.results_prefix}",
                file=sys.stderr,
            )


def run_bucket(args: Any, secret: str) -> Any:
    """Select, confirm, copy down, run, and write back when asked; the run's report."""
    from proctoring_local.services.run.workers import run_folder

    source = BucketSource(args.dir, args.out, args.analyzer, write_results=args.write_results, yes=args.yes)
    selection = source.select(args.exam, args.student, args.limit)
    extra = source.prepare(selection.captures)
    copied = source.copied(selection.captures)
    if not copied:  # every chosen capture refused: nothing to run (an empty list would mean all)
        from proctoring_local.services.run.summary import RunReport

        return source.with_refusals(RunReport(root=source.out))
    report = run_folder(
        source.out,
        only=copied,
        analyzer=args.analyzer,
        webhook=args.webhook,
        secret=secret,
        workers=args.workers,
        progress=not args.no_progress,
        in_flight=args.in_flight,
        analyses="refresh" if args.reanalyse else "reuse",
        extra_env=extra,
        webhook_origin=getattr(args, "webhook_origin", "--webhook"),
    )
    source.finish(report)
    return source.with_refusals(report)
