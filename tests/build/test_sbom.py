"""noetl_build.sbom on the repository's own crate, UI lock and pyproject.toml (real cargo tree and metadata)."""

from __future__ import annotations

import base64
import json
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from noetl_build import sbom as sbom_module
from noetl_build.errors import ToolchainError
from noetl_build.sbom import SBOM_NAME, SbomError, build_sbom, cargo_tree_graph, rust_crates, sbom_member
from noetl_build.verify.checks_sbom import metadata_bounds
from tests.conftest import ROOT

LINUX, WINDOWS = ("x86_64-unknown-linux-gnu",), ("x86_64-pc-windows-gnu",)
UNIVERSAL2 = ("x86_64-apple-darwin", "aarch64-apple-darwin")
EPOCH = 1_700_000_000
# On Windows the binary also compiles these: windows-sys through the crate's cfg(windows)
# table, the rest through clap's anstream and windows-sys's own windows-link.
WINDOWS_ONLY = {"windows-sys", "windows-link", "anstyle-wincon", "once_cell_polyfill"}

Document = dict[str, Any]


def sbom(rust_targets: tuple[str, ...] | None, subject: str = "test") -> bytes:
    return build_sbom(ROOT, version="0.1.0", epoch=EPOCH, rust_targets=rust_targets, subject=subject)


@pytest.fixture(scope="module")
def documents() -> dict[str, Document]:
    made = {"linux": sbom(LINUX), "windows": sbom(WINDOWS), "generic": sbom(()), "sdist": sbom(None),
            "universal2": sbom(UNIVERSAL2), "x86_64-apple-darwin": sbom(UNIVERSAL2[:1]),
            "aarch64-apple-darwin": sbom(UNIVERSAL2[1:])}
    return {name: json.loads(data) for name, data in made.items()}


def components(document: Document, purl_type: str) -> dict[str, Document]:
    prefix = f"pkg:{purl_type}/"
    return {c["name"]: c for c in document["components"] if c["purl"].startswith(prefix)}


def crate_keys(document: Document) -> set[tuple[str, str]]:
    return {(c["name"], c["version"]) for c in document["components"] if c["purl"].startswith("pkg:cargo/")}


def crate_edges(document: Document) -> set[tuple[tuple[str, str], tuple[str, str]]]:
    """(crate, dependency) for every crate's dependsOn in the document, by (name, version)."""
    keys = {c["bom-ref"]: (c["name"], c["version"]) for c in document["components"] if c["purl"].startswith("pkg:cargo/")}
    return {(keys[d["ref"]], keys[r]) for d in document["dependencies"] if d["ref"] in keys for r in d.get("dependsOn", [])}


def resolve_edges(rust_target: str | None) -> set[tuple[tuple[str, str], tuple[str, str]]]:
    """(package, dependency) for every normal dependency in cargo metadata's resolve graph."""
    platform = [] if rust_target is None else ["--filter-platform", rust_target]
    metadata = json.loads(subprocess.run(
        ["cargo", "metadata", "--locked", "--format-version", "1", "--manifest-path", str(ROOT / "noetlctl" / "Cargo.toml"),
         *platform], capture_output=True, text=True, check=True).stdout)
    key = {p["id"]: (p["name"], p["version"]) for p in metadata["packages"]}
    return {(key[node["id"]], key[dep["pkg"]]) for node in metadata["resolve"]["nodes"] for dep in node["deps"]
            if any(kind["kind"] is None for kind in dep["dep_kinds"])}


def lock_packages() -> dict[tuple[str, str], str | None]:
    lock = tomllib.loads((ROOT / "noetlctl" / "Cargo.lock").read_text())
    return {(p["name"], p["version"]): p.get("checksum") for p in lock["package"]}


def test_where_it_goes() -> None:
    assert SBOM_NAME == "noetl.cdx.json"
    assert sbom_member("noetl-0.1.0.dist-info") == "noetl-0.1.0.dist-info/sboms/noetl.cdx.json"


def test_linux_has_libc_and_no_windows_crates(documents: dict[str, Document]) -> None:
    crates = components(documents["linux"], "cargo")
    assert "libc" in crates
    assert not WINDOWS_ONLY & set(crates)
    assert {"ureq", "rustls", "ring", "clap", "serde", "serde_norway"} <= set(crates)


