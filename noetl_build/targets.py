"""The build matrix: targets.toml loaded and validated into frozen Target values."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
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

# key -> (python type, required)
_KEYS: dict[str, tuple[type, bool]] = {
    "triple": (str, True),
    "tags": (list, True),
    "run": (str, True),
    "glibc": (str, False),
    "musl": (str, False),
    "macos": (str, False),
    "qemu": (dict, False),
    "rustflags": (list, False),
    "cflags": (list, False),
    "link-stubs": (list, False),
    "link-shims": (list, False),
    "env": (dict, False),
    "apt": (list, False),
    "link-glibc": (str, False),
    "unversion": (list, False),
    "rustc": (str, False),
}
_QEMU_KEYS = {"program": True, "sysroot": False}
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


def _parse_target(table: Mapping[str, Any], where: str) -> Target:
    triple_text = table.get("triple")
    if isinstance(triple_text, str):
        where = where.split(":")[0] + f": target {shown(triple_text)}"

    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(f"{where}: key {shown(key)}: {message}")

    for key, value in table.items():
        if key not in _KEYS:
            raise fail(key, "unknown key" + did_you_mean(key, _KEYS))
        expected, _ = _KEYS[key]
        if not isinstance(value, expected):
            raise fail(key, f"expected a {_type_name(expected)}, got {type(value).__name__}")
        if any(len(text) > _MAX_STRING or "\0" in text for text in _strings(value)):
            raise fail(key, f"a value longer than {_MAX_STRING} characters or with a NUL byte")
    for key, (_, required) in _KEYS.items():
        if required and key not in table:
            raise fail(key, "missing (required)")

    if not _TRIPLE.fullmatch(table["triple"]):
        raise fail("triple", f"{shown(table['triple'])} is not a target triple (arch-vendor-os[-env], "
                             "lowercase letters, digits, '_' and '.')")
    try:
        triple = Triple.parse(table["triple"])
    except ValueError as exc:
        raise fail("triple", str(exc)) from None
    if triple.arch not in arches():
        raise fail("triple", f"unknown architecture '{triple.arch}'" + did_you_mean(triple.arch, arches()))

    versions: dict[str, tuple[int, int]] = {}
    for key in _version_keys():
        if key in table:
            try:
                versions[key] = parse_version(table[key])
            except ValueError as exc:
                raise fail(key, str(exc)) from None
    needed = minimum_key(triple)
    if needed and needed not in versions:
        raise fail(needed, f"missing: {triple.text} needs its minimum {needed} version")
    for key in versions:
        if key != needed:
            raise fail(key, f"does not apply to {triple.text}")

    tags = table["tags"]
    if not tags or not all(isinstance(t, str) for t in tags):
        raise fail("tags", "expected a non-empty list of platform tags")
    if len(set(tags)) != len(tags):
        raise fail("tags", "a tag is listed twice")
    minimum = versions.get(needed) if needed else None
    for tag in tags:
        problem = tag_problem(tag, triple, minimum)
        if problem:
            raise fail("tags", problem)

    if table["run"] not in RUN_METHODS:
        raise fail("run", f"'{table['run']}' is not one of {', '.join(RUN_METHODS)}"
                   + did_you_mean(table["run"], RUN_METHODS))
    run = RunMethod(table["run"])
    qemu = table.get("qemu")
    if run == RunMethod.QEMU and qemu is None:
        raise fail("qemu", "missing: run = \"qemu\" needs qemu = { program = \"qemu-<arch>\" }")
    if qemu is not None:
        if run != RunMethod.QEMU:
            raise fail("qemu", f"only applies with run = \"qemu\" (run is \"{run}\")")
        for key in qemu:
            if key not in _QEMU_KEYS:
                raise fail("qemu", f"unknown key {shown(key)}" + did_you_mean(key, _QEMU_KEYS))
        if not isinstance(qemu.get("program"), str) or not _NAME.fullmatch(qemu["program"]):
            raise fail("qemu", "needs program = \"qemu-<arch>\" (a program's name)")
        if "sysroot" in qemu and not (isinstance(qemu["sysroot"], str) and qemu["sysroot"].startswith("/")):
            raise fail("qemu", "sysroot must be an absolute path (a string), e.g. \"/usr/aarch64-linux-gnu\"")

    link_glibc = None
    if "link-glibc" in table:
        if needed != "glibc":
            raise fail("link-glibc", f"does not apply to {triple.text}")
        try:
            link_glibc = parse_version(table["link-glibc"])
        except ValueError as exc:
            raise fail("link-glibc", str(exc)) from None
        if link_glibc < versions["glibc"]:
            raise fail("link-glibc", "is older than glibc: link against the promised glibc itself")

    string_lists = {}
    for key in ("rustflags", "cflags", "link-stubs", "link-shims", "apt", "unversion"):
        value = table.get(key, [])
        if not all(isinstance(v, str) for v in value):
            raise fail(key, "expected a list of strings")
        string_lists[key] = tuple(value)
    env = table.get("env", {})
    if not all(isinstance(v, str) for v in env.values()):
        raise fail("env", "expected string values")
    for name in env:
        if not _ENV_NAME.fullmatch(name):
            raise fail("env", f"{shown(name)} is not an environment variable's name (letters, digits, '_')")
    for key in ("link-stubs", "link-shims"):
        for name in string_lists[key]:
            if not _NAME.fullmatch(name):
                raise fail(key, f"{shown(name)} is not a library name (letters, digits, '_', '.', '+', '-')")
    for shim in string_lists["link-shims"]:
        if not (Path(__file__).parent / "shims" / f"{shim}.c").is_file():
            raise fail("link-shims", f"no shim named {shown(shim)} in noetl_build/shims/")
    for symbol in string_lists["unversion"]:
        if not _SYMBOL.fullmatch(symbol):
            raise fail("unversion", f"{shown(symbol)} is not a C symbol name")
    if string_lists["unversion"] and link_glibc is None:
        raise fail("unversion", "only with link-glibc (a binary linked against a newer glibc than it promises)")
    for package in string_lists["apt"]:
        if not _APT_PACKAGE.fullmatch(package):
            raise fail("apt", f"{shown(package)} is not a Debian package name")
    rustc = table.get("rustc")
    if rustc is not None and not _RUSTC_RELEASE.fullmatch(rustc):
        raise fail("rustc", f"{shown(rustc)} is not a rustc release (e.g. \"1.96\" or \"1.96.0\")")

    return Target(
        triple=triple,
        tags=tuple(tags),
        run=run,
        glibc=versions.get("glibc"),
        musl=versions.get("musl"),
        macos=versions.get("macos"),
        qemu_program=qemu["program"] if qemu else None,
        qemu_sysroot=qemu.get("sysroot") if qemu else None,
        rustflags=string_lists["rustflags"],
        cflags=string_lists["cflags"],
        link_stubs=string_lists["link-stubs"],
        link_shims=string_lists["link-shims"],
        env=tuple(sorted(env.items())),
        apt=string_lists["apt"],
        link_glibc=link_glibc,
        unversion=string_lists["unversion"],
        rustc=rustc,
        raw=dict(table),
    )


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
