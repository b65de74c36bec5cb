"""The schema of platforms.toml: its tables, their keys and types, and the names in it that
another of its tables must define. platforms.load_platforms checks the file with it before
reading a value, so a mistake in the data (``arm_isa`` for ``arm-isa``, an OS no [os.*] table
defines) stops every command at load, in one line naming the file, the table and the key, with
the closest valid name where there is one, as a mistake in targets.toml does.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .errors import ConfigError, did_you_mean, shown

Kind = Literal["string", "integer", "list of strings", "table"]

# Values the code that reads a field knows how to act on.
FORMATS = ("ELF", "Mach-O", "PE")  # the executable formats verify reads (verify/binary.py)
POLICIES = ("auditwheel", "delocate")  # the outside checkers verify runs (verify/auditwheel.py, delocate.py)
ARM_ISAS = ("v6", "v7")  # the instruction sets verify's ARM check knows (checks_binary.ARM_ISA)
ENDIANS = ("little", "big")
ELF_CLASSES = (32, 64)
TAG_FIELDS = ("arch", "major", "minor")  # what a family's tag may spell
_VERSION = re.compile(r"\d+\.\d+")  # MAJOR.MINOR, as platforms.parse_version reads it
_FORMAT_NEEDS = {"ELF": ("elf-machine", "elf-class", "endian"), "Mach-O": ("macho-cpu",), "PE": ("pe-machine",)}


@dataclass(frozen=True)
class Key:
    """One key of a table: its type, whether it must be there, the values it may take."""

    kind: Kind
    required: bool = False
    choices: tuple[str | int, ...] = ()
    version: bool = False  # a MAJOR.MINOR version (each item, for a list)


TOP_KEYS = {"os": Key("table", True), "family": Key("table", True), "arch": Key("table", True),
            "python": Key("table", True), "installers": Key("table", True)}
OS_KEYS = {
    "name": Key("string", True),
    "rust-os": Key("string", True),
    "environments": Key("list of strings"),
    "format": Key("string", True, FORMATS),
    "zig-os": Key("string", True),
    "markers": Key("table"),
    "exe-suffix": Key("string"),
    "link-args": Key("list of strings"),
    "libraries": Key("list of strings"),
    "subsystem": Key("string"),
}
MARKER_KEYS = {"os_name": Key("string", True), "sys_platform": Key("string", True),
               "platform_system": Key("string", True)}
FAMILY_KEYS = {
    "os": Key("string", True),
    "libc": Key("string"),
    "minimum": Key("string"),
    "tag": Key("string", True),
    "aliases": Key("table"),
    "policy": Key("string", choices=POLICIES),
    "archs": Key("list of strings"),
}
ARCH_KEYS = {
    "wheel-arch": Key("table", True),
    "windows-machine": Key("string"),
    "elf-machine": Key("string"),
    "elf-class": Key("integer", choices=ELF_CLASSES),
    "endian": Key("string", choices=ENDIANS),
    "macho-cpu": Key("string"),
    "pe-machine": Key("string"),
    "zig-arch": Key("string"),
    "arm-isa": Key("string", choices=ARM_ISAS),
    "min-macos": Key("string", version=True),
    "uv": Key("table"),
    "slices": Key("list of strings"),
}
UV_KEYS = {
    "manylinux": Key("list of strings", version=True),
    "gnu": Key("string"),
    "gnu-glibc": Key("string", version=True),
    "musl": Key("string"),
    "macos": Key("string"),
    "windows": Key("string"),
}
PYTHON_KEYS = {"versions": Key("list of strings", True, version=True)}
INSTALLERS_KEYS = {"uv": Key("table", True)}
INSTALLERS_UV_KEYS = {"gnu-glibc": Key("string", True, version=True)}


class _Place:
    """Where in the file a check is: makes its one-line error."""

    def __init__(self, file: str, table: str) -> None:
        self.file, self.table = file, table

    def error(self, key: str, message: str) -> ConfigError:
        table = f" [{self.table}]:" if self.table else ""
        return ConfigError(f"{self.file}:{table} key {shown(key)}: {message}")


def check_platforms(data: Mapping[str, Any], file: str) -> None:
    """ConfigError in one line for the first mistake in ``data`` (platforms.toml, read as ``file``)."""
    check_table(data, TOP_KEYS, _Place(file, ""))
    for section, keys in (("os", OS_KEYS), ("family", FAMILY_KEYS), ("arch", ARCH_KEYS)):
        top = _Place(file, "")
        if not data[section]:
            raise top.error(section, f"no [{section}.*] tables: declare at least one")
        for name, table in data[section].items():
            if not isinstance(table, dict):
                raise top.error(f"{section}.{name}", f"expected a [{section}.{name}] table, got {_type_name(table)}")
            check_table(table, keys, _Place(file, f"{section}.{name}"))
    for name, table in data["os"].items():
        _check_os(table, _Place(file, f"os.{name}"))
    for name, table in data["arch"].items():
        _check_arch(table, data, _Place(file, f"arch.{name}"))
    for name, table in data["family"].items():
        _check_family(table, data, _Place(file, f"family.{name}"))
    check_table(data["python"], PYTHON_KEYS, _Place(file, "python"))
    check_table(data["installers"], INSTALLERS_KEYS, _Place(file, "installers"))
    check_table(data["installers"]["uv"], INSTALLERS_UV_KEYS, _Place(file, "installers.uv"))
    _check_unique(data, file)


def check_table(table: Mapping[str, Any], keys: Mapping[str, Key], place: _Place, prefix: str = "") -> None:
    """Every key of ``table`` is one of ``keys``, of its type and (where listed) one of its
    values; every required key is there. ``prefix`` names an inline table's key (uv.)."""
    for key, value in table.items():
        name = prefix + key
        if key not in keys:
            raise place.error(name, "unknown key" + did_you_mean(name, [prefix + k for k in keys]))
        spec = keys[key]
        if not _has_kind(value, spec.kind):
            raise place.error(name, f"expected a {spec.kind}, got {_type_name(value)}")
        if spec.choices and value not in spec.choices:
            listed = ", ".join(str(c) for c in spec.choices)
            hint = did_you_mean(str(value), [str(c) for c in spec.choices])
            raise place.error(name, f"{shown(value)} is not one of {listed}{hint}")
        versions = (value if isinstance(value, list) else [value]) if spec.version else []
        for text in versions:
            if not _VERSION.fullmatch(text):
                raise place.error(name, f"{shown(text)} is not a MAJOR.MINOR version")
    for key, spec in keys.items():
        if spec.required and key not in table:
            raise place.error(prefix + key, "missing (required)")


