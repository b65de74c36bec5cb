"""The project's PEP 517 backend: setuptools for the Python package, cargo for the binary.

`pip install .`, `pip install noetl-X.tar.gz` and `python -m build` all come here. A wheel
built from source carries the host's `noetl` binary, compiled with the host's cargo
(`cargo build --release --locked`), at noetl/bin/noetl[.exe], and is tagged for the host
(py3-none-linux_x86_64, ...): never py3-none-any. With no cargo, or with a cargo or rustc older
than the crate's `rust-version` (noetlctl/Cargo.toml), the build stops before compiling with one
line saying what is needed, what was found and what to install.

Config settings (`pip -C`, `python -m build -C`):
  binary=none      the generic py3-none-any wheel the matrix retags per target (no cargo)
  version=X        build as version X (the matrix decides one version per run)

The hooks import only the standard library until the build requirements they asked for
are installed; errors reach pip as one line (SystemExit), never as a traceback.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import os
import platform
import re
import shutil
import sys
import sysconfig
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from setuptools import build_meta as _setuptools

from .errors import BuildError, ConfigError, ToolchainError, printable, shown
from .files import atomic_output, read_toml
from .layout import Layout
from .procs import capture, output
from .source import COMPILE_EPOCH, PKG_INFO, is_sdist, sdist_sources, source_date_epoch, wheel_sources

# Pinned like requirements/build.txt (a test keeps them equal); asked for only when needed.
COMMITIZEN = "commitizen==4.19.3"
SBOM_REQUIRES = ["cyclonedx-python-lib[json-validation]==11.12.0", 'tomli>=2; python_version < "3.11"']

NO_CARGO = (
    "building noetl from source compiles its Rust binary, and no cargo was found: install Rust "
    "(https://rustup.rs, or your system's package, e.g. apt-get install cargo) or set CARGO, then retry"
)
RUST_REMEDY = (
    "install a newer Rust (https://rustup.rs, or on Debian 12 and 13: apt-get install cargo-web) "
    "or point CARGO and RUSTC at one, then retry"
)
NO_UI = "this sdist has no built web UI (noetl/core/ui/index.html): it is broken; make it with nox -s sdist"
# The minimum macOS a binary gets from cargo when MACOSX_DEPLOYMENT_TARGET is not set.
RUST_DEFAULT_MACOS = {"x86_64": "10.12", "arm64": "11.0"}

F = TypeVar("F", bound=Callable[..., Any])


def _one_line_errors(hook: F) -> F:
    @functools.wraps(hook)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return hook(*args, **kwargs)
        except BuildError as exc:
            raise SystemExit(f"error: {exc}") from None

    return wrapper  # type: ignore[return-value]


@dataclass(frozen=True)
class Settings:
    binary: bool
    version: str | None

    @classmethod
    def parse(cls, config: Mapping[str, Any] | None) -> Settings:
        config = config or {}
        binary = str(config.get("binary", "host"))
        if binary not in ("host", "none"):
            raise ConfigError(f"config setting binary={binary!r}: use binary=host (default) or binary=none")
        version = config.get("version")
        return cls(binary == "host", _normal_version(str(version)) if version else None)


def _normal_version(version: str) -> str:
    """``version`` if it is a PEP 440 version in normal form (what file names and METADATA say)."""
    from packaging.version import InvalidVersion, Version

    try:
        normal = str(Version(version))
    except InvalidVersion:
        normal = ""
    if normal != version:
        shown = version.encode("unicode_escape").decode()[:80]
        raise ConfigError(f"config setting version={shown!r} is not a PEP 440 version in normal form")
    return version


def _root() -> Path:
    return Path.cwd()


def _needs_commitizen(root: Path, settings: Settings) -> bool:
    """A checkout derives its version from its history (commitizen); an sdist carries it."""
    return settings.version is None and not is_sdist(root) and (root / ".git").exists()


def _requires(settings: Settings) -> list[str]:
    """Beyond the static setuptools and wheel (setuptools' own hooks would run egg_info in the
    source tree just to answer [])."""
    return [*SBOM_REQUIRES, *([COMMITIZEN] if _needs_commitizen(_root(), settings) else [])]


def _ensure_ui(root: Path) -> None:
    """The built UI in noetl/core/ui/: an sdist ships it; a checkout builds it (npm) if stale."""
    if is_sdist(root):
        if not (root / "noetl" / "core" / "ui" / "index.html").is_file():
            raise BuildError(NO_UI)
        return
    from .layout import Layout
    from .ui import build_ui

    if build_ui(Layout.at(root)):
        print("noetl: built the web UI (npm ci && npm run build in ui-src/)", file=sys.stderr, flush=True)


def _version(root: Path, settings: Settings) -> str:
    from .version import build_version, read_package_version

    if settings.version:
        return settings.version
    return read_package_version(root) if is_sdist(root) else build_version(root)


@contextlib.contextmanager
def _staged(root: Path, version: str, epoch: int) -> Iterator[Path]:
    """A copy of the wheel's sources carrying ``version``, as cwd: the source tree is never written."""
    from .version import write_package_version

    with tempfile.TemporaryDirectory(prefix="noetl-pep517-") as tmp:
        stage = Path(tmp) / "src"
        for path in wheel_sources(root):
            dest = stage / path.relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
        write_package_version(stage / "noetl" / "__init__.py", version)
        previous = os.getcwd()
        saved_epoch = os.environ.get("SOURCE_DATE_EPOCH")
        os.chdir(stage)
        os.environ["SOURCE_DATE_EPOCH"] = str(epoch)
        try:
            yield stage
        finally:
            os.chdir(previous)
            if saved_epoch is None:
                os.environ.pop("SOURCE_DATE_EPOCH", None)
            else:
                os.environ["SOURCE_DATE_EPOCH"] = saved_epoch


