"""Which Rust toolchain builds a target, and how.

A target is built with a toolchain that has the target's standard library
installed ("prebuilt-std"); failing that, with one that ships the standard
library's source, building std with ``-Zbuild-std`` ("build-std"); failing
that, not at all, with a message naming both remedies.

A release is built by one compiler: ``plan`` gives every target of a run the one
toolchain that can build the whole matrix (prebuilt std where it has it, its std's
source elsewhere), so the host target is not the odd one out just because rustup's
stable has its std. A target whose targets.toml entry names a ``rustc`` release gets
a toolchain of that release instead; ``publish`` refuses a set that mixes compilers.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path

from .errors import ToolchainError, did_you_mean, shown
from .procs import first_on_path, output
from .targets import Target

# Toolchains outside rustup that are looked for: Debian's rustc-web installs here.
SYSTEM_RUSTC = (Path("/usr/bin/rustc"), Path("/usr/local/bin/rustc"))
BUILD_STD_CRATES = "std,panic_abort"
# std's own features when we build it: none. Cargo's default adds `backtrace` (gimli, addr2line,
# miniz_oxide: symbolizing a backtrace) and `panic-unwind`; a stripped, panic=abort binary uses
# neither. Measured on i686 gnu, size profile: 79 s -> 73 s cold, 1.92 -> 1.75 MB (docs/performance.md).
# A panic still prints its message and location.
BUILD_STD_FEATURES = ""
# rustc strips Apple binaries with `rust-objcopy` (rustup's llvm-tools); Debian's rustc has none,
# and LLVM's own objcopy is the same program.
OBJCOPY_STAND_INS = ("llvm-objcopy-15", "llvm-objcopy-16", "llvm-objcopy", "llvm-objcopy-14")
# joins the slices of a universal2 binary
LIPO_CANDIDATES = ("llvm-lipo-15", "llvm-lipo-16", "llvm-lipo", "llvm-lipo-14", "lipo")
DEBIAN_REMEDY = "apt-get install rustc-web cargo-web rust-web-src"


@dataclass(frozen=True, kw_only=True)
class Toolchain:
    name: str  # "rustup:stable-x86_64-unknown-linux-gnu" or "system:/usr/bin/rustc"
    rustc: Path
    cargo: Path
    sysroot: Path
    version: str  # `rustc -vV` first line
    verbose_version: str  # all of `rustc -vV`, for fingerprints
    # `rustc --print target-list`: the triples it can build for (None: not asked, taken as any)
    targets: frozenset[str] | None = None

    def knows(self, rust_target: str) -> bool:
        return self.targets is None or rust_target in self.targets

    @property
    def label(self) -> str:
        """e.g. "rustc 1.96.0 [system:/usr/bin/rustc]"."""
        return f"rustc {self.version.split()[1]} [{self.name}]"

    def _field(self, name: str) -> str:
        """A field of `rustc -vV` ("release", "commit-hash", "host"), "" when it has none."""
        prefix = f"{name}: "
        return next((line[len(prefix):].strip() for line in self.verbose_version.splitlines()
                     if line.startswith(prefix)), "")

    @property
    def release(self) -> str:
        """e.g. "1.96.0" or "1.97.0-nightly"."""
        return self._field("release") or (self.version.split() + ["", "?"])[1]

    @property
    def compiler(self) -> dict[str, str]:
        """What identifies the compiler in manifest.json and the SBOM: release, commit, host."""
        return {"rustc": self.release, "commit-hash": self._field("commit-hash") or "unknown",
                "host": self._field("host") or "unknown"}

    def matches(self, release: str) -> bool:
        """Whether this is rustc ``release`` ("1.95" matches 1.95.x; "1.95.0" only itself)."""
        return self.release == release or self.release.startswith(release + ".")

    def _std_rlibs(self, rust_target: str) -> list[Path]:
        return list((self.sysroot / "lib" / "rustlib" / rust_target / "lib").glob("libstd-*.rlib"))

    def has_std(self, rust_target: str) -> bool:
        return bool(self._std_rlibs(rust_target))

    def clean_std(self, rust_target: str) -> bool:
        """Whether the prebuilt std for ``rust_target`` is usable as is: it does not name this
        machine's copy of std's source. rustup's std says /rustc/<commit>/library/...; Debian's
        rustc-web ships a std built in place, naming /usr/src/rustc-<version>/library/... (in
        panic locations), which no --remap-path-prefix of ours reaches (measured: rustc remaps
        the paths it compiles, not those an rlib brings), so its binaries would fail verify's
        build-paths check: such a toolchain builds std itself (build-std) instead."""
        rlibs = self._std_rlibs(rust_target)
        return bool(rlibs) and not any(_names(rlib, str(self.std_source.resolve())) for rlib in rlibs)

    @property
    def objcopy(self) -> Path | None:
        """The `rust-objcopy` this toolchain ships, else a stand-in from PATH, else None."""
        own = self.sysroot / "lib" / "rustlib" / self._field("host") / "bin" / "rust-objcopy"
        if own.is_file():
            return own
        found = first_on_path(OBJCOPY_STAND_INS)
        return Path(found) if found else None

    @property
    def std_source(self) -> Path:
        return self.sysroot / "lib" / "rustlib" / "src" / "rust"

    @property
    def has_std_source(self) -> bool:
        return (self.std_source / "library" / "std" / "Cargo.toml").is_file()


class Strategy(StrEnum):
    """How a toolchain gets the target's standard library; each is its string (doctor, cache keys)."""

    PREBUILT_STD = "prebuilt-std"  # rustup's prebuilt rust-std for the target
    BUILD_STD = "build-std"  # built from the toolchain's rust-src with -Zbuild-std


