"""One worker process: its own in-process state machine and analyzer, fed students from a queue."""

from __future__ import annotations

import gc
import os
import signal
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from proctoring_local.services.run.captures import process_capture, run_bucket


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


def worker(config: dict[str, Any], tasks: Any, results: Any, stop: Any) -> None:
    """One process: its own in-process state machine and analyzer, fed students from ``tasks``.

    ``in_flight`` threads each take a student and run its captures one after the other, so the
    orchestration of one execution overlaps the analysis of another (dlib releases the GIL).
    """
    # Ctrl-C reaches every process of the terminal's group; the runner alone decides what it
    # means (finish the captures in progress, via ``stop``), so a worker never dies half-way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.update(config["env"])
    warnings.filterwarnings("ignore", category=UserWarning, module="aws_lambda_powertools")
    from proctoring.analysis import get_analyzer, set_analyzer
    from proctoring.config import get_settings
    from proctoring_local.stand_ins.engine import LocalStepFunctions
    from proctoring_local.stand_ins.events import UploadRule
    from proctoring_local.stand_ins.lambdas import reset_backends, use_no_tracing_when_disabled

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
        from proctoring_local.stand_ins.analysis_cache import AnalysisCache, analysis_fingerprint

        cache = AnalysisCache(
            config["analyses_file"],
            analysis_fingerprint(settings, get_analyzer()),
            reuse=config["analyses"] == "reuse",
        )
    with LocalStepFunctions(
        webhook_enabled=bool(config["env"]["WEBHOOK_URL"]), passthrough_services=passthrough, analysis_cache=cache
    ) as sfn:
        rule = UploadRule(run_bucket(settings), {"ImagesPrefix": settings.images_prefix.strip("/")})

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
        # Every path through the ASL detects labels once per capture: its count is the captures.
        results.put(("reused", cache.reused.get("detect_labels", 0) if cache else 0))
        results.put(("steps", dict(sfn.step_seconds)))
