"""A CycloneDX 1.6 SBOM (PEP 770) of what one NoETL artifact carries, byte-identical across rebuilds.

    build_sbom(root, version=..., epoch=..., rust_targets=..., subject=...) -> bytes

It lists, under the root component (the noetl application at ``version``):

- the Rust crates compiled into the binary for ``rust_targets`` (the union over a universal2
  wheel's slices; ``()``: no binary, no crates; ``None``: the sdist, every crate any platform
  can need), from ``cargo metadata`` walked along normal dependencies with cargo's feature
  rules re-applied (see ``_FeatureResolver``), hashed with Cargo.lock's checksums;
- the npm packages bundled into the web UI: the non-dev packages of ui-src/package-lock.json;
- the Python requirements of pyproject.toml, which pip installs (they are not bundled).

The wheel puts it at ``<name>-<version>.dist-info/sboms/noetl.cdx.json`` (``sbom_member``).
docs/sbom.md says what is in it and how to read it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentScope, ComponentType
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .errors import BuildError, ToolchainError

if sys.version_info >= (3, 11):
    import tomllib
else:  # the PEP 517 backend (docs/packaging.md) imports this module on Python 3.10 too
    import tomli as tomllib

SBOM_NAME = "noetl.cdx.json"
SBOM_DIR = "sboms"  # PEP 770: <name>-<version>.dist-info/sboms/
SPEC_VERSION = "1.6"
# Properties this project adds (CycloneDX property names are namespaced by their owner).
SUBJECT_PROPERTY = "noetl:sbom:subject"
RUST_TARGETS_PROPERTY = "noetl:sbom:rust-targets"
REQUIREMENT_PROPERTY = "noetl:python:requirement"
BUNDLED_PROPERTY = "noetl:bundled"
# Serial numbers are uuid5(this, the document's content): same content, same serial.
_SERIAL_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://noetl.io/sbom")
_PLACEHOLDER_SERIAL = uuid.UUID(int=0)
_CARGO_TIMEOUT = 600  # cargo metadata may have to download crate manifests first
_NPM_HASHES = {"sha512": HashAlgorithm.SHA_512, "sha384": HashAlgorithm.SHA_384,
               "sha256": HashAlgorithm.SHA_256, "sha1": HashAlgorithm.SHA_1}


class SbomError(BuildError):
    """An input of the SBOM (Cargo.lock, package-lock.json, pyproject.toml, cargo's answer) is wrong."""


def sbom_member(dist_info: str) -> str:
    """Where the SBOM goes in a wheel: ``noetl-0.1.0.dist-info/sboms/noetl.cdx.json``."""
    return f"{dist_info}/{SBOM_DIR}/{SBOM_NAME}"


@dataclass(frozen=True)
class Crate:
    name: str
    version: str
    license: str | None  # SPDX expression, as cargo metadata gives it ("/" read as OR)
    checksum: str | None  # Cargo.lock's sha256 (hex); None for path/git packages
    depends_on: frozenset[tuple[str, str]] = frozenset()  # (name, version) of its normal dependencies

    @property
    def purl(self) -> str:
        return PackageURL(type="cargo", name=self.name, version=self.version).to_string()


@dataclass(frozen=True)
class NpmPackage:
    name: str  # "react", "@scope/name"
    version: str
    integrity: str | None  # "sha512-<base64>"
    license: str | None
    depends_on: frozenset[tuple[str, str]] = frozenset()

    @property
    def purl(self) -> str:
        namespace, _, name = self.name.rpartition("/")
        return PackageURL(type="npm", namespace=namespace or None, name=name, version=self.version).to_string()


@dataclass(frozen=True)
class Crates:
    """The crates of a binary: each one, and which of them the root package uses directly."""

    crates: tuple[Crate, ...]
    direct: frozenset[tuple[str, str]]


def build_sbom(
    root: Path, *, version: str, epoch: int, rust_targets: Sequence[str] | None, subject: str,
) -> bytes:
    """The SBOM of one artifact as CycloneDX 1.6 JSON (UTF-8, ends with a newline).

    ``rust_targets``: the rustc targets whose binary the artifact holds (two for universal2);
    ``()`` when it holds none (the generic wheel); ``None`` for the sdist (every platform).
    ``epoch`` (SOURCE_DATE_EPOCH) is the timestamp; ``subject`` names the artifact, e.g.
    "wheel for x86_64-unknown-linux-gnu".
    """
    rust = rust_crates(root, rust_targets)
    npm, npm_direct = npm_packages(root)
    python = python_requirements(root)
    bom = _bom(root, version=version, epoch=epoch, rust_targets=rust_targets, subject=subject,
               rust=rust, npm=npm, npm_direct=npm_direct, python=python)
    # The serial number is derived from everything else, so equal content gets an equal serial.
    first = _render(bom)
    bom.serial_number = uuid.uuid5(_SERIAL_NAMESPACE, first)
    return _render(bom).encode("utf-8")


def _render(bom: Bom) -> str:
    return JsonV1Dot6(bom).output_as_string(indent=2) + "\n"


# --- Rust ------------------------------------------------------------------------------------

def cargo_program() -> str:
    """``$CARGO``, else ``cargo`` on PATH; ToolchainError naming what to install."""
    configured = os.environ.get("CARGO")
    found = shutil.which(configured) if configured else shutil.which("cargo")
    if not found:
        where = f"$CARGO ({configured}) is not a program" if configured else "no cargo on PATH"
        raise ToolchainError(f"the SBOM needs cargo: {where}; install Rust (apt-get install cargo-web, or rustup)")
    return found


def rust_crates(root: Path, rust_targets: Sequence[str] | None) -> Crates:
    """The crates compiled into the binary for ``rust_targets`` (their union), the root excluded."""
    if rust_targets is not None and not rust_targets:
        return Crates((), frozenset())
    checksums = _lock_checksums(root / "noetlctl" / "Cargo.lock")
    slices: Sequence[str | None] = rust_targets if rust_targets is not None else [None]
    found: dict[tuple[str, str], Crate] = {}
    direct: set[tuple[str, str]] = set()
    for rust_target in slices:
        metadata = _cargo_metadata(root, rust_target)
        resolver = _FeatureResolver(metadata)
        packages = resolver.packages
        for package_id, edges in resolver.edges.items():
            if package_id == resolver.root:
                direct.update(_key(packages[e]) for e in edges)
                continue
            package = packages[package_id]
            key = _key(package)
            depends_on = frozenset(_key(packages[e]) for e in edges)
            earlier = found.get(key)
            if earlier is not None:  # another slice: the same crate, perhaps with more dependencies
                depends_on |= earlier.depends_on
            found[key] = Crate(
                name=package["name"], version=package["version"], license=_license(package.get("license")),
                checksum=checksums.get(key), depends_on=depends_on,
            )
    return Crates(tuple(found[k] for k in sorted(found)), frozenset(direct))


def _key(package: Mapping[str, Any]) -> tuple[str, str]:
    return str(package["name"]), str(package["version"])


def _license(text: object) -> str | None:
    """Cargo's license field as SPDX: the deprecated "/" separator means OR (Cargo reference)."""
    if not isinstance(text, str) or not text.strip():
        return None
    return " OR ".join(part.strip() for part in text.split("/")) if "/" in text else text.strip()


def _lock_checksums(lock: Path) -> dict[tuple[str, str], str]:
    try:
        data = tomllib.loads(lock.read_text())
    except FileNotFoundError:
        raise SbomError(f"{lock}: no such file (the crate's lock file; run 'cargo generate-lockfile')") from None
    except tomllib.TOMLDecodeError as exc:
        raise SbomError(f"{lock}: not valid TOML: {exc}") from None
    return {(p["name"], p["version"]): p["checksum"] for p in data.get("package", []) if "checksum" in p}


def _cargo_metadata(root: Path, rust_target: str | None) -> dict[str, Any]:
    manifest = root / "noetlctl" / "Cargo.toml"
    command = [cargo_program(), "metadata", "--locked", "--format-version", "1", "--manifest-path", str(manifest)]
    if rust_target is not None:
        command += ["--filter-platform", rust_target]
    env = {**os.environ, "CARGO_TERM_COLOR": "never"}
    try:
        proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=_CARGO_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise SbomError(f"cargo metadata for {rust_target or 'every platform'} timed out after {_CARGO_TIMEOUT} s") from None
    if proc.returncode != 0:
        lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
        reason = next((line for line in lines if line.startswith("error")), lines[-1] if lines else "no output")
        raise SbomError(f"cargo metadata for {rust_target or 'every platform'} failed: {reason}")
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


@dataclass
class _FeatureResolver:
    """Which packages a build really compiles: cargo's feature rules, applied to cargo metadata.

    cargo metadata's resolve graph comes from the dependency resolver, which treats a weak
    feature ``dep?/feat`` as if it enabled ``dep`` (rust-lang/cargo#10801): reqwest's
    ``quinn?/ring`` alone puts quinn and 13 more crates in it that no build compiles. So the
    graph is walked from the root the way the feature resolver does: normal dependencies only
    (dev and build dependencies never reach the binary), an optional dependency only once a
    feature enables it (``dep:x``, ``x/f``, or its implicit feature ``x``), ``x?/f`` only if
    ``x`` is enabled by something else. Which declarations apply to the platform is cargo's
    own verdict: ``--filter-platform`` drops the dependency kinds of other platforms.
    """

    metadata: Mapping[str, Any]
    packages: dict[str, Mapping[str, Any]] = field(init=False)
    nodes: dict[str, Mapping[str, Any]] = field(init=False)
    root: str = field(init=False)
    features: dict[str, set[str]] = field(init=False, default_factory=dict)
    enabled: dict[str, set[str]] = field(init=False, default_factory=dict)  # optional deps switched on
    weak: dict[str, dict[str, set[str]]] = field(init=False, default_factory=dict)  # x?/f waiting for x
    edges: dict[str, set[str]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.packages = {p["id"]: p for p in self.metadata["packages"]}
        self.nodes = {n["id"]: n for n in self.metadata["resolve"]["nodes"]}
        root = self.metadata["resolve"].get("root")
        if not root:
            raise SbomError("cargo metadata names no root package (is noetlctl/Cargo.toml a virtual workspace?)")
        self.root = root
        self.activate(root, ["default"])

    def activate(self, package_id: str, features: Iterable[str]) -> None:
        if package_id not in self.features:
            self.features[package_id] = set()
            self.enabled[package_id] = set()
            self.weak[package_id] = {}
            self.edges[package_id] = set()
            for declared in self._normal(package_id):
                if not declared.get("optional"):
                    self._use(package_id, declared)
        for feature in features:
            self.feature(package_id, feature)

    def feature(self, package_id: str, feature: str) -> None:
        if "/" in feature or feature.startswith("dep:"):  # a dependency's own feature list may say "x/f"
            self._item(package_id, feature)
            return
        if feature in self.features[package_id]:
            return
        self.features[package_id].add(feature)
        table: Mapping[str, list[str]] = self.packages[package_id].get("features", {})
        if feature in table:
            for item in table[feature]:
                self._item(package_id, item)
        elif any(_dep_name(d) == feature and d.get("optional") for d in self._normal(package_id)):
            self._enable(package_id, feature)  # an implicit feature (older manifests)

    def _item(self, package_id: str, item: str) -> None:
        if item.startswith("dep:"):
            self._enable(package_id, item[4:])
        elif "/" in item:
            dep, feature = item.split("/", 1)
            if dep.endswith("?"):
                dep = dep[:-1]
                self.weak[package_id].setdefault(dep, set()).add(feature)
                if dep in self.enabled[package_id]:
                    self._dep_feature(package_id, dep, feature)
            else:
                if any(_dep_name(d) == dep and d.get("optional") for d in self._normal(package_id)):
                    self._enable(package_id, dep)
                self._dep_feature(package_id, dep, feature)
        else:
            self.feature(package_id, item)

    def _enable(self, package_id: str, dep: str) -> None:
        if dep in self.enabled[package_id]:
            return
        self.enabled[package_id].add(dep)
        for declared in self._normal(package_id):
            if _dep_name(declared) == dep and declared.get("optional"):
                self._use(package_id, declared)
        for feature in sorted(self.weak[package_id].get(dep, ())):
            self._dep_feature(package_id, dep, feature)

    def _dep_feature(self, package_id: str, dep: str, feature: str) -> None:
        for declared in self._normal(package_id):
            if _dep_name(declared) == dep and (not declared.get("optional") or dep in self.enabled[package_id]):
                target = self._resolved(package_id, declared)
                if target is not None:
                    self.activate(target, [feature])

    def _use(self, package_id: str, declared: Mapping[str, Any]) -> None:
        target = self._resolved(package_id, declared)
        if target is None:  # a declaration for another platform
            return
        self.edges[package_id].add(target)
        wanted = list(declared.get("features", []))
        if declared.get("uses_default_features", True):
            wanted.append("default")
        self.activate(target, wanted)

    def _normal(self, package_id: str) -> list[Mapping[str, Any]]:
        return [d for d in self.packages[package_id]["dependencies"] if d.get("kind") is None]

    def _resolved(self, package_id: str, declared: Mapping[str, Any]) -> str | None:
        """The package a declaration resolved to on this platform; None if it does not apply here."""
        kind = {"kind": declared.get("kind"), "target": declared.get("target")}
        found = [
            entry for entry in self.nodes[package_id]["deps"]
            if self.packages[entry["pkg"]]["name"] == declared["name"]
            and any(k.get("kind") == kind["kind"] and k.get("target") == kind["target"] for k in entry["dep_kinds"])
        ]
        if len(found) > 1:
            extern = _dep_name(declared).replace("-", "_")
            found = [entry for entry in found if entry["name"] == extern]
        if len(found) > 1:
            raise SbomError(f"cargo metadata: {self.packages[package_id]['name']} has {len(found)} packages for "
                            f"its dependency '{_dep_name(declared)}'")
        return str(found[0]["pkg"]) if found else None


def _dep_name(declared: Mapping[str, Any]) -> str:
    """The name features use for a dependency: its rename, else its package name."""
    return str(declared.get("rename") or declared["name"])


# --- npm -------------------------------------------------------------------------------------

def npm_packages(root: Path) -> tuple[tuple[NpmPackage, ...], frozenset[tuple[str, str]]]:
    """The non-dev packages of ui-src/package-lock.json (what the UI bundle is built from),
    and which of them the UI depends on directly."""
    lock = root / "ui-src" / "package-lock.json"
    try:
        data = json.loads(lock.read_text())
    except FileNotFoundError:
        raise SbomError(f"{lock}: no such file (run 'npm install' in ui-src/ to write it)") from None
    except json.JSONDecodeError as exc:
        raise SbomError(f"{lock}: not valid JSON: {exc}") from None
    entries: Mapping[str, Mapping[str, Any]] = data.get("packages") or {}
    if not entries:
        raise SbomError(f"{lock}: no 'packages' (lockfileVersion {data.get('lockfileVersion')}; npm 7+ writes version 2 or 3)")

    def locate(at: str, name: str) -> str | None:
        """Node's lookup: <at>/node_modules/<name>, then each enclosing node_modules, then the top."""
        base = at
        while True:
            candidate = f"{base}/node_modules/{name}" if base else f"node_modules/{name}"
            if candidate in entries:
                return candidate
            if not base:
                return None
            cut = base.rfind("/node_modules/")
            base = base[:cut] if cut >= 0 else ""

    def key_of(path: str) -> tuple[str, str]:
        entry = entries[path]
        return str(entry.get("name") or path.rsplit("node_modules/", 1)[1]), str(entry.get("version", ""))

    def wanted(entry: Mapping[str, Any]) -> dict[str, str]:
        # (npm 7+ installs peer dependencies: react-dom's react is one)
        return {**entry.get("dependencies", {}), **entry.get("optionalDependencies", {}),
                **entry.get("peerDependencies", {})}

    found: dict[tuple[str, str], NpmPackage] = {}
    for path, entry in entries.items():
        if not path or entry.get("dev") or entry.get("link") or "node_modules/" not in path:
            continue
        name, version = key_of(path)
        depends_on = set()
        for dep in wanted(entry):
            located = locate(path, dep)
            if located is not None and not entries[located].get("dev"):
                depends_on.add(key_of(located))
        earlier = found.get((name, version))
        found[(name, version)] = NpmPackage(
            name=name, version=version, integrity=entry.get("integrity"), license=_npm_license(entry.get("license")),
            depends_on=frozenset(depends_on) | (earlier.depends_on if earlier else frozenset()),
        )
    direct = set()
    for dep in wanted(entries.get("", {})):
        located = locate("", dep)
        if located is not None and not entries[located].get("dev"):
            direct.add(key_of(located))
    return tuple(found[k] for k in sorted(found)), frozenset(direct)


def _npm_license(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _npm_hash(integrity: str | None) -> list[HashType]:
    """An SRI string ("sha512-<base64> ...") as CycloneDX hashes (hex)."""
    hashes = []
    for token in (integrity or "").split():
        algorithm, _, digest = token.partition("-")
        if algorithm in _NPM_HASHES and digest:
            hashes.append(HashType(alg=_NPM_HASHES[algorithm], content=base64.b64decode(digest).hex()))
    return hashes


# --- Python ----------------------------------------------------------------------------------

def python_requirements(root: Path) -> tuple[Requirement, ...]:
    """pyproject.toml's [project] dependencies, sorted by name."""
    pyproject = root / "pyproject.toml"
    try:
        project = tomllib.loads(pyproject.read_text()).get("project", {})
    except (FileNotFoundError, tomllib.TOMLDecodeError) as exc:
        raise SbomError(f"{pyproject}: cannot read it ({exc})") from None
    try:
        requirements = [Requirement(text) for text in project.get("dependencies", [])]
    except InvalidRequirement as exc:
        raise SbomError(f"{pyproject}: [project] dependencies: {exc}") from None
    return tuple(sorted(requirements, key=lambda r: (canonicalize_name(r.name), str(r))))


# --- the document ----------------------------------------------------------------------------

def _bom(
    root: Path, *, version: str, epoch: int, rust_targets: Sequence[str] | None, subject: str,
    rust: Crates, npm: tuple[NpmPackage, ...], npm_direct: frozenset[tuple[str, str]],
    python: tuple[Requirement, ...],
) -> Bom:
    licenses = LicenseFactory()
    project = tomllib.loads((root / "pyproject.toml").read_text()).get("project", {})
    targets = "every platform (sdist)" if rust_targets is None else (" ".join(rust_targets) or "none (no binary)")
    application = Component(
        type=ComponentType.APPLICATION, name="noetl", version=version,
        bom_ref=PackageURL(type="pypi", name="noetl", version=version).to_string(),
        purl=PackageURL(type="pypi", name="noetl", version=version),
        description=project.get("description"),
        licenses=[licenses.make_from_string(project["license"])] if isinstance(project.get("license"), str) else [],
        properties=[Property(name=SUBJECT_PROPERTY, value=subject),
                    Property(name=RUST_TARGETS_PROPERTY, value=targets)],
    )
    crates = {
        (c.name, c.version): Component(
            type=ComponentType.LIBRARY, name=c.name, version=c.version, bom_ref=c.purl,
            purl=PackageURL(type="cargo", name=c.name, version=c.version), scope=ComponentScope.REQUIRED,
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=c.checksum)] if c.checksum else [],
            licenses=[licenses.make_from_string(c.license)] if c.license else [],
            properties=[Property(name=BUNDLED_PROPERTY, value="compiled into the noetl binary")],
        )
        for c in rust.crates
    }
    packages = {
        (p.name, p.version): Component(
            type=ComponentType.LIBRARY, name=p.name, version=p.version, bom_ref=p.purl,
            purl=PackageURL.from_string(p.purl), scope=ComponentScope.REQUIRED, hashes=_npm_hash(p.integrity),
            licenses=[licenses.make_from_string(p.license)] if p.license else [],
            properties=[Property(name=BUNDLED_PROPERTY, value="bundled into the web UI (noetl/core/ui)")],
        )
        for p in npm
    }
    requirements = [
        Component(
            type=ComponentType.LIBRARY, name=r.name, bom_ref=f"pkg:pypi/{canonicalize_name(r.name)}",
            purl=PackageURL(type="pypi", name=canonicalize_name(r.name)), scope=ComponentScope.REQUIRED,
            properties=[Property(name=REQUIREMENT_PROPERTY, value=str(r)),
                        Property(name=BUNDLED_PROPERTY, value="no: installed by pip from the package index")],
        )
        for r in python
    ]
    bom = Bom(
        serial_number=_PLACEHOLDER_SERIAL,
        metadata=BomMetaData(
            timestamp=datetime.fromtimestamp(epoch, tz=timezone.utc),
            component=application,
            tools=ToolRepository(components=[Component(
                type=ComponentType.APPLICATION, name="noetl_build.sbom",
                description="cargo metadata + Cargo.lock, ui-src/package-lock.json, pyproject.toml",
            )]),
        ),
        components=[*crates.values(), *packages.values(), *requirements],
    )
    bom.register_dependency(application, [*(crates[k] for k in sorted(rust.direct)),
                                          *(packages[k] for k in sorted(npm_direct)), *requirements])
    for crate in rust.crates:
        bom.register_dependency(crates[(crate.name, crate.version)], [crates[k] for k in sorted(crate.depends_on)])
    for package in npm:
        bom.register_dependency(packages[(package.name, package.version)],
                                [packages[k] for k in sorted(package.depends_on)])
    for requirement in requirements:
        bom.register_dependency(requirement)
    return bom