def _check_os(table: Mapping[str, Any], place: _Place) -> None:
    if "markers" in table:
        check_table(table["markers"], MARKER_KEYS, place, "markers.")
    if "environments" in table and not all(table["environments"]):
        raise place.error("environments", "an empty name (each is how a triple's environment starts)")


def _check_arch(table: Mapping[str, Any], data: Mapping[str, Any], place: _Place) -> None:
    systems = data["os"]
    wheel_arch = table["wheel-arch"]
    if not wheel_arch:
        raise place.error("wheel-arch", "empty: name the architecture's wheel tag for at least one OS")
    for os_key, spelling in wheel_arch.items():
        if os_key not in systems:
            raise place.error(f"wheel-arch.{os_key}", _unknown("OS", os_key, systems, "os"))
        if not isinstance(spelling, str) or not spelling:
            raise place.error(f"wheel-arch.{os_key}", f"expected a non-empty string, got {_type_name(spelling)}")
    if "uv" in table:
        check_table(table["uv"], UV_KEYS, place, "uv.")
    slices = table.get("slices", [])
    for name in slices:
        if name not in data["arch"]:
            raise place.error("slices", _unknown("architecture", name, data["arch"], "arch"))
        if data["arch"][name].get("slices"):
            raise place.error("slices", f"{shown(name)} has slices itself: a slice is one architecture")
    for os_key in wheel_arch:
        binary_format = systems[os_key]["format"]
        if binary_format == "Mach-O" and slices:
            continue  # a fat binary: each slice's own row says its CPU
        for needed in _FORMAT_NEEDS[binary_format]:
            if needed not in table:
                raise place.error(needed, f"missing: its {os_key} wheels hold {binary_format} binaries, "
                                          f"which verify checks against {needed}")


