"""The sbom check on small wheels made here: a right SBOM passes; each defect fails, named."""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from noetl_build.layout import Layout
from noetl_build.sbom import build_sbom, sbom_compiler, sbom_member
from noetl_build.verify import CHECK_NAMES, checks_sbom
from noetl_build.verify.results import FAIL, PASS, CheckResult
from noetl_build.verify.suite import verify_wheel
from tests.conftest import ROOT

from .fakes import DIST_INFO, target
from .surgery import record_for

LINUX, WINDOWS, UNIVERSAL2 = "x86_64-unknown-linux-gnu", "x86_64-pc-windows-gnu", "universal2-apple-darwin"
SBOM = sbom_member(DIST_INFO)
RECORD = f"{DIST_INFO}/RECORD"
Edit = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def sboms() -> dict[str, bytes]:
    """A right SBOM per target, made by the generator the build uses."""
    return {
        name: build_sbom(ROOT, version="0.1.0", epoch=1_700_000_000, rust_targets=target(name).rust_targets,
                         subject=f"wheel for {name}")
        for name in (LINUX, WINDOWS, UNIVERSAL2)
    }


def make_wheel(out_dir: Path, target_name: str, sbom: bytes | None, *, in_record: bool = True,
               after_record: bytes | None = None, binary_bytes: bytes = b"not really a binary\n") -> Path:
    """A small wheel for ``target_name``: a package, a stand-in binary, metadata, the SBOM, RECORD.

    ``in_record=False`` leaves the SBOM's row out of RECORD; ``after_record`` replaces the
    SBOM once RECORD has been written (so RECORD's hash no longer fits)."""
    wanted = target(target_name)
    binary = "noetl/bin/" + wanted.binary_name
    files = {
        "noetl/__init__.py": b'__version__ = "0.1.0"\n',
        binary: binary_bytes,
        f"{DIST_INFO}/METADATA": b"Metadata-Version: 2.4\nName: noetl\nVersion: 0.1.0\n",
        f"{DIST_INFO}/WHEEL": ("Wheel-Version: 1.0\nRoot-Is-Purelib: false\n"
                               + "".join(f"Tag: py3-none-{tag}\n" for tag in sorted(wanted.tags))).encode(),
    }
    if sbom is not None:
        files[SBOM] = sbom
    files[RECORD] = b""
    record = record_for(files, RECORD)
    if not in_record:
        record = b"".join(line for line in record.splitlines(keepends=True) if not line.startswith(SBOM.encode()))
    files[RECORD] = record
    if after_record is not None:
        files[SBOM] = after_record
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"noetl-0.1.0-py3-none-{wanted.platform_tag}.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            entry = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            entry.external_attr = (0o100755 if name == binary else 0o100644) << 16
            zf.writestr(entry, data)
    return path


def check(wheel: Path, target_name: str) -> CheckResult:
    """The sbom check alone, through the suite, as `nox -s verify -- --only sbom` runs it."""
    report = verify_wheel(wheel, target(target_name), layout=Layout.at(ROOT), build_paths=(), only=("sbom",))
    (result,) = report.results
    assert result.check == "sbom"
    return result


def edited(sbom: bytes, edit: Edit) -> bytes:
    document = json.loads(sbom)
    edit(document)
    return (json.dumps(document, indent=2) + "\n").encode()


def assert_fails(result: CheckResult, *words: str) -> None:
    assert result.status == FAIL, result
    for word in words:
        assert word in result.detail, f"'{word}' not in '{result.detail}'"
    assert "crashed" not in result.detail


def cargo_component(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in document["components"] if c["purl"].startswith(f"pkg:cargo/{name}@"))


def lock_version(name: str) -> str:
    lock = tomllib.loads((ROOT / "noetlctl" / "Cargo.lock").read_text())
    (version,) = [p["version"] for p in lock["package"] if p["name"] == name]
    return str(version)


