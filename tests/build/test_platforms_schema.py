"""platforms.toml is checked on load like targets.toml (issue 20): each kind of mistake in a copy
of the real file (an unknown or missing key, a wrong type or value, a name no table defines) is
one line naming the file, the table and the key, with the closest valid name; and every command
that reads targets.toml stops with that line before doing anything."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from noetl_build import cli, platforms
from noetl_build.errors import ConfigError
from noetl_build.platforms_schema import ARM_ISAS, FORMATS, POLICIES
from noetl_build.verify.checks_binary import ARM_ISA

ROOT = Path(__file__).resolve().parents[2]
REAL = platforms.PLATFORMS_FILE.read_text()


def edited(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of platforms.toml with the one place ``old`` is replaced by ``new``."""
    assert REAL.count(old) == 1, f"{old!r} is not one place in platforms.toml"
    path = tmp_path / "platforms.toml"
    path.write_text(REAL.replace(old, new))
    return path


def refused(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        platforms.load_platforms(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_the_real_file_loads_into_the_values_the_build_reads(tmp_path: Path) -> None:
    loaded = platforms.load_platforms(edited(tmp_path, "[os.linux]", "[os.linux]"))
    assert loaded.systems == platforms.systems() and loaded.arches == platforms.arches()
    assert loaded.families == platforms.families() and loaded.python_versions == platforms.python_versions()
    assert loaded.arches["arm"].arm_isa == "v6" and loaded.arches["riscv64gc"].uv.gnu_glibc == (2, 39)
    assert loaded.arches["x86_64"].uv.gnu_glibc == (2, 28)  # [installers.uv]'s default


# the mistake (old -> new in the real file) and the line it gives, each table kind in turn
UNKNOWN_KEYS = [
    ('arm-isa = "v6"', 'arm_isa = "v6"',
     "platforms.toml: [arch.arm]: key 'arm_isa': unknown key (did you mean 'arm-isa'?)"),
    ('zig-os = "windows"', 'zig_os = "windows"',
     "platforms.toml: [os.windows]: key 'zig_os': unknown key (did you mean 'zig-os'?)"),
    ('policy = "delocate"', 'polcy = "delocate"',
     "platforms.toml: [family.macosx]: key 'polcy': unknown key (did you mean 'policy'?)"),
    ('uv.gnu-glibc = "2.39"', 'uv.gnu_glibc = "2.39"',
     "platforms.toml: [arch.riscv64gc]: key 'uv.gnu_glibc': unknown key (did you mean 'uv.gnu-glibc'?)"),
    ('sys_platform = "darwin"', 'sys-platform = "darwin"',
     "platforms.toml: [os.macos]: key 'markers.sys-platform': unknown key (did you mean 'markers.sys_platform'?)"),
    ('[python]\nversions', '[python]\nversion',
     "platforms.toml: [python]: key 'version': unknown key (did you mean 'versions'?)"),
    ('[installers.uv]\ngnu-glibc', '[installers.uv]\ngnu_glibc',
     "platforms.toml: [installers.uv]: key 'gnu_glibc': unknown key (did you mean 'gnu-glibc'?)"),
    ('[family.win]', '[familly.win]',
     "platforms.toml: key 'familly': unknown key (did you mean 'family'?)"),
]
MISSING_KEYS = [
    ('name = "Windows"\n', "",
     "platforms.toml: [os.windows]: key 'name': missing (required)"),
    ('tag = "{arch}"\n', "",
     "platforms.toml: [family.win]: key 'tag': missing (required)"),
    ('wheel-arch = { linux = "s390x" }\n', "",
     "platforms.toml: [arch.s390x]: key 'wheel-arch': missing (required)"),
    ('platform_system = "Windows"', 'platform-system = "Windows"',  # unknown first; checked below without it
     "platforms.toml: [os.windows]: key 'markers.platform-system': unknown key (did you mean "
     "'markers.platform_system'?)"),
    (', platform_system = "Windows" }', ' }',
     "platforms.toml: [os.windows]: key 'markers.platform_system': missing (required)"),
    ('[installers.uv]\ngnu-glibc = "2.28"\n', "",
     "platforms.toml: key 'installers': missing (required)"),
    # a key required by what another table says: s390x has Linux wheels, Linux binaries are ELF
    ('elf-machine = "EM_S390"\n', "",
     "platforms.toml: [arch.s390x]: key 'elf-machine': missing: its linux wheels hold ELF binaries, "
     "which verify checks against elf-machine"),
    ('pe-machine = "IMAGE_FILE_MACHINE_I386"\n', "",
     "platforms.toml: [arch.i686]: key 'pe-machine': missing: its windows wheels hold PE binaries, "
     "which verify checks against pe-machine"),
    ('[family.macosx]\nos = "macos"\nminimum = "macos"\n', '[family.macosx]\nos = "macos"\n',
     "platforms.toml: [family.macosx]: key 'minimum': missing: a tag with a version needs the targets.toml "
     "key giving it"),
]
WRONG_TYPES = [
    ('elf-class = 64\nendian = "big"', 'elf-class = "64"\nendian = "big"',
     "platforms.toml: [arch.s390x]: key 'elf-class': expected a integer, got string"),
    ('environments = ["gnu", "musl"]', 'environments = "gnu"',
     "platforms.toml: [os.linux]: key 'environments': expected a list of strings, got string"),
    ('wheel-arch = { linux = "s390x" }', 'wheel-arch = "s390x"',
     "platforms.toml: [arch.s390x]: key 'wheel-arch': expected a table, got string"),
    ('archs = ["armv6l", "armv7l"]', 'archs = ["armv6l", 7]',
     "platforms.toml: [family.linux]: key 'archs': expected a list of strings, got list"),
    ('[family.win]\nos = "windows"\ntag = "{arch}"', '[family.win]\nos = "windows"\ntag = "{arch}"\npolicy = true',
     "platforms.toml: [family.win]: key 'policy': expected a string, got boolean"),
    ('markers = { os_name = "nt", sys_platform = "win32", platform_system = "Windows" }', 'markers = "nt"',
     "platforms.toml: [os.windows]: key 'markers': expected a table, got string"),
]
WRONG_VALUES = [
    ('endian = "big"', 'endian = "bigg"',
     "platforms.toml: [arch.s390x]: key 'endian': 'bigg' is not one of little, big (did you mean 'big'?)"),
    ('arm-isa = "v7"', 'arm-isa = "v8"',
     "platforms.toml: [arch.armv7]: key 'arm-isa': 'v8' is not one of v6, v7"),
    ('format = "PE"', 'format = "PE32"',
     "platforms.toml: [os.windows]: key 'format': 'PE32' is not one of ELF, Mach-O, PE (did you mean 'PE'?)"),
    ('min-macos = "11.0"', 'min-macos = "11"',
     "platforms.toml: [arch.aarch64]: key 'min-macos': '11' is not a MAJOR.MINOR version"),
    ('manylinux2010 = "2.12"', 'manylinux2010 = "2.12.0"',
     "platforms.toml: [family.manylinux]: key 'aliases.manylinux2010': '2.12.0' is not a MAJOR.MINOR version"),
    ('tag = "musllinux_{major}_{minor}_{arch}"', 'tag = "musllinux_{major}_{minr}_{arch}"',
     "platforms.toml: [family.musllinux]: key 'tag': '{minr}' is not one of {arch}, {major}, {minor} "
     "(did you mean 'minor'?)"),
    ('tag = "linux_{arch}"', 'tag = "linux_{machine}"',
     "platforms.toml: [family.linux]: key 'tag': '{machine}' is not one of {arch}, {major}, {minor}"),
    ('rust-os = "windows"', 'rust-os = "linux"',
     "platforms.toml: [os.windows]: key 'rust-os': 'linux' is [os.linux]'s too"),
    ('wheel-arch = { linux = "s390x" }', 'wheel-arch = { linux = "ppc64le" }',
     "platforms.toml: [arch.powerpc64le]: key 'wheel-arch.linux': 'ppc64le' is [arch.s390x]'s too: "
     "a tag would name two"),
]
UNKNOWN_NAMES = [
    ('[family.musllinux]\nos = "linux"', '[family.musllinux]\nos = "linx"',
     "platforms.toml: [family.musllinux]: key 'os': unknown OS 'linx' (did you mean 'linux'?); "
     "[os.*] defines linux, macos, windows"),
    ('wheel-arch = { linux = "riscv64" }', 'wheel-arch = { linus = "riscv64" }',
     "platforms.toml: [arch.riscv64gc]: key 'wheel-arch.linus': unknown OS 'linus' (did you mean 'linux'?); "
     "[os.*] defines linux, macos, windows"),
    ('slices = ["x86_64", "aarch64"]', 'slices = ["x86_64", "arm64"]',
     "platforms.toml: [arch.universal2]: key 'slices': unknown architecture 'arm64' (did you mean 'arm'?); "
     "[arch.*] defines "
     "x86_64, aarch64, armv7, arm, i686, s390x, powerpc64le, riscv64gc, universal2"),
    ('os = "linux"\nlibc = "musl"', 'os = "linux"\nlibc = "musel"',
     "platforms.toml: [family.musllinux]: key 'libc': 'musel' is not a C library [os.linux] environments name "
     "(gnu, musl) (did you mean 'musl'?)"),
    ('archs = ["armv6l", "armv7l"]', 'archs = ["armv6l", "armv7"]',
     "platforms.toml: [family.linux]: key 'archs': no [arch.*] table has linux wheels tagged 'armv7' "
     "(did you mean 'armv7l'?)"),
    ('[family.win]\nos = "windows"', '[family.win]\nos = "win32"',
     "platforms.toml: [family.win]: key 'os': unknown OS 'win32'; [os.*] defines linux, macos, windows"),
]


@pytest.mark.parametrize(("old", "new", "line"), [*UNKNOWN_KEYS, *MISSING_KEYS, *WRONG_TYPES, *WRONG_VALUES,
                                                  *UNKNOWN_NAMES])
def test_a_mistake_is_one_line_naming_the_table_and_key(tmp_path: Path, old: str, new: str,
                                                        line: str) -> None:
    assert refused(edited(tmp_path, old, new)) == line


def test_a_value_never_reaches_the_terminal_raw(tmp_path: Path) -> None:
    message = refused(edited(tmp_path, 'endian = "big"', 'endian = "\\u001b[31mbig\\nx"'))
    assert "\x1b" not in message and message.endswith("key 'endian': '\\x1b[31mbig\\nx' is not one of little, big")


def test_the_choices_are_what_the_readers_know() -> None:
    """The schema's lists are those of the code acting on the values: a new ISA, format or policy
    is added in both places or the data refuses it."""
    assert set(ARM_ISAS) == set(ARM_ISA)
    assert {s.format for s in platforms.systems().values()} <= set(FORMATS)
    assert {f.policy for f in platforms.families().values()} - {None} == set(POLICIES)


def test_the_names_the_code_compares_with_are_the_data_s() -> None:
    """platforms.OS and platforms.Libc name [os.*] keys and Linux environments that exist; and a
    member is its string, so a value read from the data compares equal to it."""
    assert {str(os) for os in platforms.OS} <= set(platforms.systems())
    assert {str(libc) for libc in platforms.Libc} <= set(platforms.systems()[platforms.OS.LINUX].environments)
    assert platforms.Triple.parse("x86_64-unknown-linux-musl").libc == platforms.Libc.MUSL
    assert platforms.Triple.parse("aarch64-apple-darwin").os == platforms.OS.MACOS == "macos"


@pytest.fixture
def broken_platforms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's platforms.toml is one with arm_isa for arm-isa, for the length of one test."""
    monkeypatch.setattr(platforms, "PLATFORMS_FILE", edited(tmp_path, 'arm-isa = "v7"', 'arm_isa = "v7"'))
    for loader in (platforms._data, platforms.systems, platforms.arches, platforms.families):
        loader.cache_clear()
    yield
    monkeypatch.undo()
    for loader in (platforms._data, platforms.systems, platforms.arches, platforms.families):
        loader.cache_clear()


@pytest.mark.parametrize("command", [["build", "--all"], ["verify"], ["doctor"], ["apt-packages"], ["shards"]])
def test_every_command_reading_targets_stops_at_the_line(broken_platforms: None, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str],
                                                         command: list[str]) -> None:
    argv = ["--root", str(ROOT), "--build-dir", str(tmp_path / "build"), "--dist", str(tmp_path / "dist"), *command]
    assert cli.main(argv) == ConfigError.exit_code
    captured = capsys.readouterr()
    assert captured.err == ("error: platforms.toml: [arch.armv7]: key 'arm_isa': unknown key "
                            "(did you mean 'arm-isa'?)\n")
    assert captured.out == "" and not (tmp_path / "build").exists() and not (tmp_path / "dist").exists()


def test_a_file_that_is_not_toml_is_named(tmp_path: Path) -> None:
    path = edited(tmp_path, "[os.macos]\n", "[os.macos]\nmarkers = 1\n")  # markers given twice
    assert refused(path).startswith(f"{path}: not valid TOML: ")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path / 'nowhere.toml'}: no such file")):
        platforms.load_platforms(tmp_path / "nowhere.toml")
