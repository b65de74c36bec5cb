"""Broken wheels, one defect each, made from the good wheels the build produced: verify must
fail on each with a message naming the defect. The untouched wheels (and an untouched
rewrite of one, proving the surgery adds no defect of its own) must pass."""

from __future__ import annotations

import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from noetl_build.toolchain import find_lipo
from noetl_build.verify import WheelReport
from noetl_build.verify.results import PASS
from tests.conftest import ROOT, BuiltDist, build_version

from .conftest import Compile, failures
from .surgery import read, retag, rewrite, strip_code_signature

LINUX, MACOS, WINDOWS = "x86_64-unknown-linux-gnu", "x86_64-apple-darwin", "x86_64-pc-windows-gnu"
BINARY = "noetl/bin/noetl"
Verify = Callable[[Path], WheelReport]


@pytest.fixture
def linux_wheel(built_dist: BuiltDist) -> Path:
    return built_dist.wheel_for(LINUX)


@pytest.fixture
def macos_wheel(built_dist: BuiltDist) -> Path:
    return built_dist.wheel_for(MACOS)


def assert_fails(report: WheelReport, check: str, *words: str) -> None:
    found = failures(report)
    assert check in found, f"{check} did not fail; results: {report.results}"
    for word in words:
        assert word in found[check], f"{check}: '{word}' not in '{found[check]}'"
    assert not any("crashed" in reason for reason in found.values()), found


def test_untouched_rewrite_passes(linux_wheel: Path, tmp_path: Path, verify_one: Verify) -> None:
    """The zip surgery alone (every entry rewritten, RECORD regenerated) breaks nothing."""
    copy = rewrite(linux_wheel, tmp_path)
    report = verify_one(copy)
    assert report.ok, failures(report)
    assert report.target == LINUX  # found from its tags: no manifest next to it


# --- wrong architecture ---------------------------------------------------------------

def test_windows_exe_in_the_linux_wheel(built_dist: BuiltDist, linux_wheel: Path, tmp_path: Path, verify_one: Verify) -> None:
    exe = read(built_dist.wheel_for(WINDOWS), "noetl/bin/noetl.exe")
    report = verify_one(rewrite(linux_wheel, tmp_path, replace={BINARY: exe}))
    assert_fails(report, "arch", "is PE IMAGE_FILE_MACHINE_AMD64", "needs ELF")
    # decided from the format, not by exec: a wine binfmt_misc handler would start it
    assert_fails(report, "run", "not run: noetl/bin/noetl is PE IMAGE_FILE_MACHINE_AMD64", "runs natively")


def test_linux_binary_in_the_windows_wheel(built_dist: BuiltDist, linux_wheel: Path, tmp_path: Path, verify_one: Verify) -> None:
    """wine64 starts an ELF file as a Linux program: this wheel would pass 'ran under wine'."""
    windows = built_dist.wheel_for(WINDOWS)
    report = verify_one(rewrite(windows, tmp_path, replace={"noetl/bin/noetl.exe": read(linux_wheel, BINARY)}))
    assert_fails(report, "arch", "is ELF 64-bit little-endian EM_X86_64", "needs PE")
    assert_fails(report, "run", "not run: noetl/bin/noetl.exe is ELF 64-bit little-endian EM_X86_64, not a PE program")


@pytest.mark.parametrize(("zig_target", "machine"), [("aarch64-linux-musl", "EM_AARCH64"), ("x86-linux-musl", "EM_386")])
def test_foreign_program_in_the_linux_wheel_is_not_run(
    linux_wheel: Path, compile_c: Compile, tmp_path: Path, verify_one: Verify, zig_target: str, machine: str,
) -> None:
    """A static program that prints the right version, for another machine. Here it may well
    start: the aarch64 one through a qemu binfmt_misc handler (as on many CI runners), the i386
    one through the kernel's IA32 emulation or a qemu-i386 handler. Either way it proves nothing
    for x86_64 machines, so run and console-script fail without starting it, handlers or not."""
    program = compile_c(zig_target).read_bytes()
    report = verify_one(rewrite(linux_wheel, tmp_path, replace={BINARY: program}))
    assert_fails(report, "arch", f"is ELF {'64' if machine == 'EM_AARCH64' else '32'}-bit little-endian {machine}",
                 "x86_64 needs EM_X86_64")
    assert_fails(report, "run", "not run: noetl/bin/noetl is ELF", machine,
                 "only ELF 64-bit little-endian EM_X86_64 runs natively")
    assert_fails(report, "console-script", "not run: noetl/bin/noetl is ELF", machine)


