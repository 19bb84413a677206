"""The errors omnifill raises for bad input, and how they are worded.

A user mistake (a bad row, a missing column, a wrong config key) is an ``InputError`` that
carries every ``Problem`` found, each naming the file, the row, the column and the value.
The CLI prints them and exits 2; it never shows a traceback for them. Kernel errors are not
user mistakes: ``_core`` maps its error codes to MemoryError / IndexError / RuntimeError.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input.

    row: 1-based data row (the header is not a row); for CSV and JSON Lines the message also
    gives the physical line number. None when the problem is with the whole file or column.
    """

    file: str
    row: int | None
    column: str | None
    value: Any
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}" + (f" (line {self.line})" if self.line is not None else ""))
        if self.column is not None:
            where.append(f"column {self.column!r}")
        head = ", ".join(where)
        val = "" if self.value is None else f": value {_show(self.value)}"
        return f"{head}{val}: {self.message}"


def _show(v: object) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


class InputError(ValueError):
    """Bad input. ``problems`` lists every problem found (up to the loader's cap)."""

    def __init__(self, problems: list[Problem], truncated: bool = False):
        self.problems = list(problems)
        self.truncated = truncated
        first = str(self.problems[0]) if self.problems else "invalid input"
        more = len(self.problems) - 1
        super().__init__(first + (f" (and {more} more problem{'s' if more != 1 else ''})" if more else ""))
