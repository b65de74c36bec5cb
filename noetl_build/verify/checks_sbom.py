"""The sbom check: the wheel's CycloneDX SBOM (PEP 770) is there, recorded, valid and true.

True means: its root is this wheel's version; its npm packages are exactly the non-dev
packages of ui-src/package-lock.json; its crates, each with Cargo.lock's checksum, pass two
comparisons (per slice of a universal2 wheel, united):

- they are exactly what `cargo tree -e normal --target T` says the target compiles in. The
  generator (noetl_build/sbom.py) asks cargo tree too, so this catches an SBOM that is stale
  or was edited, not a mistake of the generator's;
- they lie within what `cargo metadata --filter-platform T`'s resolve graph allows, a second
  source the generator does not read: every crate listed is reachable from the root through
  normal dependencies (a superset: cargo metadata over-reports weak features,
  rust-lang/cargo#10801), and every crate reachable through non-optional normal dependencies
  alone is listed (a lower bound). Crates in between are those only an optional dependency
  brings in, which only the feature resolver (cargo tree) decides.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from .. import dist
from ..procs import capture
from ..sbom import SBOM_DIR, SBOM_NAME, sbom_compiler
from ..targets import Target
from .binary import ElfFacts
from .context import Context
from .results import Verdict, check, fail, ok


CARGO_TIMEOUT = 600  # cargo may have to download crate sources first
Package = tuple[str, str]  # (name, version)
Edge = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]  # (declaring package, resolve-graph dep) -> follow it?


@check("compiler")
def check_compiler(ctx: Context) -> Verdict:
    """The SBOM names the rustc that compiled the binary; manifest.json's entry for the wheel names
    the same one, and so does an ELF binary's own .comment ("rustc version 1.96.0 (ac68faa20 ...)")."""
    name = f"{ctx.wheel.dist_info}/{SBOM_DIR}/{SBOM_NAME}"
    if ctx.wheel.member(name) is None:
        return fail(f"no {name} in the wheel, so nothing names its compiler")
    try:
        document = json.loads(ctx.wheel.read_member(name))
    except json.JSONDecodeError:
        return fail(f"{name} is not JSON, so nothing names its compiler")
    named = sbom_compiler(document) if isinstance(document, dict) else None
    if named is None:
        return fail("the SBOM names no rustc among its tools: rebuild the wheel (nox -s build_all)")
    label = f"rustc {named['rustc']} ({named['commit-hash'][:12]})"
    problems = []
    entry = next((e for e in dist.load_entries(ctx.layout.dist).values() if e.wheel == ctx.wheel.path.name), None)
    if entry is not None and entry.compiler:
        recorded = (entry.compiler.get("rustc"), entry.compiler.get("commit-hash"))
        if recorded != (named["rustc"], named["commit-hash"]):
            problems.append(f"manifest.json says rustc {recorded[0]} ({str(recorded[1])[:12]}), the SBOM {label}")
    sources = ["the SBOM", *(["manifest.json"] if entry is not None and entry.compiler else [])]
    if isinstance(ctx.facts, ElfFacts):
        if not ctx.facts.compilers:
            problems.append("the binary's .comment names no rustc")
        for line in ctx.facts.compilers:
            # "rustc version 1.96.0 (ac68faa20 2026-05-25)": release, then the commit's first 9 hex digits
            parts = line.split()
            release = parts[2] if len(parts) > 2 else ""
            short = parts[3].lstrip("(") if len(parts) > 3 else ""
            if release != named["rustc"] or not (short and named["commit-hash"].startswith(short)):
                problems.append(f"the binary was compiled by {line.removeprefix('rustc version ')}, not {label}")
        sources.append("the binary's .comment")
    if problems:
        return fail("; ".join(problems))
    said = sources[0] if len(sources) == 1 else ", ".join(sources[:-1]) + " and " + sources[-1]
    return ok(f"{label}, as {said} {'say' if len(sources) > 1 else 'says'}")


