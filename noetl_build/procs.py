"""Running programs: quiet on success, the command and its output on failure."""

from __future__ import annotations

import os
import shlex
import shutil
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

    With ``log`` the output streams into that file as it comes (``tail -f`` works), and the
    file is kept. Without it the output is only captured.
    """
    args = [os.fspath(c) for c in cmd]
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
    try:
        proc: subprocess.CompletedProcess[str] | subprocess.CompletedProcess[bytes]
        if log is None:
            proc = subprocess.run(
                args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True, errors="replace", check=False,
            )
            text = proc.stdout
        else:
            with log.open("w") as sink:
                sink.write(f"$ {shlex.join(args)}\n")
                sink.flush()
                proc = subprocess.run(args, cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT, check=False)
            text = log.read_text(errors="replace")
    except FileNotFoundError:
        raise CommandError(f"{what}: '{args[0]}' not found (run 'nox -s doctor')") from None
    if proc.returncode != 0:
        tail = "\n".join(text.strip().splitlines()[-20:])
        where = f"; full log: {log}" if log else ""
        raise CommandError(f"{what} failed (exit {proc.returncode}){where}", log=log, tail=tail)
    return text


def first_on_path(names: Sequence[str]) -> str | None:
    """The full path of the first of ``names`` found on PATH, or None."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


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
