"""The pipeline for real: one target per OS family built, then the wheels inspected."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from noetl_build.layout import CACHE_ENV, Layout
from noetl_build.source import COMPILE_EPOCH
from noetl_build.targets import load_matrix
from noetl_build.toolchain import plan
from tests.conftest import CI_TARGETS, HOST_TARGET, ROOT, BuiltDist, build_version, build_wheels

VERSION = build_version()  # derived from this checkout's history (docs/versioning.md)
# Independently written: the file name each CI target's wheel must have.
EXPECTED_WHEELS = {
    "x86_64-unknown-linux-gnu": f"noetl-{VERSION}-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
    "x86_64-apple-darwin": f"noetl-{VERSION}-py3-none-macosx_10_12_x86_64.whl",
    "x86_64-pc-windows-gnu": f"noetl-{VERSION}-py3-none-win_amd64.whl",
}
BINARY = {"x86_64-pc-windows-gnu": "noetl/bin/noetl.exe"}

EM_X86_64 = 62
MH_MAGIC_64 = 0xFEEDFACF
CPU_TYPE_X86_64 = 0x01000007
LC_BUILD_VERSION, LC_VERSION_MIN_MACOSX = 0x32, 0x24
IMAGE_FILE_MACHINE_AMD64 = 0x8664


def binary_of(wheel: Path, target: str) -> tuple[bytes, int]:
    name = BINARY.get(target, "noetl/bin/noetl")
    with zipfile.ZipFile(wheel) as zf:
        info = zf.getinfo(name)
        return zf.read(info), info.external_attr >> 16


def macos_minimum(data: bytes) -> tuple[int, int]:
    magic, cputype, _, _, ncmds, _, _, _ = struct.unpack_from("<IiIIIIII", data)
    assert magic == MH_MAGIC_64 and cputype == CPU_TYPE_X86_64
    offset = 32
    for _ in range(ncmds):
        cmd, size = struct.unpack_from("<II", data, offset)
        if cmd == LC_BUILD_VERSION:
            minos = struct.unpack_from("<I", data, offset + 12)[0]
            return minos >> 16, (minos >> 8) & 0xFF
        if cmd == LC_VERSION_MIN_MACOSX:
            version = struct.unpack_from("<I", data, offset + 8)[0]
            return version >> 16, (version >> 8) & 0xFF
        offset += size
    raise AssertionError("no minimum macOS version load command")


def test_one_wheel_per_target_with_the_expected_names(built_dist: BuiltDist) -> None:
    names = sorted(p.name for p in built_dist.path.glob("*.whl"))
    assert names == sorted(EXPECTED_WHEELS.values())
    for target, name in EXPECTED_WHEELS.items():
        assert built_dist.wheel_for(target).name == name


def test_each_binary_is_for_its_platform(built_dist: BuiltDist) -> None:
    elf, mode = binary_of(built_dist.wheel_for("x86_64-unknown-linux-gnu"), "x86_64-unknown-linux-gnu")
    assert elf[:4] == b"\x7fELF" and struct.unpack_from("<H", elf, 18)[0] == EM_X86_64
    assert mode == 0o100755

    macho, mode = binary_of(built_dist.wheel_for("x86_64-apple-darwin"), "x86_64-apple-darwin")
    assert macos_minimum(macho) == (10, 12)
    assert mode == 0o100755

    pe, mode = binary_of(built_dist.wheel_for("x86_64-pc-windows-gnu"), "x86_64-pc-windows-gnu")
    assert pe[:2] == b"MZ"
    pe_offset = struct.unpack_from("<I", pe, 0x3C)[0]
    assert pe[pe_offset:pe_offset + 4] == b"PE\0\0"
    assert struct.unpack_from("<H", pe, pe_offset + 4)[0] == IMAGE_FILE_MACHINE_AMD64
    # the linker's timestamp is the compile's constant epoch, not the commit's: a new commit
    # must not change cargo's environment (ring's build script would rerun)
    assert struct.unpack_from("<I", pe, pe_offset + 8)[0] == COMPILE_EPOCH
    assert mode == 0o100755


def test_wheel_metadata_is_platform_specific(built_dist: BuiltDist) -> None:
    for target, name in EXPECTED_WHEELS.items():
        with zipfile.ZipFile(built_dist.path / name) as zf:
            wheel_file = zf.read(f"noetl-{VERSION}.dist-info/WHEEL").decode()
            names = zf.namelist()
            modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
        platform = name.removesuffix(".whl").split("-")[-1]
        assert "Root-Is-Purelib: false" in wheel_file
        assert sorted(l for l in wheel_file.splitlines() if l.startswith("Tag: ")) == sorted(
            f"Tag: py3-none-{p}" for p in platform.split(".")
        )
        assert "noetl/core/ui/index.html" in names
        assert "noetl/database/ddl/sqlite/001_catalog.sql" in names
        assert not any(n.startswith("noetl/bin/") and n != BINARY.get(target, "noetl/bin/noetl") for n in names)
        assert all(mode == 0o100644 for n, mode in modes.items() if not n.startswith("noetl/bin/"))


def test_index_lists_every_wheel_with_its_hash(built_dist: BuiltDist) -> None:
    sums = dict(reversed(line.split("  ")) for line in (built_dist.path / "SHA256SUMS").read_text().splitlines())
    assert set(sums) == set(EXPECTED_WHEELS.values())
    for name, digest in sums.items():
        assert hashlib.sha256((built_dist.path / name).read_bytes()).hexdigest() == digest
    rows = {row["target"]: row for row in built_dist.manifest["wheels"]}
    assert set(rows) == set(CI_TARGETS)
    for target, row in rows.items():
        assert row["sha256"] == sums[row["wheel"]]
        assert row["size"] == (built_dist.path / row["wheel"]).stat().st_size
        assert row["build_seconds"] >= 0 and row["built_at"]
    assert built_dist.manifest["version"] == VERSION


def test_one_version_everywhere(built_dist: BuiltDist, tmp_path: Path) -> None:
    """File name, METADATA, noetl.__version__, the SBOM and the binary agree, for every wheel."""
    for target, name in EXPECTED_WHEELS.items():
        with zipfile.ZipFile(built_dist.path / name) as zf:
            metadata = zf.read(f"noetl-{VERSION}.dist-info/METADATA").decode()
            init = zf.read("noetl/__init__.py").decode()
            sbom = json.loads(zf.read(f"noetl-{VERSION}.dist-info/sboms/noetl.cdx.json"))
            binary = zf.read(BINARY.get(target, "noetl/bin/noetl"))
        assert f"\nVersion: {VERSION}\n" in metadata, target
        assert f'__version__ = "{VERSION}"' in init, target
        assert sbom["metadata"]["component"]["version"] == VERSION, target
        assert VERSION.encode() in binary, target  # what `--version` prints after "noetl "
    host = tmp_path / "noetl"
    host.write_bytes(binary_of(built_dist.wheel_for(HOST_TARGET), HOST_TARGET)[0])
    host.chmod(0o755)
    out = subprocess.run([host, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"noetl {VERSION}"


def test_installed_host_wheel_runs(host_wheel: Path, tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", tmp_path / "venv"], check=True)
    pip = tmp_path / "venv" / "bin" / "pip"
    subprocess.run([pip, "install", "-q", "--no-deps", host_wheel], check=True)
    # without the tests session's PYTHONPATH, which would put the checkout's noetl (no bin/) first
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([tmp_path / "venv" / "bin" / "noetl", "--version"], capture_output=True, text=True,
                         check=True, env=env, cwd=tmp_path)
    assert out.stdout.strip() == f"noetl {VERSION}"


def test_rerun_with_nothing_changed_is_quick_and_changes_nothing(built_dist: BuiltDist) -> None:
    before = {p.name: p.read_bytes() for p in built_dist.path.glob("*.whl")}
    started = time.monotonic()
    proc = build_wheels(built_dist.path, CI_TARGETS)
    seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert "0 built, 3 up to date, 0 failed" in proc.stdout
    assert seconds < 20
    assert {p.name: p.read_bytes() for p in built_dist.path.glob("*.whl")} == before


def test_a_serial_cold_build_equals_the_concurrent_one(built_dist: BuiltDist, tmp_path: Path) -> None:
    """built_dist built its targets at once, in lanes on one jobserver; a second,
    independent build (own build dir, own cold cargo and cargo-zigbuild caches) of two of them,
    one after the other, gives the same bytes (issue 21). The serial build puts its first cold
    triple in lane 0 and the second in lane 1: asked in the order that moves them off the lanes
    they built in before, it shows too that no byte depends on the lane."""
    matrix = load_matrix(ROOT / "targets.toml").targets
    toolchains = plan(matrix, matrix=matrix)
    by_name = {t.name: t for t in matrix}
    key = {name: toolchains.choice(by_name[name]).key for name in (HOST_TARGET, "x86_64-pc-windows-gnu")}
    before = {name: Layout.at(ROOT).home_lane(k, name) for name, k in key.items()}
    pair = max(itertools.permutations(key), key=lambda order: sum(before[name] != n for n, name in enumerate(order)))
    assert sum(before[name] != n for n, name in enumerate(pair)) >= 1, before
    proc = subprocess.run(
        [sys.executable, "-m", "noetl_build", "--dist", str(tmp_path / "dist"), "--build-dir", str(tmp_path / "build"),
         "build", "--serial", *pair],
        cwd=ROOT, capture_output=True, text=True, check=False, env={**os.environ, CACHE_ENV: str(tmp_path / "cache")},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 built, 0 up to date, 0 failed" in proc.stdout, proc.stdout
    again = Layout.at(ROOT, cache=tmp_path / "cache")
    assert [again.home_lane(key[name], name) for name in pair] == [0, 1], "serial: the lane holding fewer"
    for target in pair:
        rebuilt = tmp_path / "dist" / EXPECTED_WHEELS[target]
        assert rebuilt.read_bytes() == built_dist.wheel_for(target).read_bytes(), (target, before)


def test_binaries_hold_no_build_machine_paths(built_dist: BuiltDist) -> None:
    markers = [str(ROOT).encode(), str(Path.home()).encode() + b"/", b"/usr/lib/rustlib/src"]
    for target in CI_TARGETS:
        data, _ = binary_of(built_dist.wheel_for(target), target)
        assert not [m for m in markers if m in data], target


def test_a_failing_target_keeps_what_was_built(built_dist: BuiltDist, tmp_path: Path) -> None:
    """One target fails (its C shim does not compile): the others build, old wheels survive."""
    root = tmp_path / "repo"
    for name in ("noetlctl", "noetl", "noetl_build", "ui-src", "pyproject.toml", "README.md", "LICENSE"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name,
                            ignore=shutil.ignore_patterns("target", "node_modules", "bin", "__pycache__"))
        else:
            shutil.copy(source, root / name)
    (root / "targets.toml").write_text(
        (ROOT / "targets.toml").read_text()
        + '\n[[target]]\ntriple = "x86_64-pc-windows-gnullvm"\ntags = ["win_amd64"]\nrun = "none"\n'
        'cflags = ["--no-such-flag"]\nlink-shims = ["ppc64le-ieee128-printf"]\n'
    )
    dist = tmp_path / "dist"
    dist.mkdir()
    old = dist / "noetl-0.0.9-py3-none-win_amd64.whl"
    old.write_bytes(b"an earlier build")
    (dist / "manifest.json").write_text(json.dumps({"wheels": [{
        "target": "x86_64-pc-windows-gnullvm", "wheel": old.name, "sha256": "0" * 64, "size": 16,
        "build_seconds": 1.0, "built_at": "2026-01-01T00:00:00+00:00", "tags": ["py3-none-win_amd64"],
    }]}))
    proc = subprocess.run(
        [sys.executable, "-m", "noetl_build", "--root", str(root), "--dist", str(dist),
         "--build-dir", str(ROOT / "build"), "build", HOST_TARGET, "x86_64-pc-windows-gnullvm"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 built, 0 up to date, 1 failed" in proc.stdout or "0 built, 1 up to date, 1 failed" in proc.stdout
    assert "error: x86_64-pc-windows-gnullvm: compiling link shim" in proc.stdout
    assert old.read_bytes() == b"an earlier build"
    manifest = json.loads((dist / "manifest.json").read_text())
    host = next(w for w in manifest["wheels"] if w["target"] == HOST_TARGET)
    assert (dist / host["wheel"]).is_file()
    assert host["wheel"].startswith("noetl-0.1.1.dev0+unknown-")  # no git here: a development version
    assert {w["target"] for w in manifest["wheels"]} == {HOST_TARGET, "x86_64-pc-windows-gnullvm"}
    assert not list(dist.glob(".*tmp*"))


def test_doctor_names_a_strategy_for_every_target() -> None:
    proc = subprocess.run([sys.executable, "-m", "noetl_build", "doctor"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in EXPECTED_WHEELS:
        line = next(l for l in proc.stdout.splitlines() if l.startswith(name + " "))
        assert "prebuilt-std" in line or "build-std" in line
