"""A CycloneDX 1.6 SBOM (PEP 770) of what one NoETL artifact carries, byte-identical across rebuilds.

    build_sbom(root, version=..., epoch=..., rust_targets=..., subject=..., compiler=...) -> bytes

It lists, under the root component (the noetl application at ``version``):

- the Rust crates compiled into the binary for ``rust_targets`` (the union over a universal2
  wheel's slices; ``()``: no binary, no crates; ``None``: the sdist, every crate any platform
  can need), as cargo's feature resolver decides them (``cargo tree -e normal --target T``),
  licensed as ``cargo metadata`` says, hashed with Cargo.lock's checksums;
- the npm packages bundled into the web UI: the non-dev packages of ui-src/package-lock.json;
- the Python requirements of pyproject.toml, which pip installs (they are not bundled);

and, among the metadata's tools, the rustc that compiled the binary (``compiler``: its release,
commit hash and host, as ``rustc -vV`` says; none for the sdist and the generic wheel).

The wheel puts it at ``<name>-<version>.dist-info/sboms/noetl.cdx.json`` (``sbom_member``).
docs/sbom.md says what is in it and how to read it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
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

from .errors import SbomError, ToolchainError
from .files import atomic_output, read_toml
from .fingerprint import code_digest, digest
from .procs import capture
from .reuse import record, reused

if sys.version_info >= (3, 11):
    import tomllib
else:  # the PEP 517 backend (docs/packaging.md) imports this module on Python 3.10 too
    import tomli as tomllib

SBOM_NAME = "noetl.cdx.json"
SBOM_DIR = "sboms"  # PEP 770: <name>-<version>.dist-info/sboms/
# What build_sbom reads below the root (cargo's answers come from the first two): a kept SBOM's inputs.
SBOM_SOURCES = ("noetlctl/Cargo.toml", "noetlctl/Cargo.lock", "ui-src/package-lock.json", "pyproject.toml")
KEPT_STAMP = "sbom.json"  # beside a kept SBOM: reuse.record of what made it
SPEC_VERSION = "1.6"
# Properties this project adds (CycloneDX property names are namespaced by their owner).
SUBJECT_PROPERTY = "noetl:sbom:subject"
RUST_TARGETS_PROPERTY = "noetl:sbom:rust-targets"
REQUIREMENT_PROPERTY = "noetl:python:requirement"
BUNDLED_PROPERTY = "noetl:bundled"
RUSTC_COMMIT_PROPERTY = "noetl:rustc:commit-hash"
RUSTC_HOST_PROPERTY = "noetl:rustc:host"
# Serial numbers are uuid5(this, the document's content): same content, same serial.
_SERIAL_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://noetl.io/sbom")
_PLACEHOLDER_SERIAL = uuid.UUID(int=0)
_CARGO_TIMEOUT = 600  # cargo metadata may have to download crate manifests first
# A line of `cargo tree --prefix depth -f '{p}'`: "3serde v1.0.228 (*)" (a crate name never starts with a digit).
_TREE_LINE = re.compile(r"(?P<depth>[0-9]+)(?P<name>[^\s0-9]\S*) v(?P<version>\S+)")
_NPM_HASHES = {"sha512": HashAlgorithm.SHA_512, "sha384": HashAlgorithm.SHA_384,
               "sha256": HashAlgorithm.SHA_256, "sha1": HashAlgorithm.SHA_1}


def sbom_member(dist_info: str) -> str:
    """Where the SBOM goes in a wheel: ``noetl-0.1.0.dist-info/sboms/noetl.cdx.json``."""
    return f"{dist_info}/{SBOM_DIR}/{SBOM_NAME}"


Package = tuple[str, str]  # (name, version)


@dataclass(frozen=True)
class Crate:
    name: str
    version: str
    license: str | None  # SPDX expression, as cargo metadata gives it ("/" read as OR)
    checksum: str | None  # Cargo.lock's sha256 (hex); None for path/git packages
    depends_on: frozenset[Package] = frozenset()  # (name, version) of its normal dependencies

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
    direct: frozenset[Package]


def build_sbom(
    root: Path, *, version: str, epoch: int, rust_targets: Sequence[str] | None, subject: str,
    compiler: Mapping[str, str] | None = None,
) -> bytes:
    """The SBOM of one artifact as CycloneDX 1.6 JSON (UTF-8, ends with a newline).

    ``rust_targets``: the rustc targets whose binary the artifact holds (two for universal2);
    ``()`` when it holds none (the generic wheel); ``None`` for the sdist (every platform).
    ``epoch`` (SOURCE_DATE_EPOCH) is the timestamp; ``subject`` names the artifact, e.g.
    "wheel for x86_64-unknown-linux-gnu". ``compiler`` (rustc, commit-hash, host) names the
    rustc that compiled the binary.
    """
    rust = rust_crates(root, rust_targets)
    npm, npm_direct = npm_packages(root)
    python = python_requirements(root)
    bom = _bom(root, version=version, epoch=epoch, rust_targets=rust_targets, subject=subject,
               rust=rust, npm=npm, npm_direct=npm_direct, python=python, compiler=compiler)
    # The serial number is derived from everything else, so equal content gets an equal serial.
    first = _render(bom)
    bom.serial_number = uuid.uuid5(_SERIAL_NAMESPACE, first)
    return _render(bom).encode("utf-8")


def kept_sbom(
    root: Path, where: Path, *, version: str, epoch: int, rust_targets: Sequence[str] | None, subject: str,
    compiler: Mapping[str, str] | None = None,
) -> bytes:
    """build_sbom's document, kept in ``where`` (as noetl.cdx.json) and reused while what decides
    it is unchanged: SBOM_SOURCES, the arguments and this module's code (fingerprint.code_digest)."""
    out = where / SBOM_NAME
    stamp = where / KEPT_STAMP
    key = digest(files=[root / name for name in SBOM_SOURCES], base=root, extra={
        "version": version, "epoch": epoch, "rust": rust_targets, "subject": subject, "compiler": compiler,
        "code": code_digest(Path(__file__))})
    if reused(stamp, key, [out]):
        return out.read_bytes()
    data = build_sbom(root, version=version, epoch=epoch, rust_targets=rust_targets, subject=subject,
                      compiler=compiler)
    with atomic_output(out) as tmp:
        tmp.write_bytes(data)
    record(stamp, key, [out])
    return data


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
    """The crates compiled into the binary for ``rust_targets`` (their union), the root excluded.

    Which crates, and what each depends on, is cargo's own feature resolver's answer:
    ``cargo tree -e normal --target T`` per slice (``--target all`` for ``None``). cargo
    metadata only supplies each crate's license, Cargo.lock its checksum.
    """
    if rust_targets is not None and not rust_targets:
        return Crates((), frozenset())
    trees = [_cargo_tree(root, rust_target) for rust_target in (["all"] if rust_targets is None else rust_targets)]
    edges: dict[Package, set[Package]] = {}
    for tree in trees:
        for package, depends_on in tree.edges.items():
            edges.setdefault(package, set()).update(depends_on)
    top = trees[0].root
    licenses, checksums = _cargo_licenses(root), _lock_checksums(root / "noetlctl" / "Cargo.lock")
    crates = tuple(_crate(key, edges[key], licenses, checksums) for key in sorted(edges) if key != top)
    return Crates(crates, frozenset(edges[top]))