def test_macos_binary_in_the_linux_wheel(linux_wheel: Path, macos_wheel: Path, tmp_path: Path, verify_one: Verify) -> None:
    report = verify_one(rewrite(linux_wheel, tmp_path, replace={BINARY: read(macos_wheel, BINARY)}))
    assert_fails(report, "arch", "is Mach-O x86_64", "needs ELF")


def test_linux_wheel_retagged_aarch64(linux_wheel: Path, tmp_path: Path, verify_one: Verify) -> None:
    wheel = retag(linux_wheel, tmp_path, ["manylinux2014_aarch64", "manylinux_2_17_aarch64"])
    report = verify_one(wheel)
    assert report.target == "aarch64-unknown-linux-gnu"
    assert_fails(report, "arch", "EM_X86_64", "aarch64 needs EM_AARCH64")
    assert_fails(report, "auditwheel", "no ELF executable or shared library file", "with a 'aarch64' architecture")
    assert_fails(report, "run", "qemu-aarch64")
    assert report.result("tags").status == PASS  # the tags are the aarch64 target's: only the binary is wrong


def test_macos_wheel_retagged_universal2(macos_wheel: Path, tmp_path: Path, verify_one: Verify) -> None:
    report = verify_one(retag(macos_wheel, tmp_path, ["macosx_10_12_universal2"]))
    assert_fails(report, "arch", "universal2 needs ARM64 + x86_64")


def test_soft_float_binary_in_an_armv7_wheel(linux_wheel: Path, compile_c: Compile, tmp_path: Path, verify_one: Verify) -> None:
    soft = compile_c("arm-linux-gnueabi.2.17").read_bytes()
    wheel = retag(linux_wheel, tmp_path, ["manylinux2014_armv7l", "manylinux_2_17_armv7l"], replace={BINARY: soft})
    report = verify_one(wheel)
    assert_fails(report, "arch", "soft-float", "needs the hard-float EABI")


def test_armv7_code_in_the_armv6l_wheel(linux_wheel: Path, compile_c: Compile, tmp_path: Path, verify_one: Verify) -> None:
    """zig's default ARM CPU is ARMv7 (Thumb-2, NEON): a Raspberry Pi Zero would die on it. The
    same program compiled for the ARM1176 passes the arch check."""
    armv7 = compile_c("arm-linux-gnueabihf.2.17").read_bytes()
    bad = verify_one(retag(linux_wheel, tmp_path / "v7", ["linux_armv6l"], replace={BINARY: armv7}))
    assert bad.target == "arm-unknown-linux-gnueabihf"
    assert_fails(bad, "arch", "armv6l needs code for ARMv6, but TAG_CPU_ARCH is v7")
    armv6 = compile_c("arm-linux-gnueabihf.2.17", "", "-mcpu=arm1176jzf_s").read_bytes()
    good = verify_one(retag(linux_wheel, tmp_path / "v6", ["linux_armv6l"], replace={BINARY: armv6}))
    assert good.result("arch").status == PASS, good.result("arch")
    assert "code for ARMv6" in good.result("arch").detail


# --- versions: macOS and glibc ----------------------------------------------------------

