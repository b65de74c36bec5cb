"""Real Debian userlands: each Linux glibc target's wheel, installed by that platform's own Python
from a package index on 127.0.0.1, inside a minimal Debian root, and run there.

    load_recipes(path) -> Recipes        userlands.toml, validated (one-line ConfigErrors)
    userland(layout, matrix, triples, *, wheelhouse, progress) -> UserlandOutcome
                                         the session: its own index over dist/ and the wheelhouse
    run_userlands(layout, matrix, triples, *, index_url, version, progress) -> UserlandOutcome
                                         the same against an index someone else runs (the rehearsal)
    render(outcome) -> str               one table; BUILD/userlands/userland.json has the details

A root is made by debootstrap (foreign ones: `--foreign`, then the second stage inside the root
under qemu-user-static through a binfmt_misc handler with the F flag, binfmt.py), with python3,
python3-venv and ca-certificates and no compiler, in a scratch directory moved into place only
when whole; it is kept under BUILD/userlands/ and made again when its recipe changes
(Userland.recipe). In it, chrooted with /proc and the basic devices mounted (always unmounted
after, and anything left running inside killed), the network being the host's loopback:
`python3 -m venv`, `pip install noetl==X` from the index (that target's own wheel, every
dependency a wheel from the index), then through the console script `noetl --version`, `server
start --init-db`, `catalog register` and `list`, `GET /` serving the UI, a playbook over the
server's body limit refused with its 413 message, `server stop`, and the wrapper's one line once
the binary is deleted; `uv pip install` where the recipe says so. Targets with no userland here
get a row saying what proves them instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import time
import tomllib
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import binfmt
from .errors import ConfigError, ReleaseError, ToolchainError, did_you_mean, printable, shown
from .files import atomic_write_text
from .fingerprint import Stamp, digest
from .layout import Layout
from .platforms import arches
from .procs import Captured, capture, output
from .report import table
from .targets import Matrix, Target

Progress = Callable[[str], None]

RECIPE_FORMAT = 1  # bump when how a root is made changes in a way the recipe does not say
REPORT = "userland.json"  # in BUILD/userlands/
# Every Debian system has these lines (the installer writes them); debootstrap does not, and the
# `noetl` CLI reaches its server as `localhost`.
HOSTS = "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n"
COMPILERS = ("cc", "gcc", "c++", "g++", "clang", "tcc")
BIN_DIRS = ("usr/local/bin", "usr/bin", "bin")
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
RUN_DIR = "noetl-run"  # inside a root: all one run makes; cleared before and after
PATH_IN_ROOT = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PLAYBOOK = Path("tests") / "fixtures" / "hello_playbook.yaml"
PLAYBOOK_PATH = "examples/hello"  # what the fixture registers as
UI_MARKER = "<title>NoETL</title>"
TOO_LARGE = "request body too large"
BODY_LIMIT = 2 * 1024 * 1024  # the server's default --max-body-size
WRAPPER_LINE = "noetl: cannot run the NoETL command-line binary: the binary is missing from this installation"

DEBOOTSTRAP_SECONDS = 1800  # one stage of a cold root (measured: 25 s and 3 min for arm64)
STEP_SECONDS = 900  # a venv or an install under qemu
COMMAND_SECONDS = 180  # one `noetl` command
START_TIMEOUT = "120"  # the CLI's wait for /health (default 30 s): a server under qemu starts slower
KILL_SECONDS = 10.0  # after SIGTERM, then after SIGKILL

STEPS = ("root", "no-cc", "venv", "pip", "version", "start", "catalog", "ui", "413", "stop", "wrapper", "uv")


# ---------------------------------------------------------------- the recipes (userlands.toml)


@dataclass(frozen=True)
class Userland:
    arch: str  # the triple's architecture
    debian_arch: str
    suite: str
    release: str  # "12"
    python: str  # "3.11": what the release's python3 is
    qemu: str | None  # the qemu-user program, or None: the host runs it
    uv: bool
    mirror: str
    variant: str
    include: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"debian{self.release}-{self.debian_arch}"

    @property
    def label(self) -> str:
        return f"Debian {self.release} {self.suite} {self.debian_arch}"

    def recipe(self, debootstrap: str) -> dict[str, object]:
        """What the root is made from: a change to any of it makes the root again."""
        return {"format": RECIPE_FORMAT, "suite": self.suite, "release": self.release,
                "debian-arch": self.debian_arch, "mirror": self.mirror, "variant": self.variant,
                "include": list(self.include), "debootstrap": debootstrap, "hosts": HOSTS}

    def key(self, debootstrap: str) -> str:
        return digest(extra=self.recipe(debootstrap))


@dataclass(frozen=True)
class Recipes:
    path: Path
    userlands: Mapping[str, Userland]  # by triple architecture
    instead: Mapping[str, str]

    def for_target(self, target: Target) -> Userland | None:
        triple = target.triple
        if not triple.os_family.debian_userland(triple):
            return None
        return self.userlands.get(triple.arch)

    def proof_instead(self, target: Target) -> str:
        triple = target.triple
        for key in (f"os.{triple.os}", f"arch.{triple.arch}", f"libc.{triple.libc}"):
            if key in self.instead:
                return self.instead[key]
        return f"no userland for it in {self.path.name} and no [instead] entry saying what proves it"


_TOP = {"debootstrap": True, "release": True, "arch": True, "instead": False}
_DEBOOTSTRAP = {"mirror": str, "variant": str, "include": list}
_RELEASE = {"version": str, "python": str, "arches": list}
_ARCH: dict[str, tuple[type, bool]] = {"debian-arch": (str, True), "qemu": (str, False), "uv": (bool, False)}
_SUITE = re.compile(r"[a-z]{2,32}")
_DEBIAN_ARCH = re.compile(r"[a-z0-9]{2,16}")
_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]{0,99}")
_MIRROR = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?")
_QEMU = re.compile(r"qemu-[a-z0-9_]{2,20}")
_INSTEAD_KEY = re.compile(r"(os|arch|libc)\.[a-z0-9_]{1,32}")


def load_recipes(path: Path) -> Recipes:
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (the Debian userlands' recipes)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path.name}: not UTF-8 text (byte {exc.start}): TOML files are UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid TOML: {exc}") from None
    return parse_recipes(data, path)


def parse_recipes(data: Mapping[str, Any], path: Path) -> Recipes:
    """userlands.toml's tables as Recipes; ConfigError in one line naming the table and key."""
    name = path.name

    def fail(where: str, message: str) -> ConfigError:
        return ConfigError(f"{name}: {where}: {message}")

    for key in data:
        if key not in _TOP:
            raise fail(f"key {shown(key)}", "unknown top-level key" + did_you_mean(key, _TOP))
    for key, required in _TOP.items():
        if (required or key in data) and not isinstance(data.get(key), dict):
            raise fail(f"[{key}]", "missing (required), or not a table")

    boot = data["debootstrap"]
    _known_keys(boot, _DEBOOTSTRAP, "[debootstrap]", fail)
    for key, kind in _DEBOOTSTRAP.items():
        if not isinstance(boot.get(key), kind):
            raise fail(f"[debootstrap] key {shown(key)}", f"missing or not a {_kind(kind)}")
    if not _MIRROR.fullmatch(boot["mirror"]):
        raise fail("[debootstrap] key 'mirror'", f"{shown(boot['mirror'])} is not an http(s) URL of a Debian mirror")
    if not _SUITE.fullmatch(boot["variant"]):
        raise fail("[debootstrap] key 'variant'", f"{shown(boot['variant'])} is not a debootstrap variant name")
    include = boot["include"]
    if not include or not all(isinstance(p, str) and _PACKAGE.fullmatch(p) for p in include):
        raise fail("[debootstrap] key 'include'", "expected a non-empty list of Debian package names")
    if "python3" not in include:
        raise fail("[debootstrap] key 'include'", "must include python3 (the userland's own Python)")

    releases: dict[str, tuple[str, str, str]] = {}  # debian arch -> suite, version, python
    for suite, release in data["release"].items():
        where = f"[release.{printable(suite, 40)}]"
        if not _SUITE.fullmatch(suite):
            raise fail(where, "a Debian suite name is lowercase letters (bookworm, trixie)")
        if not isinstance(release, dict):
            raise fail(where, "expected a table")
        _known_keys(release, _RELEASE, where, fail)
        for key, kind in _RELEASE.items():
            if not isinstance(release.get(key), kind):
                raise fail(f"{where} key {shown(key)}", f"missing or not a {_kind(kind)}")
        if not re.fullmatch(r"[0-9]{1,3}", release["version"]):
            raise fail(f"{where} key 'version'", f"{shown(release['version'])} is not a Debian version number (\"12\")")
        if not re.fullmatch(r"3\.[0-9]{1,2}", release["python"]):
            raise fail(f"{where} key 'python'", f"{shown(release['python'])} is not a Python version (\"3.11\")")
        for arch in release["arches"]:
            if not isinstance(arch, str) or not _DEBIAN_ARCH.fullmatch(arch):
                raise fail(f"{where} key 'arches'", f"{shown(arch)} is not a Debian architecture name")
            if arch in releases:
                raise fail(f"{where} key 'arches'", f"{shown(arch)} is taken from {releases[arch][0]} already")
            releases[arch] = (suite, release["version"], release["python"])

    userlands: dict[str, Userland] = {}
    seen: dict[str, str] = {}
    for arch, row in data["arch"].items():
        where = f"[arch.{printable(arch, 40)}]"
        if arch not in arches():
            raise fail(where, "not an architecture of platforms.toml" + did_you_mean(arch, arches()))
        if not isinstance(row, dict):
            raise fail(where, "expected a table")
        for key, value in row.items():
            if key not in _ARCH:
                raise fail(f"{where} key {shown(key)}", "unknown key" + did_you_mean(key, _ARCH))
            if not isinstance(value, _ARCH[key][0]):
                raise fail(f"{where} key {shown(key)}", f"expected a {_kind(_ARCH[key][0])}")
        if "debian-arch" not in row:
            raise fail(f"{where} key 'debian-arch'", "missing (required)")
        debian_arch = row["debian-arch"]
        if debian_arch not in releases:
            raise fail(f"{where} key 'debian-arch'", f"{shown(debian_arch)} is in no [release.*] arches"
                       + did_you_mean(debian_arch, releases))
        if debian_arch in seen:
            raise fail(f"{where} key 'debian-arch'", f"{shown(debian_arch)} is [arch.{seen[debian_arch]}]'s already")
        seen[debian_arch] = arch
        qemu = row.get("qemu")
        if qemu is not None and not _QEMU.fullmatch(qemu):
            raise fail(f"{where} key 'qemu'", f"{shown(qemu)} is not a qemu-user program name (qemu-aarch64)")
        suite, version, python = releases[debian_arch]
        userlands[arch] = Userland(arch, debian_arch, suite, version, python, qemu, bool(row.get("uv", False)),
                                   boot["mirror"], boot["variant"], tuple(include))

    instead = data.get("instead", {})
    for key, text in instead.items():
        if not _INSTEAD_KEY.fullmatch(key):
            raise fail(f"[instead] key {shown(key)}", "expected os.<os>, arch.<triple arch> or libc.<libc>")
        if not isinstance(text, str) or not text.strip() or len(text) > 200 or not text.isprintable():
            raise fail(f"[instead] key {shown(key)}", "expected one printable line (at most 200 characters)")
    return Recipes(path, userlands, dict(instead))