def lock_checksum(name: str, version: str) -> str:
    lock = tomllib.loads((ROOT / "noetlctl" / "Cargo.lock").read_text())
    return str(next(p["checksum"] for p in lock["package"] if (p["name"], p["version"]) == (name, version)))


def add_crate(document: dict[str, Any], name: str, version: str) -> None:
    """A crate component like the generator writes, with Cargo.lock's checksum (so only its presence is wrong)."""
    purl = f"pkg:cargo/{name}@{version}"
    template = next(c for c in document["components"] if c["purl"].startswith("pkg:cargo/"))
    document["components"].append({**template, "name": name, "version": version,
                                   "purl": purl, "bom-ref": purl,
                                   "hashes": [{"alg": "SHA-256", "content": lock_checksum(name, version)}]})


# --- right SBOMs pass ---------------------------------------------------------------------

def test_registered() -> None:
    assert "sbom" in CHECK_NAMES
    assert CHECK_NAMES.index("sbom") == CHECK_NAMES.index("check-wheel-contents") + 1


@pytest.mark.parametrize("target_name", [LINUX, WINDOWS, UNIVERSAL2])
def test_right_sbom_passes(sboms: dict[str, bytes], tmp_path: Path, target_name: str) -> None:
    result = check(make_wheel(tmp_path, target_name, sboms[target_name]), target_name)
    assert result.status == PASS, result
    assert f"crates as cargo tree for {target_name} and within cargo metadata's bounds" in result.detail
    assert "3 npm packages" in result.detail and "version 0.1.0" in result.detail


# --- each defect fails, named --------------------------------------------------------------

def test_missing_sbom(tmp_path: Path) -> None:
    assert_fails(check(make_wheel(tmp_path, LINUX, None), LINUX), f"no {SBOM} in the wheel")


def test_not_in_record(sboms: dict[str, bytes], tmp_path: Path) -> None:
    result = check(make_wheel(tmp_path, LINUX, sboms[LINUX], in_record=False), LINUX)
    assert_fails(result, f"{SBOM} is not listed in RECORD")


def test_changed_after_record(sboms: dict[str, bytes], tmp_path: Path) -> None:
    later = sboms[LINUX].replace(b'"noetl:sbom:subject"', b'"noetl:sbom:subject" ')
    result = check(make_wheel(tmp_path, LINUX, sboms[LINUX], after_record=later), LINUX)
    assert_fails(result, f"RECORD's sha256 for {SBOM} does not match the file")


def test_crate_removed(sboms: dict[str, bytes], tmp_path: Path) -> None:
    def drop_libc(document: dict[str, Any]) -> None:
        document["components"].remove(cargo_component(document, "libc"))

    result = check(make_wheel(tmp_path, LINUX, edited(sboms[LINUX], drop_libc)), LINUX)
    libc = f"libc {lock_version('libc')}"
    assert_fails(result, f"crates missing (in cargo tree for {LINUX}): {libc}",
                 f"crates missing that non-optional dependencies require (cargo metadata for {LINUX}): {libc}")
    assert "extra" not in result.detail and "not among" not in result.detail


def test_extra_crate(sboms: dict[str, bytes], tmp_path: Path) -> None:
    """windows-link in the Linux SBOM: in Cargo.lock, with its checksum, but not built for Linux.

    Before the dependency diet the crate's graph had a crate only cargo tree could catch (reqwest's
    weak `quinn?/ring`: cargo metadata lists quinn, rust-lang/cargo#10801); it has none now, so
    both comparisons name this one. The weak-feature case is shown on a crate of its own in
    tests/build/test_sbom.py."""
    version = lock_version("windows-link")
    result = check(make_wheel(tmp_path, LINUX, edited(sboms[LINUX], lambda d: add_crate(d, "windows-link", version))), LINUX)
    assert_fails(result, f"crates extra (not in cargo tree for {LINUX}): windows-link {version}",
                 f"crates not among the normal dependencies in cargo metadata for {LINUX}: windows-link {version}")
    assert "missing" not in result.detail and "hashes" not in result.detail


