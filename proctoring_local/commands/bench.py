"""``proctoring bench``: its options and what it prints."""

from __future__ import annotations

import os
import resource
import shutil
import tempfile
from pathlib import Path
from typing import Any

from proctoring_local.commands.options import Commands, capture_size, positive_int, workers_option
from proctoring_local.services.bench import build_captures, largest_image_peak, raw_analyzer_rate
from proctoring_local.services.checks import UsageError, claim_build_folder
from proctoring_local.services.run.workers import BUILT_LAYOUT, run_folder


def _fresh(root: Path) -> None:
    shutil.rmtree(root / "results", ignore_errors=True)
    shutil.rmtree(root / ".proctoring", ignore_errors=True)


def _mb(kilobytes: int) -> float:
    return kilobytes / 1024


def run_benchmark(
    captures: int = 200, size: str = "640x480", workers: int | None = None, keep: str | None = None
) -> int:
    width, height = (int(part) for part in size.lower().split("x"))
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="proctoring-bench-"))
    claim_build_folder(root, "bench")  # it deletes results and state between its runs
    workers = workers or os.cpu_count() or 1
    try:
        print(f"building {captures} captures of {width}x{height} in {root} ...", flush=True)
        paths = build_captures(root, captures, (width, height))

        raw_rate, raw_seconds = raw_analyzer_rate(root, sorted(paths))  # the runner's order
        print(
            f"{'raw analyzer, called directly, 1 process':<44} {raw_rate:6.2f} images/s  "
            f"({raw_seconds * 1000:.0f} ms per image)"
        )

        def pipeline(label: str, **options: Any) -> Any:
            _fresh(root)
            # analyses="off": each pass over the same captures analyses them all, as the numbers need.
            report = run_folder(root, progress=False, extra_env=BUILT_LAYOUT, analyses="off", **options)
            rate = report.rate
            print(f"{label:<44} {rate:6.2f} images/s  ({100 * rate / raw_rate:.0f}% of raw)", flush=True)
            return report

        single = pipeline("pipeline, 1 process, 1 execution at a time", workers=1, in_flight=1)
        pipeline("pipeline, 1 process, 2 executions in flight", workers=1, in_flight=2)
        multi = pipeline(f"pipeline, {workers} processes (the default)", workers=workers)

        print("time per step (1 process, 1 at a time), ms per image:")
        for name, seconds in sorted(single.step_seconds.items(), key=lambda item: -item[1]):
            print(f"  {name:<28} {seconds * 1000 / len(paths):8.1f}")
        inside = sum(single.step_seconds.values()) / len(paths)
        print(f"  {'(sum of steps)':<28} {inside * 1000:8.1f}   wall: {1000 / single.rate:.1f}")

        _fresh(root)
        null = run_folder(
            root,
            workers=1,
            in_flight=1,
            progress=False,
            analyzer_factory="proctoring_local.services.bench:NullAnalyzer",
            extra_env=BUILT_LAYOUT,
            analyses="off",
        )
        if null.failed or not null.complete:  # a measure of failing executions measures nothing
            raise UsageError(f"the no-op run failed: {', '.join(o.key for o in null.failed[:3]) or 'incomplete'}")
        overhead = 1 / null.rate
        print(
            f"orchestration + image I/O (no-op analyzer): {overhead * 1000:.1f} ms per image "
            f"= {100 * overhead / raw_seconds:.1f}% of analysis time ({raw_seconds * 1000:.0f} ms)"
        )

        statuses: dict[str, int] = {}
        for outcome in multi.outcomes:
            statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
        print(f"verdicts: {statuses}")
        own = _mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        child = _mb(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        print(
            f"peak RSS: runner {own:.0f} MB, largest worker {child:.0f} MB, "
            f"bound for {workers} workers {own + workers * child:.0f} MB"
        )
        from proctoring_local.stand_ins.template import step_functions

        memory = min(step["memory"] for step in step_functions().values() if "Detect" in step["resource"])
        print(
            f"largest image accepted (60 MP RGBA PNG), prepared in a fresh step process: peak RSS "
            f"{largest_image_peak(root)} MB (the image steps have {memory} MB in template.yaml)"
        )
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


def register(commands: Commands) -> None:
    bench = commands.add_parser("bench", help="throughput, step times, orchestration overhead, peak RSS")
    bench.add_argument("-n", "--captures", type=positive_int, default=200, help="generated captures (default 200)")
    bench.add_argument("--size", type=capture_size, default="640x480", help="capture size WxH (default 640x480)")
    workers_option(bench, "processes of the multi-process run")
    bench.add_argument("--keep", metavar="DIR", help="build the captures in DIR and keep them")
    bench.set_defaults(
        handler=lambda args: run_benchmark(captures=args.captures, size=args.size, workers=args.workers, keep=args.keep)
    )