def _known_keys(table_: Mapping[str, Any], known: Mapping[str, object], where: str,
                fail: Callable[[str, str], ConfigError]) -> None:
    for key in table_:
        if key not in known:
            raise fail(f"{where} key {shown(key)}", "unknown key" + did_you_mean(key, known))


def _kind(kind: type) -> str:
    return {str: "string", list: "list", bool: "boolean (true/false)", dict: "table"}.get(kind, kind.__name__)


# ---------------------------------------------------------------- the outcome


@dataclass(frozen=True)
class UserlandStep:
    name: str
    status: str  # "ok", "FAIL", "skip" (an earlier step failed), "-" (does not apply)
    detail: str


@dataclass(frozen=True)
class UserlandRow:
    target: str
    userland: str  # "Debian 12 bookworm arm64", or "none"
    python: str
    wheel: str
    install_seconds: float | None
    source_builds: int | None
    steps: tuple[UserlandStep, ...]
    instead: str  # for a target without a userland: what proves it
    seconds: float

    @property
    def ok(self) -> bool:
        return not any(s.status == "FAIL" for s in self.steps)


@dataclass(frozen=True)
class UserlandOutcome:
    version: str
    index: str
    rows: tuple[UserlandRow, ...]
    seconds: float
    report: Path

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)