def test_macos_tag_older_than_the_binary(macos_wheel: Path, tmp_path: Path, verify_one: Verify) -> None:
    report = verify_one(retag(macos_wheel, tmp_path, ["macosx_10_9_x86_64"]))
    assert_fails(report, "macos-min", "x86_64 slice needs macOS 10.12, newer than the tag's 10.9")
    assert_fails(report, "delocate", f"renamed it to noetl-{build_version()}-py3-none-macosx_10_12_x86_64.whl")
    assert report.result("WHEEL").status == PASS  # retagged consistently: name and WHEEL agree


def test_glibc_newer_than_the_tag(linux_wheel: Path, compile_c: Compile, tmp_path: Path, verify_one: Verify) -> None:
    program = compile_c("x86_64-linux-gnu.2.34", build_version(), "-DNEW_GLIBC").read_bytes()
    report = verify_one(rewrite(linux_wheel, tmp_path, replace={BINARY: program}))
    assert_fails(report, "glibc", "needs GLIBC_2.34, newer than the tag's glibc 2.17")
    assert_fails(report, "auditwheel", "finds manylinux_2_34_x86_64")
    assert report.result("run").status == PASS  # it runs here (glibc 2.36): only the promise is wrong


def test_glibc_binary_in_a_musllinux_wheel(linux_wheel: Path, tmp_path: Path, verify_one: Verify) -> None:
    report = verify_one(retag(linux_wheel, tmp_path, ["musllinux_1_2_x86_64"]))
    assert report.target == "x86_64-unknown-linux-musl"
    assert_fails(report, "musl", "needs glibc symbols (GLIBC_2.17)")


# --- the zip -----------------------------------------------------------------------------

def test_exec_bit_lost(linux_wheel: Path, tmp_path: Path, verify_one: Verify) -> None:
    report = verify_one(rewrite(linux_wheel, tmp_path, modes={BINARY: 0o644}))
    assert_fails(report, "modes", "noetl/bin/noetl is 0644, expected 0755 (not executable)")
    assert_fails(report, "run", "Permission denied")


def test_record_hash_mismatch(linux_wheel: Path, tmp_path: Path, verify_one: Verify) -> None:
    tampered = read(linux_wheel, "noetl/__init__.py") + b"# changed after RECORD was written\n"
    report = verify_one(rewrite(linux_wheel, tmp_path, replace={"noetl/__init__.py": tampered}, update_record=False))
    assert_fails(report, "RECORD", "noetl/__init__.py: sha256 does not match the file")


def test_metadata_says_another_version(linux_wheel: Path, tmp_path: Path, verify_one: Verify) -> None:
    name = f"noetl-{build_version()}.dist-info/METADATA"
    metadata = read(linux_wheel, name).replace(f"\nVersion: {build_version()}\n".encode(), b"\nVersion: 9.9.9\n")
    report = verify_one(rewrite(linux_wheel, tmp_path, replace={name: metadata}))
    assert_fails(report, "version", f"the file name says {build_version()}, but METADATA says 9.9.9")
    assert report.result("run").status == PASS  # the binary still prints the file name's version


def test_package_says_another_version(macos_wheel: Path, tmp_path: Path, verify_one: Verify) -> None:
    init = read(macos_wheel, "noetl/__init__.py").replace(build_version().encode(), b"0.0.1")
    report = verify_one(rewrite(macos_wheel, tmp_path, replace={"noetl/__init__.py": init}))
    assert_fails(report, "version", "noetl/__init__.py says 0.0.1")


def test_windows_sbom_in_the_linux_wheel(built_dist: BuiltDist, linux_wheel: Path, tmp_path: Path, verify_one: Verify) -> None:
    member = f"noetl-{build_version()}.dist-info/sboms/noetl.cdx.json"
    windows_sbom = read(built_dist.wheel_for(WINDOWS), member)
    report = verify_one(rewrite(linux_wheel, tmp_path, replace={member: windows_sbom}))
    assert_fails(report, "auditable", "the SBOM lists crates the binary's build did not", "windows-sys")
    assert_fails(report, "sbom", "windows-sys")