# --- the host binary --------------------------------------------------------------------


@dataclass(frozen=True)
class HostBinary:
    path: Path
    triple: str  # the Rust target it was compiled for


def _cargo() -> str:
    cargo = os.environ.get("CARGO") or shutil.which("cargo")
    if not cargo:
        raise ToolchainError(NO_CARGO)
    return cargo


def _host_triple(cargo_vv: str) -> str:
    """The host target named by `cargo -vV`'s output."""
    for line in cargo_vv.splitlines():
        if line.startswith("host:"):
            return line.split(":", 1)[1].strip()
    raise ToolchainError("'cargo -vV' names no host target; is it Rust's cargo?")


# --- the minimum Rust ---------------------------------------------------------------------

RustRelease = tuple[int, int, int]
_RELEASE = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


def parse_rust_release(text: str) -> RustRelease | None:
    """(major, minor, patch) from a `-vV` answer's `release:` line (else its first line, as in
    `rustc 1.63.0 (4b91a6ea7 2022-08-08)`), or from a `rust-version` such as "1.85".

    A pre-release suffix (1.86.0-nightly, 1.85.0-beta.3) is left out, as cargo's own
    rust-version check does. None when no version is there.
    """
    lines = text.strip().splitlines()
    releases = [line.split(":", 1)[1] for line in lines if line.startswith("release:")]
    said = releases[0] if releases else (lines[0] if lines else "")
    found = _RELEASE.search(said)
    if found is None:
        return None
    major, minor, patch = found.groups()
    return int(major), int(minor), int(patch or 0)


def needed_rust(manifest: Path) -> str:
    """The crate's `rust-version` ([package] in ``manifest``, its Cargo.toml) as written there: the
    oldest Rust it builds with."""
    package = read_toml(manifest, what="the noetl crate's manifest", error=BuildError).get("package")
    declared = package.get("rust-version") if isinstance(package, dict) else None
    if not isinstance(declared, str) or not re.fullmatch(r"\d+\.\d+(\.\d+)?", declared):
        raise BuildError(f"{manifest} has no valid rust-version in [package] (such as \"1.85\"): it is broken")
    return declared


def rust_too_old(needed: str, answers: Mapping[str, str | None]) -> str | None:
    """The one-line refusal when a tool's `-vV` answer in ``answers`` (keyed by how the message
    names the tool, e.g. "the rustc at /usr/bin/rustc") says a release older than ``needed`` (a
    rust-version); None when each tool that answered is new enough. A tool that gave no answer is
    not judged (cargo reports a rustc it cannot run)."""
    floor = parse_rust_release(needed)
    if floor is None:
        raise BuildError(f"rust-version {shown(needed)} is not a Rust version such as 1.85")
    for tool, said in answers.items():
        if said is None:
            continue
        release = parse_rust_release(said)
        if release is not None and release >= floor:
            continue
        first = said.strip().splitlines()[0] if said.strip() else "nothing"
        seen = ".".join(map(str, release)) if release else f"of no known version (it says {shown(first, 60)})"
        return (f"building noetl from source needs Rust {needed} or newer (rust-version in noetlctl/Cargo.toml), "
                f"and {printable(tool, 200)} is {seen}: {RUST_REMEDY}")
    return None


