"""The build matrix: targets.toml loaded and validated into frozen Target values."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from .errors import ConfigError, did_you_mean, shown
from .platforms import Triple, arches, families, minimum_key, parse_version, tag_problem



class RunMethod(StrEnum):
    """How this host runs a target's binary (targets.toml `run`); each is its string."""

    NATIVE = "native"
    QEMU = "qemu"  # qemu-user, with the target's qemu program (and sysroot)
    WINE = "wine"
    NONE = "none"  # not at all: verify reads the binary instead


RUN_METHODS = tuple(RunMethod)

_QEMU_KEYS = ("program", "sysroot")  # qemu = { program = ..., sysroot = ... }
# What a value may look like where it becomes a file name, a program's argument or a variable.
_TRIPLE = re.compile(r"[a-z0-9_]+(-[a-z0-9_.]+){2,3}")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63}")  # link stubs and shims: file names
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_APT_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]{0,99}(:[a-z0-9]+)?")  # Debian policy, optional :arch
_RUSTC_RELEASE = re.compile(r"[0-9]{1,3}\.[0-9]{1,4}(\.[0-9]{1,4})?")  # "1.96" or "1.96.0"
_MAX_STRING = 4096  # a flag, a tag, a path: nothing longer is real


@dataclass(frozen=True, kw_only=True)
class Target:
    triple: Triple
    tags: tuple[str, ...]
    run: RunMethod
    glibc: tuple[int, int] | None = None
    musl: tuple[int, int] | None = None
    macos: tuple[int, int] | None = None
    qemu_program: str | None = None
    qemu_sysroot: str | None = None
    rustflags: tuple[str, ...] = ()
    cflags: tuple[str, ...] = ()
    link_stubs: tuple[str, ...] = ()
    link_shims: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    apt: tuple[str, ...] = ()
    # glibc targets whose promised glibc zig cannot link against: the (newer) one it links, and the
    # weak symbols whose newer version needs are dropped after the link (elfpatch) to keep the promise
    link_glibc: tuple[int, int] | None = None
    unversion: tuple[str, ...] = ()
    # the rustc release this target must be built with ("1.95" or "1.95.0"); None: the run's one compiler
    rustc: str | None = None
    # the raw table, for fingerprints: a change to any key rebuilds the target
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.triple.text

    @property
    def linked_glibc(self) -> tuple[int, int] | None:
        """The glibc the binary is linked against: link-glibc where given, else the promised one."""
        return self.link_glibc or self.glibc

    @property
    def zig_target(self) -> str:
        """The target as cargo-zigbuild takes it: glibc targets carry a `.2.17` suffix (the glibc linked)."""
        glibc = self.linked_glibc
        if glibc:
            return f"{self.name}.{glibc[0]}.{glibc[1]}"
        return self.name

    @property
    def fat(self) -> bool:
        """One binary of several architectures (universal2): built slice by slice, then joined."""
        return bool(arches()[self.triple.arch].slices)

    @property
    def rust_targets(self) -> tuple[str, ...]:
        """The rustc targets whose standard library this target needs."""
        slices = arches()[self.triple.arch].slices
        if slices:
            rest = self.name.split("-", 1)[1]
            return tuple(f"{arch}-{rest}" for arch in slices)
        return (self.name,)

    @property
    def binary_name(self) -> str:
        return "noetl" + self.triple.exe_suffix

    @property
    def platform_tag(self) -> str:
        """The tags as one compressed platform tag, in `wheel tags` order (sorted)."""
        return ".".join(sorted(self.tags))

    @property
    def minimum(self) -> tuple[int, int] | None:
        return self.glibc or self.musl or self.macos


@dataclass(frozen=True)
class Matrix:
    path: Path
    targets: tuple[Target, ...]

    def names(self) -> list[str]:
        return [t.name for t in self.targets]

    def select(self, names: Iterable[str]) -> tuple[Target, ...]:
        """The targets named, in matrix order; all targets when ``names`` is empty."""
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return self.targets
        by_name = {t.name: t for t in self.targets}
        for name in wanted:
            if name not in by_name:
                hint = did_you_mean(name, by_name)
                raise ConfigError(
                    f"unknown target '{name}'{hint}; targets in {self.path.name}: "
                    + ", ".join(self.names())
                )
        return tuple(t for t in self.targets if t.name in wanted)