def test_build_dependency_listed(sboms: dict[str, bytes], tmp_path: Path) -> None:
    """cc: a build-dependency (of ring); it runs on the build host and never reaches the binary."""
    version = lock_version("cc")
    result = check(make_wheel(tmp_path, LINUX, edited(sboms[LINUX], lambda d: add_crate(d, "cc", version))), LINUX)
    assert_fails(result, f"crates extra (not in cargo tree for {LINUX}): cc {version}",
                 f"crates not among the normal dependencies in cargo metadata for {LINUX}: cc {version}")


def test_linux_sbom_in_the_windows_wheel(sboms: dict[str, bytes], tmp_path: Path) -> None:
    result = check(make_wheel(tmp_path, WINDOWS, sboms[LINUX]), WINDOWS)
    assert_fails(result, f"crates missing (in cargo tree for {WINDOWS}):", "windows-sys", "windows-link",
                 f"crates missing that non-optional dependencies require (cargo metadata for {WINDOWS}): windows-link")


def test_windows_sbom_in_the_linux_wheel(sboms: dict[str, bytes], tmp_path: Path) -> None:
    result = check(make_wheel(tmp_path, LINUX, sboms[WINDOWS]), LINUX)
    assert_fails(result, f"crates extra (not in cargo tree for {LINUX}):", "anstyle-wincon",
                 f"crates not among the normal dependencies in cargo metadata for {LINUX}:", "windows-sys")


def swap_windows_sys(document: dict[str, Any]) -> None:
    """windows-sys 0.61.2 listed as 0.52.0: a version in Cargo.lock (ring's, on other platforms), not this one's."""
    component = cargo_component(document, "windows-sys")
    document["components"].remove(component)
    add_crate(document, "windows-sys", "0.52.0")


def drop_clap(document: dict[str, Any]) -> None:
    document["components"].remove(cargo_component(document, "clap"))


@pytest.mark.parametrize(("target_name", "edit", "words"), [
    (LINUX, drop_clap, ["crates missing that non-optional dependencies require (cargo metadata for "
                        f"{LINUX}): clap {lock_version('clap')}"]),
    (LINUX, lambda d: add_crate(d, "cc", lock_version("cc")),
     [f"crates not among the normal dependencies in cargo metadata for {LINUX}: cc "]),
    (WINDOWS, swap_windows_sys, [f"crates not among the normal dependencies in cargo metadata for {WINDOWS}: windows-sys 0.52.0",
                                 "crates missing that non-optional dependencies require (cargo metadata for "
                                 f"{WINDOWS}): windows-sys 0.61.2"]),
], ids=["crate-dropped", "build-dependency-added", "wrong-version"])
def test_generator_mistake_caught_by_cargo_metadata(sboms: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    target_name: str, edit: Edit, words: list[str]) -> None:
    """A mistake of the generator's own reading of cargo tree: the cargo tree comparison cannot see it
    (stood in for by a cargo tree that agrees with the SBOM), cargo metadata's bounds do."""
    sbom = edited(sboms[target_name], edit)
    listed = {(c["name"], c["version"]) for c in json.loads(sbom)["components"] if c["purl"].startswith("pkg:cargo/")}
    monkeypatch.setattr(checks_sbom, "_compiled_in", lambda crate, rust_targets: (listed, ""))
    result = check(make_wheel(tmp_path, target_name, sbom), target_name)
    assert_fails(result, *words)
    assert "cargo tree" not in result.detail


def test_wrong_version(sboms: dict[str, bytes], tmp_path: Path) -> None:
    def bump(document: dict[str, Any]) -> None:
        document["metadata"]["component"]["version"] = "0.2.0"

    result = check(make_wheel(tmp_path, LINUX, edited(sboms[LINUX], bump)), LINUX)
    assert_fails(result, "its root component is version 0.2.0, the wheel 0.1.0")