def check_rust(cargo: str, cargo_vv: str, crate: Path) -> None:
    """ToolchainError, before anything compiles, when the rustc cargo will use (RUSTC, else `rustc`
    on PATH, as cargo looks it up) or cargo itself is older than the crate's rust-version: one
    line naming the version needed and the one found, instead of cargo's wall of errors."""
    answers: dict[str, str | None] = {}
    rustc = os.environ.get("RUSTC") or shutil.which("rustc")
    if rustc:
        answers[f"the rustc at {rustc}"] = output([rustc, "-vV"])
    answers[f"the cargo at {cargo}"] = cargo_vv
    refusal = rust_too_old(needed_rust(crate / "Cargo.toml"), answers)
    if refusal:
        raise ToolchainError(refusal)


def _rustflags(root: Path) -> str:
    """The user's rustflags plus path remaps, so the binary holds no build-machine paths."""
    if "CARGO_ENCODED_RUSTFLAGS" in os.environ:
        flags = [f for f in os.environ["CARGO_ENCODED_RUSTFLAGS"].split("\x1f") if f]
    else:
        flags = os.environ.get("RUSTFLAGS", "").split()
    cargo_home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    flags += [f"--remap-path-prefix={root}=/noetl", f"--remap-path-prefix={cargo_home}=/cargo"]
    return "\x1f".join(flags)


def compile_host_binary(root: Path, *, version: str) -> HostBinary:
    """`cargo build --release --locked` of noetlctl/ for this host, reporting the version; first
    the check that cargo and its rustc are at least the crate's rust-version."""
    cargo = _cargo()
    cargo_vv = output([cargo, "-vV"])
    if cargo_vv is None:
        raise ToolchainError(f"'{printable(cargo, 200)} -vV' failed: {NO_CARGO}")
    layout = Layout.at(root)
    check_rust(cargo, cargo_vv, layout.crate)
    triple = _host_triple(cargo_vv)
    target_dir = Path(os.environ.get("CARGO_TARGET_DIR") or layout.pep517_cargo)
    cmd = [cargo, "build", "--release", "--locked", "--manifest-path", str(layout.crate / "Cargo.toml"),
           "--target-dir", str(target_dir)]
    env = {**os.environ, "NOETL_BUILD_VERSION": version, "SOURCE_DATE_EPOCH": str(COMPILE_EPOCH),
           "CARGO_ENCODED_RUSTFLAGS": _rustflags(root)}
    env.pop("RUSTFLAGS", None)
    print(f"noetl: compiling the noetl binary {version} for {triple} with {cargo}", file=sys.stderr, flush=True)
    built = capture(cmd, env=env, echo=True, timeout=None)
    if built.code is None:
        raise ToolchainError(f"cannot run {cargo}: {built.stderr}; {NO_CARGO}")
    if not built.ok:
        raise BuildError(
            f"cargo build --release --locked failed (exit {built.code}); its output is above"
        )
    binary = target_dir / "release" / ("noetl.exe" if os.name == "nt" else "noetl")
    if not binary.is_file():
        raise BuildError(f"cargo build succeeded but left no {binary}")
    return HostBinary(binary, triple)


def host_platform_tag() -> str:
    """The wheel platform tag of this machine, for a binary cargo built here with its defaults.

    linux_<arch> / win_<arch> as bdist_wheel names them (no manylinux claim: nothing audited
    this build); on macOS the binary's own minimum (MACOSX_DEPLOYMENT_TARGET, else Rust's
    default) and the machine's one architecture, not the Python build's (10.9, universal2).
    """
    plat = sysconfig.get_platform()
    if plat.startswith("macosx-"):
        arch = platform.machine()
        minimum = os.environ.get("MACOSX_DEPLOYMENT_TARGET") or RUST_DEFAULT_MACOS.get(arch, "11.0")
        major, _, minor = minimum.partition(".")
        return f"macosx_{major}_{minor or 0}_{arch}"
    return plat.replace("-", "_").replace(".", "_")


