"""Running programs: quiet on success, the command and its output on failure."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import BuildError


class CommandError(BuildError):
    """A program exited non-zero; ``log`` holds its full output when it was saved."""

    def __init__(self, message: str, *, log: Path | None = None, tail: str = "") -> None:
        super().__init__(message)
        self.log = log
        self.tail = tail


def run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    what: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
) -> str:
    """Run ``cmd``; return its output. On failure raise CommandError naming ``what``.

    With ``log`` the combined output is also written there (and kept on failure).
    """
    args = [os.fspath(c) for c in cmd]
    try:
        proc = subprocess.run(
            args,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            check=False,
        )
    except FileNotFoundError:
        raise CommandError(f"{what}: '{args[0]}' not found (run 'nox -s doctor')") from None
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"$ {shlex.join(args)}\n{proc.stdout}")
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-20:])
        where = f"; full log: {log}" if log else ""
        raise CommandError(f"{what} failed (exit {proc.returncode}){where}", log=log, tail=tail)
    return proc.stdout


def output(cmd: Sequence[str | os.PathLike[str]], **kwargs: object) -> str | None:
    """The stripped stdout of a quick query, or None if the program is missing or fails."""
    try:
        proc = subprocess.run(
            [os.fspath(c) for c in cmd], capture_output=True, text=True, check=False, timeout=60,
            **kwargs,  # type: ignore[call-overload]
        )
    except (FileNotFoundError, PermissionError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None
