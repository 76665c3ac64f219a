"""The run itself: students spread over worker processes, each with its own in-process state
machine and analyzer; Ctrl-C finishes the captures in progress, a second one stops at once."""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from proctoring_local.services.checks import (
    UsageError,
    check_rekognition_access,
    check_run_folder,
    check_settings,
    check_webhook_reachable,
    check_webhook_url,
    check_writable,
    rekognition_region,
)
from proctoring_local.services.run.captures import (
    find_captures,
    not_files_under,
    shared_results,
    student_of,
)
from proctoring_local.services.run.process import worker
from proctoring_local.services.run.summary import SHOWN, RunReport, and_more
from proctoring_local.services.terminal import printable_key
from proctoring_local.stand_ins.stack import LOCAL_BUCKET

if TYPE_CHECKING:
    from proctoring.config import Settings

# "proctoring-local-development-key": public, so it signs only for a receiver on this machine.
DEFAULT_SECRET = "whsec_cHJvY3RvcmluZy1sb2NhbC1kZXZlbG9wbWVudC1rZXk="  # noqa: S105 - local runs only


class WorkerCrashed(RuntimeError):
    """A worker process died mid-run (killed for memory, say). The documents written stand."""


class RunInterrupted(RuntimeError):
    """Ctrl-C stopped the run: after the captures in progress, or at once on a second Ctrl-C."""


# The folders the demo, the benchmark and the load check build: their runs use these whatever
# prefixes the user's environment sets for their own folders.
BUILT_LAYOUT = {"IMAGES_PREFIX": "images", "REFERENCE_PREFIX": "reference", "RESULTS_PREFIX": "results"}

# Students each worker runs at once with --analyzer rekognition: its calls are network waits, and
# Rekognition's per-account TPS quotas (throttling is retried by the state machine) bound the rest.
REKOGNITION_IN_FLIGHT = 4


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
    webhook_origin: str = "--webhook",
) -> RunReport:
    """Run every capture under ``root/images`` (or those ``only`` picks) through the state machine.

    ``in_flight`` is how many students each worker runs at once: by default one with the local
    analyzer, which keeps its core busy, and several with Rekognition, whose calls mostly wait.
    ``analyses``: ``reuse`` answers the image steps from earlier runs' answers where the input,
    settings and code are the same (``stand_ins.analysis_cache``), ``refresh`` analyses everything again
    and stores the new answers, ``off`` neither reads nor stores them (the benchmark).
    """
    if analyses not in ("reuse", "refresh", "off"):
        raise ValueError(f"analyses must be reuse, refresh or off, not {analyses!r}")
    root = Path(root)
    settings = check_settings(step_environment(root, analyzer, webhook, secret, extra_env))
    check_run_folder(root, images_prefix=settings.images_prefix)
    keys = _captures_to_run(root, only, settings)
    if webhook:
        check_webhook_url(webhook, webhook_origin)
        check_webhook_reachable(webhook, webhook_origin)
    ordered = _by_student(keys, settings.images_prefix)
    _warn_of_one_time(root, ordered)
    workers = max(1, min(workers or os.cpu_count() or 1, len(ordered)))
    region = rekognition_region() if analyzer == "rekognition" and not analyzer_factory else None
    env = step_environment(root, analyzer, webhook, secret, extra_env, region=region)
    check_writable(root, settings)
    store = _analysis_store(settings, keys, whole_run=not only) if analyses != "off" else None
    if region:
        check_rekognition_access(region)
        print(f"analyzer: Amazon Rekognition in {region} (captures are sent there)", file=sys.stderr)
    config = {
        "env": env,
        "analyzer_factory": analyzer_factory,
        "in_flight": in_flight or (REKOGNITION_IN_FLIGHT if analyzer == "rekognition" else 1),
        "analyses": analyses,
        "analyses_file": str(store) if store else None,
    }
    report = RunReport(
        root=root,
        workers=workers,
        results_prefix=settings.results_prefix,
        images_prefix=settings.images_prefix,
        reference_prefix=settings.reference_prefix,
    )
    _run_workers(config, ordered, workers, report, progress, len(keys))
    report.outcomes.sort(key=lambda outcome: outcome.key)
    return report


def _captures_to_run(root: Path, only: list[str] | None, settings: Settings) -> list[str]:
    """The capture keys, after naming what will not run and what would share a document."""
    keys = find_captures(root, only, settings.images_prefix)
    if not only:
        skipped = not_files_under(root / settings.images_prefix)
        for path, what in skipped[:SHOWN]:
            print(f"note: skipped {printable_key(str(path))}: {what}", file=sys.stderr)
        if more := and_more(len(skipped), "entries that are not files"):
            print(f"note: skipped {more}", file=sys.stderr)
    if not keys:
        raise UsageError(f"no images found under {root / settings.images_prefix}")
    for result, sources in sorted(shared_results(keys, settings).items()):
        print(
            f"note: {' and '.join(sources)} would share one result document, {result}; the first written keeps "
            "that name, the others get their own beside it (the whole file name: c1.JPG.json)",
            file=sys.stderr,
        )
    return keys