def to_json(outcome: UserlandOutcome) -> dict[str, object]:
    return {"ok": outcome.ok, "version": outcome.version, "index": outcome.index,
            "seconds": round(outcome.seconds, 1), "targets": [asdict(r) | {"ok": r.ok} for r in outcome.rows]}


def render(outcome: UserlandOutcome) -> str:
    headers = ["target", "userland", "python", "wheel", "install-s", "src-builds", *STEPS]
    rows = []
    for row in outcome.rows:
        if not row.steps:
            rows.append([row.target, "none", "-", "-", "-", "-", *["-"] * len(STEPS)])
            continue
        cells = {s.name: s.status if s.status != "FAIL" else f"FAIL: {_short(s.detail, 30)}" for s in row.steps}
        rows.append([row.target, row.userland, row.python, _platform_part(row.wheel),
                     "-" if row.install_seconds is None else f"{row.install_seconds:.1f}",
                     "-" if row.source_builds is None else str(row.source_builds),
                     *[cells.get(name, "-") for name in STEPS]])
    lines = [table(headers, rows), ""]
    lines += [f"{r.target}: no userland here; proven by {r.instead}" for r in outcome.rows if not r.steps]
    failed = [f"FAIL {r.target} {s.name}: {s.detail}" for r in outcome.rows for s in r.steps if s.status == "FAIL"]
    if failed:
        lines += ["", *failed]
    verdict = "passed" if outcome.ok else "FAILED"
    lines += ["", f"userlands of noetl {outcome.version} from {outcome.index}: {verdict} ({outcome.seconds:.0f} s); "
                  f"the report: {outcome.report}"]
    return "\n".join(lines)


def _platform_part(wheel: str) -> str:
    """A wheel file name's platform tag, which is what differs between the targets' wheels."""
    return wheel.removesuffix(".whl").rsplit("-", 1)[-1] if wheel.endswith(".whl") else wheel or "-"


def _short(text: str, limit: int) -> str:
    text = printable(" ".join(text.split()), 10 * limit)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------- the session