def test_no_console_script(linux_wheel: Path, tmp_path: Path, verify_one: Verify) -> None:
    name = f"noetl-{build_version()}.dist-info/entry_points.txt"
    report = verify_one(rewrite(linux_wheel, tmp_path, replace={name: b"[console_scripts]\n"}))
    assert_fails(report, "install", "no `noetl` console script",
                 "the installed entry_points.txt is not pyproject.toml's [console_scripts] noetl = noetl.cli_wrapper:main")
    assert_fails(report, "entry-points", "[console_scripts] noetl = noetl.cli_wrapper:main is missing")


def test_wheel_tag_lines_differ_from_the_filename(linux_wheel: Path, tmp_path: Path, verify_one: Verify) -> None:
    edit = lambda text: text.replace("Tag: py3-none-manylinux2014_x86_64", "Tag: py3-none-manylinux2014_aarch64")  # noqa: E731
    report = verify_one(rewrite(linux_wheel, tmp_path, edit_wheel=edit))
    assert_fails(report, "WHEEL", "Tag lines differ from the filename's tags",
                 "not in the filename: py3-none-manylinux2014_aarch64", "missing: py3-none-manylinux2014_x86_64")


def test_root_is_purelib_true(linux_wheel: Path, tmp_path: Path, verify_one: Verify) -> None:
    edit = lambda text: text.replace("Root-Is-Purelib: false", "Root-Is-Purelib: true")  # noqa: E731
    report = verify_one(rewrite(linux_wheel, tmp_path, edit_wheel=edit))
    assert_fails(report, "WHEEL", "Root-Is-Purelib is true, expected false")


# --- what the wheel holds: exactly the build's files, one name, the declared entry points ----

def test_a_stray_file_beside_the_binary(linux_wheel: Path, tmp_path: Path, verify_one: Verify) -> None:
    """cargo's dependency file next to the binary, listed in RECORD: every other check passes it."""
    report = verify_one(rewrite(linux_wheel, tmp_path, add={"noetl/bin/noetl.d": b"noetl: src/main.rs\n"}))
    assert_fails(report, "files", "not the build's: noetl/bin/noetl.d",
                 f"noetl-{build_version()}-py3-none-any.whl's files, noetl/bin/noetl and the SBOM")
    assert [check for check, why in failures(report).items() if "noetl.d" in why] == ["files"], failures(report)


def test_a_file_missing_from_the_package(linux_wheel: Path, tmp_path: Path, verify_one: Verify) -> None:
    ddl = "noetl/database/ddl/postgres/001_catalog.sql"
    assert_fails(verify_one(rewrite(linux_wheel, tmp_path, remove=[ddl])), "files", f"missing: {ddl}")


@pytest.mark.parametrize("target", [LINUX, WINDOWS])
def test_an_entry_point_naming_another_function(built_dist: BuiltDist, tmp_path: Path, verify_one: Verify, target: str) -> None:
    """`main_entry` holds the text `noetl.cli_wrapper:main`: the old substring test passed it on every
    wheel but the host's (whose console script runs). Parsed and compared whole, it fails on each."""
    name = f"noetl-{build_version()}.dist-info/entry_points.txt"
    wrong = b"[console_scripts]\nnoetl = noetl.cli_wrapper:main_entry\n"
    report = verify_one(rewrite(built_dist.wheel_for(target), tmp_path, replace={name: wrong}))
    assert_fails(report, "entry-points", "[console_scripts] noetl = noetl.cli_wrapper:main_entry, "
                 "but pyproject.toml declares noetl.cli_wrapper:main")
    assert_fails(report, "install", "the installed entry_points.txt is not pyproject.toml's")


