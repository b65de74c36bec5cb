"""Where things are: the repository's inputs and the build's outputs.

One confinement rule: every name that reaches a path under build/ or dist/ (a triple, a link
stub or shim, a toolchain key, a file named in manifest.json) must be a plain file name, so no
value of targets.toml or manifest.json can make the build write, or delete, outside them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, shown


def plain_name(name: str, what: str) -> str:
    """``name`` when it can only name an entry of one directory; ConfigError naming ``what`` else."""
    if (not name or name in {".", ".."} or "/" in name or "\\" in name or "\0" in name
            or name.startswith("-") or len(name) > 200):
        raise ConfigError(f"{what} {shown(name)} is not a plain file name: it would leave build/ or dist/")
    return name


CACHE_ENV = "NOETL_CACHE_DIR"
# Cargo target dirs per toolchain: cargo locks a whole target dir while it builds, so targets
# build at once only in separate dirs, the lanes. A triple's lane is the lane whose dir holds
# its cargo subdir (its home: where it is warm), else the one its first build claims (compile.py);
# no byte of a binary depends on which (the dir is remapped), nor does its cache key. Three
# lanes share the run's jobserver tokens (two on a 2-core machine): a lane takes a token for its
# cargo before starting it, so nothing is oversubscribed, and while a lane works outside cargo
# (its SBOM, its wheel, the next target's set-up) a third lane's cargo takes the token it left
# (docs/performance.md, "Three lanes").
LANES = 3


def user_cache() -> Path:
    """The per-user cache every checkout shares: $NOETL_CACHE_DIR, else $XDG_CACHE_HOME/noetl,
    else ~/.cache/noetl."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen:
        return Path(chosen)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "noetl"


