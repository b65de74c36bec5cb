"""The sbom check: the wheel's CycloneDX SBOM (PEP 770) is there, recorded, valid and true.

True means: its root is this wheel's version; its crates are exactly the ones `cargo tree`
says the wheel's target compiles in (the union over a universal2 wheel's slices), each with
Cargo.lock's checksum; its npm packages are exactly the non-dev packages of
ui-src/package-lock.json. The crates come from cargo tree on purpose: the generator
(noetl_build/sbom.py) reads cargo metadata and applies the feature rules itself, and this
check must not share that code path (docs/sbom.md says why the two differ when done naively).
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from ..sbom import SBOM_DIR, SBOM_NAME
from .context import Context
from .results import Result, failed, passed
from .tools import capture

CHECK = "sbom"
CARGO_TREE_TIMEOUT = 600  # cargo may have to download crate sources first
Package = tuple[str, str]  # (name, version)


def check_sbom(ctx: Context) -> Result:
    """The SBOM is in *.dist-info/sboms/, in RECORD, schema-valid, and lists what the wheel carries."""
    name = f"{ctx.wheel.dist_info}/{SBOM_DIR}/{SBOM_NAME}"
    member = ctx.wheel.member(name)
    if member is None:
        return failed(CHECK, f"no {name} in the wheel (PEP 770)")
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
        return failed(CHECK, "; ".join([*problems, f"not JSON: {exc}"]))
    invalid = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if invalid is not None:
        return failed(CHECK, "; ".join([*problems, f"not valid CycloneDX 1.6: {_schema_problem(invalid.data)}"]))

    version = (document.get("metadata", {}).get("component") or {}).get("version")
    if version != ctx.wheel.version:
        problems.append(f"its root component is version {version or 'missing'}, the wheel {ctx.wheel.version}")

    components = document.get("components", [])
    crates = _listed(components, "cargo")
    if ctx.target is None:
        problems.append("no target in targets.toml fits the wheel, so which crates it compiles in is unknown")
    else:
        compiled, why = _compiled_in(ctx.layout.crate, ctx.target.rust_targets)
        if compiled is None:
            problems.append(f"cannot ask cargo tree which crates {ctx.target.name} compiles in: {why}")
        else:
            problems += _difference("crates", set(crates), compiled, f"cargo tree for {ctx.target.name}")
        problems += _crate_hashes(crates, ctx.layout.crate / "Cargo.lock")

    npm = _listed(components, "npm")
    bundled, why = _npm_lock(ctx.layout.ui_source / "package-lock.json")
    if bundled is None:
        problems.append(why)
    else:
        problems += _difference("npm packages", set(npm), bundled, "ui-src/package-lock.json's non-dev packages")

    if problems:
        return failed(CHECK, "; ".join(problems))
    return passed(CHECK, f"CycloneDX 1.6, version {version}: {len(crates)} crates as cargo tree for "
                         f"{ctx.target.name if ctx.target else '?'}, {len(npm)} npm packages as package-lock.json")


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


def _compiled_in(crate: Path, rust_targets: Iterable[str]) -> tuple[set[Package] | None, str]:
    """What `cargo tree -e normal --target T` prints for each slice, united, the root left out."""
    cargo = os.environ.get("CARGO") or "cargo"
    union: set[Package] = set()
    for rust_target in rust_targets:
        out = capture([cargo, "tree", "--locked", "--manifest-path", crate / "Cargo.toml", "--color", "never",
                       "-e", "normal", "--target", rust_target, "--prefix", "none", "-f", "{p}"],
                      timeout=CARGO_TREE_TIMEOUT)
        if not out.ok:
            return None, out.failure()
        lines = [line.split() for line in out.stdout.splitlines() if line.strip()]
        root = tuple(lines[0][:2]) if lines else None
        union |= {(words[0], words[1].removeprefix("v")) for words in lines if tuple(words[:2]) != root}
    return union, ""


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
