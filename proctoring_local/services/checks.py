"""Checks made before a local run starts: each problem is a clear :class:`UsageError` (exit 2) here,
instead of every capture failing the same way after its retries, one at a time."""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from proctoring.sqlite_file import sqlite_problems
from proctoring.storage import resolves_within

if TYPE_CHECKING:
    from proctoring.config import Settings


class UsageError(Exception):
    """A problem with the command line or the folder; reported without a traceback."""


def claim_build_folder(root: Path, tool: str) -> None:
    """Make ``root`` the folder ``proctoring {tool}`` builds into: new, empty, or built by the
    same tool before (then emptied). Anything else, a user's own exam folder above all, is refused,
    because the tool writes its own files there and deletes results and state between its runs."""
    marker = root / f".proctoring-{tool}"
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"{root} is a file, not a folder; choose a folder for `proctoring {tool}`")
    if root.exists() and any(root.iterdir()):
        if not marker.exists():
            raise FileExistsError(
                f"{root} exists and is not a {tool} folder (it has no {marker.name}); choose a new or empty folder"
            )
        shutil.rmtree(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        marker.write_text(f"Built by `proctoring {tool}`; safe to delete.\n")
    except OSError as exc:  # read-only, no room, no permission, a file on the way
        raise UsageError(f"cannot build the {tool} folder {root}: {exc.strerror or exc}") from exc


def check_run_folder(root: Path, command: str = "run", images_prefix: str = "images/") -> None:
    """``root`` must hold the images folder (``images/``, or what IMAGES_PREFIX names); a clear
    message, with the command meant, when it does not."""
    images = images_prefix.strip("/")
    if root.is_dir() and (root / images).is_dir():
        return
    hint = _run_folder_hint(root, command, images)
    if not root.exists():
        raise UsageError(f"folder not found: {root}{hint}")
    if not root.is_dir():
        raise UsageError(f"{root} is a file, not a run folder{hint}")
    raise UsageError(f"{root} has no {images}/ folder (expected {root}/{images}/{{exam_id}}/{{user_id}}/*.jpg){hint}")


def _run_folder_hint(path: Path, command: str, images: str) -> str:
    """When ``path`` is a run folder's images folder or lies under it (a capture, an exam's or a
    student's folder), the command meant: people often point at the captures themselves."""
    absolute = Path(os.path.abspath(path))
    if not absolute.exists():
        return ""
    depth = len(images.split("/"))
    for folder in (absolute, *absolute.parents):
        if folder.parts[-depth:] != tuple(images.split("/")) or not folder.is_dir():
            continue
        run_root = folder.parents[depth - 1]
        if folder == absolute or command != "run":
            run_folder = shlex.quote(str(run_root))
            return f"; the run folder is the one that holds {images}/: proctoring {command} {run_folder}"
        part = absolute.relative_to(folder).as_posix()
        only = shlex.quote(part if absolute.is_file() else f"{part}/*")
        return f"; to run that part of the exam: proctoring run {shlex.quote(str(run_root))} --only {only}"
    return ""


def check_settings(env: dict[str, str]) -> Settings:
    """Read the settings the workers will see, so a bad value stops the run here with its name
    rather than in every worker."""
    from proctoring.config import Settings

    try:
        return Settings.from_env({**os.environ, **env})
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def check_writable(root: Path, settings: Settings) -> None:
    """The results and the state file are written under the folder: find out now if they cannot
    be, rather than from every execution failing in PersistResult."""
    from proctoring.config import local_state_file

    results = root / settings.results_prefix
    for folder in (results, Path(local_state_file(settings)).parent):
        if folder == results and not resolves_within(root, folder):
            raise UsageError(
                f"{folder} leads out of the run folder {root} (a link, or '..' in RESULTS_PREFIX); "
                "the tools write documents only inside it: remove the link, or copy the folder without it"
            )
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
                pass
        except OSError as exc:
            raise UsageError(f"cannot write into {folder} ({exc.strerror or exc}); results and state go there") from exc
    check_state_file(Path(local_state_file(settings)))


def check_state_file(path: Path) -> None:
    """A damaged state file (a disk that filled up, a sync tool's half copy) would fail every
    capture's verdict with the same database error: say so once, with what to do."""
    if problems := sqlite_problems(path):
        raise UsageError(
            f"the run's state file {path} is damaged ({'; '.join(problems[:3])}); move it away to start "
            "afresh: every capture is then judged again and its alerts counted anew"
        )


LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def check_webhook_url(url: str, where: str = "--webhook") -> None:
    """An http(s) URL with a host and a valid port, and no credentials in it; plain http only on
    this machine. ``where`` names where the URL came from (a flag, the environment, a .env file)."""
    parsed = urlparse(url)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise UsageError(
            f"{where} must be an http(s) URL with a host, such as https://proctor.example/hook, got {url!r}"
        )
    try:
        parsed.port  # noqa: B018 - parsing it is the check
    except ValueError as exc:
        raise UsageError(f"{where} {url}: {exc}") from exc
    if parsed.username is not None or parsed.password is not None:
        raise UsageError(
            f"{where}: the URL carries credentials (user:password@), which would be logged and stored in plain "
            "text; remove them: the receiver checks each delivery's signature (the signing secret) instead"
        )
    if parsed.scheme == "http" and parsed.hostname not in LOOPBACK_HOSTS:
        raise UsageError(f"{where}: plain http webhooks are only allowed on localhost; use https")


def check_webhook_secret(url: str | None, where: str = "--webhook", *, secret_given: bool) -> None:
    """A receiver on another machine needs its own signing key: the built-in one is public.

    Signed with it, deliveries to a real proctoring system would prove nothing about who sent them.
    """
    host = urlparse(url).hostname if url else None
    if host and host not in LOOPBACK_HOSTS and not secret_given:
        raise UsageError(
            f"{where} {url}: give the receiver's signing key with --webhook-secret or "
            "$PROCTORING_WEBHOOK_SECRET; the built-in development key is public and only signs for this machine"
        )


def check_webhook_reachable(url: str, where: str = "--webhook", timeout: float = 5.0) -> None:
    """Connect once before the run. Every delivery to a receiver that is not there is retried
    for over a minute, one capture after another; a run should not crawl for that."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname, port), timeout=timeout).close()
    except OSError as exc:
        raise UsageError(
            f"{where} {url}: cannot connect to {parsed.hostname}:{port} ({exc.strerror or exc}); "
            f"start the receiver first (proctoring webhook), or leave out {where.split(' in ')[0]}"
        ) from exc


def rekognition_region() -> str:
    """The region ``--analyzer rekognition`` sends captures to: the user's own configuration.

    Checked before any capture runs. Without credentials every capture would fail after its
    retries, one ERROR document at a time. Without a configured region no default is assumed:
    students' faces go to the region the user chose (their profile or AWS_DEFAULT_REGION), or nowhere.
    """
    import boto3

    try:
        session = boto3.Session()
        credentials = session.get_credentials()
    except Exception as exc:  # a profile that does not exist, an unreadable file, a credential_process that fails
        raise UsageError(f"--analyzer rekognition: cannot read AWS credentials: {exc}") from exc
    if credentials is None:
        raise UsageError(
            "--analyzer rekognition calls Amazon Rekognition with your AWS credentials, and none were found "
            "(run `aws configure`, set AWS_PROFILE, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        )
    if not session.region_name:
        raise UsageError(
            "--analyzer rekognition needs an AWS region, and none is configured: the captures are sent "
            "there (set AWS_DEFAULT_REGION, or `region` in your AWS profile)"
        )
    return str(session.region_name)


# Answers that mean the credentials themselves were refused: every capture would be refused too.
_REFUSED_CREDENTIALS = {
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
}


def check_rekognition_access(region: str, timeout: float = 5.0) -> None:
    """One call that sends no image (ListCollections) before the run. A service that cannot be
    reached, or expired credentials, would fail every capture after its retries, one at a time."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    config = Config(retries={"total_max_attempts": 2}, connect_timeout=timeout, read_timeout=timeout)
    try:
        # A session of its own: the user's configuration as it is now, not as a process-wide one cached it.
        boto3.Session().client("rekognition", region_name=region, config=config).list_collections(MaxResults=1)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") in _REFUSED_CREDENTIALS:
            raise UsageError(
                f"--analyzer rekognition: Amazon Rekognition in {region} refused your AWS credentials "
                f"({error.get('Code')}: {error.get('Message', '')}); renew them (aws sso login, aws configure)"
            ) from exc
        # Anything else (AccessDenied on this one action, throttling) says the service is there
        # and the credentials are valid; the captures' own calls report their own errors.
    except (ConnectionError, HTTPClientError) as exc:
        raise UsageError(
            f"--analyzer rekognition: cannot reach Amazon Rekognition in {region} ({exc}); "
            "check the network, and that Rekognition is offered in that region"
        ) from exc
    except Exception as exc:  # the SDK could not sign: credentials expired past refreshing, an SSO token...
        raise UsageError(
            f"--analyzer rekognition: your AWS credentials could not be used ({type(exc).__name__}: {exc}); "
            "renew them (aws sso login, aws configure)"
        ) from exc
