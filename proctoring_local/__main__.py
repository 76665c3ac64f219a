"""The ``proctoring`` command (also ``python -m proctoring_local``). Each subcommand is a module of
:mod:`proctoring_local.commands`, which declares its options in ``register``; see docs/local.md."""

from __future__ import annotations

import argparse
import os
import sys

from proctoring_local.commands import (
    accuracy,
    bench,
    burst,
    cost,
    dashboard,
    decide,
    demo,
    load,
    menu,
    oversight,
    pause,
    reconcile,
    report,
    rescore,
    review,
    run,
    webhook,
)
from proctoring_local.services.checks import UsageError
from proctoring_local.services.dotenv_file import load_env_file
from proctoring_local.services.run.workers import RunInterrupted, WorkerCrashed

# In the order `proctoring --help` lists them.
COMMANDS = (
    run,
    demo,
    menu,
    bench,
    accuracy,
    cost,
    load,
    burst,
    webhook,
    reconcile,
    review,
    rescore,
    report,
    dashboard,
    decide,
    oversight,
    pause,
)


def parser() -> argparse.ArgumentParser:
    # Installed as the `proctoring` command too (make install); named as it was called.
    prog = "proctoring" if os.path.basename(sys.argv[0]) == "proctoring" else "python -m proctoring_local"
    main = argparse.ArgumentParser(prog=prog, description="Local proctoring tools (never deployed).")
    commands = main.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(commands)
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    folder = getattr(args, "dir", None) or getattr(args, "target", None)
    args.env_file = load_env_file(None if folder is None or str(folder).startswith("s3://") else folder)
    # What the tools write derives from students' faces (copies of captures, boxes, verdicts, pages,
    # state): readable by the user alone, files 0600 in folders 0700, whatever the user's umask.
    umask = os.umask(0o077)
    try:
        return _handle(args)
    finally:
        os.umask(umask)


def _handle(args: argparse.Namespace) -> int:
    try:
        return int(args.handler(args))
    except (UsageError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except WorkerCrashed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except RunInterrupted as error:
        # bench and load measure on a scratch folder they remove: nothing is left to finish.
        print(error if getattr(args, "finishes_on_interrupt", False) else "interrupted", file=sys.stderr)
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
