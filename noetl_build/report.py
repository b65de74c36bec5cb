"""Rendering results: progress lines while working, one table at the end."""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path

from .errors import printable


_SAYING = threading.Lock()  # targets building at once say whole lines, never interleaved ones


def say(message: str) -> None:
    with _SAYING:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


def unexpected(exc: BaseException, log: Path, doing: str) -> str:
    """One line for an exception that is a bug, not a user's mistake; the traceback being
    handled goes to ``log`` (a temp file when that cannot be written), which the line names."""
    text = f"{dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')} {doing}\n{traceback.format_exc()}"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(text)
    except OSError:
        with tempfile.NamedTemporaryFile("w", prefix="noetl_build-crash-", suffix=".log", delete=False) as sink:
            sink.write(text)
            log = Path(sink.name)
    lines = str(exc).strip().splitlines() or ["no message"]
    first = printable(lines[0], 300)
    return (f"unexpected {type(exc).__name__}: {first} (a bug in noetl_build: please report it with the "
            f"traceback in {log})")


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{size} B"
        size /= 1024  # type: ignore[assignment]
    return str(size)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table with a rule under the header; right-aligns numeric-looking columns."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    numeric = [all(_is_number(row[i]) for row in rows) and bool(rows) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(c).rjust(w) if num else str(c).ljust(w)
            for c, w, num in zip(cells, widths, numeric)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def _is_number(cell: str) -> bool:
    head = str(cell).split(" ")[0]
    try:
        float(head)
    except ValueError:
        return head == "-"
    return True