def userland(layout: Layout, matrix: Matrix, triples: Sequence[str], *, wheelhouse: Path | None = None,
             progress: Progress = lambda _: None) -> UserlandOutcome:
    """`python -m noetl_build userland`: a package index on 127.0.0.1 over dist/'s wheels and sdist
    and the wheelhouse, then run_userlands against it."""
    from .rehearsal import running_index

    recipes = load_recipes(layout.userlands_file)
    targets = matrix.select(triples)
    wheels = _wheels(layout, recipes, targets)
    if not wheels:  # nothing to install: no index needed
        return run_userlands(layout, matrix, triples, index_url="-", version="-", progress=progress)
    if wheelhouse is None:
        wheelhouse = layout.wheelhouse
        if not (wheelhouse / ".filled").is_file():
            raise ReleaseError(f"no wheelhouse in {wheelhouse}: fetch it first (python -m noetl_build wheelhouse)")
    elif not wheelhouse.is_dir():
        raise ReleaseError(f"--wheelhouse {wheelhouse}: no such directory")
    versions = {_wheel_version(w) for w in wheels.values()}
    if len(versions) > 1:
        raise ReleaseError(f"dist/'s wheels of these targets have different versions ({', '.join(sorted(versions))}): "
                           "build them again from one commit")
    with _exclusive(layout):
        packages = layout.userland_index
        if packages.exists():
            shutil.rmtree(packages)
        packages.mkdir(parents=True)
        for path in sorted(layout.dist.iterdir()):
            if path.is_file() and path.name.endswith((".whl", ".tar.gz")):
                shutil.copyfile(path, packages / path.name)
        with running_index(packages, wheelhouse, layout.log("userland-index")) as index:
            progress(f"==> index: pypiserver on {index.url} serving dist/ and {wheelhouse}")
            return _run(layout, matrix, triples, index_url=index.simple, version=versions.pop(), progress=progress)


def run_userlands(layout: Layout, matrix: Matrix, triples: Sequence[str], *, index_url: str, version: str,
                  progress: Progress = lambda _: None) -> UserlandOutcome:
    """Every named target (all when none) in its Debian userland, installing noetl==``version`` from
    ``index_url`` (a simple index on 127.0.0.1 serving dist/'s files and their dependencies)."""
    with _exclusive(layout):
        return _run(layout, matrix, triples, index_url=index_url, version=version, progress=progress)


def _run(layout: Layout, matrix: Matrix, triples: Sequence[str], *, index_url: str, version: str,
         progress: Progress) -> UserlandOutcome:
    started = time.monotonic()
    recipes = load_recipes(layout.userlands_file)
    targets = matrix.select(triples)
    wheels = _wheels(layout, recipes, targets)
    wanted = [u for t in targets if (u := recipes.for_target(t)) is not None]
    rows: list[UserlandRow] = []
    with binfmt.terminate_as_interrupt():
        if wanted:
            debootstrap = _host_check(wanted)
            handlers = [binfmt.debian_handler(q, binfmt.run_name(q)) for q in sorted({u.qemu for u in wanted if u.qemu})]
            with binfmt.registered(handlers) as names:
                if names:
                    progress(f"==> binfmt_misc: registered {', '.join(names)} (removed again at the end)")
                for target in targets:
                    chosen = recipes.for_target(target)
                    if chosen is None:
                        rows.append(_instead_row(target, recipes))
                        continue
                    rows.append(_prove(layout, target, chosen, wheels[target.name], index_url=index_url,
                                       version=version, debootstrap=debootstrap, progress=progress))
        else:
            rows = [_instead_row(t, recipes) for t in targets]
    report = layout.userlands / REPORT
    outcome = UserlandOutcome(version, index_url, tuple(rows), time.monotonic() - started, report)
    atomic_write_text(report, json.dumps(to_json(outcome), indent=2) + "\n")
    return outcome


def _instead_row(target: Target, recipes: Recipes) -> UserlandRow:
    return UserlandRow(target.name, "none", "-", "-", None, None, (), recipes.proof_instead(target), 0.0)


def _wheels(layout: Layout, recipes: Recipes, targets: Sequence[Target]) -> dict[str, Path]:
    """dist/'s wheel of each target that has a userland; ReleaseError naming how to build a missing one."""
    from .dist import load_entries

    entries = load_entries(layout.dist)
    found = {}
    for target in targets:
        if recipes.for_target(target) is None:
            continue
        entry = entries.get(target.name)
        if entry is None:
            raise ReleaseError(f"{layout.dist} has no wheel for {target.name}: build it first with "
                               f"nox -s wheel -- {target.name}")
        found[target.name] = layout.dist_file(entry.wheel)
    return found


def _wheel_version(wheel: Path) -> str:
    return wheel.name.split("-")[1]