def test_invalid_schema(sboms: dict[str, bytes], tmp_path: Path) -> None:
    def bad_hash_algorithm(document: dict[str, Any]) -> None:
        cargo_component(document, "libc")["hashes"][0]["alg"] = "SHA-999"

    result = check(make_wheel(tmp_path, LINUX, edited(sboms[LINUX], bad_hash_algorithm)), LINUX)
    assert_fails(result, "not valid CycloneDX 1.6: 'SHA-999' is not one of", "at /components/")


def test_unknown_field_is_invalid(sboms: dict[str, bytes], tmp_path: Path) -> None:
    def extra_field(document: dict[str, Any]) -> None:
        document["metadata"]["builtBy"] = "someone"

    result = check(make_wheel(tmp_path, LINUX, edited(sboms[LINUX], extra_field)), LINUX)
    assert_fails(result, "not valid CycloneDX 1.6: Additional properties are not allowed ('builtBy' was unexpected) at /metadata")


def test_not_json(tmp_path: Path) -> None:
    assert_fails(check(make_wheel(tmp_path, LINUX, b"{not json"), LINUX), "not JSON")


def test_crate_hash_differs_from_cargo_lock(sboms: dict[str, bytes], tmp_path: Path) -> None:
    def tamper(document: dict[str, Any]) -> None:
        cargo_component(document, "libc")["hashes"][0]["content"] = "0" * 64

    result = check(make_wheel(tmp_path, LINUX, edited(sboms[LINUX], tamper)), LINUX)
    assert_fails(result, f"crate hashes differ from Cargo.lock: libc {lock_version('libc')} SHA-256 {'0' * 64}")


def test_npm_package_removed(sboms: dict[str, bytes], tmp_path: Path) -> None:
    def drop_scheduler(document: dict[str, Any]) -> None:
        document["components"] = [c for c in document["components"] if not c["purl"].startswith("pkg:npm/scheduler@")]

    result = check(make_wheel(tmp_path, LINUX, edited(sboms[LINUX], drop_scheduler)), LINUX)
    assert_fails(result, "npm packages missing (in ui-src/package-lock.json's non-dev packages): scheduler ")


def test_dev_npm_package_listed(sboms: dict[str, bytes], tmp_path: Path) -> None:
    def add_vite(document: dict[str, Any]) -> None:
        document["components"].append({"type": "library", "name": "vite", "version": "8.3.8",
                                       "purl": "pkg:npm/vite@8.3.8", "bom-ref": "pkg:npm/vite@8.3.8"})

    result = check(make_wheel(tmp_path, LINUX, edited(sboms[LINUX], add_vite)), LINUX)
    assert_fails(result, "npm packages extra (not in ui-src/package-lock.json's non-dev packages): vite 8.3.8")