@dataclass(frozen=True, kw_only=True)
class ToolchainChoice:
    """How one target will be built."""

    toolchain: Toolchain
    strategy: Strategy

    @property
    def key(self) -> str:
        """A short name for this toolchain+strategy, used to keep cargo target dirs apart."""
        base = self.toolchain.name.split(":", 1)[1].strip("/").replace("/", "-")
        return f"{base}-{self.strategy}"

    def describe(self) -> str:
        return f"{self.toolchain.label}, {self.strategy}"

    @property
    def compiler(self) -> dict[str, str]:
        """The toolchain's compiler and how std was had, as manifest.json records it."""
        return {**self.toolchain.compiler, "toolchain": self.toolchain.name, "std": self.strategy}


def compiler_label(compiler: dict[str, str]) -> str:
    """e.g. "rustc 1.96.0 (ac68faa20c58)", for messages."""
    return f"rustc {compiler.get('rustc', '?')} ({compiler.get('commit-hash', 'unknown')[:12]})"


def _probe(name: str, rustc: Path, cargo: Path) -> Toolchain | None:
    if not (rustc.is_file() and cargo.is_file()):
        return None
    verbose = output([rustc, "-vV"])
    sysroot = output([rustc, "--print", "sysroot"])
    if not verbose or not sysroot:
        return None
    return Toolchain(
        name=name,
        rustc=rustc,
        cargo=cargo,
        sysroot=Path(sysroot),
        version=verbose.splitlines()[0],
        verbose_version=verbose,
        targets=frozenset((output([rustc, "--print", "target-list"]) or "").split()) or None,
    )


