"""``python -m dev run DIR``: the whole pipeline on a folder of images, on this machine.

The folder is the bucket: ``DIR/images/{exam_id}/{user_id}/*`` are the captures,
``DIR/reference/{user_id}.jpg`` the references, and results land in ``DIR/results/`` with the same
keys as on S3 (other folders when IMAGES_PREFIX, REFERENCE_PREFIX or RESULTS_PREFIX say so). Each
capture becomes the S3 "Object Created" event EventBridge would deliver; the event is matched
against the upload rule declared in template.yaml and, when it matches, starts an
execution of the real ``statemachine/proctoring.asl.json`` in-process.

Students are spread over worker processes (both cores by default). A student's captures stay in
one worker, in file-name order, so escalation to ALERT_FINAL is reproducible.
"""

from __future__ import annotations

import fnmatch
import gc
import json
import multiprocessing
import os
import queue
import shlex
import signal
import sys
import threading
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from dev.checks import (
    UsageError,
    check_rekognition_access,
    check_run_folder,
    check_settings,
    check_webhook_reachable,
    check_webhook_url,
    check_writable,
    rekognition_region,
)
from proctoring.keys import alert_subject

if TYPE_CHECKING:
    from proctoring.config import Settings


LOCAL_BUCKET = "local-proctoring"
DEFAULT_SECRET = "local-development-secret"  # noqa: S105 - local runs only; real deployments use SSM
STATUSES = ("OK", "ALERT", "ALERT_FINAL", "ERROR")


class WorkerCrashed(RuntimeError):
    """A worker process died mid-run (killed for memory, say). The documents written stand."""


class RunInterrupted(RuntimeError):
    """Ctrl-C stopped the run: after the captures in progress, or at once on a second Ctrl-C."""


@dataclass
class CaptureOutcome:
    key: str
    status: str  # the result document's status, or MISSING when no document was written
    execution: str  # SUCCEEDED / FAILED / NOT_MATCHED / NOT_RUN (no room for its result's name) / RUNNER_ERROR
    reason: str = ""
    undelivered: str = ""  # why the webhook never accepted the document, when it did not
    codes: tuple[str, ...] = ()  # every reason code of the document
    reference_problem: str = ""  # the REFERENCE_INVALID sentence, naming the file, when there is one


@dataclass
class RunReport:
    root: Path
    outcomes: list[CaptureOutcome] = field(default_factory=list)
    seconds: float = 0.0
    step_seconds: dict[str, float] = field(default_factory=dict)
    analyses_reused: int = 0  # captures whose analyses came from an earlier run (dev.analysis_cache)
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

    def by_student(self) -> dict[tuple[str, str], Counter]:
        table: dict[tuple[str, str], Counter] = defaultdict(Counter)
        for outcome in self.outcomes:
            student = student_of(outcome.key, self.images_prefix) or ("(invalid key)", "")
            table[student]["captures"] += 1
            table[student][outcome.status] += 1
        return dict(sorted(table.items()))


def student_of(key: str, images_prefix: str) -> tuple[str, str] | None:
    """(exam, student) of a capture key laid out as the convention says, else None; as the alert
    count knows them, so ``josé`` composed and decomposed is one row and one worker's queue."""
    parts = key.removeprefix(images_prefix).split("/")
    return alert_subject(parts[0], parts[1]) if key.startswith(images_prefix) and len(parts) == 3 else None


def _files_under(folder: Path) -> list[Path]:
    """Every file under ``folder``, hidden ones (``.DS_Store``) left out. Linked folders are
    followed (captures kept on another disk), each real folder once, so a link loop ends."""
    return [path for path in _entries_under(folder) if path.is_file()]


def not_files_under(folder: Path) -> list[tuple[Path, str]]:
    """Entries under ``folder`` that are neither folders nor files, each with what it is: no
    upload can come of them, so the runner names them rather than pass them over in silence."""
    found = []
    for path in _entries_under(folder):
        if path.is_file():
            continue
        if path.is_symlink() and not path.exists():
            found.append((path, f"a link to {os.readlink(path)}, which does not exist"))
        elif path.is_fifo():
            found.append((path, "a named pipe"))
        elif path.is_socket():
            found.append((path, "a socket"))
        else:
            found.append((path, "not a regular file"))
    return found