def test_windows_has_windows_sys(documents: dict[str, Document]) -> None:
    windows, linux = set(components(documents["windows"], "cargo")), set(components(documents["linux"], "cargo"))
    assert windows - linux == WINDOWS_ONLY
    assert linux - windows == {"libc"}  # the crate's cfg(unix) table, and getrandom's


# A root whose dependency turns on a feature of an optional crate only if that crate is on
# (`unused?/feat`): cargo metadata's resolve lists the crate anyway (rust-lang/cargo#10801).
WEAK_FEATURE_CRATES = {
    "noetlctl/Cargo.toml": '[package]\nname = "noetl"\nversion = "0.1.0"\nedition = "2021"\n\n'
                           '[dependencies]\nmiddle = { path = "../middle", features = ["extra"] }\n',
    "noetlctl/src/main.rs": "fn main() {}\n",
    "middle/Cargo.toml": '[package]\nname = "middle"\nversion = "0.1.0"\nedition = "2021"\n\n'
                         '[dependencies]\nunused = { path = "../unused", optional = true }\n\n'
                         '[features]\nextra = ["unused?/feat"]\n',
    "middle/src/lib.rs": "",
    "unused/Cargo.toml": '[package]\nname = "unused"\nversion = "0.1.0"\nedition = "2021"\n\n[features]\nfeat = []\n',
    "unused/src/lib.rs": "",
}


def test_weak_features_pull_in_nothing(tmp_path: Path) -> None:
    """The crate's own graph has no weak feature since the dependency diet (reqwest's `quinn?/ring`
    was one), so a small one shows it: metadata lists the optional crate, the SBOM does not."""
    for name, text in WEAK_FEATURE_CRATES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    subprocess.run(["cargo", "generate-lockfile", "--offline", "--manifest-path", str(tmp_path / "noetlctl" / "Cargo.toml")],
                   check=True, capture_output=True, timeout=120)
    crates = rust_crates(tmp_path, LINUX)
    assert [c.name for c in crates.crates] == ["middle"]
    bounds, why = metadata_bounds(tmp_path / "noetlctl", LINUX)
    assert bounds is not None, why
    assert {name for name, _ in bounds.possible} == {"middle", "unused"}


def test_no_binary_no_crates(documents: dict[str, Document]) -> None:
    generic = documents["generic"]
    assert components(generic, "cargo") == {}
    assert components(generic, "npm") == components(documents["linux"], "npm")
    assert {d["ref"] for d in generic["dependencies"]} >= {generic["metadata"]["component"]["bom-ref"]}


def test_sdist_has_every_platform(documents: dict[str, Document]) -> None:
    sdist = set(components(documents["sdist"], "cargo"))
    assert {"libc", "windows-sys"} <= sdist
    assert sdist >= set(components(documents["linux"], "cargo")) | set(components(documents["windows"], "cargo"))
    assert "libredox" in sdist  # every platform means every platform cargo knows: redox's, through dirs


@pytest.mark.parametrize(("name", "rust_targets"), [("linux", LINUX), ("windows", WINDOWS), ("universal2", UNIVERSAL2),
                                                    ("sdist", None)])
def test_within_cargo_metadatas_bounds(documents: dict[str, Document], name: str,
                                       rust_targets: tuple[str, ...] | None) -> None:
    """The generator asks cargo tree; cargo metadata, read independently, bounds its answer from both sides:
    every crate a non-optional dependency chain requires is listed, every crate listed is a normal dependency."""
    bounds, why = metadata_bounds(ROOT / "noetlctl", rust_targets)
    assert bounds is not None, why
    listed = crate_keys(documents[name])
    assert bounds.required <= listed <= bounds.possible
    assert len(bounds.required) < len(listed)  # the lower bound is strict: it can fail
    # the upper is met since the diet took the last weak feature out (test_weak_features_pull_in_nothing)
    assert listed == bounds.possible


