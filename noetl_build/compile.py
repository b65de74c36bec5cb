"""Cross-compile the noetl binary for one target with cargo-zigbuild."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from .elfpatch import unversion_weak
from .errors import BuildError, ToolchainError
from .files import EXEC_MODE, atomic_copy, atomic_output, atomic_symlink, exclusive_lock, sha256_file
from .fingerprint import code_digest, digest, files_under
from .jobserver import Jobserver
from .layout import Layout, plain_name
from .platforms import Triple, arches
from .procs import output, run
from .report import say
from .reuse import record, reused
from .source import COMPILE_EPOCH
from .targets import Target
from .toolchain import BUILD_STD_CRATES, BUILD_STD_FEATURES, Strategy, ToolchainChoice, find_lipo, missing_tools

EMPTY_ARCHIVE = b"!<arch>\n"
SHIMS = Path(__file__).with_name("shims")
CARGO_TOOLS = Path(__file__).resolve().parents[1] / "requirements" / "cargo-tools.txt"
AUDITABLE = "cargo-auditable"
CRATE_BIN = "noetl"  # noetlctl/Cargo.toml's [[bin]]
BINARY_STAMP = "binary.json"  # beside the binary: reuse.record of what made it


@dataclass(frozen=True)
class Compiled:
    binary: Path
    sha256: str
    seconds: float
    fresh: bool  # False when an up-to-date binary was reused


def pinned_cargo_tool(name: str) -> str:
    """The version requirements/cargo-tools.txt pins for ``name``."""
    for line in CARGO_TOOLS.read_text().splitlines():
        tool, _, version = line.strip().partition("==")
        if tool == name and version:
            return version
    raise ToolchainError(f"{CARGO_TOOLS}: no pin for {name} (a line '{name}==VERSION')")


def find_auditable() -> tuple[Path, str]:
    """cargo-auditable at the pinned version: its path (cargo install puts it in ~/.cargo/bin)."""
    version = pinned_cargo_tool(AUDITABLE)
    remedy = f"cargo install --locked --version {version} {AUDITABLE} (bash .ci/setup does)"
    found = shutil.which(AUDITABLE) or shutil.which(AUDITABLE, path=str(_cargo_home() / "bin"))
    if not found:
        raise ToolchainError(f"{AUDITABLE} not found: {remedy}")
    installed = output(["cargo", "install", "--list"]) or ""
    if f"{AUDITABLE} v{version}:" not in installed.splitlines():
        raise ToolchainError(f"{AUDITABLE} {version} is not the one installed ({found}): {remedy}")
    return Path(found), version


@dataclass(frozen=True)
class ZigTools:
    """zig (from the `ziglang` wheel) and cargo-zigbuild from the running venv; cargo-auditable."""

    python: Path
    cargo_zigbuild: Path
    zig_version: str
    zigbuild_version: str
    auditable: Path
    auditable_version: str

    @classmethod
    def find(cls) -> ZigTools:
        python = Path(sys.executable)
        zigbuild = shutil.which("cargo-zigbuild", path=str(python.parent)) or shutil.which(
            "cargo-zigbuild"
        )
        zig_version = output([python, "-m", "ziglang", "version"])
        if not zig_version:
            raise ToolchainError(
                f"zig not found for {python}: pip install ziglang (nox sessions install it)"
            )
        if not zigbuild:
            raise ToolchainError("cargo-zigbuild not found: pip install cargo-zigbuild")
        version = output([zigbuild, "--version"]) or "?"
        auditable, auditable_version = find_auditable()
        return cls(python, Path(zigbuild), zig_version, version, auditable, auditable_version)


def zigbuild_copy(layout: Layout, tools: ZigTools) -> Path:
    """Where cargo-zigbuild runs from: the venv's copied to a path naming only its version.

    cargo-zigbuild names its linker wrappers (CARGO_TARGET_<T>_LINKER, CC_<t>) after its own
    path, and cargo fingerprints the linker of every unit, std included: run from the venv, each
    nox session and each checkout would rebuild everything ("the config settings changed").
    A symbolic link would not do: it reads its path from /proc/self/exe."""
    return layout.tool_copy("-".join(tools.zigbuild_version.split())) / "cargo-zigbuild"


def install_zigbuild(layout: Layout, tools: ZigTools) -> Path:
    """Make zigbuild_copy hold the venv's cargo-zigbuild, under a lock and only when its bytes
    differ: a running cargo-zigbuild's wrappers exec its own path (/proc/self/exe), so replacing
    the file under another lane's running copy, even with the same bytes, leaves that path
    "(deleted)" and its links fail (found by the suite's concurrent cold build)."""
    copy = zigbuild_copy(layout, tools)
    with exclusive_lock(copy.parent / ".install.lock", lambda: None):
        if not copy.is_file() or sha256_file(copy) != sha256_file(tools.cargo_zigbuild):
            atomic_copy(tools.cargo_zigbuild, copy, mode=EXEC_MODE)
    return copy


def zig_target(target: Target) -> str:
    """The target as `zig cc -target` spells it, e.g. powerpc64le-linux-gnu.2.19 (its OS class's spelling)."""
    return target.triple.os_family.zig_target(target)


def _cargo_home() -> Path:
    return Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo")).resolve()


def _no_spaces(*paths: Path) -> None:
    for path in paths:
        if " " in str(path):
            raise BuildError(f"path '{path}' has a space: rustc flags cannot carry it; move it")


def _remaps(choice: ToolchainChoice, target_dir: Path) -> list[tuple[Path, str]]:
    """Build-machine paths every unit (std, the dependencies) may name, and what they become
    inside the binary: cargo's home (the crates' sources), cargo's target dir (their OUT_DIRs:
    which lane builds the target changes no byte), std's source. None moves with the checkout,
    so they can reach every unit (RUSTFLAGS, which cargo fingerprints: a change there rebuilds
    every dependency and std)."""
    maps = [(_cargo_home(), "/cargo"), (target_dir, "/target")]
    if choice.strategy == Strategy.BUILD_STD:
        maps.append((choice.toolchain.std_source, "/rustc/src"))
    _no_spaces(*(path for path, _ in maps))
    return maps


def root_flags(target: Target, layout: Layout) -> list[str]:
    """rustc flags for the noetl crate alone (`cargo rustc -- FLAGS`): the checkout's path (its
    sources are the only ones there) and what only the link uses (platforms.toml link-args, the
    link stubs and shims, which live in build/). A change to them, or a moved checkout,
    rebuilds noetl and relinks, never a dependency or std.

    The remap also keeps two checkouts sharing cargo's target dir apart: cargo fingerprints
    these flags, so the other checkout's noetl is never taken as fresh."""
    _no_spaces(layout.root)
    flags = [f"--remap-path-prefix={layout.root}=/noetl"]
    flags += [flag for arg in target.triple.system.link_args for flag in ("-C", f"link-arg={arg}")]
    stub_dir = _link_stub_dir(target, layout)
    if stub_dir:
        flags += ["-L", f"native={stub_dir}"]
    for obj in _shim_objects(target, layout):
        flags += ["-C", f"link-arg={obj}"]
    return flags


def _link_stub_dir(target: Target, layout: Layout) -> Path | None:
    """Where the empty static libraries for names the linker demands (but nothing uses) go."""
    return layout.link_stubs(target.name) if target.link_stubs else None


def _shim_objects(target: Target, layout: Layout) -> list[Path]:
    return [layout.link_shims(target.name) / f"{name}.o" for name in target.link_shims]


def make_link_inputs(target: Target, layout: Layout, tools: ZigTools) -> None:
    """Write the link stubs and compile the link shims root_flags name."""
    stub_dir = _link_stub_dir(target, layout)
    if stub_dir:
        stub_dir.mkdir(parents=True, exist_ok=True)
        for name in target.link_stubs:
            (stub_dir / f"lib{name}.a").write_bytes(EMPTY_ARCHIVE)
    for name, obj in zip(target.link_shims, _shim_objects(target, layout), strict=True):
        obj.parent.mkdir(parents=True, exist_ok=True)
        run(
            [tools.python, "-m", "ziglang", "cc", "-target", zig_target(target), "-O2", *target.cflags,
             "-c", SHIMS / f"{name}.c", "-o", obj],
            what=f"{target.name}: compiling link shim {name}",
            log=layout.log(f"{target.name}.shim-{name}"),
        )


def _toolchain_bin(layout: Layout, choice: ToolchainChoice) -> Path:
    """A directory whose `cargo`, `rustc` (and `rust-objcopy`) are the chosen toolchain's (first on PATH)."""
    bin_dir = layout.toolchain_bin(choice.key)
    bin_dir.mkdir(parents=True, exist_ok=True)
    tools = [("cargo", choice.toolchain.cargo), ("rustc", choice.toolchain.rustc)]
    objcopy = choice.toolchain.objcopy
    if objcopy:
        tools.append(("rust-objcopy", objcopy))
    for tool, path in tools:
        link = bin_dir / tool
        if not link.is_symlink() or os.readlink(link) != str(path):
            atomic_symlink(link, path)  # another lane may be making it too
    return bin_dir


def build_environment(
    target: Target, choice: ToolchainChoice, layout: Layout, tools: ZigTools, *, version: str, target_dir: Path
) -> dict[str, str]:
    """The environment cargo-zigbuild runs in, building in ``target_dir`` (a lane of
    Layout.cargo_dir); everything target-specific comes from data.

    It makes nothing: the link inputs root_flags names are made by make_link_inputs, and
    cargo-zigbuild's copy by install_zigbuild, only when compiling, so computing it for the
    cache key costs nothing.
    """
    remaps = _remaps(choice, target_dir)
    cflags = [f"-ffile-prefix-map={path}={to}" for path, to in remaps]
    cflags += list(target.cflags)
    rustflags = [f"--remap-path-prefix={path}={to}" for path, to in remaps]
    rustflags += list(target.rustflags)

    # cargo prefers an inherited CARGO_ENCODED_RUSTFLAGS to the RUSTFLAGS set below: drop it
    dropped = ("RUSTUP_TOOLCHAIN", "CARGO_BUILD", "CARGO_ENCODED_RUSTFLAGS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    path = [str(_toolchain_bin(layout, choice)), str(tools.python.parent), env.get("PATH", ""),
            str(tools.auditable.parent)]
    env.update(
        PATH=os.pathsep.join(path),
        CARGO=str(choice.toolchain.cargo),
        RUSTC=str(choice.toolchain.rustc),
        RUSTFLAGS=" ".join(rustflags),
        SOURCE_DATE_EPOCH=str(COMPILE_EPOCH),  # not the commit's: see source.COMPILE_EPOCH
        CARGO_TERM_COLOR="never",
        NOETL_BUILD_VERSION=version,  # what `noetl --version` prints
        # cargo-auditable as rustc's wrapper embeds the crate list (.dep-v0). By bare name: the
        # wrapper's path enters cargo's -C metadata hash, and so the binary's bytes.
        RUSTC_WORKSPACE_WRAPPER=AUDITABLE,
        CARGO_AUDITABLE_ORIG_ARGS=json.dumps({"offline": False, "locked": True, "frozen": False, "config": []}),
    )
    for rust_target in target.rust_targets:
        env[f"CFLAGS_{rust_target.replace('-', '_')}"] = " ".join(cflags)
    if choice.strategy == Strategy.BUILD_STD:
        env.update(RUSTC_BOOTSTRAP="1", CARGO_UNSTABLE_BUILD_STD=BUILD_STD_CRATES,
                   CARGO_UNSTABLE_BUILD_STD_FEATURES=BUILD_STD_FEATURES)
    # cargo-zigbuild writes its linker wrappers into its cache at start-up, racing another one
    # starting beside it ("File exists"): one cache per lane, where one cargo runs at a time.
    env["CARGO_ZIGBUILD_CACHE_DIR"] = str(target_dir / "zigbuild")
    env.update(target.triple.os_family.deployment_env(target))
    env.update(dict(target.env))
    return env


def cargo_command(target: Target, layout: Layout, tools: ZigTools, target_dir: Path) -> list[str]:
    """`cargo-zigbuild rustc`: `build` of the one binary in ``target_dir``, with root_flags for it
    alone (after `--`)."""
    return [
        str(zigbuild_copy(layout, tools)), "rustc", "--release", "--locked",
        "--manifest-path", str(layout.crate / "Cargo.toml"),
        "--target", target.zig_target,
        "--target-dir", str(target_dir),
        "--bin", CRATE_BIN, "--", *root_flags(target, layout),
    ]


def raw_compile(
    target: Target, choice: ToolchainChoice, layout: Layout, tools: ZigTools, *, version: str,
    target_dir: Path, config: Sequence[str] = (),
) -> tuple[list[str], dict[str, str]]:
    """The bare compile of ``target`` the bench times against ours: the same cargo-zigbuild
    command and toolchain environment, without cargo-auditable's wrapper, into ``target_dir``,
    with cargo ``--config`` overrides (a profile to try). Link inputs are made; nothing is run."""
    command = cargo_command(target, layout, tools, target_dir)
    rustc_args = command.index("--")
    command[rustc_args:rustc_args] = [arg for item in config for arg in ("--config", item)]
    env = build_environment(target, choice, layout, tools, version=version, target_dir=target_dir)
    for name in ("RUSTC_WORKSPACE_WRAPPER", "CARGO_AUDITABLE_ORIG_ARGS"):
        env.pop(name, None)
    make_link_inputs(target, layout, tools)
    install_zigbuild(layout, tools)
    return command, env


# Inherited variables that reach the compilers and the linker; the rest of the caller's
# environment (terminal, VIRTUAL_ENV, nox's own) does not change the binary and stays out of the key.
_KEYED_INHERITED = ("CARGO", "RUST", "CC", "CXX", "CFLAGS", "CXXFLAGS", "LDFLAGS", "AR", "ZIG", "MACOSX_",
                    "SDKROOT", "SOURCE_DATE_EPOCH", "NOETL_")


def binary_fingerprint(
    target: Target, choice: ToolchainChoice, layout: Layout, tools: ZigTools, command: list[str], env: dict[str, str],
    target_dir: Path,
) -> str:
    """The cache key of a binary: exactly what runs (the cargo command and its environment), the
    crate's sources, the programs it runs by version, and the code of this package that decides
    them (fingerprint.code_digest). Nothing to bump by hand.

    The venv's bin directory (where cargo-zigbuild and zig live) differs per nox session; the
    programs in it are keyed by version, so the key names it as $VENV_BIN and every session
    shares one cache. PATH is left out for the same reason: what it adds is keyed by version.
    Cargo's ``target_dir`` (the lane) is $LANE: no byte depends on it, and a triple that moves
    lanes (its cache removed) keeps its key.
    """
    places = {str(tools.python.parent): "$VENV_BIN", str(target_dir): "$LANE"}

    def keyed(value: str) -> str:
        for place, name in places.items():
            value = value.replace(place, name)
        return value

    keyed_env = {
        name: keyed(value)
        for name, value in env.items()
        if name != "PATH" and (name.startswith(_KEYED_INHERITED) or os.environ.get(name) != value)
    }
    return digest(
        files=files_under(layout.crate),
        base=layout.root,
        extra={
            "command": [keyed(arg) for arg in command],
            "environment": keyed_env,
            "link stubs": list(target.link_stubs),
            "programs": {
                "toolchain": choice.toolchain.verbose_version,
                "objcopy": str(choice.toolchain.objcopy),
                "zig": tools.zig_version,
                "cargo-zigbuild": tools.zigbuild_version,
                "cargo-auditable": tools.auditable_version,
            },
            "code": code_digest(Path(__file__)),
        },
    )


def compile_target(
    target: Target, choice: ToolchainChoice, layout: Layout, tools: ZigTools, *, version: str,
    out_dir: Path | None = None, jobserver: Jobserver | None = None, lane: int = 0,
) -> Compiled:
    """Build (or reuse) the binary for ``target``; it lands in the target's build dir.

    Cargo builds in the triple's home lane (Layout.home_lane), else claims ``lane`` for it.
    With ``jobserver`` (the run's, shared by targets building at once), cargo starts only with
    one of its tokens and takes its other jobs from it. Neither is part of the binary's key."""
    if target.fat:
        return _compile_fat(target, choice, layout, tools, version=version, jobserver=jobserver, lane=lane)
    out_dir = out_dir or layout.target_dir(target.name)
    binary = out_dir / target.binary_name
    stamp = out_dir / BINARY_STAMP
    target_dir = layout.cargo_lane(choice.key, lane)
    command = cargo_command(target, layout, tools, target_dir)
    env = build_environment(target, choice, layout, tools, version=version, target_dir=target_dir)
    fingerprint = binary_fingerprint(target, choice, layout, tools, command, env, target_dir)
    done = reused(stamp, fingerprint, [binary])
    if done:
        return Compiled(binary, done.sha256(binary), 0.0, fresh=False)

    missing = missing_tools(target, choice)
    if missing:
        raise ToolchainError(f"{target.name}: missing {'; '.join(missing)}")
    started = time.monotonic()
    make_link_inputs(target, layout, tools)
    install_zigbuild(layout, tools)
    claimed = claim_lane(layout, choice.key, target.triple.text, lane)
    if claimed != target_dir:  # warm in the other lane: the same key, another dir
        target_dir = claimed
        command = cargo_command(target, layout, tools, target_dir)
        env = build_environment(target, choice, layout, tools, version=version, target_dir=target_dir)
    slot = jobserver.slot() if jobserver else contextlib.nullcontext()
    with _cargo_lock(target_dir, target), slot:
        run(
            command,
            what=f"{target.name}: cargo-zigbuild",
            cwd=layout.crate,
            env={**env, **jobserver.environment} if jobserver else env,
            log=layout.log(target.name),
        )
        built = target_dir / target.name / "release" / target.binary_name
        if not built.is_file():
            raise BuildError(f"{target.name}: cargo-zigbuild succeeded but left no {built}")
        if target.unversion:
            _unversion(target, built, binary)
        else:
            atomic_copy(built, binary, mode=EXEC_MODE)
    seconds = time.monotonic() - started
    made = record(stamp, fingerprint, [binary], seconds=round(seconds, 1), toolchain=choice.describe())
    return Compiled(binary, made.sha256(binary), seconds, fresh=True)


def claim_lane(layout: Layout, key: str, triple: str, lane: int) -> Path:
    """The target dir ``triple`` builds in: its home lane's, else ``lane``'s, claimed by making
    the triple's subdir there (cargo's own), under a lock every process sharing the cache takes:
    two builds never give one triple two homes."""
    with exclusive_lock(layout.cargo_dir(key) / "locks" / "claim", lambda: None):
        home = layout.home_lane(key, triple)
        if home is None:
            (layout.cargo_lane(key, lane) / plain_name(triple, "the triple")).mkdir(parents=True, exist_ok=True)
            home = lane
    return layout.cargo_lane(key, home)


@contextlib.contextmanager
def _cargo_lock(where: Path, target: Target) -> Iterator[None]:
    """Held from cargo's start until its binary is copied out: the lane's target dir ``where``
    (and its cargo-zigbuild cache) is shared by every checkout and run (Layout.cargo_lane);
    cargo's own lock is taken only after cargo-zigbuild has written its wrappers, and ends when
    cargo does, when another build could already be relinking the same file."""
    with exclusive_lock(where / "locks" / "lane",
                        lambda: say(f"==> {target.name}: waiting for another build using {where}")):
        yield


def _unversion(target: Target, built: Path, binary: Path) -> None:
    """Copy the linked binary with targets.toml's `unversion` symbols stripped of their version."""
    patched, dropped = unversion_weak(built.read_bytes(), target.unversion)
    if not dropped:
        raise BuildError(f"{target.name}: unversioning {', '.join(target.unversion)} dropped no version need: "
                         "remove `unversion` from targets.toml, or check the link")
    with atomic_output(binary, mode=EXEC_MODE) as tmp:
        tmp.write_bytes(patched)


def slice_targets(target: Target) -> list[Target]:
    """The single-architecture targets a fat (universal2) target is made of.

    Each slice gets its own minimum macOS: the target's, raised to what the architecture
    starts at (arm64: 11.0). One cargo run for both slices, as cargo-zigbuild's
    `universal2-apple-darwin` does, gives both the same MACOSX_DEPLOYMENT_TARGET, and zig
    has no arm64 macOS headers below 11.0.
    """
    slices = []
    for arch_name in arches()[target.triple.arch].slices:
        triple = Triple.parse(f"{arch_name}-{target.name.split('-', 1)[1]}")
        floor = arches()[arch_name].min_macos
        macos = max(target.macos, floor) if target.macos and floor else target.macos or floor
        raw = {**target.raw, "triple": triple.text, "macos": "{}.{}".format(*macos) if macos else None}
        slices.append(replace(target, triple=triple, macos=macos, raw=raw))
    return slices


def _compile_fat(
    target: Target, choice: ToolchainChoice, layout: Layout, tools: ZigTools, *, version: str,
    jobserver: Jobserver | None, lane: int,
) -> Compiled:
    """Build each slice, then join them with lipo into one fat Mach-O."""
    lipo = find_lipo()
    if lipo is None:
        raise ToolchainError(f"{target.name}: missing {'; '.join(missing_tools(target, choice))}")
    out_dir = layout.target_dir(target.name)
    started = time.monotonic()
    parts = [
        compile_target(part, choice, layout, tools, version=version,
                       out_dir=out_dir / "slices" / part.triple.arch, jobserver=jobserver, lane=lane)
        for part in slice_targets(target)
    ]
    binary = out_dir / target.binary_name
    stamp = out_dir / BINARY_STAMP
    fingerprint = digest(extra={"slices": [p.sha256 for p in parts], "lipo": str(lipo),
                                "code": code_digest(Path(__file__))})
    done = reused(stamp, fingerprint, [binary])
    if done:
        return Compiled(binary, done.sha256(binary), 0.0, fresh=False)
    with atomic_output(binary, mode=EXEC_MODE) as tmp:
        run([lipo, "-create", *(p.binary for p in parts), "-output", tmp],
            what=f"{target.name}: lipo", log=layout.log(f"{target.name}.lipo"))
    seconds = time.monotonic() - started
    made = record(stamp, fingerprint, [binary], seconds=round(seconds, 1))
    return Compiled(binary, made.sha256(binary), seconds, fresh=True)

