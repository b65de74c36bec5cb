"""The pure parts around the checkers: auditwheel's verdict, delocate's diff and stand-ins,
the installers' probes, subject selection, rendering."""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from noetl_build.errors import ConfigError
from noetl_build.layout import Layout
from noetl_build.targets import load_matrix
from noetl_build.verify import delocate
from noetl_build.verify.auditwheel import judge
from noetl_build.verify.render import render, to_json, write_json
from noetl_build.probes import probes
from noetl_build.verify.results import FAIL, PASS, Report, WheelReport, failed, passed, skipped
from noetl_build.verify.subjects import infer_target, select
from tests.conftest import ROOT

from .fakes import target

MATRIX = load_matrix(ROOT / "targets.toml")


@pytest.mark.parametrize(
    ("report", "tags", "status", "message"),
    [
        ({"overall_tag": "manylinux_2_17_x86_64", "external_libs": {}},
         ("manylinux2014_x86_64", "manylinux_2_17_x86_64"), PASS, "policy manylinux_2_17_x86_64"),
        ({"overall_tag": "manylinux_2_34_x86_64", "external_libs": {}},
         ("manylinux2014_x86_64", "manylinux_2_17_x86_64"), FAIL,
         "auditwheel finds manylinux_2_34_x86_64, but the wheel claims manylinux_2_17_x86_64"),
        ({"overall_tag": "manylinux_2_5_x86_64", "external_libs": {}}, ("manylinux_2_17_x86_64",), FAIL, "finds manylinux_2_5"),
        ({"overall_tag": "manylinux_2_17_x86_64", "external_libs": {"libssl.so.3": {}}},
         ("manylinux_2_17_x86_64",), FAIL, "external libraries outside the manylinux_2_17_x86_64 policy: libssl.so.3"),
        ({"overall_tag": "musllinux_1_2_aarch64", "external_libs": {}}, ("musllinux_1_2_aarch64",), PASS, ""),
    ],
)
def test_auditwheel_judge(report: dict[str, object], tags: tuple[str, ...], status: str, message: str) -> None:
    result = judge(report, tags)
    assert result.status == status and message in result.detail, result


def make_zip(path: Path, files: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


FILES = {
    "noetl/bin/noetl": b"bin",
    "n-1.dist-info/WHEEL": b"A: 1\nTag: x\n",
    "n-1.dist-info/RECORD": b"noetl/bin/noetl,sha256=B,3\nn-1.dist-info/WHEEL,sha256=W,12\nn-1.dist-info/RECORD,,\n",
}


def test_delocate_compare(tmp_path: Path) -> None:
    original = make_zip(tmp_path / "in" / "n-1-py3-none-macosx_10_12_x86_64.whl", FILES)
    assert delocate.compare(original, []) == []
    # delocate's own mark (a Generator line in WHEEL, so a new WHEEL row in RECORD) and order are no change
    same = {
        **FILES,
        "n-1.dist-info/WHEEL": b"Tag: x\nA: 1\nGenerator: delocate 0.13.0\n\n",
        "n-1.dist-info/RECORD": b"n-1.dist-info/WHEEL,sha256=Z,40\nnoetl/bin/noetl,sha256=B,3\nn-1.dist-info/RECORD,,\n",
    }
    assert delocate.compare(original, [make_zip(tmp_path / "same" / original.name, same)]) == []
    retagged = {**FILES, "n-1.dist-info/WHEEL": b"A: 1\nTag: y\nGenerator: delocate 0.13.0\n"}
    assert delocate.compare(original, [make_zip(tmp_path / "retagged" / original.name, retagged)]) == [
        "rewrites n-1.dist-info/WHEEL"]
    renamed = make_zip(tmp_path / "out" / "n-1-py3-none-macosx_15_0_x86_64.whl", FILES)
    assert delocate.compare(original, [renamed]) == ["renamed it to n-1-py3-none-macosx_15_0_x86_64.whl"]
    copied = {**FILES, "noetl/.dylibs/libz.dylib": b"z", "noetl/bin/noetl": b"relinked",
              "n-1.dist-info/RECORD": b"noetl/bin/noetl,sha256=R,8\nnoetl/.dylibs/libz.dylib,sha256=Z,1\n"}
    changes = delocate.compare(original, [make_zip(tmp_path / "copied" / original.name, copied)])
    assert changes == ["adds noetl/.dylibs/libz.dylib", "rewrites n-1.dist-info/RECORD", "rewrites noetl/bin/noetl"]


def test_otool_stand_in_drops_m(tmp_path: Path) -> None:
    """The generated otool hands llvm-otool-15 every argument but -m, quoting intact."""
    fake_bin = tmp_path / "llvm"
    fake_bin.mkdir()
    for name in (delocate.LLVM_OTOOL, delocate.LLVM_INSTALL_NAME_TOOL):
        script = fake_bin / name
        script.write_text('#!/bin/sh\nfor a do echo "[$a]"; done\n')
        script.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}"}
    old_path = os.environ["PATH"]
    os.environ["PATH"] = env["PATH"]
    try:
        tools = delocate.stand_ins(tmp_path / "tools")
    finally:
        os.environ["PATH"] = old_path
    assert isinstance(tools, Path)
    out = subprocess.run([tools / "otool", "-arch", "all", "-m", "-L", "a b.so"], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:-1] == ["[-arch]", "[all]", "[-L]", "[a b.so]"]
    out = subprocess.run([tools / "install_name_tool", "-id", "x", "-m"], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:-1] == ["[-id]", "[x]", "[-m]"]


