"""Checks of the wheel as a zip: tags, RECORD, WHEEL, files, modes, twine, check-wheel-contents, paths."""

from __future__ import annotations

import os
import re
import stat
from collections import Counter
from pathlib import Path

from ..errors import ConfigError
from ..files import EXEC_MODE, FILE_MODE, read_toml
from ..procs import capture
from ..sbom import SBOM_DIR, SBOM_NAME
from ..source import wheel_sources
from ..wheelfile import WheelFile
from ..wheels import binary_member
from .context import Context
from .results import Verdict, check, fail, ok
from .tools import python_module


BINARY_MODE = EXEC_MODE
# What setuptools writes in every wheel's .dist-info (besides entry_points.txt and licenses/,
# which follow pyproject.toml); only used when the generic wheel of that version is not at hand.
SETUPTOOLS_DIST_INFO = ("METADATA", "WHEEL", "RECORD", "top_level.txt")
SIGNATURES = ("RECORD.jws", "RECORD.p7s")  # a signed RECORD: allowed beside it, as in the RECORD check


@check("tags")
def check_tags(ctx: Context) -> Verdict:
    """The wheel's platform tags are the ones targets.toml gives its target."""
    have = ".".join(ctx.wheel.platform_tags)
    if ctx.target is None:
        return fail(f"no target in targets.toml is tagged {have}")
    want = ".".join(sorted(ctx.target.tags))
    if have != want:
        return fail(f"tagged {have}, but targets.toml gives {ctx.target.name} {want}")
    return ok(f"{have}, as targets.toml says")


@check("RECORD")
def check_record(ctx: Context) -> Verdict:
    """RECORD lists every file once, with its sha256 and size; nothing else."""
    record_name = f"{ctx.wheel.dist_info}/RECORD"
    if not ctx.wheel.member(record_name):
        return fail(f"no {record_name} in the wheel")
    rows = ctx.wheel.record
    problems = [f"{path} is listed {n} times" for path, n in Counter(r.path for r in rows).items() if n > 1]
    by_path = {r.path: r for r in rows}
    for member in ctx.wheel.members:
        if member.name == record_name or member.name.endswith((".dist-info/RECORD.jws", ".dist-info/RECORD.p7s")):
            continue
        row = by_path.get(member.name)
        if row is None:
            problems.append(f"{member.name} is not listed")
        elif not row.hash.startswith("sha256="):
            problems.append(f"{member.name} has no sha256 ('{row.hash or 'empty'}')")
        elif row.hash != member.sha256:
            problems.append(f"{member.name}: sha256 does not match the file")
        elif row.size != str(member.size):
            problems.append(f"{member.name}: size {row.size or 'empty'} in RECORD, {member.size} in the zip")
    names = {m.name for m in ctx.wheel.members}
    problems += [f"{r.path} is listed but not in the zip" for r in rows if r.path not in names]
    if problems:
        return fail(_some(problems))
    return ok(f"{len(ctx.wheel.members) - 1} files, sha256 and size match")


@check("WHEEL")
def check_wheel_metadata(ctx: Context) -> Verdict:
    """The WHEEL file: Tag lines equal the filename's tags, Root-Is-Purelib false."""
    name = f"{ctx.wheel.dist_info}/WHEEL"
    if not ctx.wheel.member(name):
        return fail(f"no {name} in the wheel")
    problems = []
    version = ctx.wheel.header("Wheel-Version")
    if not version or not version[0].startswith("1."):
        problems.append(f"Wheel-Version is {version[0] if version else 'missing'}, expected 1.x")
    purelib = ctx.wheel.header("Root-Is-Purelib")
    if [v.lower() for v in purelib] != ["false"]:
        shown = ", ".join(purelib) or "missing"
        problems.append(f"Root-Is-Purelib is {shown}, expected false (the wheel holds a binary)")
    tags = ctx.wheel.header("Tag")
    if len(tags) != len(set(tags)):
        problems.append("a Tag line is repeated")
    extra, missing = set(tags) - ctx.wheel.filename_tags, ctx.wheel.filename_tags - set(tags)
    if extra or missing:
        parts = [f"not in the filename: {', '.join(sorted(extra))}"] if extra else []
        parts += [f"missing: {', '.join(sorted(missing))}"] if missing else []
        problems.append("Tag lines differ from the filename's tags (" + "; ".join(parts) + ")")
    if problems:
        return fail(_some(problems))
    lines = f"{len(tags)} Tag line{'s' if len(tags) != 1 else ''} match{'es' if len(tags) == 1 else ''}"
    return ok(f"{lines} the filename, Root-Is-Purelib: false")


@check("files")
def check_files(ctx: Context) -> Verdict:
    """The wheel holds exactly what the build puts in it: the generic wheel's files, the binary, the SBOM."""
    expected, source = expected_members(ctx)
    have = {m.name for m in ctx.wheel.members}
    allowed = expected | {f"{ctx.wheel.dist_info}/{name}" for name in SIGNATURES}
    extra, missing = sorted(have - allowed), sorted(expected - have)
    problems = [f"not the build's: {_some(extra)}"] if extra else []
    problems += [f"missing: {_some(missing)}"] if missing else []
    if problems:
        return fail("; ".join(problems) + f" (expected {source})")
    return ok(f"exactly {len(expected)} files: {source}")


