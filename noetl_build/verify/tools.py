"""The checkers verify installs in its own venv (requirements/verify.txt), run as `python -m`."""

from __future__ import annotations

import os
import sys


def python_module(module: str, *args: str | os.PathLike[str]) -> list[str | os.PathLike[str]]:
    """A checker installed in this venv, as a command for procs.capture."""
    return [sys.executable, "-m", module, *args]