def host_problem(userlands: Sequence[Userland], *, euid: int | None = None,
                 which: Callable[[str], str | None] = shutil.which, conf_dir: Path = binfmt.CONF_DIR) -> str | None:
    """What this host lacks to make and enter these userlands, as one line saying what to do; None
    when nothing. (binfmt_misc itself is found out when the handlers are registered.)"""
    if (os.geteuid() if euid is None else euid) != 0:
        return ("Debian userlands need root (debootstrap, chroot, mount and binfmt_misc): run the userland "
                "session as root, as CI does")
    for program, package in (("debootstrap", "debootstrap"), ("chroot", "coreutils"), ("mount", "mount"),
                             ("umount", "mount")):
        if which(program) is None:
            return f"{program} is not installed: apt-get install {package} (requirements/apt.txt; bash .ci/setup)"
    for program in sorted({u.qemu for u in userlands if u.qemu}):
        try:
            binfmt.debian_handler(program, "probe", conf_dir=conf_dir)
        except ToolchainError as exc:
            return str(exc)
    return None


def _host_check(userlands: Sequence[Userland]) -> str:
    """host_problem as a ToolchainError; the debootstrap version (part of every root's recipe)."""
    problem = host_problem(userlands)
    if problem:
        raise ToolchainError(problem)
    said = (output(["debootstrap", "--version"]) or "").split()
    return said[-1] if said else "unknown"


