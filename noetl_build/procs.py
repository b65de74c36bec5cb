"""Running programs, the one way the build package does it.

    capture(cmd)      never raises: a Captured with the exit code (None: could not start, or
                      timed out) and the output; verify's checkers judge it, callers map it to
                      their own error
    run(cmd, what=)   raises CommandError naming ``what``, the exit code and the log
    output(cmd)       the stripped stdout of a quick query, or None
    background(cmd)   a server for the length of a with-block, its whole process group
                      stopped after (SIGTERM, then SIGKILL)

With ``log`` the output (stdout and stderr, interleaved as they came) streams into that file,
which is kept (``tail -f`` works); with ``echo`` it goes to this process's stderr (pip shows it).
Programs never read this process's stdin.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import CommandError

Command = Sequence[str | os.PathLike[str]]


@dataclass(frozen=True)
class Captured:
    command: tuple[str, ...]
    code: int | None  # None: timed out or could not start (stderr says which)
    stdout: str  # with log or echo: everything the program printed (the log's text), else its stdout
    stderr: str

    @property
    def ok(self) -> bool:
        return self.code == 0

    def last_line(self, default: str = "") -> str:
        """The last non-empty line of stderr, else of stdout: where tools put their reason."""
        for text in (self.stderr, self.stdout):
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            if lines:
                return lines[-1]
        return default

    def failure(self) -> str:
        """A one-line account of a failed run."""
        if self.code is None:
            return self.stderr or "did not run"
        return f"exit {self.code}: {self.last_line('no output')}"


def capture(
    cmd: Command,
    *,
    timeout: float | None = 120,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    log: Path | None = None,
    echo: bool = False,
) -> Captured:
    """Run ``cmd`` to the end (or ``timeout`` seconds); never raises for the program's sake."""
    args = tuple(os.fspath(c) for c in cmd)
    environment = dict(env) if env is not None else None
    try:
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("w", encoding="utf-8") as sink:
                sink.write(f"$ {shlex.join(args)}\n")
                sink.flush()
                code = _wait(args, timeout, environment, cwd, stdout=sink, stderr=subprocess.STDOUT).returncode
            return Captured(args, code, log.read_text(encoding="utf-8", errors="replace"), "")
        if echo:
            code = _wait(args, timeout, environment, cwd, stdout=sys.stderr, stderr=None).returncode
            return Captured(args, code, "", "")
        proc = _wait(args, timeout, environment, cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return Captured(args, proc.returncode, proc.stdout, proc.stderr)
    except FileNotFoundError:
        return Captured(args, None, "", f"'{args[0]}' not found (run 'nox -s doctor')")
    except PermissionError as exc:
        return Captured(args, None, "", f"cannot execute '{args[0]}': {exc.strerror}")
    except OSError as exc:
        return Captured(args, None, "", f"cannot execute '{args[0]}': {exc}")
    except subprocess.TimeoutExpired:
        return Captured(args, None, "", f"timed out after {timeout:.0f} s")


def _wait(
    args: tuple[str, ...], timeout: float | None, env: dict[str, str] | None, cwd: Path | None, **streams: object
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, text=True, encoding="utf-8", errors="replace",
        timeout=timeout,
        check=False, **streams,
    )


def run(
    cmd: Command,
    *,
    what: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    timeout: float | None = None,
    echo: bool = False,
) -> str:
    """Run ``cmd``; return its output. On failure raise CommandError naming ``what``."""
    out = capture(cmd, timeout=timeout, env=env, cwd=cwd, log=log, echo=echo)
    if out.code is None:
        raise CommandError(f"{what}: {out.stderr}", log=log)
    if not out.ok:
        text = out.stdout if log is not None else out.stdout + out.stderr
        tail = "\n".join(text.strip().splitlines()[-20:])
        where = f"; full log: {log}" if log else ""
        raise CommandError(f"{what} failed (exit {out.code}){where}", log=log, tail=tail)
    return out.stdout


def output(cmd: Command, *, timeout: float = 60, env: Mapping[str, str] | None = None) -> str | None:
    """The stripped stdout of a quick query, or None if the program is missing or fails."""
    out = capture(cmd, timeout=timeout, env=env)
    return out.stdout.strip() if out.ok else None


@contextmanager
def background(
    cmd: Command, *, log: Path, stop_seconds: float = 10, env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``cmd`` running in its own session, output to ``log``; on leaving, it and its children stop."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [os.fspath(c) for c in cmd], stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=dict(env) if env is not None else None,
        )
    try:
        yield process
    finally:
        _stop_group(process, stop_seconds)


def _stop_group(process: subprocess.Popen[bytes], seconds: float) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=seconds)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=seconds)


def first_on_path(names: Sequence[str]) -> str | None:
    """The full path of the first of ``names`` found on PATH, or None."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None