def _warn_of_one_time(root: Path, students: list[list[str]]) -> None:
    """Say so when all of a student's captures have one time: a folder copied without its files'
    times (plain ``cp``) and no EXIF time in them. AWAY_SECONDS and the report's times would judge
    the copy, not the exam."""
    from proctoring_local.services.run.captures import capture_time

    for keys in students:
        if len(keys) < 2:
            continue
        times: set[datetime | None] = set()
        for key in keys:
            try:
                times.add(capture_time(root / key))
            except OSError:
                times.add(None)  # gone: the run says so
            if len(times) > 1:
                break
        if len(times) == 1 and None not in times:
            folder = printable_key(keys[0].rsplit("/", 1)[0])
            print(
                f"warning: all {len(keys)} captures of {folder} have one time ({times.pop():%Y-%m-%d %H:%M:%S} UTC), "
                "and their order and AWAY_SECONDS are judged on it: copy folders keeping times (cp -p, rsync -t), "
                "or keep the camera's EXIF time in the files",
                file=sys.stderr,
            )


def _by_student(keys: list[str], images_prefix: str) -> list[list[str]]:
    """Each student's captures in file-name order, the students with most captures first (better balance)."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key in keys:
        groups[student_of(key, images_prefix) or ("_invalid", "")].append(key)
    return sorted(groups.values(), key=len, reverse=True)


def _analysis_store(settings: Settings, keys: list[str], *, whole_run: bool) -> Path:
    """The file of stored analyses the workers reuse and keep (``stand_ins.analysis_cache``)."""
    from proctoring.config import local_state_file
    from proctoring_local.stand_ins.analysis_cache import FILE_NAME, discard_if_unusable, forget_other_captures

    store = Path(local_state_file(settings)).parent / FILE_NAME
    if note := discard_if_unusable(store):
        print(f"note: {note}", file=sys.stderr)
    if whole_run:  # a whole run knows every capture there is
        forget_other_captures(store, keys)
    return store


def _start_workers(config: dict[str, Any], ordered: list[list[str]], workers: int) -> tuple[list[Any], Any, Any, Any]:
    """The worker processes, fed every student's captures; returns them and their channels (tasks,
    results, stop), which the caller keeps until the workers end: a worker still starting unpickles them."""
    context = multiprocessing.get_context("spawn")
    tasks, results, stop = context.Queue(), context.Queue(), context.Event()
    for group in ordered:
        tasks.put(group)
    for _ in range(workers * config["in_flight"]):
        tasks.put(None)  # one end marker per draining thread, behind all the work
    channels = (tasks, results, stop)
    processes = [context.Process(target=worker, args=(config, *channels), daemon=True) for _ in range(workers)]
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
    return processes, tasks, results, stop


def _run_workers(
    config: dict[str, Any], ordered: list[list[str]], workers: int, report: RunReport, progress: bool, total: int
) -> None:
    """Start the workers and gather their outcomes into ``report`` until every worker is done."""
    processes, _tasks, results, stop = _start_workers(config, ordered, workers)
    bar = _progress(total, progress)
    clock = _Clock()
    restore_handler = _on_interrupt(stop)
    try:
        _gather(results, processes, stop, report, bar, clock, workers)
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
                if len(report.outcomes) < total
                else ""
            )
            raise RunInterrupted(f"interrupted, stopped at once: {_processed(report, total)}{cut_short}") from None
        raise
    finally:
        restore_handler()
    report.seconds = clock.seconds()
    if stop.is_set() and len(report.outcomes) < total:
        raise RunInterrupted(f"interrupted: {_processed(report, total)}")
    if len(report.outcomes) < total:
        how = ", ".join(_exit_status(process.exitcode) for process in processes if process.exitcode)
        raise WorkerCrashed(
            f"a worker stopped early ({how or 'no exit status'}); {len(report.outcomes)} of {total} captures "
            "were processed and their documents stand; run the same command again to finish the rest"
        )


class _Clock:
    """From the first worker ready (models loaded) to the last result, before the workers shut down."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.last_result: float | None = None

    def seconds(self) -> float:
        return (self.last_result or time.perf_counter()) - (self.started or time.perf_counter())


def _gather(
    results: Any, processes: list[Any], stop: Any, report: RunReport, bar: Any, clock: _Clock, workers: int
) -> None:
    finished, announced = 0, False
    while finished < workers:
        if stop.is_set() and not announced:
            announced = True
            bar.write("interrupted: finishing the captures in progress (Ctrl-C again to stop at once)", file=sys.stderr)
        try:
            kind, payload = results.get(timeout=1.0)
        except queue.Empty:
            if not any(process.is_alive() for process in processes):
                return
            continue
        if kind == "ready":  # the clock starts when the first worker has its models loaded
            clock.started = clock.started or time.perf_counter()
        elif kind == "outcome":
            report.outcomes.append(payload)
            clock.last_result = time.perf_counter()
            bar.update(1)
        elif kind == "reused":
            report.analyses_reused += payload
        elif kind == "steps":
            finished += 1
            for name, seconds in payload.items():
                report.step_seconds[name] = report.step_seconds.get(name, 0.0) + seconds


def _processed(report: RunReport, total: int) -> str:
    if len(report.outcomes) >= total:
        return f"all {total} captures were processed and their documents stand"
    return (
        f"{len(report.outcomes)} of {total} captures were processed and their documents stand; "
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
