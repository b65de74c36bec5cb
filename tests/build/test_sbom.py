"""noetl_build.sbom on the repository's own crate, UI lock and pyproject.toml (real cargo metadata)."""

from __future__ import annotations

import base64
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from noetl_build.errors import ToolchainError
from noetl_build.sbom import SBOM_NAME, build_sbom, sbom_member
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
    assert {"reqwest", "rustls", "ring", "clap", "serde"} <= set(crates)


def test_windows_has_windows_sys(documents: dict[str, Document]) -> None:
    windows, linux = set(components(documents["windows"], "cargo")), set(components(documents["linux"], "cargo"))
    assert windows - linux == WINDOWS_ONLY
    # libc is in the Windows build too, for real: hyper-util's `client-legacy` feature turns on
    # its optional, platform-independent `dep:libc` (cargo tree -i libc --target x86_64-pc-windows-gnu).
    assert linux - windows == set()


def test_weak_features_pull_in_nothing(documents: dict[str, Document]) -> None:
    """cargo metadata's resolve lists quinn & co. (reqwest's weak `quinn?/ring`); no build compiles them."""
    for name in ("linux", "windows", "universal2"):
        assert not {"quinn", "quinn-proto", "quinn-udp", "h3"} & set(components(documents[name], "cargo")), name


def test_no_binary_no_crates(documents: dict[str, Document]) -> None:
    generic = documents["generic"]
    assert components(generic, "cargo") == {}
    assert components(generic, "npm") == components(documents["linux"], "npm")
    assert {d["ref"] for d in generic["dependencies"]} >= {generic["metadata"]["component"]["bom-ref"]}


def test_sdist_has_every_platform(documents: dict[str, Document]) -> None:
    sdist = set(components(documents["sdist"], "cargo"))
    assert {"libc", "windows-sys"} <= sdist
    assert sdist >= set(components(documents["linux"], "cargo")) | set(components(documents["windows"], "cargo"))
    assert "wasm-bindgen" in sdist  # every platform means every platform cargo knows, wasm32 included
    assert "quinn" not in sdist


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
            "pkg:pypi/fastapi"} <= set(direct)
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