def test_stand_ins_say_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert delocate.stand_ins(tmp_path / "tools") == (
        "llvm-otool-15 and llvm-install-name-tool-15 not found (apt-get install llvm-15; see requirements/apt.txt)"
    )


# What a machine of each target's platform tells pip and uv, written out by hand.
EXPECTED_PROBES = {
    "x86_64-unknown-linux-gnu": [("manylinux_2_17_x86_64", "x86_64-manylinux_2_17", False)],
    "aarch64-unknown-linux-gnu": [("manylinux_2_17_aarch64", "aarch64-manylinux_2_17", False)],
    "armv7-unknown-linux-gnueabihf": [("manylinux_2_17_armv7l", None, False)],
    "i686-unknown-linux-gnu": [("manylinux_2_17_i686", None, False)],
    "s390x-unknown-linux-gnu": [("manylinux_2_17_s390x", "s390x-manylinux_2_17", False)],
    "powerpc64le-unknown-linux-gnu": [("manylinux_2_17_ppc64le", "ppc64le-manylinux_2_17", False)],
    "x86_64-unknown-linux-musl": [("musllinux_1_2_x86_64", "x86_64-unknown-linux-musl", False)],
    "aarch64-unknown-linux-musl": [("musllinux_1_2_aarch64", "aarch64-unknown-linux-musl", False)],
    "x86_64-apple-darwin": [("macosx_10_12_x86_64", "x86_64-apple-darwin", False)],
    "aarch64-apple-darwin": [("macosx_11_0_arm64", "aarch64-apple-darwin", False)],
    "universal2-apple-darwin": [("macosx_10_12_x86_64", "x86_64-apple-darwin", True),
                                ("macosx_11_0_arm64", "aarch64-apple-darwin", True)],
    "x86_64-pc-windows-gnu": [("win_amd64", "x86_64-pc-windows-msvc", False)],
    "arm-unknown-linux-gnueabihf": [("linux_armv6l", None, False)],
    "riscv64gc-unknown-linux-gnu": [("manylinux_2_31_riscv64", "riscv64-unknown-linux", False)],  # uv: glibc 2.39
    "armv7-unknown-linux-musleabihf": [("musllinux_1_2_armv7l", None, False)],
    "i686-unknown-linux-musl": [("musllinux_1_2_i686", None, False)],
    "riscv64gc-unknown-linux-musl": [("musllinux_1_2_riscv64", None, False)],
    "powerpc64le-unknown-linux-musl": [("musllinux_1_2_ppc64le", None, False)],
    "i686-pc-windows-gnu": [("win32", "i686-pc-windows-msvc", False)],
    "aarch64-pc-windows-gnullvm": [("win_arm64", "aarch64-pc-windows-msvc", False)],
}


@pytest.mark.parametrize("name", MATRIX.names())
def test_probes(name: str) -> None:
    assert name in EXPECTED_PROBES, f"a new target: write down what its machines tell installers ({name})"
    got = [(p.pip_platform, p.uv_platform, p.alone) for p in probes(target(name))]
    assert got == EXPECTED_PROBES[name]
    for probe in probes(target(name)):
        assert probe.uv_platform or probe.uv_missing.startswith("uv has no")


