"""Every change the local engine makes to moto's Step Functions interpreter, in one place.

moto executes real ASL, but its Lambda tasks call the Lambda API (and Docker), its retries really
sleep, and it re-parses and deep-copies more than a local run needs. The engine changes the
interpreter at the points named in ``PATCH_POINTS`` and nowhere else. They are private names of
moto's, so they are pinned: ``CHECKED_ON`` lists the moto versions they were checked on, with a
digest of each patched object's source, and ``tests/local/test_moto_seam.py`` fails naming the point
that moved when an upgrade changes one. Then read the new source, adapt this module, and record
the new digests (``python -m proctoring_local.stand_ins.moto_seam``).

Two changes are needed for behaviour (``dispatch``, ``retry_sleep``); the others are speed-ups,
each measured with the no-op analyzer (docs/local.md#the-moto-seam) and kept because it pays.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib
import inspect
import marshal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

CHECKED_ON = ("5.2.5",)
_ASL = "moto.stepfunctions.parser.asl."

# name -> (module, attribute path): what the seam replaces or reads, and nothing else.
PATCH_POINTS: dict[str, tuple[str, str]] = {
    "dispatch": (_ASL + "component.state.exec.state_task.lambda_eval_utils", "_invoke_lambda_function"),
    "retry_sleep": (_ASL + "component.common.retry.retrier_decl", "time"),
    "parse_once": (_ASL + "parse.asl_parser", "AmazonStateLanguageParser.parse"),
    "wake_on_end": ("moto.stepfunctions.parser.backend.execution", "BaseExecutionWorkerCommunication.terminated"),
    "compile_paths_once": (_ASL + "utils.json_path", "parse"),
    "compile_result_paths_once": (_ASL + "component.common.path.result_path", "parse"),
    "threads": ("moto.stepfunctions.parser.utils", "TMP_THREADS"),
    "backend": ("moto.stepfunctions.parser.models", "stepfunctions_parser_backends"),
    **{
        f"json_copy:{name}": (_ASL + name, "copy")
        for name in (
            "eval.states",
            "eval.environment",
            "eval.event.event_manager",
            "component.common.string.string_expression",
            "component.common.path.result_path",
            "component.state.exec.execute_state",
            "component.state.exec.state_parallel.state_parallel",
        )
    },
}

# Digest of the source of each patched function as moto 5.2.5 ships it (modules and plain
# objects are checked for presence only): a change means the replacement must be read again.
SOURCE_DIGESTS: dict[str, str] = {
    "dispatch": "0ebcddb746e422b0",
    "parse_once": "a59a7d18760fb22e",
    "wake_on_end": "360372a6a57bf99b",
}

SPEEDUPS = ("parse_once", "wake_on_end", "compile_paths_once", "json_copy")


class MotoSeamChanged(RuntimeError):
    """moto no longer has, or has changed, something the local engine patches."""


def resolve(point: str) -> Any:
    module_name, attribute = PATCH_POINTS[point]
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as error:
        raise MotoSeamChanged(
            f"moto {moto_version()} has no {module_name}.{attribute}, which the local engine patches ({point}); "
            f"it was checked on moto {', '.join(CHECKED_ON)}: adapt proctoring_local/stand_ins/moto_seam.py"
        ) from error
    return target


def source_digest(point: str) -> str:
    return hashlib.sha256(inspect.getsource(resolve(point)).encode()).hexdigest()[:16]


def moto_version() -> str:
    from importlib.metadata import version

    return version("moto")


def changes() -> list[str]:
    """What differs from the moto the seam was checked on: one sentence per patch point."""
    found = []
    for point in PATCH_POINTS:
        try:
            resolve(point)
        except MotoSeamChanged as error:
            found.append(str(error))
    for point, digest in SOURCE_DIGESTS.items():
        if point in PATCH_POINTS and not any(point in line for line in found) and source_digest(point) != digest:
            module_name, attribute = PATCH_POINTS[point]
            found.append(
                f"moto {moto_version()} changed {module_name}.{attribute} ({point}) since moto "
                f"{', '.join(CHECKED_ON)}: read its new source, adapt proctoring_local/stand_ins/moto_seam.py, "
                "record the new digest"
            )
    return found


def for_moto(definition: dict[str, Any]) -> dict[str, Any]:
    """The ASL as moto 5.2.5's parser takes it, meaning the same: its grammar reads a Map's
    ``ToleratedFailurePercentage`` only as a decimal number (``5.0``), where AWS and statelint
    take the integer ``5`` the ASL file holds. (moto does not apply the tolerance either.)"""

    def visit(states: dict[str, Any]) -> None:
        for state in states.values():
            if isinstance(state.get("ToleratedFailurePercentage"), int):
                state["ToleratedFailurePercentage"] = float(state["ToleratedFailurePercentage"])
            for branch in state.get("Branches", []):
                visit(branch["States"])
            if "ItemProcessor" in state:
                visit(state["ItemProcessor"]["States"])

    visit(definition["States"])
    return definition


def json_copy(value: Any) -> Any:
    """Deep copy of JSON-shaped data; anything else falls back to copy.deepcopy.

    A marshal round trip copies dicts, lists and scalars in C (about 4x copy.deepcopy) and, like
    deepcopy, keeps shared sub-objects shared. It refuses any other type, subclasses of dict
    included, which then take the generic path.
    """
    try:
        return marshal.loads(marshal.dumps(value))  # noqa: S302 - bytes made here, never read from outside
    except ValueError:
        return copy.deepcopy(value)


finished = threading.Condition()  # notified whenever an execution ends (``wake_on_end``)


@contextmanager
def patched(
    dispatch: Callable[[dict[str, Any], str, Any], dict[str, Any]],
    retry_sleep: Callable[[float], None] | None = None,
    speedups: tuple[str, ...] = SPEEDUPS,
) -> Iterator[None]:
    """moto's interpreter with Lambda tasks sent to ``dispatch(parameters, region, credentials)``
    (which returns the Invoke response), retries sleeping through ``retry_sleep`` (when given), and
    the ``speedups`` named; everything is put back on exit."""
    undo: list[Callable[[], None]] = []

    def replace(point: str, new: Any) -> None:
        module_name, attribute = PATCH_POINTS[point]
        owner: Any = importlib.import_module(module_name)
        *parents, name = attribute.split(".")
        for part in parents:
            owner = getattr(owner, part)
        original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        setattr(owner, name, new)
        undo.append(lambda: setattr(owner, name, original))

    replace("dispatch", dispatch)
    if retry_sleep is not None:
        replace("retry_sleep", SimpleNamespace(sleep=retry_sleep, time=time.time, monotonic=time.monotonic))
    _speed_up(replace, speedups)
    try:
        yield
    finally:
        while undo:
            undo.pop()()


def _speed_up(replace: Callable[[str, Any], None], speedups: tuple[str, ...]) -> None:
    """Apply the named speed-ups (each measured: docs/local.md#the-moto-seam)."""
    if "parse_once" in speedups:
        # moto parses the definition again for every execution (ANTLR, about 0.1 s). The parsed
        # program holds no per-execution state (that lives in the Environment), so parse once.
        parse = resolve("parse_once")
        replace("parse_once", staticmethod(functools.lru_cache(maxsize=8)(parse)))
    if "wake_on_end" in speedups:
        # Wake the waiting thread when an execution ends instead of polling on a short timer.
        terminated = resolve("wake_on_end")

        def terminated_and_notify(communication: Any) -> None:
            terminated(communication)
            with finished:
                finished.notify_all()

        replace("wake_on_end", terminated_and_notify)
    if "compile_paths_once" in speedups:
        # Every JSONPath is compiled again at every use (a PLY parser build); compiled paths are immutable.
        for point in ("compile_paths_once", "compile_result_paths_once"):
            replace(point, functools.lru_cache(maxsize=1024)(resolve(point)))
    if "json_copy" in speedups:
        # The state data is JSON: copy it as such rather than with the generic copy.deepcopy.
        for point in PATCH_POINTS:
            if point.startswith("json_copy:"):
                replace(point, SimpleNamespace(deepcopy=json_copy, copy=copy.copy))


if __name__ == "__main__":  # print the digests to record after checking a new moto
    print(f"moto {moto_version()}")
    for point in SOURCE_DIGESTS:
        print(f'    "{point}": "{source_digest(point)}",')