def _entries_under(folder: Path) -> list[Path]:
    """What ``os.walk`` lists as non-folders under ``folder``, hidden ones left out, linked
    folders followed once each."""
    seen: set[tuple[int, int]] = set()
    files = []
    for directory, subdirectories, names in os.walk(folder, followlinks=True):
        stat = os.stat(directory)
        if (stat.st_dev, stat.st_ino) in seen:
            subdirectories[:] = []
            continue
        seen.add((stat.st_dev, stat.st_ino))
        subdirectories[:] = [name for name in subdirectories if not name.startswith(".")]
        files.extend(Path(directory) / name for name in names if not name.startswith("."))
    return files


def _relative_to(path: Path, root: Path) -> str:
    """``path`` as a key under ``root``: spelled through the folder (a linked exam folder stays
    inside it), or else with links resolved on both sides."""
    for inside, outer in ((Path(os.path.abspath(path)), Path(os.path.abspath(root))), (path.resolve(), root.resolve())):
        try:
            return inside.relative_to(outer).as_posix()
        except ValueError:
            continue
    raise UsageError(f"{path} is not inside {root}")


# The folders the demo, the benchmark and the load check build: their runs use these whatever
# prefixes the user's environment sets for their own folders.
BUILT_LAYOUT = {"IMAGES_PREFIX": "images", "REFERENCE_PREFIX": "reference", "RESULTS_PREFIX": "results"}

# Students each worker runs at once with --analyzer rekognition: its calls are network waits, and
# Rekognition's per-account TPS quotas (throttling is retried by the state machine) bound the rest.
REKOGNITION_IN_FLIGHT = 4


def find_captures(root: Path, only: list[str] | None = None, images_prefix: str = "images/") -> list[str]:
    """Keys of the capture files under ``root/images`` (or IMAGES_PREFIX); ``only`` filters by glob,
    path or folder (an exam's or a student's: every capture under it), with or without the prefix."""
    images_prefix = images_prefix.strip("/") + "/"
    images = root / images_prefix
    keys = sorted(path.relative_to(root).as_posix() for path in _files_under(images))
    if only:
        wanted = []
        for pattern in only:
            candidate = Path(pattern)
            if candidate.is_absolute() or candidate.exists():
                pattern = _relative_to(candidate, root)
            folders = tuple(f"{prefix}{pattern.rstrip('/')}/" for prefix in ("", images_prefix))
            matched = [
                key
                for key in keys
                if fnmatch.fnmatchcase(key, pattern)
                or key == pattern
                or fnmatch.fnmatchcase(key, f"{images_prefix}{pattern}")
                or key.startswith(folders)
            ]
            if not matched:
                raise UsageError(f"no capture under {images} matches {pattern!r}")
            wanted.extend(key for key in matched if key not in wanted)
        keys = wanted
    return keys


def step_environment(
    root: Path,
    analyzer: str,
    webhook: str | None,
    secret: str,
    extra: dict[str, str] | None = None,
    *,
    region: str | None = None,
) -> dict[str, str]:
    """The workers' environment. ``region`` is where real AWS calls go (``--analyzer rekognition``);
    without one, only emulated services are called and any region will do."""
    env = {
        "ANALYZER": analyzer,
        "STORAGE": "local",
        "CAPTURE_BUCKET": LOCAL_BUCKET,
        "LOCAL_ROOT": str(root.resolve()),
        "ALERT_HISTORY": "sqlite",
        "IDEMPOTENCY_STORE": "sqlite",
        "POWERTOOLS_SERVICE_NAME": "proctoring",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_XRAY_SDK_ENABLED": "false",  # no daemon here; also skips the SDK's dummy segments
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "Proctoring",
        "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "ERROR"),
        "AWS_DEFAULT_REGION": region or os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "WEBHOOK_URL": webhook or "",
        "WEBHOOK_SECRET": secret if webhook else "",
        "WEBHOOK_ALLOW_HTTP": "true" if webhook and urlparse(webhook).scheme == "http" else "false",
    }
    env.update(extra or {})
    return env


def result_key_for(key: str, settings: Settings | None = None) -> str:
    """Where the pipeline writes the document for ``key``: the same rule ParseKey applies, with the
    same prefixes (the defaults unless ``settings`` say otherwise)."""
    from proctoring.config import Settings
    from proctoring.keys import capture_identity

    settings = settings or Settings()
    identity = capture_identity(
        "",
        key,
        etag=None,
        version_id=None,
        images_prefix=settings.images_prefix,
        results_prefix=settings.results_prefix,
    )
    return identity["result_key"]