@check("sbom")
def check_sbom(ctx: Context) -> Verdict:
    """The SBOM is in *.dist-info/sboms/, in RECORD, schema-valid, and lists what the wheel carries."""
    name = f"{ctx.wheel.dist_info}/{SBOM_DIR}/{SBOM_NAME}"
    member = ctx.wheel.member(name)
    if member is None:
        return fail(f"no {name} in the wheel (PEP 770)")
    problems = []
    row = next((r for r in ctx.wheel.record if r.path == name), None)
    if row is None:
        problems.append(f"{name} is not listed in RECORD")
    elif row.hash != member.sha256:
        problems.append(f"RECORD's sha256 for {name} does not match the file")

    text = ctx.wheel.read_member(name).decode("utf-8", errors="replace")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        return fail("; ".join([*problems, f"not JSON: {exc}"]))
    invalid = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if invalid is not None:
        return fail("; ".join([*problems, f"not valid CycloneDX 1.6: {_schema_problem(invalid.data)}"]))

    version = (document.get("metadata", {}).get("component") or {}).get("version")
    if version != ctx.wheel.version:
        problems.append(f"its root component is version {version or 'missing'}, the wheel {ctx.wheel.version}")

    components = document.get("components", [])
    crates = _listed(components, "cargo")
    if ctx.target is None:
        problems.append("no target in targets.toml fits the wheel, so which crates it compiles in is unknown")
    else:
        problems += _crate_problems(ctx.layout.crate, ctx.target, set(crates))
        problems += _crate_hashes(crates, ctx.layout.crate / "Cargo.lock")

    npm = _listed(components, "npm")
    bundled, why = _npm_lock(ctx.layout.ui_source / "package-lock.json")
    if bundled is None:
        problems.append(why)
    else:
        problems += _difference("npm packages", set(npm), bundled, "ui-src/package-lock.json's non-dev packages")

    if problems:
        return fail("; ".join(problems))
    return ok(f"CycloneDX 1.6, version {version}: {len(crates)} crates as cargo tree for "
              f"{ctx.target.name if ctx.target else '?'} and within cargo metadata's bounds, "
              f"{len(npm)} npm packages as package-lock.json")


def _schema_problem(error: object) -> str:
    """jsonschema's verdict in one line: the message and where (components/3/hashes/0/alg)."""
    message = str(getattr(error, "message", error)).splitlines()[0]
    path = "/".join(str(p) for p in getattr(error, "absolute_path", ()))
    return f"{message[:200]} at /{path}" if path else message[:200]


def _listed(components: Iterable[Mapping[str, Any]], purl_type: str) -> dict[Package, list[Mapping[str, Any]]]:
    """The components whose purl is of ``purl_type``, by (name, version) read from the purl."""
    found: dict[Package, list[Mapping[str, Any]]] = {}
    for component in components:
        try:
            purl = PackageURL.from_string(str(component.get("purl", "")))
        except ValueError:
            continue
        if purl.type != purl_type:
            continue
        name = f"{purl.namespace}/{purl.name}" if purl.namespace else purl.name
        found[(name, purl.version or "")] = list(component.get("hashes", []))
    return found


def _crate_problems(crate: Path, target: Target, listed: set[Package]) -> list[str]:
    """The crates listed against cargo tree (exactly) and against cargo metadata (within its bounds)."""
    problems = []
    compiled, why = _compiled_in(crate, target.rust_targets)
    if compiled is None:
        problems.append(f"cannot ask cargo tree which crates {target.name} compiles in: {why}")
    else:
        problems += _difference("crates", listed, compiled, f"cargo tree for {target.name}")
    bounds, why = metadata_bounds(crate, target.rust_targets)
    if bounds is None:
        problems.append(f"cannot ask cargo metadata which crates {target.name} can compile in: {why}")
    else:
        problems += bounds.problems(listed, f"cargo metadata for {target.name}")
    return problems


def _compiled_in(crate: Path, rust_targets: Iterable[str]) -> tuple[set[Package] | None, str]:
    """What `cargo tree -e normal --target T` prints for each slice, united, the root left out."""
    cargo = os.environ.get("CARGO") or "cargo"
    union: set[Package] = set()
    for rust_target in rust_targets:
        out = capture([cargo, "tree", "--locked", "--manifest-path", crate / "Cargo.toml", "--color", "never",
                       "-e", "normal", "--target", rust_target, "--prefix", "none", "-f", "{p}"],
                      timeout=CARGO_TIMEOUT)
        if not out.ok:
            return None, out.failure()
        lines = [line.split() for line in out.stdout.splitlines() if line.strip()]
        root = tuple(lines[0][:2]) if lines else None
        union |= {(words[0], words[1].removeprefix("v")) for words in lines if tuple(words[:2]) != root}
    return union, ""


@dataclass(frozen=True)
class Bounds:
    """What cargo metadata's resolve graph allows a binary's crate list to be: ``required`` ⊆ it ⊆ ``possible``."""

    required: frozenset[Package]  # reached from the root through non-optional normal dependencies
    possible: frozenset[Package]  # reached from the root through any normal dependency

    def problems(self, listed: set[Package], source: str) -> list[str]:
        outside, lacking = sorted(listed - self.possible), sorted(self.required - listed)
        problems = []
        if outside:
            problems.append(f"crates not among the normal dependencies in {source}: "
                            f"{_some([f'{n} {v}' for n, v in outside])}")
        if lacking:
            problems.append(f"crates missing that non-optional dependencies require ({source}): "
                            f"{_some([f'{n} {v}' for n, v in lacking])}")
        return problems


