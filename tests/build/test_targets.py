"""The target model: targets.toml validated on load, tags derived from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from noetl_build.errors import ConfigError
from noetl_build.platforms import PlatformTag, Triple
from noetl_build.targets import load_matrix, parse_matrix

ROOT = Path(__file__).resolve().parents[2]

# Written out by hand from the wheel-tag specs (PEP 425/600/656, packaging's macOS rules),
# not derived from the code under test: the platform tag each required target must carry.
EXPECTED_PLATFORM_TAGS = {
    "x86_64-unknown-linux-gnu": "manylinux2014_x86_64.manylinux_2_17_x86_64",
    "aarch64-unknown-linux-gnu": "manylinux2014_aarch64.manylinux_2_17_aarch64",
    "armv7-unknown-linux-gnueabihf": "manylinux2014_armv7l.manylinux_2_17_armv7l",
    "i686-unknown-linux-gnu": "manylinux2014_i686.manylinux_2_17_i686",
    "s390x-unknown-linux-gnu": "manylinux2014_s390x.manylinux_2_17_s390x",
    "powerpc64le-unknown-linux-gnu": "manylinux2014_ppc64le.manylinux_2_17_ppc64le",
    "x86_64-unknown-linux-musl": "musllinux_1_2_x86_64",
    "aarch64-unknown-linux-musl": "musllinux_1_2_aarch64",
    "x86_64-apple-darwin": "macosx_10_12_x86_64",
    "aarch64-apple-darwin": "macosx_11_0_arm64",
    "universal2-apple-darwin": "macosx_10_12_universal2",
    "x86_64-pc-windows-gnu": "win_amd64",
    "arm-unknown-linux-gnueabihf": "linux_armv6l",
    "riscv64gc-unknown-linux-gnu": "manylinux_2_31_riscv64",
    "armv7-unknown-linux-musleabihf": "musllinux_1_2_armv7l",
    "i686-unknown-linux-musl": "musllinux_1_2_i686",
    "riscv64gc-unknown-linux-musl": "musllinux_1_2_riscv64",
    "powerpc64le-unknown-linux-musl": "musllinux_1_2_ppc64le",
    "i686-pc-windows-gnu": "win32",
    "aarch64-pc-windows-gnullvm": "win_arm64",
}

GOOD = {"triple": "x86_64-apple-darwin", "tags": ["macosx_10_12_x86_64"], "macos": "10.12", "run": "none"}
LINUX = {"triple": "x86_64-unknown-linux-gnu", "tags": ["manylinux_2_17_x86_64"], "glibc": "2.17", "macos": None}


def parse(*tables: dict) -> list:
    return list(parse_matrix({"target": list(tables)}, Path("targets.toml")).targets)


def error_of(*tables: dict) -> str:
    with pytest.raises(ConfigError) as info:
        parse(*tables)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_the_matrix_holds_every_required_target_with_its_tags() -> None:
    matrix = load_matrix(ROOT / "targets.toml")
    assert {t.name: t.platform_tag for t in matrix.targets} == EXPECTED_PLATFORM_TAGS


def test_minimums_and_zig_targets() -> None:
    targets = {t.name: t for t in load_matrix(ROOT / "targets.toml").targets}
    assert targets["x86_64-unknown-linux-gnu"].zig_target == "x86_64-unknown-linux-gnu.2.17"
    assert targets["x86_64-unknown-linux-musl"].zig_target == "x86_64-unknown-linux-musl"
    assert targets["x86_64-apple-darwin"].macos == (10, 12)
    assert targets["aarch64-apple-darwin"].macos == (11, 0)
    assert targets["universal2-apple-darwin"].rust_targets == ("x86_64-apple-darwin", "aarch64-apple-darwin")
    assert targets["x86_64-pc-windows-gnu"].binary_name == "noetl.exe"
    ppc64le = targets["powerpc64le-unknown-linux-gnu"]
    assert (ppc64le.glibc, ppc64le.link_glibc, ppc64le.zig_target) == ((2, 17), (2, 24), "powerpc64le-unknown-linux-gnu.2.24")
    assert targets["x86_64-unknown-linux-gnu"].binary_name == "noetl"
    assert {t.run for t in targets.values()} == {"native", "qemu", "wine", "none"}


def test_a_good_table_parses() -> None:
    (target,) = parse(GOOD)
    assert target.name == "x86_64-apple-darwin" and target.tags == ("macosx_10_12_x86_64",)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"tagz": ["x"]}, "key 'tagz': unknown key (did you mean 'tags'?)"),
        ({"tags": ["macosx_10_12_arm64"]}, "'macosx_10_12_arm64' is for arm64, but x86_64-apple-darwin is x86_64"),
        ({"tags": ["manylinux_2_17_x86_64"]}, "is a manylinux tag, but x86_64-apple-darwin needs macosx"),
        ({"tags": ["macosx_11_0_x86_64"]}, "'macosx_11_0_x86_64' says 11.0, but the target's minimum is 10.12"),
        ({"tags": []}, "key 'tags': expected a non-empty list"),
        ({"tags": "macosx_10_12_x86_64"}, "key 'tags': expected a list, got str"),
        ({"macos": "ten"}, "key 'macos': 'ten' is not a MAJOR.MINOR version"),
        ({"glibc": "2.17"}, "key 'glibc': does not apply to x86_64-apple-darwin"),
        ({"run": "rosetta"}, "key 'run': 'rosetta' is not one of native, qemu, wine, none"),
        ({"run": "qemu"}, "key 'qemu': missing: run = \"qemu\" needs"),
        ({"qemu": {"program": "qemu-x86_64"}}, "key 'qemu': only applies with run = \"qemu\""),
        ({"link-shims": ["nope"]}, "key 'link-shims': no shim named 'nope'"),
        ({"triple": "x86_64-apple-ios"}, "unsupported operating system"),
        ({"triple": "mips-unknown-linux-gnu", "glibc": "2.17", "tags": ["manylinux_2_17_mips"]}, "unknown architecture 'mips'"),
        ({"link-glibc": "2.24"}, "key 'link-glibc': does not apply to x86_64-apple-darwin"),
        ({**LINUX, "link-glibc": "2.12"}, "key 'link-glibc': is older than glibc"),
        ({**LINUX, "link-glibc": "two"}, "key 'link-glibc': 'two' is not a MAJOR.MINOR version"),
        ({**LINUX, "unversion": ["__cxa_thread_atexit_impl"]}, "key 'unversion': only with link-glibc"),
        ({**LINUX, "link-glibc": "2.24", "unversion": ["a b"]}, "key 'unversion': 'a b' is not a C symbol name"),
        ({**LINUX, "triple": "arm-unknown-linux-gnueabihf", "tags": ["linux_x86_64"]}, "'linux_x86_64' is not a platform tag"),
        ({"rustc": "stable"}, "key 'rustc': 'stable' is not a rustc release (e.g. \"1.96\" or \"1.96.0\")"),
        ({"rustc": 1.95}, "key 'rustc': expected a string, got float"),
        ({"rustcc": "1.95"}, "key 'rustcc': unknown key (did you mean 'rustc'?)"),
        ({**LINUX, "triple": "arm-unknown-linux-gnueabihf", "tags": ["musllinux_1_2_armv6l"]},
         "is a musllinux tag, but arm-unknown-linux-gnueabihf needs manylinux or linux"),
    ],
)
def test_each_mistake_is_one_line_naming_target_and_key(change: dict, expected: str) -> None:
    message = error_of({k: v for k, v in {**GOOD, **change}.items() if v is not None})
    assert expected in message
    assert message.startswith("targets.toml: target ")


def test_missing_required_key() -> None:
    table = dict(GOOD)
    del table["run"]
    assert error_of(table) == "targets.toml: target 'x86_64-apple-darwin': key 'run': missing (required)"


def test_missing_minimum_version() -> None:
    table = {"triple": "x86_64-unknown-linux-gnu", "tags": ["manylinux_2_17_x86_64"], "run": "native"}
    assert "key 'glibc': missing" in error_of(table)


def test_duplicate_triple() -> None:
    assert error_of(GOOD, GOOD) == "targets.toml: target 'x86_64-apple-darwin': duplicate triple"


def test_legacy_manylinux_alias_must_agree_with_glibc() -> None:
    table = {"triple": "x86_64-unknown-linux-gnu", "tags": ["manylinux2010_x86_64"], "glibc": "2.17", "run": "native"}
    assert "says 2.12, but the target's minimum is 2.17" in error_of(table)


def test_select_unknown_triple_lists_valid_ones() -> None:
    matrix = load_matrix(ROOT / "targets.toml")
    with pytest.raises(ConfigError) as info:
        matrix.select(["x86_64-apple-darwn"])
    message = str(info.value)
    assert "did you mean 'x86_64-apple-darwin'" in message
    assert all(name in message for name in EXPECTED_PLATFORM_TAGS)


def test_select_keeps_matrix_order_and_all_when_empty() -> None:
    matrix = load_matrix(ROOT / "targets.toml")
    assert [t.name for t in matrix.select(["x86_64-pc-windows-gnu", "x86_64-unknown-linux-gnu"])] == [
        "x86_64-unknown-linux-gnu", "x86_64-pc-windows-gnu",
    ]
    assert matrix.select([]) == matrix.targets


def test_triple_and_tag_parsing() -> None:
    assert Triple.parse("armv7-unknown-linux-gnueabihf").hard_float
    assert Triple.parse("x86_64-unknown-linux-musl").libc == "musl"
    assert PlatformTag.parse("manylinux2014_aarch64") == PlatformTag("manylinux", (2, 17), "aarch64")
    assert PlatformTag.parse("macosx_10_12_universal2") == PlatformTag("macosx", (10, 12), "universal2")


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "noetl_build", "--root", str(root), *args],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[target]]\ntriple = 'x86_64-apple-darwin'\ntags = ['macosx_10_12_x86_64']\nmacos = '10.12'\nrun = 'none'\nextra = 1\n",
         "error: targets.toml: target 'x86_64-apple-darwin': key 'extra': unknown key"),
        ("[[target]\n", "error: targets.toml: not valid TOML"),
        ("", "error: targets.toml: no [[target]] tables"),
    ],
)
def test_cli_reports_a_bad_targets_file_in_one_line(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "targets.toml").write_text(text)
    proc = _cli(tmp_path, "build", "--all")
    assert proc.returncode == 2
    assert proc.stderr.startswith(expected)
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "dist").exists()


def test_cli_unknown_triple_and_no_triple() -> None:
    proc = _cli(ROOT, "build", "x86_64-apple-darwn")
    assert proc.returncode == 2 and "unknown target 'x86_64-apple-darwn'" in proc.stderr
    proc = _cli(ROOT, "build")
    assert proc.returncode == 2 and "nox -s wheel -- TRIPLE" in proc.stderr


def test_readme_lists_every_target_with_its_tag() -> None:
    """A target is documented where users look: README's table names it and its wheel's tag."""
    rows = {line.split("|")[1].strip(): line for line in (ROOT / "README.md").read_text().splitlines()
            if line.startswith("| ") and line.count("|") >= 4}
    for target in load_matrix(ROOT / "targets.toml").targets:
        assert target.name in rows, f"README's target table lacks {target.name}"
        assert any(tag in rows[target.name] for tag in target.tags), rows[target.name]
