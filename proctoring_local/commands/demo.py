"""``proctoring demo``: its options and what it prints."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from proctoring_local.commands.options import Commands, workers_option
from proctoring_local.services.demo_exam import build_demo, check_results


def cmd_demo(args: argparse.Namespace) -> int:
    from proctoring_local.services.run.summary import print_summary
    from proctoring_local.services.run.workers import BUILT_LAYOUT, run_folder

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


def register(commands: Commands) -> None:
    demo = commands.add_parser("demo", help="build a sample exam in DIR from real photos and run it")
    demo.add_argument("dir", metavar="DIR", nargs="?", default="demo", help="where to build the exam (default: demo)")
    workers_option(demo)
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.set_defaults(handler=cmd_demo, finishes_on_interrupt=True)
