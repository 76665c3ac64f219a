"""What the after-the-fact tools (``reconcile``, ``review``) read: a run folder, or the deployed
bucket with the user's credentials, behind the one storage interface the steps use."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proctoring_local.services.checks import UsageError, check_run_folder

if TYPE_CHECKING:
    from proctoring.storage import Storage

# Objects read at once (and the S3 client's connection pool): each read is a round trip to S3.
READERS = 16


@dataclass(frozen=True)
class Target:
    text: str  # as the user gave it
    bucket: str  # the bucket, or the runner's name for a folder's
    storage: Storage
    s3: Any = None  # the boto3 client, when the target is a bucket
    root: Path | None = None  # the folder, when it is one

    @property
    def on_s3(self) -> bool:
        return self.s3 is not None


def open_target(text: str, command: str, images_prefix: str) -> Target:
    """``s3://BUCKET`` or a run folder (checked as ``proctoring run`` checks it)."""
    from proctoring.storage import LocalStorage, S3Storage

    if text.startswith("s3://"):
        bucket = text.removeprefix("s3://").strip("/")
        if not bucket or "/" in bucket:
            raise UsageError(
                f"expected s3://BUCKET, got {text!r} (the prefixes come from IMAGES_PREFIX and RESULTS_PREFIX)"
            )
        import boto3
        from botocore.config import Config

        s3 = boto3.client("s3", config=Config(max_pool_connections=READERS))
        return Target(text, bucket, S3Storage(s3), s3=s3)
    from proctoring_local.stand_ins.stack import LOCAL_BUCKET

    root = Path(text)
    check_run_folder(root, command, images_prefix)
    return Target(text, LOCAL_BUCKET, LocalStorage(root), root=root)


def bucket_listing(client: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    """Every object under ``prefix``, as S3 lists them (a page of 1,000 at a time)."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


@contextlib.contextmanager
def aws_refusals(what: str) -> Iterator[None]:
    """AWS's refusals (no credentials, no such bucket or state machine, access denied) told as
    what they are, rather than as a traceback."""
    from botocore.exceptions import BotoCoreError, ClientError

    from proctoring.errors import StorageUnavailable

    try:
        yield
    except StorageUnavailable as exc:  # S3 throttled or failing past the SDK's own retries
        raise UsageError(f"{what}: {exc}; run the check again later") from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise UsageError(f"{what}: AWS answered {error.get('Code')}: {error.get('Message')}") from exc
    except BotoCoreError as exc:
        raise UsageError(f"{what}: {exc}") from exc
