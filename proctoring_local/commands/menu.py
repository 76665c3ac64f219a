"""``proctoring menu DIR|s3://BUCKET``: the interactive tester, on the same pipeline as ``run``."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proctoring_local.commands.options import Commands, pipeline_options, webhook_secret
from proctoring_local.services.checks import UsageError, check_run_folder, check_settings
from proctoring_local.services.run.captures import find_captures, key_name_problem, stored_result_path
from proctoring_local.services.run.summary import print_summary
from proctoring_local.services.run.workers import RunInterrupted, run_folder
from proctoring_local.services.terminal import printable_key

if TYPE_CHECKING:
    from proctoring.config import Settings

MENU = """
  1) test one image
  2) test several images
  3) test one image without a reference
  4) run all
  q) quit
"""


# Up to this many captures are listed one per line; more are listed one line per student folder.
LIST_EACH_UP_TO = 60


def _ranges(numbers: list[int]) -> str:
    """``1-3, 7``: the numbers as ranges of consecutive ones."""
    spans: list[list[int]] = []
    for number in numbers:
        if spans and number == spans[-1][1] + 1:
            spans[-1][1] = number
        else:
            spans.append([number, number])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def _list(keys: list[str]) -> None:
    if len(keys) <= LIST_EACH_UP_TO:
        for index, key in enumerate(keys, 1):
            print(f"  {index:>3}. {printable_key(key)}")
        return
    folders: dict[str, list[int]] = {}
    for index, key in enumerate(keys, 1):
        folders.setdefault(key.rpartition("/")[0], []).append(index)
    for folder, numbers in folders.items():
        captures = f"{len(numbers)} capture{'s' if len(numbers) != 1 else ''}"
        print(f"  {_ranges(numbers):>11}  {printable_key(folder)}/ ({captures})")
    print(f"  ({len(keys)} captures: give numbers, or a file, folder or glob such as exam1/ana/c1.jpg)")


def _pick(keys: list[str], prompt: str, many: bool, lookup: Callable[[str], list[str]] | None = None) -> list[str]:
    """Numbers from the list, separated by spaces or commas; ``3-7`` is a range. With ``lookup``,
    anything else is a file, folder or glob, as ``run --only`` takes them."""
    _list(keys)
    try:
        answer = input(prompt).strip()
    except EOFError:
        return []
    chosen: list[str] = []
    for part in answer.replace(",", " ").split():
        first, _, last = part.partition("-")
        if first.isdigit() and (last.isdigit() or not last) and 1 <= int(first) <= int(last or first) <= len(keys):
            chosen.extend(key for key in keys[int(first) - 1 : int(last or first)] if key not in chosen)
            continue
        try:
            found = lookup(part) if lookup and not part.replace("-", "").isdigit() else []
        except UsageError:
            found = []
        if found:
            chosen.extend(key for key in found if key not in chosen)
        else:
            print(f"  ignoring {part!r}: not a number (or range) from the list, nor a capture's file, folder or glob")
    return chosen if many else chosen[:1]


def _show(root: Path, keys: list[str], settings: Settings, *, without_reference: bool = False) -> None:
    for key in keys:
        if key_name_problem(key):  # not run: the run's summary says why
            continue
        result = stored_result_path(root, key, settings)
        if result is not None:
            document = json.loads(result.read_text())
            print(f"  {printable_key(key)}: {document['status']} {document.get('reason', '')}")
            for detail in document.get("details", []):
                if without_reference and detail.startswith("The student has no reference photo"):
                    detail = "The student has no reference photo (set aside for this what-if test)."
                print(f"      - {detail}")


# The menu's test without a reference is a what-if run: its own results folder and state, so the
# real verdicts, alert counts and idempotency records stay untouched.
WITHOUT_REFERENCE = {
    "REFERENCE_PREFIX": "what-if-without-reference",  # a folder that never exists
    "RESULTS_PREFIX": "results-without-reference",
    "STATE_DIR": ".proctoring/without-reference",  # under the run folder
}


def interactive_menu(target: str, *, analyzer: str | None, webhook: str | None, secret: str) -> int:
    """The original tester's options, on a run folder or on a bucket's captures (``s3://BUCKET``:
    each choice is confirmed with its Rekognition cost, then copied down and run as ``run s3://``)."""
    settings = check_settings({})  # the user's environment: thresholds, and the folders' prefixes
    source = None
    if target.startswith("s3://"):
        from proctoring_local.services.bucket_run import BucketSource

        analyzer = analyzer or "rekognition"
        source = BucketSource(target, None, analyzer, write_results=False, yes=False, asking=True)
        root = source.out
        keys = source.select().captures
    else:
        root = Path(target)
        check_run_folder(root, "menu", settings.images_prefix)
        keys = find_captures(root, images_prefix=settings.images_prefix)
        if not keys:
            raise UsageError(f"no images found under {root / settings.images_prefix}")
    options = {"analyzer": analyzer or "local", "webhook": webhook, "secret": secret, "workers": 1}

    def lookup(pattern: str) -> list[str]:
        if source is None:
            return find_captures(root, [pattern], settings.images_prefix)
        return [key for key in keys if fnmatch.fnmatchcase(key, pattern) or fnmatch.fnmatchcase(key, f"*{pattern}")]

    while True:
        print(MENU)
        try:
            choice = input("choice: ").strip().lower()
        except EOFError:
            return 0
        if choice == "q":
            return 0
        if choice in {"1", "2", "3"}:
            prompt = "numbers, ranges or names (e.g. 2 4-6 exam1/ana): " if choice == "2" else "number or name: "
            chosen = _pick(keys, prompt, many=choice == "2", lookup=lookup)
            if chosen:
                _test(root, chosen, options, without_reference=choice == "3", source=source)
        elif choice == "4":
            _run_menu_choice(lambda: _run_all(root, keys, options, source))
        else:
            print("  choose 1, 2, 3, 4 or q")


def _run_all(root: Path, keys: list[str], options: dict[str, Any], source: Any) -> None:
    if source is None:
        print_summary(run_folder(root, extra_env={}, **{**options, "workers": None}))
        return
    extra = source.prepare(keys)
    if copied := source.copied(keys):
        print_summary(
            source.with_refusals(run_folder(root, only=copied, extra_env=extra, **{**options, "workers": None}))
        )


def _test(root: Path, chosen: list[str], options: dict[str, Any], *, without_reference: bool, source: Any) -> None:
    extra: dict[str, str] = {}
    if without_reference:
        extra = {**WITHOUT_REFERENCE, "STATE_DIR": str(root / WITHOUT_REFERENCE["STATE_DIR"])}

    def test() -> None:
        if without_reference:
            print(
                "  What if the student had no reference photo: judged without it, into "
                f"{WITHOUT_REFERENCE['RESULTS_PREFIX']}/ with its own alert counts; the real results stay as they are."
            )
        if source is not None:
            extra.update(source.prepare(chosen))  # the cost confirmed, the captures copied down
        keys = source.copied(chosen) if source is not None else chosen
        if not keys:
            return  # refused, and said why
        report = run_folder(root, only=keys, extra_env=extra, progress=False, **options)
        if source is not None:
            report = source.with_refusals(report)
        _show(root, chosen, check_settings(extra), without_reference=without_reference)
        print_summary(report, name_missing_references=not without_reference)  # hidden on purpose there

    _run_menu_choice(test)


def _run_menu_choice(action: Callable[[], None]) -> None:
    """Run a menu choice; a usage error (start the receiver, ...) or Ctrl-C is said, and the menu stays."""
    try:
        action()
    except UsageError as error:
        print(f"  error: {error}")
    except RunInterrupted as error:
        print(f"  {error}")


def register(commands: Commands) -> None:
    menu = commands.add_parser("menu", help="interactive tester on DIR, or on a bucket's captures (s3://BUCKET)")
    menu.add_argument(
        "dir",
        metavar="DIR|s3://BUCKET",
        help="the run folder, laid out as for run; or a bucket (asks before each call)",
    )
    pipeline_options(menu)
    menu.set_defaults(
        handler=lambda args: interactive_menu(
            args.dir, analyzer=args.analyzer, webhook=args.webhook, secret=webhook_secret(args)
        )
    )
