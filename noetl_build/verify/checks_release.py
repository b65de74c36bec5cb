"""Checks of what a user gets: one name and one version everywhere, the entry points pyproject.toml
declares, and the files installing the wheel gives.

All apply to every wheel, including the ones this host cannot run: the name is read from the
file name, METADATA and pyproject.toml; the version from the file name, METADATA, the package
and the binary's bytes; entry_points.txt is parsed as installers parse it and compared whole
with pyproject.toml's; the install is pip's own, told to act as a machine of the wheel's
platform (`--platform`), into a scratch directory.
"""

from __future__ import annotations

import configparser
import email.policy
import os
import sys
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..errors import ConfigError, VersionError
from ..files import read_toml
from ..layout import Layout
from ..procs import capture
from ..pypi_rules import case_sensitive_parser
from ..sbom import sbom_member
from ..version import version_in_source
from .context import Context
from .execution import clean_environment
from .results import Verdict, check, fail, ok


INIT = "noetl/__init__.py"
# pyproject.toml's [project] tables and the entry_points.txt section each becomes
ENTRY_POINT_TABLES = {"scripts": "console_scripts", "gui-scripts": "gui_scripts"}
EntryPoints = dict[str, dict[str, str]]  # section -> name -> object reference
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


@check("name")
def check_name(ctx: Context) -> Verdict:
    """The file name, its .dist-info, METADATA and pyproject.toml name one project."""
    name = ctx.wheel.distribution
    declared = str(_project(ctx.layout).get("name", ""))
    said = {"METADATA": _metadata_field(ctx, "Name"), "pyproject.toml": declared or None}
    wrong = [f"{where} says {value or 'nothing'}" for where, value in said.items()
             if value is None or canonicalize_name(value) != canonicalize_name(name)]
    if wrong:
        return fail(f"the file name says {name}, but " + "; ".join(wrong))
    return ok(f"{name} in the file name, {ctx.wheel.dist_info}, METADATA and pyproject.toml")


@check("entry-points")
def check_entry_points(ctx: Context) -> Verdict:
    """entry_points.txt holds exactly the entry points pyproject.toml declares, name for name."""
    member = f"{ctx.wheel.dist_info}/entry_points.txt"
    declared = declared_entry_points(ctx.layout)
    if not ctx.wheel.member(member):
        return fail(f"no {member}, and pyproject.toml declares {_shown(declared)}") if declared else ok("none declared, none in the wheel")
    found, problem = parse_entry_points(ctx.wheel.read_member(member))
    if found is None:
        return fail(f"{member}: {problem}")
    differences = entry_point_differences(found, declared)
    if differences:
        return fail(f"{member}: " + "; ".join(differences[:4]))
    return ok(f"{_shown(found)}, as pyproject.toml declares")


def declared_entry_points(layout: Layout) -> EntryPoints:
    """pyproject.toml's [project] scripts, gui-scripts and entry-points, as entry_points.txt sections."""
    project = _project(layout)
    declared: EntryPoints = {section: dict(project.get(table, {})) for table, section in ENTRY_POINT_TABLES.items()}
    declared.update({group: dict(points) for group, points in project.get("entry-points", {}).items()})
    return {section: points for section, points in declared.items() if points}


def parse_entry_points(data: bytes) -> tuple[EntryPoints | None, str]:
    """entry_points.txt as installers read it (an INI file, '=' only, names keep their case)."""
    parser = case_sensitive_parser()
    try:
        parser.read_string(data.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "not UTF-8"
    except configparser.Error as exc:
        return None, f"not an INI file ({type(exc).__name__})"
    return {section: {name: value.strip() for name, value in parser[section].items()}
            for section in parser.sections()}, ""


def entry_point_differences(found: EntryPoints, declared: EntryPoints) -> list[str]:
    problems = []
    for section in sorted(set(found) | set(declared)):
        have, want = found.get(section, {}), declared.get(section, {})
        for name in sorted(set(have) | set(want)):
            if name not in want:
                problems.append(f"[{section}] {name} = {have[name]} is not declared")
            elif name not in have:
                problems.append(f"[{section}] {name} = {want[name]} is missing")
            elif have[name] != want[name]:
                problems.append(f"[{section}] {name} = {have[name]}, but pyproject.toml declares {want[name]}")
    return problems


def _shown(points: EntryPoints) -> str:
    return ", ".join(f"[{section}] {name} = {ref}" for section, named in points.items() for name, ref in named.items())


def _project(layout: Layout) -> dict[str, Any]:
    project = read_toml(layout.root / "pyproject.toml", what="the project's [project] table", error=ConfigError).get("project", {})
    return project if isinstance(project, dict) else {}


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
    declared = declared_entry_points(ctx.layout)
    installed, _ = parse_entry_points(entry_points.read_bytes()) if entry_points.is_file() else (None, "")
    if installed is None or entry_point_differences(installed, declared):
        problems.append(f"the installed entry_points.txt is not pyproject.toml's {_shown(declared)}")
    problems += [f"no {name} after installing" for name in INSTALLED_FILES if not (target / name).is_file()]
    sbom = sbom_member(ctx.wheel.dist_info)
    if not (target / sbom).is_file():
        problems.append(f"no {sbom} after installing")
    return problems


def _metadata_version(ctx: Context) -> str | None:
    return _metadata_field(ctx, "Version")


def _metadata_field(ctx: Context, key: str) -> str | None:
    name = f"{ctx.wheel.dist_info}/METADATA"
    if not ctx.wheel.member(name):
        return None
    headers = BytesParser(policy=email.policy.compat32).parsebytes(ctx.wheel.read_member(name))
    return str(headers[key]).strip() if headers[key] else None


def _package_version(ctx: Context) -> str | None:
    if not ctx.wheel.member(INIT):
        return None
    try:
        return version_in_source(ctx.wheel.read_member(INIT), INIT)
    except VersionError:
        return None