def test_infer_target_from_tags() -> None:
    def infer(*tags: str) -> str | None:
        found = infer_target(tags, MATRIX)
        return found.name if found else None

    assert infer("manylinux2014_x86_64", "manylinux_2_17_x86_64") == "x86_64-unknown-linux-gnu"
    assert infer("manylinux_2_17_aarch64", "manylinux2014_aarch64") == "aarch64-unknown-linux-gnu"
    assert infer("macosx_10_9_x86_64") == "x86_64-apple-darwin"  # same family and arch, other version
    assert infer("musllinux_1_2_x86_64") == "x86_64-unknown-linux-musl"
    assert infer("win_amd64") == "x86_64-pc-windows-gnu"
    assert infer("manylinux_2_31_riscv64") == "riscv64gc-unknown-linux-gnu"
    assert infer("linux_armv6l") == "arm-unknown-linux-gnueabihf"
    assert infer("manylinux_2_17_mips64") is None
    assert infer("linux_x86_64") is None


def test_select_errors(tmp_path: Path) -> None:
    layout = Layout.at(ROOT, dist=tmp_path / "dist")
    with pytest.raises(ConfigError, match=r"^no .*/dist: build wheels first \(nox -s build_all\), or name wheel files$"):
        select([], layout, MATRIX)
    with pytest.raises(ConfigError, match="unknown target 'x86_64-unknown-linux-gnux' \\(did you mean 'x86_64-unknown-linux-gnu'\\?\\)"):
        select(["x86_64-unknown-linux-gnux"], layout, MATRIX)
    with pytest.raises(ConfigError, match="no such wheel"):
        select([str(tmp_path / "missing.whl")], layout, MATRIX)
    layout.dist.mkdir()
    with pytest.raises(ConfigError, match="holds no wheels"):
        select([], layout, MATRIX)
    with pytest.raises(ConfigError, match="no wheel for s390x-unknown-linux-gnu in .*: build it with nox -s wheel -- s390x-unknown-linux-gnu"):
        select(["s390x-unknown-linux-gnu"], layout, MATRIX)


def sample_report() -> Report:
    good = WheelReport("a.whl", "/d/a.whl", "x86_64-unknown-linux-gnu", "00", (
        passed("RECORD", "21 files, sha256 and size match"), passed("run", "ran natively: noetl 0.1.0"),
    ))
    bad = WheelReport("b.whl", "/d/b.whl", "x86_64-apple-darwin", "11", (
        failed("macos-min", "x86_64 slice needs macOS 10.12, newer than the tag's 10.9"),
        skipped("run", "this host cannot run macOS binaries: checked by reading them instead"),
    ))
    return Report((good, bad), 3.2)


def test_render_table_and_failures() -> None:
    lines = render(sample_report()).splitlines()
    assert lines[0].split() == ["wheel", "check", "result", "detail"]
    assert lines[2].split()[:3] == ["x86_64-unknown-linux-gnu", "RECORD", "ok"]
    assert lines[3].split()[:2] == ["run", "ok"]  # the wheel is named on its first row only
    assert lines[4] == ""  # between wheels
    assert lines[5].split()[:3] == ["x86_64-apple-darwin", "macos-min", "FAIL"]
    assert lines[6].split()[:2] == ["run", "skip"]
    assert "2 wheels, 4 checks: 2 passed, 1 failed, 1 skipped (3 s)" in lines
    assert lines[-1] == "error: x86_64-apple-darwin: macos-min: x86_64 slice needs macOS 10.12, newer than the tag's 10.9"


def test_json_report(tmp_path: Path) -> None:
    path = tmp_path / "dist" / "verify.json"
    write_json(sample_report(), path)
    data = json.loads(path.read_text())
    assert data == to_json(sample_report())
    assert data["ok"] is False and [w["ok"] for w in data["wheels"]] == [True, False]
    assert data["wheels"][1]["results"][0] == {
        "check": "macos-min", "status": "fail", "detail": "x86_64 slice needs macOS 10.12, newer than the tag's 10.9",
    }
    assert [p.name for p in path.parent.iterdir()] == ["verify.json"]  # no temp file left behind