def stored_result_path(root: Path, key: str, settings: Settings | None = None) -> Path | None:
    """The document the pipeline wrote for ``key``, or None: at :func:`result_key_for`, unless another
    capture's document holds that name (see ``proctoring.result_store``)."""
    from proctoring.result_store import find_result
    from proctoring.storage import LocalStorage

    found = find_result(LocalStorage(root), LOCAL_BUCKET, result_key_for(key, settings), f"s3://{LOCAL_BUCKET}/{key}")
    return None if found is None else root / found[0]


def shared_results(keys: list[str], settings: Settings | None = None) -> dict[str, list[str]]:
    """Captures whose result documents the convention gives one name (``c1`` and ``c1.jpg``)."""
    by_result: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        if not key_name_problem(key):  # the others are not run (see process_capture)
            by_result[result_key_for(key, settings)].append(key)
    return {result: sorted(sources) for result, sources in by_result.items() if len(sources) > 1}


def printable_key(key: str) -> str:
    """``key`` as it can be printed: bytes of a file name that are not UTF-8 shown as ``\\xff``."""
    return key.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def key_name_problem(key: str) -> str:
    """Why a file's name cannot be an S3 key, or "" when it can: S3 keys are UTF-8, and a name
    written on another system (Latin-1, say) need not be."""
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid UTF-8, as an S3 key must be; rename it (not run, so nothing was counted or sent)"
    return ""


def result_name_problem(document_path: Path, root: Path) -> str:
    """Why this file system cannot hold the result document's name, or "" when it can.

    The capture's own name fits, but ``.json`` is one byte longer than ``.jpg`` (five when
    another extension is kept), so a capture named near the limit has no room for its result.
    """
    try:
        limit = os.pathconf(root, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):  # no pathconf (Windows): the common limit
        limit = 255
    size = len(os.fsencode(document_path.name))
    if size <= limit:
        return ""
    return (
        f"its result document's name would be {size} bytes, longer than this file system allows ({limit}); "
        "rename the capture (not run, so nothing was counted or sent)"
    )


def process_capture(sfn: Any, rule: Any, root: Path, key: str, settings: Settings | None = None) -> CaptureOutcome:
    """Upload event -> rule -> execution -> the document's status. Never raises: a fault in the
    runner itself (say, the file vanished mid-run) is reported for this capture, and the
    student's other captures still run."""
    from dev.events import object_created_event
    from proctoring.storage import file_etag

    if problem := key_name_problem(key):
        return CaptureOutcome(printable_key(key), "MISSING", "NOT_RUN", problem)
    try:
        path = root / key
        event = object_created_event(LOCAL_BUCKET, key, size=path.stat().st_size, etag=file_etag(path))
        if not rule.matches(event):
            return CaptureOutcome(key, "NOT_MATCHED", "NOT_MATCHED")
        document_path = root / result_key_for(key, settings)
        if problem := result_name_problem(document_path, root):
            return CaptureOutcome(key, "MISSING", "NOT_RUN", problem)
        execution = sfn.run(event)
        sfn.forget(execution.arn)
        document_path = stored_result_path(root, key, settings)
        if document_path is None:
            return CaptureOutcome(key, "MISSING", execution.status, execution.error or "")
        document = json.loads(document_path.read_text())
        reason = document.get("reason", "")
        if execution.status == "FAILED" and document.get("error"):
            reason = f"{reason} ({document['error'].get('name')}: {document['error'].get('message')})"
        notification = document.get("notification") or {}
        undelivered = (notification.get("last_error") or "failed") if notification.get("status") == "failed" else ""
        reasons = document.get("reasons") or []
        codes = tuple(item.get("code", "") for item in reasons)
        reference_problem = next((r.get("message", "") for r in reasons if r.get("code") == "REFERENCE_INVALID"), "")
        return CaptureOutcome(key, document["status"], execution.status, reason, undelivered, codes, reference_problem)
    except Exception as exc:  # noqa: BLE001 - reported per capture, see the docstring
        return CaptureOutcome(key, "MISSING", "RUNNER_ERROR", f"{type(exc).__name__}: {exc}")


def drain_groups(tasks: Any, handle: Callable[[str], None], stop: Any = None) -> None:
    """Take groups of keys from ``tasks`` and handle each key, until an end marker (None) or ``stop`` is set.

    A blocking get: get_nowait() on a multiprocessing queue also reports Empty while another
    process or thread is reading, which would end a worker early and leave the work to others.
    ``stop`` is checked between captures, so the one in progress always finishes.
    """
    while (group := tasks.get()) is not None:
        for key in group:
            if stop is not None and stop.is_set():
                return
            handle(key)


