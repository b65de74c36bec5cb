"""Running the checkers: capture everything, never raise on a non-zero exit (that is a verdict)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Captured:
    command: tuple[str, ...]
    code: int | None  # None: timed out or could not start
    stdout: str
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
    cmd: Sequence[str | os.PathLike[str]],
    *,
    timeout: float = 120,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Captured:
    args = tuple(os.fspath(c) for c in cmd)
    try:
        proc = subprocess.run(
            args, capture_output=True, text=True, errors="replace", timeout=timeout,
            env=dict(env) if env is not None else None, cwd=cwd, check=False,
        )
    except FileNotFoundError:
        return Captured(args, None, "", f"'{args[0]}' not found (run 'nox -s doctor')")
    except PermissionError as exc:
        return Captured(args, None, "", f"cannot execute '{args[0]}': {exc.strerror}")
    except OSError as exc:
        return Captured(args, None, "", f"cannot execute '{args[0]}': {exc}")
    except subprocess.TimeoutExpired:
        return Captured(args, None, "", f"timed out after {timeout:.0f} s")
    return Captured(args, proc.returncode, proc.stdout, proc.stderr)


def python_module(module: str, *args: str | os.PathLike[str]) -> list[str | os.PathLike[str]]:
    """A checker installed in this venv (requirements/verify.txt), run as `python -m`."""
    return [sys.executable, "-m", module, *args]