@pytest.mark.parametrize(("name", "rust_target"), [("linux", LINUX[0]), ("windows", WINDOWS[0]), ("sdist", None)])
def test_edges_are_cargo_metadatas(documents: dict[str, Document], name: str, rust_target: str | None) -> None:
    document = documents[name]
    edges, resolve = crate_edges(document), resolve_edges(rust_target)
    assert edges and edges <= resolve
    root = next(d["dependsOn"] for d in document["dependencies"] if d["ref"] == document["metadata"]["component"]["bom-ref"])
    direct = {PackageURL.from_string(ref) for ref in root if ref.startswith("pkg:cargo/")}
    assert {(("noetl", "0.1.0"), (p.name, p.version)) for p in direct} <= resolve
    assert {"clap", "ureq"} <= {p.name for p in direct}


# Trimmed from `cargo tree --locked -e normal --target all --prefix depth -f '{p}'` on noetlctl/.
CAPTURED_TREE = """\
0noetl v0.1.0 (/work/main/noetlctl)
1clap v4.6.9
2clap_builder v4.6.7
3anstream v1.0.0
4anstyle-query v1.1.5
5windows-sys v0.61.2
6windows-link v0.2.1
2clap_derive v4.6.9 (proc-macro)
3proc-macro2 v1.0.107
4unicode-ident v1.0.27
3quote v1.0.47
4proc-macro2 v1.0.107 (*)
1reqwest v0.12.28
2rustls v0.23.46
3ring v0.17.14
4libc v0.2.191
4windows-sys v0.52.0
5windows-targets v0.52.6
3rustls-pki-types v1.16.0
3rustls-webpki v0.103.17
4ring v0.17.14 (*)
4rustls-pki-types v1.16.0 (*)
1serde_yaml v0.9.34+deprecated
1windows-sys v0.61.2 (*)
"""


def test_cargo_tree_graph() -> None:
    """Repeats ("(*)") add an edge but no children; two versions of a crate are two packages; rustls's
    renamed `pki-types` dependency is printed, and kept, under its package name."""
    tree = cargo_tree_graph(CAPTURED_TREE)
    edges = {f"{n} {v}": sorted(f"{d} {w}" for d, w in deps) for (n, v), deps in tree.edges.items()}
    assert tree.root == ("noetl", "0.1.0")
    assert edges == {
        "noetl 0.1.0": ["clap 4.6.9", "reqwest 0.12.28", "serde_yaml 0.9.34+deprecated", "windows-sys 0.61.2"],
        "clap 4.6.9": ["clap_builder 4.6.7", "clap_derive 4.6.9"],
        "clap_builder 4.6.7": ["anstream 1.0.0"],
        "anstream 1.0.0": ["anstyle-query 1.1.5"],
        "anstyle-query 1.1.5": ["windows-sys 0.61.2"],
        "windows-sys 0.61.2": ["windows-link 0.2.1"],
        "windows-link 0.2.1": [],
        "clap_derive 4.6.9": ["proc-macro2 1.0.107", "quote 1.0.47"],
        "proc-macro2 1.0.107": ["unicode-ident 1.0.27"],
        "unicode-ident 1.0.27": [],
        "quote 1.0.47": ["proc-macro2 1.0.107"],
        "reqwest 0.12.28": ["rustls 0.23.46"],
        "rustls 0.23.46": ["ring 0.17.14", "rustls-pki-types 1.16.0", "rustls-webpki 0.103.17"],
        "ring 0.17.14": ["libc 0.2.191", "windows-sys 0.52.0"],
        "libc 0.2.191": [],
        "windows-sys 0.52.0": ["windows-targets 0.52.6"],
        "windows-targets 0.52.6": [],
        "rustls-pki-types 1.16.0": [],
        "rustls-webpki 0.103.17": ["ring 0.17.14", "rustls-pki-types 1.16.0"],
        "serde_yaml 0.9.34+deprecated": [],
    }


def test_cargo_tree_graph_deep_lines() -> None:
    chain = "".join(f"{depth}c{depth} v1.0.{depth}\n" for depth in range(13))  # depths 10, 11, 12: two digits
    edges = cargo_tree_graph(chain).edges
    assert edges[("c9", "1.0.9")] == {("c10", "1.0.10")} and edges[("c11", "1.0.11")] == {("c12", "1.0.12")}