# --- the sdist ----------------------------------------------------------------------------


def write_sdist(path: Path, prefix: str, members: Mapping[str, bytes], *, epoch: int) -> None:
    """A reproducible .tar.gz: sorted members, fixed times, owners and modes, no gzip name."""
    with atomic_output(path) as tmp, open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=epoch, compresslevel=9) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for name in sorted(members):
                    data = members[name]
                    info = tarfile.TarInfo(f"{prefix}/{name}")
                    info.size, info.mtime, info.mode = len(data), epoch, 0o644
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    tar.addfile(info, io.BytesIO(data))


def _metadata(root: Path, version: str, epoch: int) -> bytes:
    with _staged(root, version, epoch) as stage:
        (stage / "meta").mkdir()
        name = str(_setuptools.prepare_metadata_for_build_wheel(str(stage / "meta")))
        return (stage / "meta" / name / "METADATA").read_bytes()


def _sdist_members(root: Path, version: str, epoch: int) -> dict[str, bytes]:
    from .sbom import SBOM_DIR, SBOM_NAME, build_sbom
    from .version import write_package_version

    _ensure_ui(root)
    members = {str(p.relative_to(root)): p.read_bytes() for p in sdist_sources(root)}
    with tempfile.TemporaryDirectory() as tmp:
        init = Path(tmp) / "__init__.py"
        init.write_bytes(members["noetl/__init__.py"])
        write_package_version(init, version)
        members["noetl/__init__.py"] = init.read_bytes()
    members[PKG_INFO] = _metadata(root, version, epoch)
    members[f"{SBOM_DIR}/{SBOM_NAME}"] = build_sbom(root, version=version, epoch=epoch, rust_targets=None, subject="sdist")
    return members


# --- the PEP 517 hooks ----------------------------------------------------------------------


@_one_line_errors
def get_requires_for_build_wheel(config_settings: Mapping[str, Any] | None = None) -> list[str]:
    return _requires(Settings.parse(config_settings))


@_one_line_errors
def get_requires_for_build_sdist(config_settings: Mapping[str, Any] | None = None) -> list[str]:
    return _requires(Settings.parse(config_settings))


@_one_line_errors
def prepare_metadata_for_build_wheel(
    metadata_directory: str, config_settings: Mapping[str, Any] | None = None
) -> str:
    root = _root()
    settings = Settings.parse(config_settings)
    with _staged(root, _version(root, settings), source_date_epoch(root)):
        return str(_setuptools.prepare_metadata_for_build_wheel(metadata_directory))


@_one_line_errors
def build_wheel(
    wheel_directory: str, config_settings: Mapping[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    from .sbom import build_sbom
    from .wheels import finish_wheel

    root = _root()
    settings = Settings.parse(config_settings)
    version = _version(root, settings)
    epoch = source_date_epoch(root)
    if settings.binary:  # (the matrix builds the UI before its generic wheel)
        _ensure_ui(root)
    binary = compile_host_binary(root, version=version) if settings.binary else None
    targets = (binary.triple,) if binary else ()
    subject = f"wheel built from source for {binary.triple}" if binary else "generic wheel"
    sbom = build_sbom(root, version=version, epoch=epoch, rust_targets=targets, subject=subject)
    with _staged(root, version, epoch) as stage:
        pure = stage / "out" / _setuptools.build_wheel(str(stage / "out"))
        final = finish_wheel(
            pure, stage / "finish", sbom=sbom, epoch=epoch, log=None, what="noetl",
            binary=binary.path if binary else None, binary_name=binary.path.name if binary else "noetl",
            platform_tag=host_platform_tag() if binary else None,
        )
        shutil.copyfile(final, Path(wheel_directory) / final.name)
    return final.name


@_one_line_errors
def build_sdist(sdist_directory: str, config_settings: Mapping[str, Any] | None = None) -> str:
    root = _root()
    version = _version(root, Settings.parse(config_settings))
    epoch = source_date_epoch(root)
    prefix = f"noetl-{version}"
    path = Path(sdist_directory) / f"{prefix}.tar.gz"
    write_sdist(path, prefix, _sdist_members(root, version, epoch), epoch=epoch)
    return path.name