def _worker(config: dict[str, Any], tasks: Any, results: Any, stop: Any) -> None:
    """One process: its own in-process state machine and analyzer, fed students from ``tasks``.

    ``in_flight`` threads each take a student and run its captures one after the other, so the
    orchestration of one execution overlaps the analysis of another (dlib releases the GIL).
    """
    # Ctrl-C reaches every process of the terminal's group; the runner alone decides what it
    # means (finish the captures in progress, via ``stop``), so a worker never dies half-way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.update(config["env"])
    warnings.filterwarnings("ignore", category=UserWarning, module="aws_lambda_powertools")
    from dev.engine import LocalStepFunctions, reset_backends, use_no_tracing_when_disabled
    from dev.events import UploadRule
    from proctoring.analysis import get_analyzer, set_analyzer
    from proctoring.config import get_settings

    reset_backends()
    use_no_tracing_when_disabled()
    if config.get("analyzer_factory"):
        module_name, attribute = config["analyzer_factory"].split(":")
        set_analyzer(getattr(__import__(module_name, fromlist=[attribute]), attribute)())
    else:
        get_analyzer()  # load the models once, before the clock of the first capture starts
    # Pillow imports its common format plugins on the first open; do it at start-up too.
    from PIL import Image

    Image.preinit()
    root = Path(config["env"]["LOCAL_ROOT"])
    passthrough = ("rekognition",) if config["env"]["ANALYZER"] == "rekognition" else ()
    settings = get_settings()  # the environment above: the prefixes ParseKey will use
    cache = None
    if config["analyses_file"]:
        from dev.analysis_cache import AnalysisCache, analysis_fingerprint

        cache = AnalysisCache(
            config["analyses_file"],
            analysis_fingerprint(settings, get_analyzer()),
            reuse=config["analyses"] == "reuse",
        )
    with LocalStepFunctions(
        webhook_enabled=bool(config["env"]["WEBHOOK_URL"]), passthrough_services=passthrough, analysis_cache=cache
    ) as sfn:
        rule = UploadRule(LOCAL_BUCKET, {"ImagesPrefix": settings.images_prefix.strip("/")})

        def report(key: str) -> None:
            results.put(("outcome", process_capture(sfn, rule, root, key, settings)))

        # Start-up leaves some 330,000 objects that live as long as the process (moto's interpreter,
        # botocore's models, the handlers). Left to the collector, one full collection walks them all
        # during the run (measured: 220 ms of 270 ms in collections per worker); frozen, it never does.
        gc.freeze()
        try:
            results.put(("ready", None))
            draining = (tasks, report, stop)
            threads = [threading.Thread(target=drain_groups, args=draining) for _ in range(config["in_flight"])]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            # Frozen objects are never finalised, not even at exit; among them are the SQLite stores,
            # whose closing folds their write-ahead logs back into the files. Shut down as unfrozen.
            gc.unfreeze()
        # Every capture analysed passes DetectFaces first: its reuses count the captures.
        results.put(("reused", cache.reused.get("detect_faces", 0) if cache else 0))
        results.put(("steps", dict(sfn.step_seconds)))


