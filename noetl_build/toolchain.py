"""Which Rust toolchain builds a target, and how.

A target is built with a toolchain that has the target's standard library
installed ("prebuilt-std"); failing that, with one that ships the standard
library's source, building std with ``-Zbuild-std`` ("build-std"); failing
that, not at all, with a message naming both remedies.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .errors import ToolchainError
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

    @property
    def label(self) -> str:
        """e.g. "rustc 1.96.0 [system:/usr/bin/rustc]"."""
        return f"rustc {self.version.split()[1]} [{self.name}]"

    def has_std(self, rust_target: str) -> bool:
        lib = self.sysroot / "lib" / "rustlib" / rust_target / "lib"
        return any(lib.glob("libstd-*.rlib"))

    @property
    def objcopy(self) -> Path | None:
        """The `rust-objcopy` this toolchain ships, else a stand-in from PATH, else None."""
        host = next((l.split()[1] for l in self.verbose_version.splitlines() if l.startswith("host:")), "")
        own = self.sysroot / "lib" / "rustlib" / host / "bin" / "rust-objcopy"
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


@dataclass(frozen=True, kw_only=True)
class Choice:
    """How one target will be built."""

    toolchain: Toolchain
    strategy: str  # "prebuilt-std" or "build-std"

    @property
    def key(self) -> str:
        """A short name for this toolchain+strategy, used to keep cargo target dirs apart."""
        base = self.toolchain.name.split(":", 1)[1].strip("/").replace("/", "-")
        return f"{base}-{self.strategy}"

    def describe(self) -> str:
        return f"{self.toolchain.label}, {self.strategy}"


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


def choose(target: Target, toolchains: tuple[Toolchain, ...] | None = None) -> Choice:
    """The toolchain and strategy for ``target``, or ToolchainError with both remedies."""
    toolchains = discover() if toolchains is None else toolchains
    for toolchain in toolchains:
        if all(toolchain.has_std(t) for t in target.rust_targets):
            return Choice(toolchain=toolchain, strategy="prebuilt-std")
    for toolchain in toolchains:
        if toolchain.has_std_source:
            return Choice(toolchain=toolchain, strategy="build-std")
    missing = " ".join(target.rust_targets)
    found = ", ".join(t.name for t in toolchains) or "none"
    raise ToolchainError(
        f"{target.name}: no Rust toolchain has the standard library for {missing} and none ships "
        f"its source (toolchains found: {found}); run 'rustup target add {missing}', or install "
        f"a toolchain with std sources ({DEBIAN_REMEDY}, or 'rustup component add rust-src')"
    )


def missing_tools(target: Target, choice: Choice) -> list[str]:
    """What else the chosen toolchain needs for this target that is not on this host."""
    missing = []
    if target.triple.os == "macos" and choice.toolchain.objcopy is None:
        missing.append("rust-objcopy or llvm-objcopy, to strip Apple binaries (apt-get install llvm-15)")
    if len(target.rust_targets) > 1 and find_lipo() is None:
        missing.append("llvm-lipo, to join the slices of a universal binary (apt-get install llvm-15)")
    return missing


def find_lipo() -> Path | None:
    found = first_on_path(LIPO_CANDIDATES)
    return Path(found) if found else None
