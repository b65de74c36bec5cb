"""verify's `pypi` check: PyPI's upload rules (noetl_build/pypi_rules.py) on every wheel and the sdist.

A development build's local version (``+g1234abc``) is the one rule verify does not fail on, as
its version check does not: the row passes and says that this build can go to a private index,
never to PyPI (`publish` refuses it there, and runs the same rules again before its first upload).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from packaging.version import InvalidVersion, Version

from ..pypi_rules import WAREHOUSE_COMMIT, Refusal, refusals
from .context import Context
from .results import Verdict, check, fail, ok

if TYPE_CHECKING:
    from .checks_sdist import UnpackedSdist

LOCAL_VERSION = "local-version"
SHOWN = 3  # refusals named in the row; the rest counted


@check("pypi")
def check_pypi(ctx: Context) -> Verdict:
    """No upload rule of PyPI's refuses the wheel (a local version only noted)."""
    return pypi_verdict(ctx.wheel.path, ctx.wheel.version)


@check("pypi")
def check_sdist_pypi(sdist: UnpackedSdist) -> Verdict:
    """No upload rule of PyPI's refuses the sdist (a local version only noted)."""
    return pypi_verdict(sdist.path, sdist.version)


def pypi_verdict(path: Path, version: str) -> Verdict:
    found = refusals(path, real_index=True)
    local = [r for r in found if r.rule == LOCAL_VERSION]
    others = [r for r in found if r.rule != LOCAL_VERSION]
    note = _local_note(version) if local else ""
    if others:
        return fail(_listed(others) + (f"; and {note}" if note else ""))
    rules = f"PyPI's upload rules (warehouse {WAREHOUSE_COMMIT[:7]})"
    if note:
        return ok(f"{rules}: none refuses it but for its local version: {note}")
    return ok(f"{rules}: none refuses it")


def _local_note(version: str) -> str:
    try:
        local = Version(version).local
    except InvalidVersion:
        local = None
    shown = f"'+{local}'" if local else "a local version"
    return f"{shown} cannot go to PyPI (a development build: a private index takes it)"


def _listed(found: list[Refusal]) -> str:
    named = "; ".join(f"PyPI would refuse it ({r.rule}): {r.reason}" for r in found[:SHOWN])
    more = f" (+{len(found) - SHOWN} more)" if len(found) > SHOWN else ""
    return named + more
