"""Local tools: ``python -m dev {run,demo,menu,bench,load,burst,webhook,reconcile,review}``. See the README."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _secret(args: argparse.Namespace) -> str:
    from dev.checks import check_webhook_secret, check_webhook_url
    from dev.runner import DEFAULT_SECRET

    secret = args.webhook_secret or os.environ.get("PROCTORING_WEBHOOK_SECRET")
    if webhook := getattr(args, "webhook", None):
        check_webhook_url(webhook)  # what is wrong with the URL itself comes first
        check_webhook_secret(webhook, secret_given=bool(secret))
    return secret or DEFAULT_SECRET


def cmd_run(args: argparse.Namespace) -> int:
    from dev.runner import print_summary, run_folder

    report = run_folder(
        Path(args.dir),
        only=args.only,
        analyzer=args.analyzer,
        webhook=args.webhook,
        secret=_secret(args),
        workers=args.workers,
        progress=not args.no_progress,
        in_flight=args.in_flight,
        analyses="refresh" if args.reanalyse else "reuse",
    )
    print_summary(report)
    if not report.complete:
        print("some captures have no result document (see above)", file=sys.stderr)
        return 1
    if report.failed:
        # Each has its ERROR document, but a step broke rather than the input being bad.
        print("some executions FAILED after their retries (see above)", file=sys.stderr)
        return 1
    if report.undelivered:
        # The documents stand and record the failure; the proctoring system never got them.
        print("some webhook deliveries failed after their retries (see above)", file=sys.stderr)
        return 1
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from dev.demo import build_demo, check_results
    from dev.runner import BUILT_LAYOUT, print_summary, run_folder

    root = Path(args.dir)
    expected = build_demo(root)
    print(f"demo exam written to {root} ({len(expected)} captures, expectations in {root / 'expected.json'})")
    report = run_folder(
        root, analyzer="local", workers=args.workers, progress=not args.no_progress, extra_env=BUILT_LAYOUT
    )
    print_summary(report)
    problems = check_results(root, expected)
    for key, want in expected.items():
        mark = "differs" if any(problem.startswith(key) for problem in problems) else "as expected"
        print(
            f"  {key.removeprefix('images/'):<40} {want['status']:<11} {', '.join(want['reasons']) or '-':<18} "
            f"{mark}  ({want['why']})"
        )
    if problems:
        print("\n".join(["", "Verdicts that differ from expected.json:", *problems]), file=sys.stderr)
        return 1
    return 0


def cmd_menu(args: argparse.Namespace) -> int:
    from dev.menu import interactive_menu

    return interactive_menu(Path(args.dir), analyzer=args.analyzer, webhook=args.webhook, secret=_secret(args))


def cmd_bench(args: argparse.Namespace) -> int:
    from dev.bench import run_benchmark

    return run_benchmark(captures=args.captures, size=args.size, workers=args.workers, keep=args.keep)


def cmd_load(args: argparse.Namespace) -> int:
    from dev.load import run_load

    return run_load(captures=args.captures, students=args.students, workers=args.workers, keep=args.keep)


def cmd_burst(args: argparse.Namespace) -> int:
    from dev.burst import run_burst

    return run_burst(args.uploads, args.tps, over=args.over, runs=args.runs)


def cmd_reconcile(args: argparse.Namespace) -> int:
    from dev.reconcile import run

    return run(args.target, settle_minutes=args.settle, start=args.start, as_json=args.json)


def cmd_review(args: argparse.Namespace) -> int:
    from dev.review import run

    return run(args.target, csv_path=args.csv, html_path=args.html, statuses=args.status, exam=args.exam)


def _non_negative(text: str, unit: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of {unit}, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


def non_negative_seconds(text: str) -> float:
    return _non_negative(text, "seconds")


def non_negative_minutes(text: str) -> float:
    return _non_negative(text, "minutes")


def cmd_webhook(args: argparse.Namespace) -> int:
    from dev.webhook import serve

    return serve(args.port, _secret(args))


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def capture_pattern(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a capture's path or a glob such as 'exam1/ana/*', got nothing")
    return text


def port_number(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 1 to 65535, got {text!r}")
    return int(text)


def capture_size(text: str) -> str:
    """``WxH`` for generated captures, each side at least Rekognition's 80 px and at most 8000."""
    width, _, height = text.lower().partition("x")
    if not (width.isdigit() and height.isdigit()):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 640x480, got {text!r}")
    if not all(80 <= int(side) <= 8000 for side in (width, height)):
        raise argparse.ArgumentTypeError(f"each side must be between 80 and 8000 px, got {text!r}")
    return f"{int(width)}x{int(height)}"


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m dev", description="Local proctoring tools (never deployed).")
    commands = main.add_subparsers(dest="command", required=True)

    def pipeline_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--analyzer",
            choices=["local", "rekognition"],
            default="local",
            help="local: offline dlib models (default); rekognition: the real service, your credentials",
        )
        sub.add_argument("--webhook", metavar="URL", help="POST each result document to this URL")
        sub.add_argument("--webhook-secret", help="HMAC key for the signature (default: $PROCTORING_WEBHOOK_SECRET)")

    run = commands.add_parser("run", help="process every capture under DIR/images against DIR/reference")
    run.add_argument("dir", metavar="DIR", help="the run folder, holding images/{exam}/{student}/ and reference/")
    run.add_argument(
        "--only",
        action="append",
        type=capture_pattern,
        metavar="GLOB",
        help="process only matching captures (a path, a folder or a glob on the key, e.g. 'exam1/ana/*'); repeatable",
    )
    pipeline_options(run)
    run.add_argument("--workers", type=positive_int, default=None, help="worker processes (default: one per core)")
    run.add_argument(
        "--in-flight",
        type=positive_int,
        default=None,
        metavar="N",
        help="students each worker runs at once (default: 1 with the local analyzer, which keeps a core busy; "
        "4 with rekognition, whose calls mostly wait on the network)",
    )
    run.add_argument(
        "--reanalyse",
        action="store_true",
        help="analyse every capture again; by default a capture whose image, reference and analysis settings "
        "are unchanged since an earlier run reuses that run's analyses (every other step runs as always)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.set_defaults(handler=cmd_run)

    demo = commands.add_parser("demo", help="build a sample exam in DIR from real photos and run it")
    demo.add_argument("dir", metavar="DIR", nargs="?", default="demo", help="where to build the exam (default: demo)")
    demo.add_argument("--workers", type=positive_int, default=None, help="worker processes (default: one per core)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.set_defaults(handler=cmd_demo)

    menu = commands.add_parser("menu", help="interactive tester on DIR")
    menu.add_argument("dir", metavar="DIR", help="the run folder, laid out as for run")
    pipeline_options(menu)
    menu.set_defaults(handler=cmd_menu)

    bench = commands.add_parser("bench", help="throughput, step times, orchestration overhead, peak RSS")
    bench.add_argument("-n", "--captures", type=positive_int, default=200, help="generated captures (default 200)")
    bench.add_argument("--size", type=capture_size, default="640x480", help="capture size WxH (default 640x480)")
    bench.add_argument(
        "--workers", type=positive_int, default=None, help="processes of the multi-process run (default: one per core)"
    )
    bench.add_argument("--keep", metavar="DIR", help="build the captures in DIR and keep them")
    bench.set_defaults(handler=cmd_bench)

    load = commands.add_parser("load", help="many captures in one run: nothing lost, nothing sent twice")
    load.add_argument("-n", "--captures", type=positive_int, default=1000, help="captures (default 1000)")
    load.add_argument("--students", type=positive_int, default=50, help="students they are spread over (default 50)")
    load.add_argument("--workers", type=positive_int, default=None, help="worker processes (default: one per core)")
    load.add_argument("--keep", metavar="DIR", help="build the captures in DIR and keep them")
    load.set_defaults(handler=cmd_load)

    burst = commands.add_parser("burst", help="how large a burst of uploads the ASL's throttling retries absorb")
    burst.add_argument("-n", "--uploads", type=positive_int, default=1000, help="uploads (default 1000)")
    burst.add_argument("--tps", type=positive_int, default=50, help="Rekognition quota per API, calls/s (default 50)")
    burst.add_argument(
        "--over", type=non_negative_seconds, default=0.0, help="seconds the uploads are spread over (default 0)"
    )
    burst.add_argument("--runs", type=positive_int, default=5, help="simulations, each with its own jitter")
    burst.set_defaults(handler=cmd_burst)

    webhook = commands.add_parser("webhook", help="a receiver that verifies signatures and prints each alert")
    webhook.add_argument("--port", type=port_number, default=8765, help="port on 127.0.0.1 (default 8765)")
    webhook.add_argument(
        "--webhook-secret",
        help="HMAC key the signatures are checked with (default: $PROCTORING_WEBHOOK_SECRET, else the key "
        "run and menu sign with by default)",
    )
    webhook.set_defaults(handler=cmd_webhook)

    reconcile = commands.add_parser(
        "reconcile", help="check that every capture has its one finished document (a run folder or s3://BUCKET)"
    )
    reconcile.add_argument("target", metavar="DIR|s3://BUCKET", help="a run folder, or the deployed bucket")
    reconcile.add_argument(
        "--settle",
        type=non_negative_minutes,
        default=None,
        metavar="MINUTES",
        help="uploads younger than this are in progress, not problems (default: 15 for a bucket, 0 for a folder)",
    )
    reconcile.add_argument(
        "--start",
        metavar="STATE_MACHINE_ARN",
        help="start one execution per missing, stale, stuck or failed capture (s3://BUCKET only)",
    )
    reconcile.add_argument("--json", action="store_true", help="every capture's state as JSON on stdout")
    reconcile.set_defaults(handler=cmd_reconcile)

    from dev.review import STATUSES

    review = commands.add_parser(
        "review",
        help="the captures a proctor has to look at: a table, CSV, or a page with the pictures (a run folder or "
        "s3://BUCKET)",
    )
    review.add_argument("target", metavar="DIR|s3://BUCKET", help="a run folder, or the deployed bucket")
    review.add_argument("--exam", metavar="EXAM", help="only this exam's documents")
    review.add_argument(
        "--status",
        action="append",
        choices=STATUSES,
        help="only documents with this status; repeatable (default: ALERT_FINAL, ALERT and ERROR on the "
        "terminal and the page, every status in --csv)",
    )
    review.add_argument("--csv", metavar="FILE", help="write the documents as CSV rows to FILE ('-': standard output)")
    review.add_argument(
        "--html",
        metavar="FILE",
        help="write a page of the captures to look at, beside each student's reference, faces boxed "
        "(it holds students' faces)",
    )
    review.set_defaults(handler=cmd_review)
    return main


def main(argv: list[str] | None = None) -> int:
    from dev.checks import UsageError
    from dev.runner import RunInterrupted, WorkerCrashed

    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except (UsageError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except WorkerCrashed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except RunInterrupted as error:
        # bench and load measure on a scratch folder they remove: nothing is left to finish.
        print(error if args.handler in (cmd_run, cmd_demo) else "interrupted", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The output was piped into a reader that stopped early (`| head`): not an error. Python's
        # documented remedy: point stdout at devnull, so flushing it at exit raises nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # as a shell reports a writer ended by SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