def test_metadata_names_another_project(linux_wheel: Path, tmp_path: Path, verify_one: Verify) -> None:
    """Issue 19's armv6l wheel saying Name: noetlctl: only uv noticed, and uv has no armv6l name."""
    name = f"noetl-{build_version()}.dist-info/METADATA"
    metadata = read(linux_wheel, name).replace(b"\nName: noetl\n", b"\nName: noetlctl\n")
    report = verify_one(retag(linux_wheel, tmp_path, ["linux_armv6l"], replace={name: metadata}))
    assert report.target == "arm-unknown-linux-gnueabihf"
    assert_fails(report, "name", "the file name says noetl, but METADATA says noetlctl")
    assert_fails(report, "pypi", "PyPI would refuse it (name): Start filename for 'noetlctl' with 'noetlctl'")


# --- zip defects PyPI refuses (its rules, noetl_build/pypi_rules.py, as the pypi check) ------

@pytest.mark.parametrize(("defect", "rule", "reason"), [
    ({"data_descriptors": True}, "zip-data-descriptor", "ZIP contains a data descriptor"),
    ({"duplicate": "noetl/__init__.py"}, "zip-duplicate-entry", "Duplicate filename in local headers"),
    ({"comments": {"noetl/__init__.py": b"hi"}}, "zip-entry-comment", "Comment in central directory"),
    ({"trailing": b"\0" * 8}, "zip-trailing-data", "Trailing data"),
])
def test_a_zip_defect_pypi_refuses(linux_wheel: Path, tmp_path: Path, verify_one: Verify,
                                   defect: dict[str, object], rule: str, reason: str) -> None:
    """pip and every other check read these zips through the central directory and pass them."""
    report = verify_one(rewrite(linux_wheel, tmp_path, **defect))  # type: ignore[arg-type]
    assert_fails(report, "pypi", f"PyPI would refuse it ({rule}): ZIP archive not accepted: {reason}")


def test_the_pypi_check_notes_a_local_version(linux_wheel: Path, tmp_path: Path, verify_one: Verify) -> None:
    """A development build passes, saying that it cannot go to PyPI (publish refuses it there)."""
    report = verify_one(rewrite(linux_wheel, tmp_path))
    detail = report.result("pypi").detail  # type: ignore[union-attr]
    if "+" in build_version():
        assert "cannot go to PyPI" in detail and f"'+{build_version().split('+')[1]}'" in detail
    else:
        assert detail.endswith("none refuses it")


# --- the binary's contents -----------------------------------------------------------------

def test_build_path_in_the_binary(linux_wheel: Path, tmp_path: Path, verify_one: Verify) -> None:
    leaked = f"{ROOT}/noetlctl/src/main.rs".encode()
    binary = read(linux_wheel, BINARY) + b"\0" + leaked + b"\0"  # trailing bytes: it still runs
    report = verify_one(rewrite(linux_wheel, tmp_path, replace={BINARY: binary}))
    assert_fails(report, "build-paths", leaked.decode())
    assert report.result("run").status == PASS


def test_binary_prints_another_version(linux_wheel: Path, compile_c: Compile, tmp_path: Path, verify_one: Verify) -> None:
    program = compile_c("x86_64-linux-gnu.2.17", "0.0.9").read_bytes()
    report = verify_one(rewrite(linux_wheel, tmp_path, replace={BINARY: program}))
    assert_fails(report, "run", f"printed 'noetl 0.0.9', expected 'noetl {build_version()}'")
    assert_fails(report, "version", "noetl/bin/noetl does not carry")
    assert_fails(report, "auditable", "carries no cargo-auditable dependency list (.dep-v0)")
    assert_fails(report, "console-script", "printed 'noetl 0.0.9'")
    assert report.result("glibc").status == PASS and report.result("auditwheel").status == PASS


def test_script_instead_of_a_binary(linux_wheel: Path, tmp_path: Path, verify_one: Verify) -> None:
    script = f"#!/bin/sh\necho noetl {build_version()}\n".encode()
    report = verify_one(rewrite(linux_wheel, tmp_path, replace={BINARY: script}))
    assert_fails(report, "arch", "a script (#!), not an executable")
    assert_fails(report, "run", "not run: noetl/bin/noetl: a script (#!), not an executable")  # though it prints the version