def run_folder(
    root: Path,
    *,
    only: list[str] | None = None,
    analyzer: str = "local",
    webhook: str | None = None,
    secret: str = DEFAULT_SECRET,
    workers: int | None = None,
    progress: bool = True,
    extra_env: dict[str, str] | None = None,
    analyzer_factory: str | None = None,
    in_flight: int | None = None,
    analyses: str = "reuse",
) -> RunReport:
    """Run every capture under ``root/images`` (or those ``only`` picks) through the state machine.

    ``in_flight`` is how many students each worker runs at once: by default one with the local
    analyzer, which keeps its core busy, and several with Rekognition, whose calls mostly wait.
    ``analyses``: ``reuse`` answers the image steps from earlier runs' answers where the input,
    settings and code are the same (``dev.analysis_cache``), ``refresh`` analyses everything again
    and stores the new answers, ``off`` neither reads nor stores them (the benchmark).
    """
    if analyses not in ("reuse", "refresh", "off"):
        raise ValueError(f"analyses must be reuse, refresh or off, not {analyses!r}")
    in_flight = in_flight or (REKOGNITION_IN_FLIGHT if analyzer == "rekognition" else 1)
    root = Path(root)
    settings = check_settings(step_environment(root, analyzer, webhook, secret, extra_env))
    check_run_folder(root, images_prefix=settings.images_prefix)
    keys = find_captures(root, only, settings.images_prefix)
    if not only:
        skipped = not_files_under(root / settings.images_prefix)
        for path, what in skipped[:SHOWN]:
            print(f"note: skipped {printable_key(str(path))}: {what}", file=sys.stderr)
        if more := and_more(len(skipped), "entries that are not files"):
            print(f"note: skipped {more}", file=sys.stderr)
    if not keys:
        raise UsageError(f"no images found under {root / settings.images_prefix}")
    if webhook:
        check_webhook_url(webhook)
        check_webhook_reachable(webhook)
    for result, sources in sorted(shared_results(keys, settings).items()):
        print(
            f"note: {' and '.join(sources)} would share one result document, {result}; the first written keeps "
            "that name, the others get their own beside it (the whole file name: c1.JPG.json)",
            file=sys.stderr,
        )

    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key in keys:
        groups[student_of(key, settings.images_prefix) or ("_invalid", "")].append(key)
    ordered = sorted(groups.values(), key=len, reverse=True)  # big students first: better balance
    workers = max(1, min(workers or os.cpu_count() or 1, len(ordered)))

    region = rekognition_region() if analyzer == "rekognition" and not analyzer_factory else None
    env = step_environment(root, analyzer, webhook, secret, extra_env, region=region)
    check_writable(root, settings)
    store = None  # the analyses the workers reuse and keep (dev.analysis_cache)
    if analyses != "off":
        from dev.analysis_cache import FILE_NAME, discard_if_unusable, forget_other_captures
        from proctoring.config import local_state_file

        store = Path(local_state_file(settings)).parent / FILE_NAME
        if note := discard_if_unusable(store):
            print(f"note: {note}", file=sys.stderr)
        if not only:  # a whole run knows every capture there is
            forget_other_captures(store, keys)
    if region:
        check_rekognition_access(region)
        print(f"analyzer: Amazon Rekognition in {region} (captures are sent there)", file=sys.stderr)

    context = multiprocessing.get_context("spawn")
    tasks, results, stop = context.Queue(), context.Queue(), context.Event()
    for group in ordered:
        tasks.put(group)
    for _ in range(workers * in_flight):
        tasks.put(None)  # one end marker per draining thread, behind all the work
    config = {
        "env": env,
        "analyzer_factory": analyzer_factory,
        "in_flight": in_flight,
        "analyses": analyses,
        "analyses_file": str(store) if store else None,
    }
    channels = (tasks, results, stop)
    processes = [context.Process(target=_worker, args=(config, *channels), daemon=True) for _ in range(workers)]
    # Many short-lived interpreter threads make glibc keep one malloc arena each; two arenas keep
    # a worker near 500 MB instead of 700 MB over a long run, at no measurable cost in speed.
    # glibc reads the variable at process start, so it is set for the workers' start only.
    saved_arenas = os.environ.get("MALLOC_ARENA_MAX")
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")
    try:
        for process in processes:
            process.start()
    finally:
        if saved_arenas is None:
            del os.environ["MALLOC_ARENA_MAX"]

    report = RunReport(
        root=root,
        workers=workers,
        results_prefix=settings.results_prefix,
        images_prefix=settings.images_prefix,
        reference_prefix=settings.reference_prefix,
    )
    bar = _progress(len(keys), progress)
    finished = 0
    started = last_result = None
    announced = False
    restore_handler = _on_interrupt(stop)
    try:
        while finished < workers:
            if stop.is_set() and not announced:
                announced = True
                bar.write(
                    "interrupted: finishing the captures in progress (Ctrl-C again to stop at once)", file=sys.stderr
                )
            try:
                kind, payload = results.get(timeout=1.0)
            except queue.Empty:
                if not any(process.is_alive() for process in processes):
                    break
                continue
            if kind == "ready":  # the clock starts when the first worker has its models loaded
                started = started or time.perf_counter()
            elif kind == "outcome":
                report.outcomes.append(payload)
                last_result = time.perf_counter()
                bar.update(1)
            elif kind == "reused":
                report.analyses_reused += payload
            elif kind == "steps":
                finished += 1
                for name, seconds in payload.items():
                    report.step_seconds[name] = report.step_seconds.get(name, 0.0) + seconds
        bar.close()
        for process in processes:
            process.join(timeout=10)
    except BaseException as error:
        bar.close()
        for process in processes:  # a second Ctrl-C (or a failure here): stop the workers now
            process.terminate()
            process.join(timeout=10)
        if isinstance(error, KeyboardInterrupt):
            cut_short = (
                "; the captures that were in progress may wait for their steps' timeouts on the next run "
                "(their in-progress records expire then)"
                if len(report.outcomes) < len(keys)
                else ""
            )
            raise RunInterrupted(f"interrupted, stopped at once: {_processed(report, keys)}{cut_short}") from None
        raise
    finally:
        restore_handler()
    # The clock stops at the last result, before the workers shut down.
    report.seconds = (last_result or time.perf_counter()) - (started or time.perf_counter())
    if stop.is_set() and len(report.outcomes) < len(keys):
        raise RunInterrupted(f"interrupted: {_processed(report, keys)}")
    if len(report.outcomes) < len(keys):
        how = ", ".join(_exit_status(process.exitcode) for process in processes if process.exitcode)
        raise WorkerCrashed(
            f"a worker stopped early ({how or 'no exit status'}); {len(report.outcomes)} of {len(keys)} captures "
            "were processed and their documents stand; run the same command again to finish the rest"
        )
    report.outcomes.sort(key=lambda outcome: outcome.key)
    return report