def metadata_bounds(crate: Path, rust_targets: Iterable[str] | None) -> tuple[Bounds | None, str]:
    """``resolve_bounds`` of `cargo metadata --filter-platform T` per slice, united; None: every platform."""
    cargo = os.environ.get("CARGO") or "cargo"
    required: set[Package] = set()
    possible: set[Package] = set()
    for rust_target in [None] if rust_targets is None else rust_targets:
        platform = [] if rust_target is None else ["--filter-platform", rust_target]
        out = capture([cargo, "metadata", "--locked", "--format-version", "1", "--manifest-path", crate / "Cargo.toml",
                       "--color", "never", *platform], timeout=CARGO_TIMEOUT)
        if not out.ok:
            return None, out.failure()
        metadata = json.loads(out.stdout)
        if not metadata["resolve"].get("root"):
            return None, "cargo metadata names no root package (is noetlctl/Cargo.toml a virtual workspace?)"
        bounds = resolve_bounds(metadata)
        required |= bounds.required
        possible |= bounds.possible
    return Bounds(frozenset(required), frozenset(possible)), ""


def resolve_bounds(metadata: Mapping[str, Any]) -> Bounds:
    """The root's normal dependencies in cargo metadata's resolve graph: the non-optional ones, and all."""
    packages = {p["id"]: p for p in metadata["packages"]}

    def required(declarer: Mapping[str, Any], dep: Mapping[str, Any]) -> bool:
        targets = {k.get("target") for k in dep["dep_kinds"] if k.get("kind") is None}
        name = packages[dep["pkg"]]["name"]
        return any(_non_optional(d, name, dep["name"], targets) for d in declarer["dependencies"])

    def normal(declarer: Mapping[str, Any], dep: Mapping[str, Any]) -> bool:
        return any(k.get("kind") is None for k in dep["dep_kinds"])

    return Bounds(_reached(metadata, packages, required), _reached(metadata, packages, normal))


def _non_optional(declared: Mapping[str, Any], package: str, extern: str, targets: set[str | None]) -> bool:
    """``declared`` is a non-optional normal dependency on ``package`` for a platform the graph kept
    (``targets``: its cfg()s there, None for every platform); ``extern``: the graph's name for it."""
    rename = declared.get("rename")
    return (declared.get("kind") is None and not declared.get("optional") and declared["name"] == package
            and declared.get("target") in targets and (rename is None or rename.replace("-", "_") == extern))


def _reached(metadata: Mapping[str, Any], packages: Mapping[str, Mapping[str, Any]],
             follow: Edge) -> frozenset[Package]:
    """(name, version) of every package the resolve graph reaches from its root along ``follow``ed edges."""
    deps = {node["id"]: node["deps"] for node in metadata["resolve"]["nodes"]}
    root = metadata["resolve"]["root"]
    seen, todo = {root}, [root]
    while todo:
        declarer = todo.pop()
        for dep in deps[declarer]:
            if dep["pkg"] not in seen and follow(packages[declarer], dep):
                seen.add(dep["pkg"])
                todo.append(dep["pkg"])
    return frozenset((packages[i]["name"], packages[i]["version"]) for i in seen - {root})


def _crate_hashes(crates: Mapping[Package, list[Mapping[str, Any]]], lock: Path) -> list[str]:
    try:
        packages = tomllib.loads(lock.read_text()).get("package", [])
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return [f"cannot read {lock.name}: {exc}"]
    checksums = {(p["name"], p["version"]): p.get("checksum") for p in packages}
    wrong = []
    for (name, version), hashes in sorted(crates.items()):
        sha256 = [h.get("content") for h in hashes if h.get("alg") == "SHA-256"]
        want = checksums.get((name, version))
        if sha256 != [want]:
            have = ", ".join(str(h) for h in sha256) or "none"
            wrong.append(f"{name} {version} SHA-256 {have} (Cargo.lock: {want or 'none'})")
    return [f"crate hashes differ from Cargo.lock: {_some(wrong)}"] if wrong else []


def _npm_lock(lock: Path) -> tuple[set[Package] | None, str]:
    """The non-dev packages of a package-lock.json (v2/v3 'packages': "dev": true marks dev-only)."""
    try:
        entries = json.loads(lock.read_text()).get("packages", {})
    except (OSError, json.JSONDecodeError) as exc:
        return None, f"cannot read {lock.name}: {exc}"
    found = set()
    for path, entry in entries.items():
        if path.startswith("node_modules/") or "/node_modules/" in path:
            if not entry.get("dev") and not entry.get("link"):
                found.add((entry.get("name") or path.rsplit("node_modules/", 1)[1], entry.get("version", "")))
    return found, ""


def _difference(what: str, listed: set[Package], truth: set[Package], source: str) -> list[str]:
    missing, extra = sorted(truth - listed), sorted(listed - truth)
    problems = []
    if missing:
        problems.append(f"{what} missing (in {source}): {_some([f'{n} {v}' for n, v in missing])}")
    if extra:
        problems.append(f"{what} extra (not in {source}): {_some([f'{n} {v}' for n, v in extra])}")
    return problems


def _some(items: list[str], limit: int = 6) -> str:
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more