def load_matrix(path: Path) -> Matrix:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (the matrix of targets to build)") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not the matrix of targets: name the targets.toml file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path.name}: not UTF-8 text (byte {exc.start}): TOML files are UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path.name}: nested too deeply to be a matrix of targets") from None
    return parse_matrix(data, path)


def parse_matrix(data: Mapping[str, Any], path: Path) -> Matrix:
    families()  # platforms.toml, checked first: a mistake in it is the one line any command reading targets shows
    unknown = set(data) - {"target"}
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(f"{path.name}: unknown top-level key {shown(key)}{did_you_mean(key, ['target'])}")
    tables = data.get("target")
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"{path.name}: no [[target]] tables: declare at least one target")
    targets: list[Target] = []
    seen: set[str] = set()
    for index, table in enumerate(tables, start=1):
        if not isinstance(table, dict):
            raise ConfigError(f"{path.name}: target #{index}: expected a [[target]] table, got {type(table).__name__}")
        target = _parse_target(table, f"{path.name}: target #{index}")
        if target.name in seen:
            raise ConfigError(f"{path.name}: target {shown(target.name)}: duplicate triple")
        seen.add(target.name)
        targets.append(target)
    return Matrix(path, tuple(targets))


@dataclass(frozen=True)
class _Key:
    """One key of a [[target]] table: the type tomllib gives its value, whether it must be there,
    how the value is read and the Target field(s) it fills (qemu fills two: program, sysroot)."""

    kind: type  # str, list or dict
    read: Callable[[Any], Any]
    fills: str | tuple[str, str]
    required: bool = False
    of_strings: bool = False  # a list of strings, or a table whose values are strings