@contextlib.contextmanager
def _exclusive(layout: Layout) -> Iterator[None]:
    """One userland run per build dir; what a killed run left (mounts, half roots) is cleared first."""
    layout.userlands.mkdir(parents=True, exist_ok=True)
    with open(layout.userlands / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ReleaseError(f"another userland run is using {layout.userlands}: wait for it to end") from None
        _kill_inside(layout.userlands)
        _unmount_under(layout.userlands)
        for path in sorted(layout.userlands.glob(".partial-*")) + sorted(layout.userlands.glob(".old-*")):
            _remove_tree(path)
        yield


# ---------------------------------------------------------------- one target


def _prove(layout: Layout, target: Target, chosen: Userland, wheel: Path, *, index_url: str, version: str,
           debootstrap: str, progress: Progress) -> UserlandRow:
    started = time.monotonic()
    steps: dict[str, UserlandStep] = {}

    def done(name: str, ok: bool, detail: str) -> bool:
        steps[name] = UserlandStep(name, "ok" if ok else "FAIL", detail)
        return ok

    def row(python: str = "-", install: float | None = None, builds: int | None = None) -> UserlandRow:
        every = tuple(steps.get(n) or (UserlandStep(n, "-", f"{layout.userlands_file.name} asks no uv install here")
                                       if n == "uv" and not chosen.uv else UserlandStep(n, "skip", "an earlier step failed"))
                      for n in STEPS)
        return UserlandRow(target.name, chosen.label, python, wheel.name, install, builds, every, "",
                   time.monotonic() - started)

    progress(f"==> {target.name}: {chosen.label}")
    try:
        root, how = ensure_root(layout, chosen, debootstrap=debootstrap, progress=progress)
    except ToolchainError as exc:
        done("root", False, str(exc))
        return row()
    python = _root_python(root)
    fits = python.startswith(chosen.python + ".")
    if not done("root", fits, f"{how}; python3 {python}" + ("" if fits else f", not {chosen.python}")):
        return row(python)
    compilers = _compilers(root)
    done("no-cc", not compilers, f"{', '.join(compilers)} present" if compilers
         else f"none of {', '.join(COMPILERS)} in the root")
    run = root / RUN_DIR
    _remove_tree(run)
    (run / "home").mkdir(parents=True)
    try:
        with chroot_session(root):
            install, builds = _steps(layout, root, chosen, wheel, index_url, version, done, progress)
    finally:
        _remove_tree(run)
    return row(python, install, builds)


def _steps(layout: Layout, root: Path, chosen: Userland, wheel: Path, index_url: str, version: str,
           done: Callable[[str, bool, str], bool], progress: Progress) -> tuple[float | None, int | None]:
    """The steps inside the root; (install seconds, source builds) of the pip install."""
    from .rehearsal import _free_port

    env = _root_env()
    venv = f"/{RUN_DIR}/venv"
    noetl = f"{venv}/bin/noetl"
    log = layout.log(f"userland-{chosen.name}-pip")

    def chroot(*cmd: str, timeout: float = COMMAND_SECONDS, logged: bool = False) -> Captured:
        return capture(["chroot", str(root), *cmd], env=env, timeout=timeout, log=log if logged else None)

    progress(f"    python3 -m venv {venv}")
    made = chroot("python3", "-m", "venv", venv, timeout=STEP_SECONDS)
    if not done("venv", made.ok, "python3 -m venv" if made.ok else f"python3 -m venv: {made.failure()}"):
        return None, None

    progress(f"    pip install noetl=={version} from {index_url}")
    report = f"/{RUN_DIR}/pip-report.json"
    clock = time.monotonic()
    pip = chroot(f"{venv}/bin/python", "-m", "pip", "install", "--no-cache-dir", "--index-url", index_url,
                 "--report", report, f"noetl=={version}", timeout=STEP_SECONDS, logged=True)
    seconds = time.monotonic() - clock
    if not pip.ok:
        done("pip", False, f"pip install failed ({pip.failure()}); log: {log}")
        return seconds, None
    verdict, builds = judge_install(root / report.lstrip("/"), wheel, index_url, root / venv.lstrip("/"))
    if not done("pip", verdict == "", f"{wheel.name} in {seconds:.1f} s; " + (
            verdict or f"{builds} source builds, every file from the index, WHEEL tags = the file's")):
        return seconds, builds

    said = chroot(noetl, "--version")
    if not done("version", said.ok and said.stdout.strip() == f"noetl {version}",
                f"said {_short(said.stdout.strip() or said.failure(), 80)!r}"):
        return seconds, builds

    progress("    noetl server start, catalog, GET /, a body over the limit, server stop, the wrapper")
    port = str(_free_port())
    text = (layout.root / PLAYBOOK).read_text()
    (root / RUN_DIR / PLAYBOOK.name).write_text(text)
    big = root / RUN_DIR / "too-large.yaml"
    filler = "# " + "x" * 98 + "\n"
    big.write_text(text + filler * (BODY_LIMIT // len(filler) + 16))

    start = chroot(noetl, "--port", port, "server", "start", "--init-db")
    if done("start", start.ok, f"on 127.0.0.1:{port}" if start.ok else f"server start: {start.failure()}"):
        try:
            registered = chroot(noetl, "--port", port, "catalog", "register", f"/{RUN_DIR}/{PLAYBOOK.name}")
            listed = chroot(noetl, "--port", port, "catalog", "list")
            done("catalog", registered.ok and listed.ok and PLAYBOOK_PATH in listed.stdout,
                 f"registered and listed {PLAYBOOK_PATH}" if registered.ok and listed.ok
                 else f"register: {'ok' if registered.ok else registered.failure()}; "
                      f"list: {'no ' + PLAYBOOK_PATH if listed.ok else listed.failure()}")
            page = chroot(f"{venv}/bin/python", "-c",
                          "import sys, urllib.request as u; o = u.build_opener(u.ProxyHandler({})); "
                          f"sys.stdout.write(o.open('http://127.0.0.1:{port}/', timeout=60).read().decode())")
            served = page.ok and UI_MARKER in page.stdout
            done("ui", served, f"GET / has {UI_MARKER}" if served
                 else f"GET /: {'no ' + UI_MARKER if page.ok else page.failure()}")
            refused = chroot(noetl, "--port", port, "catalog", "register", f"/{RUN_DIR}/{big.name}")
            told = TOO_LARGE in refused.stdout + refused.stderr
            done("413", refused.code not in (0, None) and told,
                 f"a {big.stat().st_size} byte playbook: exit {refused.code}, "
                 + (_short(refused.last_line(), 100) if told
                    else f"{_short(refused.last_line('no output'), 100)!r}, not the server's '{TOO_LARGE}'"))
        finally:
            stop = chroot(noetl, "--port", port, "server", "stop")
            done("stop", stop.ok, "server stop" if stop.ok else f"server stop: {stop.failure()}")

    binaries = list((root / RUN_DIR / "venv").glob("lib/python3*/site-packages/noetl/bin/noetl"))
    for binary in binaries:
        binary.unlink()
    lost = chroot(noetl, "--version")
    first = (lost.stderr.strip().splitlines() or [""])[0]
    done("wrapper", bool(binaries) and lost.code not in (0, None) and first == WRAPPER_LINE,
         f"binary deleted; exit {lost.code}: {_short(first, 120)}")

    if chosen.uv:
        done("uv", *_uv_install(root, chroot, wheel, index_url, version, progress))
    return seconds, builds


def _uv_install(root: Path, chroot: Callable[..., Captured], wheel: Path, index_url: str, version: str,
                progress: Progress) -> tuple[bool, str]:
    """The host's uv, copied into the root, installs noetl from the index into a second venv."""
    from .verify.execution import uv_binary

    uv = root / RUN_DIR / "uv"
    shutil.copyfile(uv_binary(), uv)
    uv.chmod(0o755)
    venv = f"/{RUN_DIR}/uv-venv"
    progress(f"    uv pip install noetl=={version} into {venv}")
    made = chroot("python3", "-m", "venv", "--without-pip", venv, timeout=STEP_SECONDS)
    if not made.ok:
        return False, f"python3 -m venv: {made.failure()}"
    clock = time.monotonic()
    proc = chroot(f"/{RUN_DIR}/uv", "pip", "install", "--no-config", "--no-cache", "--index-url", index_url,
                  "--python", f"{venv}/bin/python", f"noetl=={version}", timeout=STEP_SECONDS)
    seconds = time.monotonic() - clock
    if not proc.ok:
        return False, f"uv pip install: {proc.failure()}"
    tags = installed_noetl_tags(root / venv.lstrip("/"))
    if tags != _file_tags(wheel):
        return False, f"uv installed the {', '.join(sorted(tags)) or 'no'} wheel, not {wheel.name}"
    said = chroot(f"/{RUN_DIR}/uv", "--version").stdout.split()
    return True, f"{wheel.name} in {seconds:.1f} s with uv {said[1] if len(said) > 1 else '?'}, WHEEL tags = the file's"


def judge_install(report: Path, wheel: Path, index_url: str, venv: Path) -> tuple[str, int | None]:
    """'' when pip's --report says it took ``wheel`` and only wheels, all from the index, and the
    installed WHEEL carries the file's tags; else why not. Also the number of source builds."""
    try:
        items = json.loads(report.read_text())["install"]
        urls = [str(item["download_info"]["url"]) for item in items]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"pip's --report is unreadable ({type(exc).__name__})", None
    names = [urllib.parse.unquote(urllib.parse.urlsplit(u).path.rsplit("/", 1)[-1]) for u in urls]
    sources = [n for n in names if not n.endswith(".whl")]
    base = urllib.parse.urlsplit(index_url)
    foreign = [u for u in urls if urllib.parse.urlsplit(u)[:2] != base[:2]]
    problems = []
    noetl = [n for n in names if n.lower().startswith("noetl-")]
    if noetl != [wheel.name]:
        problems.append(f"took {', '.join(noetl) or 'no noetl'}, not {wheel.name}")
    if sources:
        problems.append(f"{len(sources)} source builds ({', '.join(sources)})")
    if foreign:
        problems.append(f"{len(foreign)} files not from the index ({foreign[0]})")
    tags = installed_noetl_tags(venv)
    if not problems and tags != _file_tags(wheel):
        problems.append(f"installed WHEEL tags {', '.join(sorted(tags)) or 'none'}, not the file's")
    return "; ".join(problems), len(sources)


def installed_noetl_tags(venv: Path) -> frozenset[str]:
    """The Tag lines of the noetl WHEEL installed in ``venv`` (empty when none)."""
    from .wheelfile import installed_tags

    for site in sorted(venv.glob("lib/python3*/site-packages")):
        for info in sorted(site.glob("noetl-*.dist-info")):
            return installed_tags(site, info.name)
    return frozenset()


def _file_tags(wheel: Path) -> frozenset[str]:
    """The tags a wheel's file name promises, expanded (py3-none-a.b -> py3-none-a, py3-none-b)."""
    python, abi, platform = wheel.name.removesuffix(".whl").split("-")[-3:]
    return frozenset(f"{p}-{a}-{x}" for p in python.split(".") for a in abi.split(".") for x in platform.split("."))


def _root_env() -> dict[str, str]:
    """The whole environment of a program in the root: nothing of this host's, no proxy, no index
    but the one on the command line."""
    run = f"/{RUN_DIR}"
    return {"PATH": PATH_IN_ROOT, "HOME": f"{run}/home", "LANG": "C.UTF-8", "TMPDIR": "/tmp",
            "NOETL_HOME": f"{run}/noetl-home", "NOETL_CONFIG_DIR": f"{run}/noetl-config",
            "NOETL_SERVER_START_TIMEOUT": START_TIMEOUT, "PIP_CONFIG_FILE": "/dev/null",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", "UV_PYTHON_DOWNLOADS": "never"}


def _root_python(root: Path) -> str:
    said = capture(["chroot", str(root), "python3", "-c", "import platform; print(platform.python_version())"],
                   env=_root_env(), timeout=COMMAND_SECONDS)
    return said.stdout.strip() if said.ok else f"? ({said.failure()})"


def _compilers(root: Path) -> list[str]:
    return sorted({name for d in BIN_DIRS for name in COMPILERS if os.path.lexists(root / d / name)})


# ---------------------------------------------------------------- roots


def ensure_root(layout: Layout, chosen: Userland, *, debootstrap: str, progress: Progress) -> tuple[Path, str]:
    """The cached root of ``chosen``, made first when missing or made from another recipe; how.

    Made in BUILD/userlands/.partial-<name>-<pid> and renamed into place only when whole, so a
    killed build never leaves a root that looks cached. ToolchainError when debootstrap fails.
    """
    home = layout.userland_home(chosen.name)
    root = home / "root"
    key = chosen.key(debootstrap)
    if root_is_cached(home, key):
        return root, "cached"
    partial = layout.userlands / f".partial-{chosen.name}-{os.getpid()}"
    _remove_tree(partial)
    partial.mkdir(parents=True)
    clock = time.monotonic()
    try:
        made = _debootstrap(layout, chosen, partial / "root", progress)
        Stamp(partial / "recipe.json").write({"key": key, "recipe": chosen.recipe(debootstrap),
                                              "seconds": round(time.monotonic() - clock, 1), **made})
        old = layout.userlands / f".old-{chosen.name}-{os.getpid()}"
        if home.exists():
            _kill_inside(home)
            _unmount_under(home)
            home.rename(old)
        partial.rename(home)
        _remove_tree(old)
    finally:
        with binfmt.held_signals():
            _kill_inside(partial)
            _remove_tree(partial)
    return root, f"made in {time.monotonic() - clock:.0f} s"


def root_is_cached(home: Path, key: str) -> bool:
    """True when ``home`` holds a whole root made from the recipe whose key is ``key``."""
    return Stamp(home / "recipe.json").read().get("key") == key and (home / "root" / "usr" / "bin" / "python3").exists()


def _debootstrap(layout: Layout, chosen: Userland, root: Path, progress: Progress) -> dict[str, object]:
    foreign = chosen.qemu is not None
    log = layout.log(f"userland-{chosen.name}-debootstrap")
    cmd = ["debootstrap", *(["--foreign"] if foreign else []), f"--arch={chosen.debian_arch}",
           f"--variant={chosen.variant}", f"--include={','.join(chosen.include)}", chosen.suite, str(root),
           chosen.mirror]
    progress(f"    debootstrap {'--foreign ' if foreign else ''}{chosen.suite} {chosen.debian_arch} from "
             f"{chosen.mirror} (log: {log})")
    timings: dict[str, object] = {}
    clock = time.monotonic()
    _stage(cmd, log, "debootstrap")
    timings["first_stage_seconds"] = round(time.monotonic() - clock, 1)
    if foreign:
        log = layout.log(f"userland-{chosen.name}-second-stage")
        progress(f"    debootstrap --second-stage inside the root, under {chosen.qemu} (log: {log})")
        clock = time.monotonic()
        _stage(["chroot", str(root), "/debootstrap/debootstrap", "--second-stage"], log, "debootstrap --second-stage")
        timings["second_stage_seconds"] = round(time.monotonic() - clock, 1)
    hosts = root / "etc" / "hosts"
    if not hosts.exists():
        hosts.write_text(HOSTS)
    if not (root / "usr" / "bin" / "python3").exists():
        raise ToolchainError(f"debootstrap made {root} without python3")
    return timings


def _stage(cmd: list[str], log: Path, what: str) -> None:
    env = {"PATH": PATH_IN_ROOT, "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive", "HOME": "/root"}
    proc = capture(cmd, env=env, timeout=DEBOOTSTRAP_SECONDS, log=log)
    if not proc.ok:
        raise ToolchainError(f"{what} failed ({_short(proc.failure(), 200)}); log: {log}")


# ---------------------------------------------------------------- mounts and processes


@contextlib.contextmanager
def chroot_session(root: Path) -> Iterator[None]:
    """/proc and the basic devices mounted in ``root`` for the block; after it (an error, Ctrl-C and
    SIGTERM included) every process left inside is killed and every mount under ``root`` undone."""
    try:
        _mount(["-t", "proc", "proc"], root / "proc")
        for device in DEVICES:
            point = root / "dev" / device
            if point.is_symlink() or not point.exists():
                point.unlink(missing_ok=True)
                point.touch()
            _mount(["--bind", f"/dev/{device}"], point)
        yield
    finally:
        with binfmt.held_signals():
            _kill_inside(root)
            _unmount_under(root)


def _mount(options: list[str], point: Path) -> None:
    if not point.exists():
        point.mkdir(parents=True)
    proc = capture(["mount", *options, str(point)], timeout=30)
    if not proc.ok:
        raise ToolchainError(f"mounting {point} failed ({proc.failure()}): it needs root")


def mounts_under(path: Path, mountinfo: Path = Path("/proc/self/mountinfo")) -> list[Path]:
    """Mount points at or under ``path``, deepest first."""
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return []
    prefix = str(path).rstrip("/")
    found = set()
    for line in lines:
        fields = line.split()
        if len(fields) < 5:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        if point == prefix or point.startswith(prefix + "/"):
            found.add(Path(point))
    return sorted(found, key=lambda p: (len(p.parts), str(p)), reverse=True)


def _unmount_under(path: Path) -> None:
    """Every mount under ``path`` undone: umount, again after killing what is inside, else detached."""
    for _ in range(3):  # bounded: mounts stacked on one point come off one at a time
        points = mounts_under(path)
        if not points:
            return
        for point in points:
            if not capture(["umount", str(point)], timeout=30).ok:
                _kill_inside(path)
                if not capture(["umount", str(point)], timeout=30).ok:
                    capture(["umount", "--lazy", str(point)], timeout=30)


def _remove_tree(path: Path) -> None:
    """shutil.rmtree, never across a mount: a bound /dev or /proc under ``path`` is undone first,
    and the removal refused when one stays."""
    if not path.exists() and not path.is_symlink():
        return
    _unmount_under(path)
    left = mounts_under(path)
    if left:
        raise ToolchainError(f"{path} still has a mount under it ({left[0]}): umount it and run again")
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def processes_inside(root: Path) -> list[int]:
    """The processes whose root directory is ``root`` or under it."""
    found = []
    prefix = str(root).rstrip("/")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            where = os.readlink(entry / "root")
        except OSError:
            continue
        if where == prefix or where.startswith(prefix + "/"):
            found.append(int(entry.name))
    return found


def _kill_inside(root: Path) -> int:
    """SIGTERM to every process inside ``root``, SIGKILL to those still there KILL_SECONDS later;
    bounded in time either way. Returns how many there were."""
    if not root.exists():
        return 0
    first = processes_inside(root)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = processes_inside(root)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + KILL_SECONDS
        while processes_inside(root) and time.monotonic() < deadline:
            time.sleep(0.1)
    return len(first)