def _processed(report: RunReport, keys: list[str]) -> str:
    if len(report.outcomes) >= len(keys):
        return f"all {len(keys)} captures were processed and their documents stand"
    return (
        f"{len(report.outcomes)} of {len(keys)} captures were processed and their documents stand; "
        "run the same command again to finish the rest"
    )


def _on_interrupt(stop: Any) -> Callable[[], Any]:
    """Make the first Ctrl-C ask the workers to stop after their captures in progress.

    A second one raises KeyboardInterrupt, and the run stops at once. Returns what puts the
    previous handler back (nothing to do where handlers cannot be set: a thread other than the
    main one).
    """

    def interrupted(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, interrupted)
    return lambda: signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


def _exit_status(code: int) -> str:
    if code < 0:
        name = signal.Signals(-code).name
        return f"killed by {name}" + (", perhaps for memory: try --workers 1" if name == "SIGKILL" else "")
    return f"exit code {code}"


def _progress(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    # disable=None: a bar on a terminal, none when the output is a file or a pipe.
    return tqdm(total=total, unit="img", disable=None if enabled else True, desc="captures", dynamic_ncols=True)


def this_python() -> str:
    """The interpreter running this, as a command to type: ``.venv/bin/python`` from the project's
    folder (what ``make demo`` made), else its whole path; a bare ``python`` may lack the packages."""
    relative = os.path.relpath(sys.executable)
    return shlex.quote(relative if not relative.startswith("..") else sys.executable)


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
        }
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
    for student in students:
        for path in by_folded_stem.get(student.casefold(), []):
            if path.suffix not in REFERENCE_EXTENSIONS:
                lines.append(f"  {path.name} is there, but a reference must be a .jpg, .jpeg or .png file")
            elif path.stem != student:
                lines.append(f"  {path.name} is there, but ids are case-sensitive: name it {student}{path.suffix}")
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
    return " ".join([*settings, this_python(), "-m dev review", shlex.quote(str(report.root))])


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
    totals: Counter = Counter()
    for (exam, student), counts in report.by_student().items():
        totals.update(counts)
        table.add_row(exam, student, *(str(counts.get(column, 0)) for column in columns))
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
            "`python -m dev run DIR --reanalyse` analyses everything again)"
        )

    def name_some(lines: list[str], what: str) -> None:
        for line in lines[:SHOWN]:
            console.print(line.rstrip(), markup=False)
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
        console.print(line, markup=False, soft_wrap=True)  # paths stay whole, to copy
    unmatched = [outcome for outcome in report.outcomes if outcome.execution == "NOT_MATCHED"]
    if unmatched:
        console.print(f"{len(unmatched)} file(s) not matched by the upload rule, not processed.")
    console.print(f"Results: {report.root / report.results_prefix.strip('/')}")
    from dev.review import NEEDS_A_LOOK

    to_look_at = sum(outcome.status in NEEDS_A_LOOK for outcome in report.outcomes)
    if to_look_at:
        command = review_command(report)
        console.print(f"Why each of the {to_look_at} alert(s) and error(s): {command}", markup=False, soft_wrap=True)