def expected_members(ctx: Context) -> tuple[frozenset[str], str]:
    """What the wheel may hold, and where that list came from.

    The build makes every wheel from one generic wheel (wheels.finish_wheel): its files, the
    target's binary and the SBOM. That wheel, of the same version, is in build/generic/ where the
    build ran; elsewhere (a CI job gathering the shards' wheels) the list is what the generic wheel
    is built from: the checkout's noetl/ (source.wheel_sources) and pyproject.toml's dist-info.
    """
    binary = binary_member(ctx.target.binary_name) if ctx.target else ctx.binary_member
    own = {f"{ctx.wheel.dist_info}/{SBOM_DIR}/{SBOM_NAME}", *([binary] if binary else [])}
    generic = ctx.layout.generic / f"{ctx.wheel.distribution}-{ctx.wheel.version}-py3-none-any.whl"
    if generic.is_file():
        names = {m.name for m in WheelFile.read(generic).members}
        return frozenset(names | own), f"{generic.name}'s files, {binary} and the SBOM"
    root = ctx.layout.root
    package = {p.relative_to(root).as_posix() for p in wheel_sources(root) if p.is_relative_to(ctx.layout.package)}
    info = [*SETUPTOOLS_DIST_INFO, *_declared_dist_info(root)]
    listed = package | {f"{ctx.wheel.dist_info}/{name}" for name in info} | own
    return frozenset(listed), f"the checkout's noetl/, pyproject.toml's dist-info, {binary} and the SBOM"


def _declared_dist_info(root: Path) -> list[str]:
    """entry_points.txt when pyproject.toml declares any; licenses/<file> for each license-files match."""
    project = read_toml(root / "pyproject.toml", what="the project's [project] table", error=ConfigError).get("project", {})
    names = ["entry_points.txt"] if any(project.get(t) for t in ("scripts", "gui-scripts", "entry-points")) else []
    for pattern in project.get("license-files", []):
        names += [f"licenses/{p.relative_to(root).as_posix()}" for p in sorted(root.glob(pattern)) if p.is_file()]
    return names


@check("modes")
def check_modes(ctx: Context) -> Verdict:
    """The binary is a regular file of mode 0755 in the zip; every other file 0644."""
    problems = []
    for member in ctx.wheel.members:
        want = BINARY_MODE if member.name == ctx.binary_member else FILE_MODE
        if member.mode == 0:
            problems.append(f"{member.name} carries no Unix mode")
        elif not member.is_regular:
            problems.append(f"{member.name} is not a regular file ({stat.filemode(member.mode)})")
        elif member.permissions != want:
            lost = " (not executable)" if want == BINARY_MODE and not member.permissions & 0o111 else ""
            problems.append(f"{member.name} is {member.permissions:04o}, expected {want:04o}{lost}")
    if ctx.binary_member is None:
        problems.append("no binary to check")
    if problems:
        return fail(_some(problems))
    return ok(f"{ctx.binary_member} 0755, {len(ctx.wheel.members) - 1} others 0644")


@check("twine")
def check_twine(ctx: Context) -> Verdict:
    """`twine check --strict`: the metadata PyPI will render and accept."""
    return twine_verdict(ctx.wheel.path)


def twine_verdict(path: os.PathLike[str]) -> Verdict:
    """`twine check --strict` on a wheel or an sdist."""
    out = capture(python_module("twine", "check", "--strict", path), env=_plain_env())
    lines = [l.strip() for l in (out.stdout + "\n" + out.stderr).splitlines()]
    findings = [re.sub(r"\s+", " ", l) for l in lines if l.startswith(("ERROR", "WARNING"))]
    if out.ok and not findings:
        return ok("twine check --strict: PASSED")
    return fail("twine check --strict: " + ("; ".join(findings) or out.failure()))


@check("check-wheel-contents")
def check_contents(ctx: Context) -> Verdict:
    """check-wheel-contents: duplicates, stray files, empty or misplaced modules."""
    out = capture(python_module("check_wheel_contents", ctx.wheel.path), cwd=ctx.layout.root, env=_plain_env())
    prefix = f"{ctx.wheel.path}: "
    lines = [l.removeprefix(prefix).strip() for l in out.stdout.splitlines() if l.strip()]
    if out.ok and lines == ["OK"]:
        return ok("OK")
    findings = [l for l in lines if re.match(r"[WE]\d{3}", l)]
    return fail("; ".join(findings) or out.failure())


@check("build-paths")
def check_build_paths(ctx: Context) -> Verdict:
    """No path of the build machine (repo, home, cargo/rustup homes, std source) in the binary."""
    if ctx.binary is None:
        return fail(ctx.facts_problem)
    data = ctx.binary.read_bytes()
    hits = []
    for path in ctx.build_paths:
        needle = path.rstrip("/").encode() + b"/"
        start = data.find(needle)
        if start >= 0:
            hits.append(_string_at(data, start))
    if hits:
        return fail(f"build-machine paths in {ctx.binary_member}: " + _some(hits, 2)
                    + " (remap them with --remap-path-prefix)")
    return ok(f"none of {len(ctx.build_paths)} build-machine paths in the binary")


def _string_at(data: bytes, start: int) -> str:
    """The printable run of bytes starting at ``start`` (at most 100), as text."""
    end = start
    while end < len(data) and end - start < 100 and 0x21 <= data[end] < 0x7F:
        end += 1
    return data[start:end].decode("ascii")


def _some(items: list[str], limit: int = 3) -> str:
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more


def _plain_env() -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1", "TERM": "dumb"}
