"""Names printed to a terminal: a student or a client chooses them, so they are shown, never obeyed."""

from __future__ import annotations


def printable_key(key: str) -> str:
    """``key`` as it can be printed to a terminal: bytes of a file name that are not UTF-8 shown as
    ``\\xff``, and characters a terminal would act on (escape codes, line breaks, direction
    overrides) as their escapes, so that a name chosen by a student cannot rewrite the screen."""
    text = key.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text)


def as_cell(name: str) -> str:
    """A name as a cell of a rich table: printable, and its brackets not taken for markup."""
    from rich.markup import escape

    return escape(printable_key(name))