def _check_family(table: Mapping[str, Any], data: Mapping[str, Any], place: _Place) -> None:
    os_key = table["os"]
    if os_key not in data["os"]:
        raise place.error("os", _unknown("OS", os_key, data["os"], "os"))
    system = data["os"][os_key]
    libc = table.get("libc")
    environments = system.get("environments", [])
    if libc is not None and libc not in environments:
        names = ", ".join(environments) or "none"
        raise place.error("libc", f"{shown(libc)} is not a C library [os.{os_key}] environments name "
                                  f"({names}){did_you_mean(libc, environments)}")
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(table["tag"]) if name is not None]
    except ValueError as exc:  # a lone brace
        raise place.error("tag", f"not a tag template ({exc})") from None
    for name in fields:
        if name not in TAG_FIELDS:
            spelled = ", ".join(f"{{{f}}}" for f in TAG_FIELDS)
            raise place.error("tag", f"{shown('{' + name + '}')} is not one of {spelled}{did_you_mean(name, TAG_FIELDS)}")
    if "arch" not in fields:
        raise place.error("tag", "spells no {arch}: every platform tag names its architecture")
    if ("major" in fields) != ("minor" in fields):
        raise place.error("tag", "spells a version with both {major} and {minor}, or with neither")
    if "major" in fields and "minimum" not in table:
        raise place.error("minimum", "missing: a tag with a version needs the targets.toml key giving it")
    for alias, version in table.get("aliases", {}).items():
        if not isinstance(version, str) or not _VERSION.fullmatch(version):
            raise place.error(f"aliases.{alias}", f"{shown(version)} is not a MAJOR.MINOR version")
    tagged = {a["wheel-arch"][os_key] for a in data["arch"].values() if os_key in a["wheel-arch"]}
    for arch in table.get("archs", []):
        if arch not in tagged:
            raise place.error("archs", f"no [arch.*] table has {os_key} wheels tagged {shown(arch)}"
                                       + did_you_mean(arch, tagged))


def _check_unique(data: Mapping[str, Any], file: str) -> None:
    """Names that must each mean one thing: a triple's OS field, an OS's spelling of an architecture."""
    owners: dict[str, str] = {}
    for key, table in data["os"].items():
        other = owners.setdefault(table["rust-os"], key)
        if other != key:
            raise _Place(file, f"os.{key}").error("rust-os", f"{shown(table['rust-os'])} is [os.{other}]'s too")
    spellings: dict[tuple[str, str], str] = {}
    for name, table in data["arch"].items():
        for os_key, spelling in table["wheel-arch"].items():
            other = spellings.setdefault((os_key, spelling), name)
            if other != name:
                raise _Place(file, f"arch.{name}").error(
                    f"wheel-arch.{os_key}", f"{shown(spelling)} is [arch.{other}]'s too: a tag would name two")


def _unknown(what: str, name: str, defined: Iterable[str], section: str) -> str:
    known = list(defined)
    return (f"unknown {what} {shown(name)}{did_you_mean(name, known)}; "
            f"[{section}.*] defines {', '.join(known)}")


def _has_kind(value: object, kind: Kind) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "table":
        return isinstance(value, dict)
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _type_name(value: object) -> str:
    names = {str: "string", int: "integer", bool: "boolean", float: "float", list: "list", dict: "table"}
    return names.get(type(value), type(value).__name__)