@cache
def discover() -> tuple[Toolchain, ...]:
    """Every usable toolchain: rustup's (default first), then system ones."""
    found: list[Toolchain] = []
    rustup_home = Path(os.environ.get("RUSTUP_HOME", Path.home() / ".rustup"))
    if shutil.which("rustup"):
        listing = output(["rustup", "toolchain", "list"]) or ""
        lines = [line for line in listing.splitlines() if line.strip()]
        lines.sort(key=lambda line: "default" not in line)  # stable: default first
        for name in (line.split()[0] for line in lines):
            bin_dir = rustup_home / "toolchains" / name / "bin"
            toolchain = _probe(f"rustup:{name}", bin_dir / "rustc", bin_dir / "cargo")
            if toolchain:
                found.append(toolchain)
    for rustc in SYSTEM_RUSTC:
        toolchain = _probe(f"system:{rustc}", rustc, rustc.with_name("cargo"))
        if toolchain:
            found.append(toolchain)
    return tuple(found)


def choose(target: Target, toolchains: tuple[Toolchain, ...] | None = None) -> ToolchainChoice:
    """The toolchain and strategy for ``target``, or ToolchainError with both remedies."""
    toolchains = discover() if toolchains is None else toolchains
    for toolchain in toolchains:
        if all(toolchain.clean_std(t) for t in target.rust_targets):
            return ToolchainChoice(toolchain=toolchain, strategy=Strategy.PREBUILT_STD)
    for toolchain in toolchains:
        if toolchain.has_std_source and all(toolchain.knows(t) for t in target.rust_targets):
            return ToolchainChoice(toolchain=toolchain, strategy=Strategy.BUILD_STD)
    for toolchain in toolchains:  # a std naming its build paths is still better than none
        if all(toolchain.has_std(t) for t in target.rust_targets):
            return ToolchainChoice(toolchain=toolchain, strategy=Strategy.PREBUILT_STD)
    missing = " ".join(target.rust_targets)
    found = ", ".join(t.name for t in toolchains) or "none"
    raise ToolchainError(
        f"{target.name}: no Rust toolchain has the standard library for {missing} and none ships "
        f"its source (toolchains found: {found}); run 'rustup target add {missing}', or install "
        f"a toolchain with std sources ({DEBIAN_REMEDY}, or 'rustup component add rust-src')"
    )


def _buildable(toolchain: Toolchain, target: Target) -> bool:
    return all(toolchain.knows(t) and (toolchain.has_std_source or toolchain.has_std(t)) for t in target.rust_targets)


def _unknown(target: Target, toolchains: tuple[Toolchain, ...]) -> ToolchainError | None:
    """The error for a target no toolchain here has heard of (a typo in targets.toml, most
    likely), naming the nearest triple they know; None when one knows it."""
    for rust_target in target.rust_targets:
        if toolchains and not any(tc.knows(rust_target) for tc in toolchains):
            known = sorted({t for tc in toolchains for t in tc.targets or ()})
            return ToolchainError(
                f"{target.name}: no Rust toolchain here knows the target {shown(rust_target)} "
                f"(rustc --print target-list){did_you_mean(rust_target, known)}: correct the triple in targets.toml"
            )
    return None


def _strategy(toolchain: Toolchain, target: Target) -> Strategy:
    if all(toolchain.clean_std(t) for t in target.rust_targets) or not toolchain.has_std_source:
        return Strategy.PREBUILT_STD
    return Strategy.BUILD_STD


@cache
def _names(path: Path, text: str) -> bool:
    """Whether the file at ``path`` holds ``text`` + "/library/" (read once per run)."""
    try:
        return (text + "/library/").encode() in path.read_bytes()
    except OSError:
        return False


def _ranked(toolchains: tuple[Toolchain, ...]) -> list[Toolchain]:
    """Released compilers before nightly and beta ones, then in discovery order."""
    return sorted(toolchains, key=lambda t: "-" in t.release)