@dataclass(frozen=True)
class Layout:
    root: Path
    dist: Path
    build: Path
    targets_file: Path
    # outside the checkout, shared by every checkout of this user: what a moved or fresh
    # checkout finds warm (cargo's target dirs, the tools run from a fixed path)
    cache: Path

    @classmethod
    def at(
        cls, root: Path, *, dist: Path | None = None, build: Path | None = None, targets: Path | None = None,
        cache: Path | None = None,
    ) -> Layout:
        root = root.resolve()
        return cls(
            root, (dist or root / "dist").resolve(), (build or root / "build").resolve(),
            (targets or root / "targets.toml").resolve(), (cache or user_cache()).resolve(),
        )

    @property
    def crate(self) -> Path:
        return self.root / "noetlctl"

    @property
    def package(self) -> Path:
        return self.root / "noetl"

    @property
    def ui_source(self) -> Path:
        return self.root / "ui-src"

    @property
    def ui_lock(self) -> Path:
        return self.ui_source / "package-lock.json"

    @property
    def ui_output(self) -> Path:
        return self.package / "core" / "ui"

    # ---- build/: intermediate files, all of them named here

    @property
    def logs(self) -> Path:
        return self.build / "logs"

    @property
    def crash_log(self) -> Path:
        """The traceback of the last unexpected error (a bug), which the CLI names in one line."""
        return self.log("crash")

    def target_crash_log(self, name: str) -> Path:
        """The traceback of a bug one target's build hit (the others go on)."""
        return self.log(f"{name}.crash")

    @property
    def lock(self) -> Path:
        """Held by a build so two never share this build dir."""
        return self.build / ".lock"

    def log(self, name: str) -> Path:
        """BUILD/logs/<name>.log: one step's full output."""
        return self.logs / plain_name(f"{name}.log", "a log named")

    def target_dir(self, name: str) -> Path:
        """Per-target outputs: the binary, its fingerprint, wheel records."""
        return self.build / "targets" / plain_name(name, "the target")

    def cargo_dir(self, key: str) -> Path:
        """Cargo's target dir, one per toolchain+strategy so they never evict each other. In the
        user's cache, not build/: a fresh or moved checkout finds std and the dependencies built
        (cargo locks it while it builds; compile.py holds a lock of its own until it has the binary)."""
        return self.cache / "cargo" / plain_name(key, "the toolchain key")

    def cargo_lane(self, key: str, lane: int) -> Path:
        """One of the LANES target dirs of cargo_dir(key)."""
        if not 0 <= lane < LANES:
            raise ValueError(f"lane {lane} is not one of {LANES}")
        return self.cargo_dir(key) / f"lane-{lane}"

    def home_lane(self, key: str, triple: str) -> int | None:
        """The lane whose target dir holds the triple's cargo subdir (the lowest, if two do), or
        None: the triple has not been built with this toolchain yet (or its cache was removed)."""
        name = plain_name(triple, "the triple")
        return next((lane for lane in range(LANES) if (self.cargo_lane(key, lane) / name).is_dir()), None)

    def tool_copy(self, name: str) -> Path:
        """A program copied out of a venv to run from a path that names only its version, so
        what cargo fingerprints (cargo-zigbuild's linker wrappers are named after their
        program's path) is the same for every nox session and checkout."""
        return self.cache / "tools" / plain_name(name, "the tool")

    def toolchain_bin(self, key: str) -> Path:
        """`cargo`, `rustc` (and `rust-objcopy`) of one toolchain, first on cargo's PATH."""
        return self.build / "toolchains" / plain_name(key, "the toolchain key") / "bin"

    def link_stubs(self, name: str) -> Path:
        return self.build / "stubs" / plain_name(name, "the target")

    def link_shims(self, name: str) -> Path:
        return self.build / "shims" / plain_name(name, "the target")

    @property
    def generic(self) -> Path:
        """The py3-none-any wheel every target's wheel is made from."""
        return self.build / "generic"

    @property
    def ui_stamp(self) -> Path:
        return self.build / "ui.json"

    @property
    def sdist_staging(self) -> Path:
        return self.build / "sdist"

    @property
    def pep517_cargo(self) -> Path:
        """Cargo's target dir when pip builds a wheel from this tree (the PEP 517 backend)."""
        return self.build / "pep517-cargo"

    @property
    def verify_tools(self) -> Path:
        """What verify builds once and keeps (the wine stand-in DLL)."""
        return self.build / "verify"

    @property
    def wine_prefix(self) -> Path:
        """Kept between runs: creating a prefix is wine's slow first start."""
        return self.build / "wine"

    @property
    def publish_staging(self) -> Path:
        """Copies of the release files being signed, beside their attestations."""
        return self.build / "publish"

    @property
    def wheelhouse(self) -> Path:
        """What the rehearsal's fresh venvs install besides noetl."""
        return self.build / "wheelhouse"

    @property
    def deps_json(self) -> Path:
        """The dependency check's report (python -m noetl_build deps, publish --check)."""
        return self.build / "deps.json"

    @property
    def rehearsal(self) -> Path:
        return self.build / "rehearsal"

    @property
    def rehearsal_cargo(self) -> Path:
        """Cargo's target dir for the rehearsal's sdist install, kept between runs."""
        return self.build / "rehearsal-cargo"

    @property
    def userlands_file(self) -> Path:
        """The Debian userlands' recipes (releases, architectures, what proves the others)."""
        return self.root / "userlands.toml"

    @property
    def userlands(self) -> Path:
        """Debian roots made by debootstrap, kept between runs; the userland session's report."""
        return self.build / "userlands"

    def userland_home(self, name: str) -> Path:
        """One cached root (``root/``) beside the recipe that made it (``recipe.json``)."""
        return self.userlands / plain_name(name, "the userland")

    @property
    def userland_index(self) -> Path:
        """What the userland session's own package index serves: copies of dist/'s files."""
        return self.userlands / "index"

    # ---- dist/: what a release is made of

    def dist_file(self, name: str) -> Path:
        """dist/<name> for a file name read from data (manifest.json): never a path out of dist/."""
        return self.dist / plain_name(name, f"{self.dist / 'manifest.json'} names")

    @property
    def verify_json(self) -> Path:
        """verify's report; publish uploads only files it passed."""
        return self.dist / "verify.json"