@pytest.mark.parametrize(("text", "message"), [
    ("", "cargo tree printed no packages"),
    ("0noetl v0.1.0\n2serde v1.0.0\n", "cargo tree line 2 is at depth 2, expected 1: '2serde v1.0.0'"),
    ("1serde v1.0.0\n", "cargo tree line 1 is at depth 1, expected 0 (the root)"),
    ("0noetl v0.1.0\n0other v0.1.0\n", "cargo tree line 2 is at depth 0, expected 1"),
    ("0noetl v0.1.0\n1├── serde v1.0.0\n", "cargo tree line 2 is not '<depth><name> v<version>'"),
])
def test_cargo_tree_graph_rejects(text: str, message: str) -> None:
    with pytest.raises(SbomError, match=r"^[^\n]*$") as raised:
        cargo_tree_graph(text)
    assert str(raised.value).startswith(message)


def test_universal2_is_the_union_of_its_slices(documents: dict[str, Document]) -> None:
    union = set(components(documents["x86_64-apple-darwin"], "cargo")) | set(components(documents["aarch64-apple-darwin"], "cargo"))
    assert set(components(documents["universal2"], "cargo")) == union
    props = {p["name"]: p["value"] for p in documents["universal2"]["metadata"]["component"]["properties"]}
    assert props["noetl:sbom:rust-targets"] == "x86_64-apple-darwin aarch64-apple-darwin"


def test_crate_hashes_are_cargo_lock_checksums(documents: dict[str, Document]) -> None:
    lock = lock_packages()
    crates = [c for c in documents["sdist"]["components"] if c["purl"].startswith("pkg:cargo/")]
    assert len(crates) > len(components(documents["sdist"], "cargo"))  # two windows-sys versions, for one
    for crate in crates:
        name, version = crate["name"], crate["version"]
        purl = PackageURL.from_string(crate["purl"])
        assert (purl.type, purl.name, purl.version) == ("cargo", name, version)  # "+" is %2B in a purl
        assert crate["bom-ref"] == crate["purl"]
        assert crate["hashes"] == [{"alg": "SHA-256", "content": lock[(name, version)]}], name
        assert crate["licenses"], name


def test_npm_packages_are_the_locks_non_dev_packages(documents: dict[str, Document]) -> None:
    lock = json.loads((ROOT / "ui-src" / "package-lock.json").read_text())["packages"]
    non_dev = {path.rsplit("node_modules/", 1)[1]: entry for path, entry in lock.items() if path and not entry.get("dev")}
    npm = components(documents["linux"], "npm")
    assert set(npm) == set(non_dev)
    assert "react" in npm and "vite" not in npm and "typescript" not in npm
    for name, package in npm.items():
        assert package["version"] == non_dev[name]["version"]
        algorithm, _, digest = non_dev[name]["integrity"].partition("-")
        assert algorithm == "sha512"
        assert package["hashes"] == [{"alg": "SHA-512", "content": base64.b64decode(digest).hex()}]
        assert package["purl"] == f"pkg:npm/{name}@{package['version']}"