@dataclass(frozen=True)
class Plan:
    """The toolchain of every target of a run: one compiler for all, unless targets.toml pins one."""

    choices: dict[str, ToolchainChoice]
    errors: dict[str, ToolchainError]
    shared: Toolchain | None  # the run's one compiler, None when no toolchain builds them all

    def choice(self, target: Target) -> ToolchainChoice:
        """The target's choice, or its ToolchainError (which fails that target alone)."""
        if target.name in self.errors:
            raise self.errors[target.name]
        return self.choices[target.name]

    @property
    def compilers(self) -> list[dict[str, str]]:
        """The distinct compilers the plan uses (one, for a release)."""
        seen: dict[tuple[str, str], dict[str, str]] = {}
        for choice in self.choices.values():
            compiler = choice.toolchain.compiler
            seen.setdefault((compiler["rustc"], compiler["commit-hash"]), compiler)
        return list(seen.values())

    @property
    def mixed(self) -> bool:
        return len(self.compilers) > 1

    def describe(self) -> str:
        """"rustc 1.96.0 (ac68faa20c58) [system:/usr/bin/rustc]" for one compiler; for several,
        "2 compilers (rustc 1.95.0 (...), rustc 1.96.0 (...))"; "" when no target has one."""
        compilers = self.compilers
        if len(compilers) > 1:
            return f"{len(compilers)} compilers ({', '.join(compiler_label(c) for c in compilers)})"
        names = sorted({choice.toolchain.name for choice in self.choices.values()})
        return f"{compiler_label(compilers[0])} [{', '.join(names)}]" if compilers else ""


def plan(
    targets: Sequence[Target], *, matrix: Sequence[Target] = (), toolchains: tuple[Toolchain, ...] | None = None,
) -> Plan:
    """One toolchain for ``targets``: the first (released before nightly) that can build every
    target of ``matrix`` (so that building some targets now and others later still gives one
    compiler), else every one of ``targets``; only when none can does each target get its own
    (``choose``), which publish will refuse as a release. Targets that pin a ``rustc`` release
    get a toolchain of that release."""
    toolchains = discover() if toolchains is None else toolchains
    # a target no toolchain knows fails alone (below) and does not change the others' toolchain
    named = {t.name: t for t in (*matrix, *targets)}  # a target in both is looked up once
    unknown = {name: error for name, t in named.items() if (error := _unknown(t, toolchains))}
    free = [t for t in targets if t.rustc is None and t.name not in unknown]
    scope = [t for t in matrix if t.rustc is None and t.name not in unknown] or free
    shared = next((tc for tc in _ranked(toolchains) if all(_buildable(tc, t) for t in scope)), None)
    if shared is None and scope is not free:
        shared = next((tc for tc in _ranked(toolchains) if all(_buildable(tc, t) for t in free)), None)
    choices: dict[str, ToolchainChoice] = {}
    errors: dict[str, ToolchainError] = {}
    for target in targets:
        try:
            if target.name in unknown:
                raise unknown[target.name]
            if target.rustc is not None:
                pinned = tuple(tc for tc in toolchains if tc.matches(target.rustc))
                if not pinned:
                    found = ", ".join(f"{tc.release} [{tc.name}]" for tc in toolchains) or "none"
                    raise ToolchainError(
                        f"{target.name}: targets.toml asks for rustc {target.rustc} and no toolchain here is that "
                        f"release (found: {found}); install it (rustup toolchain install {target.rustc}) "
                        f"or remove the target's rustc key"
                    )
                choices[target.name] = choose(target, pinned)
            elif shared is not None:
                choices[target.name] = ToolchainChoice(toolchain=shared, strategy=_strategy(shared, target))
            else:
                choices[target.name] = choose(target, toolchains)
        except ToolchainError as exc:
            errors[target.name] = exc
    return Plan(choices, errors, shared)


def missing_tools(target: Target, choice: ToolchainChoice) -> list[str]:
    """What else the chosen toolchain needs for this target that is not on this host."""
    missing = target.triple.os_family.missing_tools(target, choice)
    if len(target.rust_targets) > 1 and find_lipo() is None:
        missing.append("llvm-lipo, to join the slices of a universal binary (apt-get install llvm-15)")
    return missing


def find_lipo() -> Path | None:
    found = first_on_path(LIPO_CANDIDATES)
    return Path(found) if found else None