def test_arm64_macos_binary_without_a_signature(macos_wheel: Path, compile_c: Compile, tmp_path: Path, verify_one: Verify) -> None:
    """A thin arm64 wheel made from the x86_64 one with zig's arm64 program: signed it passes
    (but for the crate list a C program cannot embed), with LC_CODE_SIGNATURE stripped
    (macholib) it fails on that too."""
    signed = compile_c("aarch64-macos.11.0")
    unsigned = strip_code_signature(signed, tmp_path / "unsigned")
    good = verify_one(retag(macos_wheel, tmp_path / "signed", ["macosx_11_0_arm64"], replace={BINARY: signed.read_bytes()}))
    assert good.target == "aarch64-apple-darwin"
    assert set(failures(good)) == {"auditable"}, failures(good)
    bad = verify_one(retag(macos_wheel, tmp_path / "bad", ["macosx_11_0_arm64"], replace={BINARY: unsigned.read_bytes()}))
    assert_fails(bad, "codesign", "has no LC_CODE_SIGNATURE")
    assert set(failures(bad)) == {"codesign", "auditable"}


def test_arm64_macos_binary_changed_after_signing(macos_wheel: Path, compile_c: Compile, tmp_path: Path, verify_one: Verify) -> None:
    """One byte changed after signing (in page 0, past the load commands): the signature is
    still there, but its page hash no longer matches: macOS would kill it."""
    signed = bytearray(compile_c("aarch64-macos.11.0").read_bytes())
    (sizeofcmds,) = struct.unpack_from("<I", signed, 20)
    assert 32 + sizeofcmds + 8 < 4096
    signed[32 + sizeofcmds + 8] ^= 0xFF
    bad = verify_one(retag(macos_wheel, tmp_path / "bad", ["macosx_11_0_arm64"], replace={BINARY: bytes(signed)}))
    assert_fails(bad, "codesign", "code signature stale: 1 of", "page hashes differ")
    assert set(failures(bad)) == {"codesign", "auditable"}


# --- universal2, made with lipo from the real x86_64 binary and zig's arm64 program ----

def fat_binary(x86_64: bytes, arm64: Path, out: Path) -> bytes:
    """The two slices joined by the lipo the universal2 build uses."""
    lipo = find_lipo()
    assert lipo, "no lipo (apt-get install llvm-15): nox -s doctor"
    thin = out.with_suffix(".x86_64")
    thin.write_bytes(x86_64)
    subprocess.run([lipo, "-create", thin, arm64, "-output", out], check=True)
    return out.read_bytes()


def test_universal2_with_both_slices_passes(macos_wheel: Path, compile_c: Compile, tmp_path: Path, verify_one: Verify) -> None:
    fat = fat_binary(read(macos_wheel, BINARY), compile_c("aarch64-macos.11.0"), tmp_path / "fat")
    report = verify_one(retag(macos_wheel, tmp_path / "wheel", ["macosx_10_12_universal2"], replace={BINARY: fat}))
    assert report.target == "universal2-apple-darwin"
    assert set(failures(report)) == {"auditable"}, failures(report)  # zig's C program embeds no crate list
    assert_fails(report, "auditable", "of 2 of noetl/bin/noetl carries no cargo-auditable dependency list")
    assert report.result("macos-min").detail == "minimum macOS x86_64 10.12, arm64 11.0; tag says 10.12"
    assert "--require-archs universal2" in report.result("delocate").detail


def test_universal2_arm64_slice_newer_than_11(macos_wheel: Path, compile_c: Compile, tmp_path: Path, verify_one: Verify) -> None:
    fat = fat_binary(read(macos_wheel, BINARY), compile_c("aarch64-macos.12.0"), tmp_path / "fat")
    report = verify_one(retag(macos_wheel, tmp_path / "wheel", ["macosx_10_12_universal2"], replace={BINARY: fat}))
    assert_fails(report, "macos-min", "arm64 slice needs macOS 12.0, newer than the tag's 11.0")