def test_python_requirements_are_recorded_not_bundled(documents: dict[str, Document]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    python = components(documents["linux"], "pypi")
    assert {name.lower() for name in python} == {r.split(">")[0].split("=")[0].lower() for r in project["dependencies"]}
    for component in python.values():
        props = {p["name"]: p["value"] for p in component["properties"]}
        assert props["noetl:python:requirement"] in project["dependencies"]
        assert props["noetl:bundled"].startswith("no")
        assert "version" not in component


def test_root_component(documents: dict[str, Document]) -> None:
    document = documents["linux"]
    assert document["specVersion"] == "1.6" and document["bomFormat"] == "CycloneDX"
    assert document["metadata"]["timestamp"] == "2023-11-14T22:13:20+00:00"
    root = document["metadata"]["component"]
    assert (root["name"], root["version"], root["purl"], root["type"]) == ("noetl", "0.1.0", "pkg:pypi/noetl@0.1.0", "application")
    assert {"name": "noetl:sbom:subject", "value": "test"} in root["properties"]
    direct = next(d["dependsOn"] for d in document["dependencies"] if d["ref"] == root["bom-ref"])
    assert {"pkg:cargo/clap@" + components(document, "cargo")["clap"]["version"], "pkg:npm/react@19.3.1",
            "pkg:pypi/starlette", "pkg:pypi/uvicorn", "pkg:pypi/ruamel-yaml"} <= set(direct)
    assert not {"pkg:pypi/fastapi", "pkg:pypi/pydantic", "pkg:pypi/pyyaml"} & set(direct)
    refs = {c["bom-ref"] for c in document["components"]} | {root["bom-ref"]}
    for dependency in document["dependencies"]:
        assert dependency["ref"] in refs and set(dependency.get("dependsOn", [])) <= refs


def test_reproducible() -> None:
    first, second = sbom(LINUX, "wheel for x86_64-unknown-linux-gnu"), sbom(LINUX, "wheel for x86_64-unknown-linux-gnu")
    assert first == second
    assert first.endswith(b"\n")
    other = sbom(LINUX, "another subject")
    assert json.loads(other)["serialNumber"] != json.loads(first)["serialNumber"]  # derived from the content
    assert json.loads(first)["serialNumber"].startswith("urn:uuid:")


def test_schema_valid(documents: dict[str, Document]) -> None:
    validator = JsonStrictValidator(SchemaVersion.V1_6)
    for name, document in documents.items():
        assert validator.validate_str(json.dumps(document)) is None, name


def test_missing_cargo_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CARGO", str(tmp_path / "no-cargo"))
    with pytest.raises(ToolchainError, match="the SBOM needs cargo: .* install Rust"):
        sbom(LINUX)
    monkeypatch.delenv("CARGO")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainError, match="no cargo on PATH"):
        sbom(LINUX)


def test_cargo_failure_is_one_line(tmp_path: Path) -> None:
    """A crate with no Cargo.lock: --locked makes cargo refuse to write one; cargo's reason, one line."""
    (tmp_path / "noetlctl" / "src").mkdir(parents=True)
    (tmp_path / "noetlctl" / "Cargo.toml").write_text('[package]\nname = "x"\nversion = "0.1.0"\nedition = "2021"\n')
    (tmp_path / "noetlctl" / "src" / "main.rs").write_text("fn main() {}\n")
    with pytest.raises(SbomError) as raised:
        build_sbom(tmp_path, version="0.1.0", epoch=EPOCH, rust_targets=LINUX, subject="test")
    message = str(raised.value)
    assert message.startswith(f"'cargo tree -e normal --target {LINUX[0]} --prefix depth -f {{p}}' failed: error: ")
    assert "\n" not in message


def test_a_kept_sbom_is_made_again_only_when_what_decides_it_changes(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    """kept_sbom (the pipeline's per-target SBOM): its inputs, arguments or kept file changed → made again."""
    root, where = tmp_path / "root", tmp_path / "target"
    for name in sbom_module.SBOM_SOURCES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(name)
    made: list[dict[str, object]] = []

    def fake_build(root: Path, **arguments: object) -> bytes:
        made.append(arguments)
        return f"sbom {len(made)}\n".encode()

    monkeypatch.setattr(sbom_module, "build_sbom", fake_build)

    def kept(compiler: str = "1.96.0") -> bytes:
        return sbom_module.kept_sbom(root, where, version="0.1.0", epoch=EPOCH, rust_targets=LINUX,
                              subject="wheel for x", compiler={"rustc": compiler})

    assert kept() == b"sbom 1\n"
    assert (where / SBOM_NAME).read_bytes() == b"sbom 1\n"
    assert kept() == b"sbom 1\n" and len(made) == 1, "nothing changed: reused"
    assert kept(compiler="1.97.0") == b"sbom 2\n", "another compiler"
    (root / "noetlctl" / "Cargo.lock").write_text("changed")
    assert kept(compiler="1.97.0") == b"sbom 3\n", "an edited Cargo.lock"
    (where / SBOM_NAME).write_bytes(b"tampered")
    assert kept(compiler="1.97.0") == b"sbom 4\n", "an edited kept SBOM"
    assert made[-1] == {"version": "0.1.0", "epoch": EPOCH, "rust_targets": LINUX, "subject": "wheel for x",
                        "compiler": {"rustc": "1.97.0"}}