@dataclass(frozen=True)
class CargoTree:
    """A dependency graph as ``cargo tree --prefix depth`` prints it."""

    root: Package
    edges: Mapping[Package, frozenset[Package]]  # every package, the root too: its dependencies


def cargo_tree_graph(text: str) -> CargoTree:
    """The output of ``cargo tree --prefix depth -f '{p}'`` as a graph.

    Each line is ``<depth><name> v<version>[ (<source>)][ (proc-macro)][ (*)]``, the root at
    depth 0; a line's parent is the nearest line above it one level up. ``(*)`` marks a
    package whose dependencies were printed where it first appeared (one without any is
    repeated unmarked), so each edge is printed at least once, and what follows the version
    can be ignored.
    """
    path: list[Package] = []  # the ancestors of the current line, the root first
    edges: dict[Package, set[Package]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            depth, package = _tree_line(number, line)
            if depth > len(path) or (depth == 0 and path):
                expected = "0 (the root)" if not path else "1" if len(path) == 1 else f"1 to {len(path)}"
                raise SbomError(f"cargo tree line {number} is at depth {depth}, expected {expected}: {line!r}")
            del path[depth:]
            if path:
                edges[path[-1]].add(package)
            edges.setdefault(package, set())
            path.append(package)
    if not edges:
        raise SbomError("cargo tree printed no packages")
    root = next(iter(edges))
    return CargoTree(root, {package: frozenset(deps) for package, deps in edges.items()})


def _tree_line(number: int, line: str) -> tuple[int, Package]:
    """``12serde v1.0.228 (*)`` -> (12, ("serde", "1.0.228"))."""
    match = _TREE_LINE.match(line)
    if match is None:
        raise SbomError(f"cargo tree line {number} is not '<depth><name> v<version>': {line!r}")
    return int(match["depth"]), (match["name"], match["version"])


def _crate(key: Package, depends_on: Iterable[Package], licenses: Mapping[Package, str | None],
           checksums: Mapping[Package, str]) -> Crate:
    if key not in licenses:
        raise SbomError(f"cargo tree lists {key[0]} {key[1]}, cargo metadata does not")
    return Crate(name=key[0], version=key[1], license=licenses[key], checksum=checksums.get(key),
                 depends_on=frozenset(depends_on))


def _cargo_tree(root: Path, rust_target: str) -> CargoTree:
    """cargo's feature resolver's answer for one target (``all``: every platform)."""
    return cargo_tree_graph(_cargo(root, "tree", "-e", "normal", "--target", rust_target,
                                   "--prefix", "depth", "-f", "{p}"))


def _cargo_licenses(root: Path) -> dict[Package, str | None]:
    """Each package's license, by (name, version): one cargo metadata over every platform."""
    metadata = json.loads(_cargo(root, "metadata", "--format-version", "1"))
    return {(str(p["name"]), str(p["version"])): _license(p.get("license")) for p in metadata["packages"]}


def _license(text: object) -> str | None:
    """Cargo's license field as SPDX: the deprecated "/" separator means OR (Cargo reference)."""
    if not isinstance(text, str) or not text.strip():
        return None
    return " OR ".join(part.strip() for part in text.split("/")) if "/" in text else text.strip()


def _lock_checksums(lock: Path) -> dict[Package, str]:
    data = read_toml(lock, what="the crate's lock file; run 'cargo generate-lockfile'", error=SbomError)
    return {(p["name"], p["version"]): p["checksum"] for p in data.get("package", []) if "checksum" in p}


def _cargo(root: Path, subcommand: str, *args: str) -> str:
    """``cargo <subcommand> --locked`` on noetlctl/Cargo.toml: its stdout, or SbomError with cargo's reason."""
    manifest = root / "noetlctl" / "Cargo.toml"
    command = [cargo_program(), subcommand, "--locked", "--color", "never", "--manifest-path", str(manifest), *args]
    what = " ".join(["cargo", subcommand, *args])
    proc = capture(command, timeout=_CARGO_TIMEOUT)
    if proc.code is None:
        raise SbomError(f"'{what}': {proc.stderr}")
    if not proc.ok:
        lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
        reason = next((line for line in lines if line.startswith("error")), lines[-1] if lines else "no output")
        raise SbomError(f"'{what}' failed: {reason}")
    return proc.stdout


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

def _compiler_tool(compiler: Mapping[str, str] | None) -> list[Component]:
    """The rustc that compiled the binary, as a tool of the metadata."""
    if not compiler:
        return []
    return [Component(
        type=ComponentType.APPLICATION, name="rustc", version=compiler["rustc"],
        description="the Rust compiler that compiled the noetl binary",
        properties=[Property(name=RUSTC_COMMIT_PROPERTY, value=compiler.get("commit-hash", "unknown")),
                    Property(name=RUSTC_HOST_PROPERTY, value=compiler.get("host", "unknown"))],
    )]


def sbom_compiler(document: Mapping[str, Any]) -> dict[str, str] | None:
    """The compiler a parsed SBOM names ({"rustc", "commit-hash", "host"}), None when it names none."""
    tools = document.get("metadata", {}).get("tools", {})
    components = tools.get("components", []) if isinstance(tools, dict) else []
    for component in components:
        if isinstance(component, dict) and component.get("name") == "rustc":
            properties = {p.get("name"): p.get("value") for p in component.get("properties", []) if isinstance(p, dict)}
            return {"rustc": str(component.get("version", "")),
                    "commit-hash": str(properties.get(RUSTC_COMMIT_PROPERTY, "unknown")),
                    "host": str(properties.get(RUSTC_HOST_PROPERTY, "unknown"))}
    return None


def _bom(
    root: Path, *, version: str, epoch: int, rust_targets: Sequence[str] | None, subject: str,
    rust: Crates, npm: tuple[NpmPackage, ...], npm_direct: frozenset[tuple[str, str]],
    python: tuple[Requirement, ...], compiler: Mapping[str, str] | None,
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
                description="cargo tree + cargo metadata + Cargo.lock, ui-src/package-lock.json, pyproject.toml",
            ), *_compiler_tool(compiler)]),
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
