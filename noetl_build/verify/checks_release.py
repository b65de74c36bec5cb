"""Checks of what a user gets: one version everywhere, and the files installing the wheel gives.

Both apply to every wheel, including the ones this host cannot run: the version is read from
the file name, METADATA, the package and the binary's bytes; the install is pip's own, told to
act as a machine of the wheel's platform (`--platform`), into a scratch directory.
"""

from __future__ import annotations

import email.policy
import os
import sys
from email.parser import BytesParser
from pathlib import Path

from packaging.version import InvalidVersion, Version

from ..errors import VersionError
from ..procs import capture
from ..sbom import sbom_member
from ..version import version_in_source
from .context import Context
from .execution import clean_environment
from .results import Verdict, check, fail, ok


INIT = "noetl/__init__.py"
CONSOLE_ENTRY = "noetl.cli_wrapper:main"
PYTHON = "3.12"  # the interpreter pip pretends to be (noetl's wheels are py3-none)
# What an installed noetl must have besides its binary: the wrapper, server, UI and DDL.
INSTALLED_FILES = ("noetl/__init__.py", "noetl/cli_wrapper.py", "noetl/server/app.py",
                   "noetl/core/ui/index.html", "noetl/database/ddl/sqlite/001_catalog.sql")


@check("version")
def check_version(ctx: Context) -> Verdict:
    """File name, METADATA, dist-info, noetl.__version__ and the binary all carry one version."""
    version = ctx.wheel.version
    try:
        if str(Version(version)) != version:
            return fail(f"'{version}' is not in PEP 440's normal form ({Version(version)})")
    except InvalidVersion:
        return fail(f"'{version}' is not a PEP 440 version")
    found = {"METADATA": _metadata_version(ctx), INIT: _package_version(ctx)}
    problems = [f"{where} says {said or 'nothing'}" for where, said in found.items() if said != version]
    if ctx.binary is None:
        problems.append(ctx.facts_problem or "no binary")
    elif version.encode() not in ctx.binary.read_bytes():  # what `noetl --version` prints after "noetl "
        problems.append(f"{ctx.binary_member} does not carry '{version}' (it prints another --version)")
    if problems:
        return fail(f"the file name says {version}, but " + "; ".join(problems))
    kind = "a release" if not (Version(version).is_devrelease or Version(version).local) else "a development build"
    return ok(f"{version} ({kind}) in the name, METADATA, {INIT} and the binary")


@check("install")
def check_install(ctx: Context) -> Verdict:
    """pip, acting as a machine of the wheel's platform, installs the binary, script and package."""
    if ctx.binary_member is None:
        return fail(ctx.facts_problem or "no binary in the wheel")
    target = ctx.work / "installed"
    platform_args = [arg for tag in ctx.wheel.platform_tags for arg in ("--platform", tag)]
    cmd: list[str | os.PathLike[str]] = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
           "--no-deps", "--no-compile", "--only-binary=:all:", "--python-version", PYTHON,
           *platform_args, "--target", target, ctx.wheel.path]
    out = capture(cmd, env=clean_environment(), timeout=300)
    if not out.ok:
        return fail(f"pip install --target (as {', '.join(ctx.wheel.platform_tags)}): {out.failure()}")
    problems = _installed_problems(ctx, target)
    if problems:
        return fail("; ".join(problems[:4]))
    return ok(f"pip put {ctx.binary_member} (0755), the `noetl` script and the package in place")


def _installed_problems(ctx: Context, target: Path) -> list[str]:
    member = ctx.binary_member or ""
    problems = []
    binary = target / member
    if not binary.is_file():
        problems.append(f"no {member} after installing")
    else:
        if os.name == "posix" and binary.stat().st_mode & 0o111 != 0o111:
            problems.append(f"{member} installed with mode {oct(binary.stat().st_mode & 0o777)}, not executable")
        if binary.read_bytes() != ctx.wheel.read_member(member):
            problems.append(f"{member} installed differs from the wheel's")
    script = target / "bin" / "noetl"
    if not script.is_file():
        problems.append("no `noetl` console script (bin/noetl)")
    elif "noetl.cli_wrapper" not in script.read_text(errors="replace"):
        problems.append("bin/noetl does not start noetl.cli_wrapper")
    entry_points = target / ctx.wheel.dist_info / "entry_points.txt"
    if not entry_points.is_file() or CONSOLE_ENTRY not in entry_points.read_text():
        problems.append(f"entry_points.txt does not name {CONSOLE_ENTRY}")
    problems += [f"no {name} after installing" for name in INSTALLED_FILES if not (target / name).is_file()]
    sbom = sbom_member(ctx.wheel.dist_info)
    if not (target / sbom).is_file():
        problems.append(f"no {sbom} after installing")
    return problems


def _metadata_version(ctx: Context) -> str | None:
    name = f"{ctx.wheel.dist_info}/METADATA"
    if not ctx.wheel.member(name):
        return None
    headers = BytesParser(policy=email.policy.compat32).parsebytes(ctx.wheel.read_member(name))
    return str(headers["Version"]) if headers["Version"] else None


def _package_version(ctx: Context) -> str | None:
    if not ctx.wheel.member(INIT):
        return None
    try:
        return version_in_source(ctx.wheel.read_member(INIT), INIT)
    except VersionError:
        return None