class _Mistake(Exception):
    """What is wrong in a [[target]] table (the message), and at which key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


# How a key's value becomes its Target field: each reader raises ValueError saying what is wrong.

def _triple(text: str) -> Triple:
    if not _TRIPLE.fullmatch(text):
        raise ValueError(f"{shown(text)} is not a target triple (arch-vendor-os[-env], "
                         "lowercase letters, digits, '_' and '.')")
    triple = Triple.parse(text)
    if triple.arch not in arches():
        raise ValueError(f"unknown architecture '{triple.arch}'" + did_you_mean(triple.arch, arches()))
    return triple


def _tags(tags: list[Any]) -> tuple[str, ...]:
    if not tags or not all(isinstance(t, str) for t in tags):
        raise ValueError("expected a non-empty list of platform tags")
    if len(set(tags)) != len(tags):
        raise ValueError("a tag is listed twice")
    return tuple(tags)


def _run(text: str) -> RunMethod:
    if text not in RUN_METHODS:
        raise ValueError(f"'{text}' is not one of {', '.join(RUN_METHODS)}" + did_you_mean(text, RUN_METHODS))
    return RunMethod(text)


def _qemu(qemu: dict[str, Any]) -> tuple[str, str | None]:
    """(program, sysroot)."""
    for key in qemu:
        if key not in _QEMU_KEYS:
            raise ValueError(f"unknown key {shown(key)}" + did_you_mean(key, _QEMU_KEYS))
    if not isinstance(qemu.get("program"), str) or not _NAME.fullmatch(qemu["program"]):
        raise ValueError("needs program = \"qemu-<arch>\" (a program's name)")
    if "sysroot" in qemu and not (isinstance(qemu["sysroot"], str) and qemu["sysroot"].startswith("/")):
        raise ValueError("sysroot must be an absolute path (a string), e.g. \"/usr/aarch64-linux-gnu\"")
    return qemu["program"], qemu.get("sysroot")


def _each(pattern: re.Pattern[str], what: str) -> Callable[[list[str]], tuple[str, ...]]:
    """A reader of a list of strings each of which must match ``pattern`` (``what`` says what they are)."""
    def read(items: list[str]) -> tuple[str, ...]:
        for item in items:
            if not pattern.fullmatch(item):
                raise ValueError(f"{shown(item)} is not {what}")
        return tuple(items)
    return read


_library_names = _each(_NAME, "a library name (letters, digits, '_', '.', '+', '-')")


def _shims(names: list[str]) -> tuple[str, ...]:
    shims = _library_names(names)
    for shim in shims:
        if not (Path(__file__).parent / "shims" / f"{shim}.c").is_file():
            raise ValueError(f"no shim named {shown(shim)} in noetl_build/shims/")
    return shims


def _env(env: dict[str, str]) -> tuple[tuple[str, str], ...]:
    for name in env:
        if not _ENV_NAME.fullmatch(name):
            raise ValueError(f"{shown(name)} is not an environment variable's name (letters, digits, '_')")
    return tuple(sorted(env.items()))


def _rustc(text: str) -> str:
    if not _RUSTC_RELEASE.fullmatch(text):
        raise ValueError(f"{shown(text)} is not a rustc release (e.g. \"1.96\" or \"1.96.0\")")
    return text


# The schema of a [[target]] table; targets.toml's header says what each key means. Its order is
# the order in which missing required keys and non-string items are found (the first is reported).
_KEYS: dict[str, _Key] = {
    "triple": _Key(str, _triple, "triple", required=True),
    "tags": _Key(list, _tags, "tags", required=True),
    "run": _Key(str, _run, "run", required=True),
    "glibc": _Key(str, parse_version, "glibc"),
    "musl": _Key(str, parse_version, "musl"),
    "macos": _Key(str, parse_version, "macos"),
    "qemu": _Key(dict, _qemu, ("qemu_program", "qemu_sysroot")),
    "link-glibc": _Key(str, parse_version, "link_glibc"),
    "rustc": _Key(str, _rustc, "rustc"),
    "rustflags": _Key(list, tuple, "rustflags", of_strings=True),
    "cflags": _Key(list, tuple, "cflags", of_strings=True),
    "link-stubs": _Key(list, _library_names, "link_stubs", of_strings=True),
    "link-shims": _Key(list, _shims, "link_shims", of_strings=True),
    "apt": _Key(list, _each(_APT_PACKAGE, "a Debian package name"), "apt", of_strings=True),
    "unversion": _Key(list, _each(_SYMBOL, "a C symbol name"), "unversion", of_strings=True),
    "env": _Key(dict, _env, "env", of_strings=True),
}


def _parse_target(table: Mapping[str, Any], where: str) -> Target:
    """The Target a [[target]] table declares; ConfigError naming the target and key of its first mistake."""
    triple_text = table.get("triple")
    if isinstance(triple_text, str):
        where = where.split(":")[0] + f": target {shown(triple_text)}"
    try:
        return _read_target(table)
    except _Mistake as mistake:
        raise ConfigError(f"{where}: key {shown(mistake.key)}: {mistake}") from None


def _read_target(table: Mapping[str, Any]) -> Target:
    """The schema applied key by key, with the rules between keys, in the order their mistakes
    are reported: the table's shape, then what the target is, how it runs, how it links, its
    build options."""
    _check_shape(table)
    got: dict[str, Any] = {}  # key -> its value read into its field's type

    def read(*keys: str) -> None:
        for key in keys:
            if key in table:
                try:
                    got[key] = _KEYS[key].read(table[key])
                except ValueError as exc:
                    raise _Mistake(key, str(exc)) from None

    read("triple", *_version_keys())
    triple: Triple = got["triple"]
    versions = {key: got[key] for key in _version_keys() if key in got}
    needed = _the_one_minimum(triple, versions)
    read("tags")
    _tags_fit(got["tags"], triple, versions.get(needed) if needed else None)
    read("run")
    _qemu_with_run_qemu_only(got["run"], "qemu" in table)
    read("qemu")
    _link_glibc_on_glibc_only(triple, needed, "link-glibc" in table)
    read("link-glibc")
    _link_glibc_not_older(got.get("link-glibc"), versions.get("glibc"))
    _check_strings(table)
    read("env", "link-stubs", "link-shims", "unversion")
    _unversion_with_link_glibc_only(got.get("unversion", ()), got.get("link-glibc"))
    read("apt", "rustc", "rustflags", "cflags")
    fields = dict(field for key, value in got.items() for field in _fields(key, value))
    return Target(**fields, raw=dict(table))


def _check_shape(table: Mapping[str, Any]) -> None:
    """Each key is one of _KEYS, of its type, its strings bounded; the required keys are there."""
    for key, value in table.items():
        if key not in _KEYS:
            raise _Mistake(key, "unknown key" + did_you_mean(key, _KEYS))
        expected = _KEYS[key].kind
        if not isinstance(value, expected):
            raise _Mistake(key, f"expected a {_type_name(expected)}, got {type(value).__name__}")
        if any(len(text) > _MAX_STRING or "\0" in text for text in _strings(value)):
            raise _Mistake(key, f"a value longer than {_MAX_STRING} characters or with a NUL byte")
    for key, spec in _KEYS.items():
        if spec.required and key not in table:
            raise _Mistake(key, "missing (required)")


def _check_strings(table: Mapping[str, Any]) -> None:
    """The lists of strings hold strings only; env's values are strings."""
    for key, spec in _KEYS.items():
        if spec.of_strings and key in table:
            value = table[key]
            items = value.values() if isinstance(value, dict) else value
            if not all(isinstance(item, str) for item in items):
                expected = "string values" if isinstance(value, dict) else "a list of strings"
                raise _Mistake(key, f"expected {expected}")