def test_no_cargo(sboms: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = make_wheel(tmp_path, LINUX, sboms[LINUX])
    monkeypatch.setenv("CARGO", str(tmp_path / "no-cargo"))
    assert_fails(check(wheel, LINUX), f"cannot ask cargo tree which crates {LINUX} compiles in:", "not found",
                 f"cannot ask cargo metadata which crates {LINUX} can compile in:")


# --- the compiler check -------------------------------------------------------------------

DEBIAN_RUSTC = {"rustc": "1.96.0", "commit-hash": "ac68faa20c58cbccd01ee7208bf3b6e93a7d7f96",
                "host": "x86_64-unknown-linux-gnu"}
RUSTUP_RUSTC = {"rustc": "1.95.0", "commit-hash": "59807616e1fa0000000000000000000000000000",
                "host": "x86_64-unknown-linux-gnu"}


@pytest.fixture(scope="module")
def compiled_sbom() -> bytes:
    return build_sbom(ROOT, version="0.1.0", epoch=1_700_000_000, rust_targets=target(LINUX).rust_targets,
                      subject=f"wheel for {LINUX}", compiler=DEBIAN_RUSTC)


def compiler_check(wheel: Path, dist: Path) -> CheckResult:
    report = verify_wheel(wheel, target(LINUX), layout=Layout.at(ROOT, dist=dist), build_paths=(), only=("compiler",))
    (result,) = report.results
    assert result.check == "compiler"
    return result


def elf_by(compile_c: Callable[..., Path], tmp_path: Path, comment: str) -> bytes:
    """A real x86_64 ELF whose .comment says it was compiled by ``comment`` (as rustc writes it)."""
    program = compile_c("x86_64-linux-gnu.2.17")
    note = tmp_path / "comment"
    note.write_bytes(comment.encode() + b"\0")
    out = tmp_path / "program"
    objcopy = shutil.which("llvm-objcopy-15") or shutil.which("llvm-objcopy")
    if objcopy is None:
        pytest.skip("no llvm-objcopy here (apt-get install llvm-15)")
    subprocess.run([objcopy, "--remove-section", ".comment", "--add-section", f".comment={note}", program, out],
                   check=True)
    return out.read_bytes()


def test_the_sbom_names_its_compiler(compiled_sbom: bytes) -> None:
    document = json.loads(compiled_sbom)
    assert sbom_compiler(document) == DEBIAN_RUSTC
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(compiled_sbom.decode()) is None
    assert sbom_compiler(json.loads(build_sbom(ROOT, version="0.1.0", epoch=1, rust_targets=(), subject="x"))) is None


def test_compiler_registered_after_sbom() -> None:
    assert CHECK_NAMES.index("compiler") == CHECK_NAMES.index("sbom") + 1


def test_compiler_named_passes(compiled_sbom: bytes, tmp_path: Path) -> None:
    result = compiler_check(make_wheel(tmp_path / "dist", LINUX, compiled_sbom), tmp_path / "dist")
    assert result.status == PASS, result
    assert result.detail == "rustc 1.96.0 (ac68faa20c58), as the SBOM says"


def test_no_compiler_in_the_sbom_fails(sboms: dict[str, bytes], tmp_path: Path) -> None:
    result = compiler_check(make_wheel(tmp_path / "dist", LINUX, sboms[LINUX]), tmp_path / "dist")
    assert_fails(result, "the SBOM names no rustc among its tools: rebuild the wheel")


def test_manifest_naming_another_compiler_fails(compiled_sbom: bytes, tmp_path: Path) -> None:
    from noetl_build import dist

    wheel = make_wheel(tmp_path / "dist", LINUX, compiled_sbom)
    entry = dist.Entry(target=LINUX, wheel=wheel.name, sha256="0" * 64, size=1, build_seconds=1.0,
                       built_at="2026-01-01T00:00:00+00:00", tags=[], compiler=RUSTUP_RUSTC)
    dist.write_index(wheel.parent, {LINUX: entry}, meta={})
    assert_fails(compiler_check(wheel, wheel.parent),
                 "manifest.json says rustc 1.95.0 (59807616e1fa), the SBOM rustc 1.96.0 (ac68faa20c58)")
    dist.write_index(wheel.parent, {LINUX: replace(entry, compiler=DEBIAN_RUSTC)}, meta={})
    result = compiler_check(wheel, wheel.parent)
    assert result.status == PASS and result.detail == "rustc 1.96.0 (ac68faa20c58), as the SBOM and manifest.json say"


def test_binary_compiled_by_another_rustc_fails(compiled_sbom: bytes, compile_c: Callable[..., Path],
                                                 tmp_path: Path) -> None:
    right = elf_by(compile_c, tmp_path, "rustc version 1.96.0 (ac68faa20 2026-05-25)")
    result = compiler_check(make_wheel(tmp_path / "a", LINUX, compiled_sbom, binary_bytes=right), tmp_path / "a")
    assert result.status == PASS, result
    assert result.detail.endswith("as the SBOM and the binary's .comment say")
    wrong = elf_by(compile_c, tmp_path, "rustc version 1.95.0 (59807616e 2026-04-14)")
    result = compiler_check(make_wheel(tmp_path / "b", LINUX, compiled_sbom, binary_bytes=wrong), tmp_path / "b")
    assert_fails(result, "the binary was compiled by 1.95.0 (59807616e 2026-04-14), not rustc 1.96.0 (ac68faa20c58)")