def _fields(key: str, value: Any) -> Iterable[tuple[str, Any]]:
    """The Target field(s) a key's read value fills."""
    fills = _KEYS[key].fills
    return zip(fills, value, strict=True) if isinstance(fills, tuple) else [(fills, value)]


# The rules between keys.

def _the_one_minimum(triple: Triple, versions: Mapping[str, tuple[int, int]]) -> str | None:
    """The minimum-version key the triple's platform needs (platforms.toml) is given, and no other."""
    needed = minimum_key(triple)
    if needed and needed not in versions:
        raise _Mistake(needed, f"missing: {triple.text} needs its minimum {needed} version")
    for key in versions:
        if key != needed:
            raise _Mistake(key, f"does not apply to {triple.text}")
    return needed


def _tags_fit(tags: tuple[str, ...], triple: Triple, minimum: tuple[int, int] | None) -> None:
    """Each tag labels a wheel of this triple built for this minimum version."""
    for tag in tags:
        problem = tag_problem(tag, triple, minimum)
        if problem:
            raise _Mistake("tags", problem)


def _qemu_with_run_qemu_only(run: RunMethod, has_qemu: bool) -> None:
    if run == RunMethod.QEMU and not has_qemu:
        raise _Mistake("qemu", "missing: run = \"qemu\" needs qemu = { program = \"qemu-<arch>\" }")
    if has_qemu and run != RunMethod.QEMU:
        raise _Mistake("qemu", f"only applies with run = \"qemu\" (run is \"{run}\")")


def _link_glibc_on_glibc_only(triple: Triple, needed: str | None, has_link_glibc: bool) -> None:
    if has_link_glibc and needed != "glibc":
        raise _Mistake("link-glibc", f"does not apply to {triple.text}")


def _link_glibc_not_older(link_glibc: tuple[int, int] | None, glibc: tuple[int, int] | None) -> None:
    if link_glibc is not None and glibc is not None and link_glibc < glibc:
        raise _Mistake("link-glibc", "is older than glibc: link against the promised glibc itself")


def _unversion_with_link_glibc_only(unversion: tuple[str, ...], link_glibc: tuple[int, int] | None) -> None:
    if unversion and link_glibc is None:
        raise _Mistake("unversion",
                       "only with link-glibc (a binary linked against a newer glibc than it promises)")


def _version_keys() -> tuple[str, ...]:
    """The minimum-version keys (glibc, musl, macos): which one a triple needs is platforms.toml's
    (read when a target is, so a mistake in platforms.toml is the one line of its ConfigError)."""
    return tuple(sorted({f.minimum for f in families().values() if f.minimum}))


def _strings(value: object) -> list[str]:
    """Every string in a targets.toml value, however nested."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _type_name(kind: type) -> str:
    names: dict[type, str] = {str: "string", list: "list", dict: "table"}
    return names[kind]
