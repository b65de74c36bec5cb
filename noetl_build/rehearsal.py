"""The release rehearsal: publish dist/ to a real package index on 127.0.0.1, then prove from
that index what users would get.

    fill_wheelhouse(layout, matrix, *,       noetl's dependencies for every target's platform and
        pythons, index_url) -> Path          Python (deps.fill) and the sdist's build requirements,
                                             fetched once from the registry (before anything else runs)
    rehearse(layout, matrix) -> RehearsalOutcome      index up, publish (killed midway, run again), prove,
                                             index down
    interrupted_upload(layout, matrix,       the drill: a publish killed while uploading its second
        index, packages) -> (release, RehearsalStep)  file, then run again; the index holds each file once
    render(outcome) -> str                   one table: target, wheel, pip, uv, ran

The index is pypiserver (requirements/release.txt) on a free port of 127.0.0.1 with uploads
open, serving what is published beside build/wheelhouse; nothing is asked of any other host
(pip and uv get only its URL and no configuration). What is proven, from the index:

- a publish killed midway (after a wheel, before the sdist) and run again completes the
  release: the rerun skips what the first run uploaded, uploads the rest with the sdist last,
  and the index then holds each file once, byte-identical to dist/;
- it lists exactly the files of the release, with dist/'s sha256;
- for every target, pip asked as a machine of that platform downloads exactly that target's
  wheel, byte-identical to dist/, and uv (where it has a name for the platform) installs it;
- a fresh venv's `pip install noetl` runs `noetl --version` as the release and serves;
- a fresh venv's `pip install --no-binary noetl noetl` compiles the sdist, and works too;
- noetl's whole install closure is wheels on every target's platform and Python (deps.check);
- `pipx install`, `uv tool install` and `uvx` give a working `noetl`;
- each glibc target's wheel installs and runs inside its own Debian (userland.py; root needed);
- the downloaded files pass verify again (binaries run natively, under qemu or wine).
"""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import itertools
import json
import os
import shutil
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ReleaseError, printable
from .files import sha256_file
from .layout import Layout
from .procs import Captured, background, capture
from .publish import SKIPPING, UPLOADING, ReleaseSet, publish, release_set
from .report import table
from .targets import Matrix, Target
from .tool_installs import tool_installs
from .verdicts import CheckStatus
from .probes import PYTHON

if TYPE_CHECKING:
    from .verify import WheelReport

WHEELHOUSE_REQUIREMENTS = "wheelhouse.txt"
START_SECONDS = 30  # the index must answer within this
SERVER_SECONDS = 60  # `noetl server start/stop`
INSTALL_SECONDS = 1800  # a source install compiles the binary
REPORT = "rehearsal.json"  # in the scratch directory, beside the logs
USER = ("rehearsal", "rehearsal")  # uploads are open; twine still sends something
KILL_AT_SECONDS = 600  # the first publish of the drill must start its second upload within this
KILL_SECONDS = 30  # and be gone this long after SIGKILL
POLL_SECONDS = 0.1  # how often the drill looks whether it is there, or ended

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RehearsalStep:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class RehearsalRow:
    target: str
    wheel: str
    pip: str
    uv: str
    ran: str
    ok: bool


@dataclass(frozen=True)
class RehearsalOutcome:
    version: str
    index: str
    steps: tuple[RehearsalStep, ...]
    rows: tuple[RehearsalRow, ...]
    seconds: float
    log_dir: Path

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps) and all(r.ok for r in self.rows)


# ---------------------------------------------------------------- the wheelhouse


def fill_wheelhouse(layout: Layout, matrix: Matrix, *, pythons: Sequence[tuple[int, int]] | None = None,
                    index_url: str | None = None, progress: Progress = lambda _: None) -> Path:
    """BUILD/wheelhouse, filled once: requirements/wheelhouse.txt for this interpreter (the sdist's
    build requirements), plus noetl's dependencies for EVERY target's platform and each of
    ``pythons`` (default platforms.toml [python]: 3.10-3.14, so Debian 12's 3.11 and Debian 13's
    3.13 among them): pyproject's [project] dependencies, read now, their closure resolved per
    platform by deps.fill against ``index_url`` (default: the index pip uses here) and exactly
    those files downloaded, sha256-checked. A rerun with the same inputs does nothing."""
    from . import deps
    from .fingerprint import code_digest
    from .platforms import python_versions

    pythons = tuple(pythons or python_versions())
    index_url = index_url or deps.default_index()
    requirements_file = layout.root / "requirements" / WHEELHOUSE_REQUIREMENTS
    dependencies = deps.project_requirements(layout.root / "pyproject.toml")
    platforms = sorted({(e.platform, e.python) for e in deps.environments(matrix.targets, pythons)})
    key = hashlib.sha256(json.dumps([requirements_file.read_text(), [str(d) for d in dependencies], platforms,
                                     sys.version, index_url, code_digest(Path(deps.__file__))]).encode()).hexdigest()
    where = layout.wheelhouse
    marker = where / ".filled"
    if marker.is_file() and marker.read_text() == key:
        return where
    progress(f"==> wheelhouse: fetching {requirements_file.name} into {where}")
    where.mkdir(parents=True, exist_ok=True)
    proc = capture([sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-input",
                    "--only-binary=:all:", "-d", where, "-r", requirements_file], timeout=900)
    if not proc.ok:
        raise ReleaseError(f"fetching the wheelhouse failed ({proc.last_line('no output')}): "
                           "check the package registry is reachable")
    # unpinned: each Python gets what pip would give it (starlette 1.x needs 3.11, say)
    progress(f"==> wheelhouse: noetl's dependencies for {len(platforms)} platform/Python pairs from {index_url}")
    deps.fill(deps.Index(index_url), matrix.targets, dependencies, where, pythons=pythons, progress=progress)
    marker.write_text(key)
    return where


# ---------------------------------------------------------------- the index


@dataclass(frozen=True)
class LocalIndex:
    port: int
    log: Path

    @property
    def url(self) -> str:
        """Where twine uploads (pypiserver takes the legacy upload API at its root)."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def simple(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple/"


@contextmanager
def running_index(packages: Path, wheelhouse: Path, log: Path) -> Iterator[LocalIndex]:
    """pypiserver on a free port of 127.0.0.1, uploads open, no fallback to PyPI; stopped after."""
    if importlib.util.find_spec("pypiserver") is None:
        raise ReleaseError("pypiserver is not installed here: run nox -s rehearse (it installs requirements/release.txt)")
    packages.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    server = [sys.executable, "-m", "pypiserver", "run", "--host", "127.0.0.1", "--port", str(port),
              "--authenticate", ".", "--passwords", ".", "--disable-fallback", "--hash-algo", "sha256",
              "--server", "wsgiref", str(packages), str(wheelhouse)]
    with background(server, log=log) as process:
        deadline = time.monotonic() + START_SECONDS
        while not _answers(f"http://127.0.0.1:{port}/health"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise ReleaseError(f"the package index did not start on 127.0.0.1:{port}; its log: {log}")
            time.sleep(0.2)
        yield LocalIndex(port, log)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with _opener().open(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _opener() -> urllib.request.OpenerDirector:
    """No proxies: the index is on 127.0.0.1 and nothing else is asked."""
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def listed_files(index: LocalIndex, project: str = "noetl") -> dict[str, str]:
    """The index's simple page for ``project``: file name -> the sha256 its link carries."""
    from . import deps

    return {f.filename: f.sha256 or "" for f in deps.Index(index.simple).files(project)}


# ---------------------------------------------------------------- the rehearsal


def rehearse(
    layout: Layout, matrix: Matrix, *, work: Path | None = None, userlands: bool = True,
    progress: Progress = lambda _: None,
) -> RehearsalOutcome:
    """Publish dist/ to a fresh index on 127.0.0.1 and prove every target installs back from it."""
    started = time.monotonic()
    work = _fresh_scratch((work or layout.rehearsal).resolve())
    wheelhouse = layout.wheelhouse
    if not (wheelhouse / ".filled").is_file():
        raise ReleaseError(f"no wheelhouse in {wheelhouse}: fetch it first (python -m noetl_build wheelhouse)")
    steps: list[RehearsalStep] = []
    rows: tuple[RehearsalRow, ...] = ()
    with running_index(work / "index", wheelhouse, work / "logs" / "index.log") as index:
        progress(f"==> index: pypiserver on {index.url}")
        release, upload = interrupted_upload(layout, matrix, index, work / "index", work / "logs", progress=progress)
        steps.append(upload)
        steps.append(_listing(index, release))
        steps.append(_dependencies(index, matrix, release, work, progress))
        downloads = work / "downloaded"
        choices = [_select(index, target, wheel, release, downloads, work, progress)
                   for target, wheel in zip(matrix.targets, release.wheels, strict=True)]
        steps.append(_fetch_sdist(index, release, downloads))
        progress("==> host: pip install noetl from the index into a fresh venv")
        steps.append(_install_and_serve("install wheel", index, release, work / "wheel-venv", source=False))
        progress("==> host: pip install --no-binary noetl from the index (compiles the sdist's binary)")
        steps.append(_install_and_serve("install sdist", index, release, work / "sdist-venv", source=True,
                                        cargo_target=layout.rehearsal_cargo))
        progress("==> host: pipx install, uv tool install and uvx noetl from the index")
        steps += [RehearsalStep(t.name, t.ok, t.detail)
                  for t in tool_installs(index.simple, release.version, work / "tools", _user_env(work / "tools"))]
        steps.append(_userlands(layout, matrix, index, release, progress) if userlands
                     else RehearsalStep("userlands", True, "not run (--no-userlands)"))
        progress("==> verify: the files downloaded from the index")
        reports, verify_step = _verify_downloads(layout, matrix, downloads, work, progress)
        steps.append(verify_step)
        rows = tuple(_row(choice, reports.get(choice.wheel.name)) for choice in choices)
    outcome = RehearsalOutcome(release.version, index.url, tuple(steps), rows, time.monotonic() - started, work / "logs")
    (work / REPORT).write_text(json.dumps(to_json(outcome), indent=2) + "\n")
    return outcome


# ---------------------------------------------------------------- the interrupted-publish drill


def interrupted_upload(layout: Layout, matrix: Matrix, index: LocalIndex, packages: Path, logs: Path, *,
                       progress: Progress = lambda _: None) -> tuple[ReleaseSet, RehearsalStep]:
    """The rehearsal's upload, as a release job that died midway and was run again makes it:
    `python -m noetl_build publish` to ``index`` is killed (SIGKILL, its whole session) in the
    middle of its second upload, so one wheel is up and the sdist, last, is not; then
    :func:`publish` runs again. Proven: the first run stopped between a wheel and the sdist; the
    rerun skipped exactly what was up and uploaded the rest in order, the sdist last (also by
    the files' times in ``packages``, where pypiserver keeps them); the index lists each file of
    the release once and serves it byte-identical to dist/. The publish's refusals, and the
    rerun failing, are a ReleaseError as for any publish; the drill's own findings, the RehearsalStep."""
    release = release_set(layout, matrix, allow_dev=True, repository_url=index.url)
    progress(f"==> upload: publish to {index.url}, killed in the middle of its second upload, then run again")
    killed, early = _killed_publish(layout, matrix, index, logs / "publish-killed.log")
    up_then = listed_files(index, release.project)
    rerun: list[str] = []

    def heard(line: str) -> None:
        rerun.append(line)
        progress(line)

    try:
        publish(layout, matrix, repository_url=index.url, allow_dev=True, credentials=USER, progress=heard)
    except ReleaseError as exc:
        raise ReleaseError(f"publish run again after the rehearsal killed it midway: {exc}") from None
    problems = [early] if early else []
    problems += _stopped_midway(release, up_then, _named(_lines(killed), UPLOADING))
    problems += _rerun_completed(release, list(up_then), rerun)
    problems += _held_once(index, release, packages)
    if problems:
        # names and hashes the index served are shown escaped
        return release, RehearsalStep("interrupted upload", False, printable(f"{problems[0]} (the killed run's log: {killed})"))
    wheels_then = len(up_then)
    return release, RehearsalStep(
        "interrupted upload", True,
        f"killed the first publish during its second upload ({wheels_then} of {len(release.wheels)} wheels up, no "
        f"sdist); the rerun skipped {'it' if wheels_then == 1 else 'them'} (same sha256) and uploaded "
        f"{len(release.files) - wheels_then}, the sdist last; the index holds each of the {len(release.files)} "
        f"files once, byte-identical to dist/")


def _killed_publish(layout: Layout, matrix: Matrix, index: LocalIndex, log: Path) -> tuple[Path, str]:
    """`python -m noetl_build publish` to ``index``, through a :func:`_gate` that holds its second
    upload, and killed (SIGKILL, its whole session) while that upload waits: its log, and '' or
    what went otherwise (it ended first, or never got there)."""
    package_root = str(Path(__file__).resolve().parents[1])  # this noetl_build, wherever the cwd is
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINE_")}
    env.update(TWINE_USERNAME=USER[0], TWINE_PASSWORD=USER[1], NO_PROXY="127.0.0.1,localhost",
               no_proxy="127.0.0.1,localhost",
               PYTHONPATH=os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p))
    with _gate(index.url, hold=2) as (gate_url, holding):
        cmd = [sys.executable, "-m", "noetl_build", "--root", str(layout.root), "--dist", str(layout.dist),
               "--build-dir", str(layout.build), "--targets-file", str(matrix.path),
               "publish", "--allow-dev", "--repository-url", gate_url]
        with background(cmd, log=log, env=env) as process:
            deadline = time.monotonic() + KILL_AT_SECONDS
            while not holding.wait(POLL_SECONDS):
                if process.poll() is not None:
                    said = _short(_lines(log)[-1] if _lines(log) else "nothing", 200)
                    return log, f"the first publish ended (exit {process.returncode}) before its second upload: {said}"
                if time.monotonic() > deadline:
                    break
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=KILL_SECONDS)
    if not holding.is_set():
        return log, f"the first publish did not start its second upload within {KILL_AT_SECONDS} s"
    return log, ""


@contextmanager
def _gate(upstream: str, *, hold: int) -> Iterator[tuple[str, threading.Event]]:
    """An HTTP proxy on a free port of 127.0.0.1 in front of ``upstream``: it passes every request
    on, except the ``hold``-th upload (POST), which it takes in and never answers nor passes on
    until it is closed. Yields its URL and the event set when it holds that upload: the drill's
    kill then lands in the middle of an upload by design, not by winning a race."""
    holding, closing = threading.Event(), threading.Event()
    uploads = itertools.count(1)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._forward(None)

        def do_POST(self) -> None:
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                self.send_error(411, "the rehearsal's gate takes uploads with a Content-Length")
                return
            body = self.rfile.read(int(length))
            if next(uploads) == hold:
                holding.set()
                closing.wait(KILL_AT_SECONDS)
                self.close_connection = True
                return
            self._forward(body)

        def _forward(self, body: bytes | None) -> None:
            kept = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "authorization", "content-type")}
            request = urllib.request.Request(upstream.rstrip("/") + self.path, data=body, method=self.command,
                                             headers=kept)
            try:
                with _opener().open(request, timeout=KILL_SECONDS) as response:
                    status, headers, data = response.status, response.headers, response.read()
            except urllib.error.HTTPError as exc:
                status, headers, data = exc.code, exc.headers, exc.read()
            except OSError as exc:
                self.send_error(502, f"the rehearsal's index did not answer ({exc})")
                return
            self.send_response(status)
            for name in ("Content-Type", "Location"):
                if headers.get(name):
                    self.send_header(name, headers[name])
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # quiet: the index keeps its own log
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="rehearsal-gate", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", holding
    finally:
        closing.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=KILL_SECONDS)


def _lines(log: Path) -> list[str]:
    """The whole lines a running program has written to ``log`` so far."""
    text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
    return text[: text.rfind("\n") + 1].splitlines()


def _named(lines: Sequence[str], prefix: str) -> list[str]:
    """The file names of the progress lines starting with ``prefix`` (publish.UPLOADING, SKIPPING)."""
    return [line.removeprefix(prefix).split(":", 1)[0] for line in lines if line.startswith(prefix)]


def _stopped_midway(release: ReleaseSet, up_then: dict[str, str], started: Sequence[str]) -> list[str]:
    """The killed run started its uploads in release order and not the sdist's; it left at least
    one wheel up, the sdist not, and nothing but dist/'s bytes."""
    order = [f.name for f in release.files]
    if release.sdist.name in started or started != order[: len(started)]:
        return [f"the first publish started uploading {started}, not the release's wheels in order"]
    if release.sdist.name in up_then:
        return [f"the first publish was killed too late: the sdist {release.sdist.name} was already up"]
    if not any(w.name in up_then for w in release.wheels):
        return ["the first publish was killed before any wheel was up"]
    ours = {f.name: sha256_file(f) for f in release.files}
    wrong = sorted(name for name, sha in up_then.items() if ours.get(name) != sha)
    return [f"after the kill the index held {', '.join(wrong)}, not dist/'s bytes"] if wrong else []


def _rerun_completed(release: ReleaseSet, up_then: list[str], said: Sequence[str]) -> list[str]:
    """The rerun skipped exactly what was up, then uploaded the rest in release order, sdist last."""
    order = [f.name for f in release.files]
    skipped, uploaded = _named(said, SKIPPING), _named(said, UPLOADING)
    want_skipped = [name for name in order if name in up_then]
    if skipped != want_skipped:
        return [f"the rerun skipped {skipped or 'nothing'}, not what the killed run left up: {want_skipped}"]
    rest = [name for name in order if name not in up_then]
    if uploaded != rest:
        return [f"the rerun uploaded {uploaded or 'nothing'}, not {rest} in that order"]
    if not uploaded or uploaded[-1] != release.sdist.name:
        return [f"the sdist was not uploaded last: {uploaded}"]
    return []


def _held_once(index: LocalIndex, release: ReleaseSet, packages: Path) -> list[str]:
    """The index lists each file of the release once and nothing else of the project, serves
    each byte-identical to dist/, and (by the times pypiserver wrote them) got the sdist last."""
    from . import deps

    simple = deps.Index(index.simple)
    listed = simple.files(release.project)
    names = [f.filename for f in listed]
    ours = {f.name: sha256_file(f) for f in release.files}
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        return [f"the index lists {', '.join(twice)} more than once"]
    if sorted(names) != sorted(ours):
        return [f"the index lists {sorted(names)}, not the release's {sorted(ours)}"]
    for file in listed:
        try:
            served = hashlib.sha256(simple.download(file)).hexdigest()
        except ReleaseError as exc:  # it does not serve what its page lists, or not at all
            return [str(exc)]
        if served != ours[file.filename]:
            return [f"the index serves {file.filename} with sha256 {served}, not dist/'s {ours[file.filename]}"]
    written = {p.name: p.stat().st_mtime_ns for p in packages.rglob("*") if p.name in ours}
    if set(written) != set(ours):
        return [f"{packages} holds {sorted(written)}, not the release's files"]
    if max(written.values()) != written[release.sdist.name]:
        later = sorted(n for n, t in written.items() if t > written[release.sdist.name])
        return [f"the index wrote {', '.join(later)} after the sdist"]
    return []


def to_json(outcome: RehearsalOutcome) -> dict[str, object]:
    return {
        "ok": outcome.ok, "version": outcome.version, "index": outcome.index,
        "seconds": round(outcome.seconds, 1),
        "steps": [asdict(s) for s in outcome.steps], "targets": [asdict(r) for r in outcome.rows],
    }


def _fresh_scratch(work: Path) -> Path:
    """An empty ``work``: a directory of an earlier rehearsal is cleared, anything else refused."""
    marker = work / ".noetl-rehearsal"
    if work.exists() and any(work.iterdir()):
        if not marker.is_file():
            raise ReleaseError(f"{work} is not empty and not an earlier rehearsal's: name an empty or new --work")
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    marker.write_text("scratch of `python -m noetl_build rehearse`: cleared by the next one\n")
    return work


def _dependencies(index: LocalIndex, matrix: Matrix, release: ReleaseSet, work: Path, progress: Progress) -> RehearsalStep:
    """deps.check against the index: noetl and its closure are wheels on every target's platform."""
    from . import deps

    report = deps.check(deps.Index(index.simple), matrix.targets, release.version, progress=progress)
    deps.write_json(report, work / "deps.json")
    failing = deps.failures(report)
    if failing:
        return RehearsalStep("dependencies", False, f"{len(failing)} of {len(report.resolutions)} environments need a "
                                           f"compiler or fail: {failing[0]} ({work / 'deps.json'})")
    packages = sorted({p.name for r in report.resolutions for p in r.picks} - {"noetl"})
    return RehearsalStep("dependencies", True, f"{len(report.resolutions)} target/Python environments install noetl and "
                                      f"{', '.join(packages)} from wheels alone, no compiler")


def _userlands(layout: Layout, matrix: Matrix, index: LocalIndex, release: ReleaseSet, progress: Progress) -> RehearsalStep:
    """Every glibc target installed from the index inside its own Debian (userland.run_userlands)."""
    from . import userland

    progress("==> userlands: each glibc target's wheel installed and run in its own Debian root")
    try:
        outcome = userland.run_userlands(layout, matrix, [], index_url=index.simple, version=release.version,
                                         progress=progress)
    except ReleaseError as exc:
        return RehearsalStep("userlands", False, f"{exc} (or rehearse with --no-userlands)")
    progress(userland.render(outcome))
    proven = [r for r in outcome.rows if r.steps]
    failed = [f"{r.target} {s.name}: {s.detail}" for r in proven for s in r.steps if s.status == "FAIL"]
    if failed or not outcome.ok:
        return RehearsalStep("userlands", False, f"FAILED {failed[0] if failed else 'a userland'} ({outcome.report})")
    others = len(outcome.rows) - len(proven)
    return RehearsalStep("userlands", True, f"{len(proven)} Debian userlands installed and ran their own wheel "
                                   f"({', '.join(r.userland for r in proven) or 'none'}); {others} targets have none "
                                   f"here and are proven otherwise ({outcome.report})")


def _listing(index: LocalIndex, release: ReleaseSet) -> RehearsalStep:
    listed = listed_files(index)
    want = {f.name: sha256_file(f) for f in release.files}
    if listed != want:
        missing = sorted(set(want) - set(listed))
        extra = sorted(set(listed) - set(want))
        differ = sorted(n for n in set(want) & set(listed) if want[n] != listed[n])
        return RehearsalStep("index lists", False, f"missing {missing}, extra {extra}, other sha256 {differ}")
    return RehearsalStep("index lists", True, f"exactly the {len(want)} files, with dist/'s sha256")


@dataclass(frozen=True)
class InstallerChoice:
    target: Target
    wheel: Path
    pip: str
    uv: str
    ok: bool


def _select(index: LocalIndex, target: Target, wheel: Path, release: ReleaseSet, downloads: Path, work: Path,
            progress: Progress) -> InstallerChoice:
    """pip and uv, asked as a machine of the target's platform, take exactly its wheel."""
    from .probes import probes

    progress(f"==> {target.name}: pip and uv choose from the index")
    asked = probes(target)
    # A universal2 wheel's probes are its slices, each asked with that wheel alone; from a full
    # index the thin wheels rightly win there, so pip is asked as a machine that wants universal2.
    pip_platforms = [p.pip_platform for p in asked if not p.alone] or sorted(target.tags)[:1]
    pip_seen, uv_seen, ok = [], [], True
    for number, platform in enumerate(pip_platforms):
        dest = work / "pip" / target.name / str(number)
        got = _pip_download(index, platform, dest, release.version)
        if got != [wheel.name]:
            ok = False
            pip_seen.append(f"{platform}: got {', '.join(got) or 'nothing'}")
        elif sha256_file(dest / wheel.name) != sha256_file(wheel):
            ok = False
            pip_seen.append(f"{platform}: other bytes than dist/")
        else:
            pip_seen.append(platform)
            downloads.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(dest / wheel.name, downloads / wheel.name)
    for number, probe in enumerate(asked):
        if probe.uv_platform is None or probe.alone:
            uv_seen.append(f"- ({probe.uv_missing or 'a universal2 wheel: uv rightly takes the thin ones'})")
            continue
        verdict = _uv_install(index, probe.uv_platform, probe.macos, work / "uv" / target.name / str(number),
                              wheel, release.version)
        ok = ok and verdict == "yes"
        uv_seen.append(probe.uv_platform if verdict == "yes" else f"{probe.uv_platform}: {verdict}")
    return InstallerChoice(target, wheel, "; ".join(pip_seen), "; ".join(dict.fromkeys(uv_seen)), ok)


def _pip_download(index: LocalIndex, platform: str, dest: Path, version: str) -> list[str]:
    dest.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "pip", "download", "--isolated", "--disable-pip-version-check", "--no-deps",
          "--only-binary=:all:", "--platform", platform, "--python-version", f"{PYTHON[0]}.{PYTHON[1]}",
          "--implementation", "cp", "--abi", f"cp{PYTHON[0]}{PYTHON[1]}", "--index-url", index.simple,
          "-d", str(dest), f"noetl=={version}"], timeout=300, check=False)
    return sorted(p.name for p in dest.glob("*.whl"))


def _uv_install(index: LocalIndex, platform: str, macos: str | None, dest: Path, wheel: Path, version: str) -> str:
    from .verify import clean_environment, uv_binary
    from .wheelfile import WheelFile, installed_tags

    env = clean_environment()
    env.pop("MACOSX_DEPLOYMENT_TARGET", None)
    if macos:
        env["MACOSX_DEPLOYMENT_TARGET"] = macos
    proc = _run([uv_binary(), "pip", "install", "--no-config", "--no-cache", "--no-deps", "--index-url",
                 index.simple, "--python-platform", platform, "--python-version", f"{PYTHON[0]}.{PYTHON[1]}", "--target", str(dest),
                 f"noetl=={version}"], env=env, timeout=300, check=False)
    if not proc.ok:
        return f"failed ({_last_line(proc)})"
    read = WheelFile.read(wheel)
    tags = installed_tags(dest, read.dist_info)
    if tags != read.filename_tags:
        return f"installed {', '.join(sorted(tags)) or 'nothing'}"
    return "yes"


def _fetch_sdist(index: LocalIndex, release: ReleaseSet, downloads: Path) -> RehearsalStep:
    dest = downloads.parent / "sdist-download"
    dest.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "pip", "download", "--isolated", "--disable-pip-version-check", "--no-deps",
          "--no-binary", ":all:", "--no-build-isolation", "--index-url", index.simple, "-d", str(dest),
          f"noetl=={release.version}"], timeout=300, check=False)
    got = dest / release.sdist.name
    if not got.is_file() or sha256_file(got) != sha256_file(release.sdist):
        return RehearsalStep("sdist", False, f"pip download --no-binary did not fetch {release.sdist.name} unchanged")
    shutil.copyfile(got, downloads / got.name)
    return RehearsalStep("sdist", True, f"{got.name} fetched byte-identical")


def _install_and_serve(name: str, index: LocalIndex, release: ReleaseSet, where: Path, *, source: bool,
                       cargo_target: Path | None = None) -> RehearsalStep:
    """A fresh venv; pip install noetl from the index; --version; server start, status, stop."""
    venv = where / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], timeout=180)
    env = _user_env(where)
    if cargo_target is not None:
        env["CARGO_TARGET_DIR"] = str(cargo_target)
    cmd = [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-input", "--index-url", index.simple]
    cmd += ["--no-binary", "noetl"] if source else ["--only-binary", "noetl"]
    log = where / "pip.log"
    proc = _run([*cmd, f"noetl=={release.version}"], env=env, timeout=INSTALL_SECONDS, check=False, log=log)
    if not proc.ok:
        return RehearsalStep(name, False, f"pip install failed ({_last_line(proc)}); log: {log}")
    noetl = venv / "bin" / "noetl"
    said = _run([str(noetl), "--version"], env=env, timeout=60, check=False)
    if said.stdout.strip() != f"noetl {release.version}":
        return RehearsalStep(name, False, f"noetl --version said {said.stdout.strip()!r} (exit {said.code})")
    served = _serve(noetl, env, where)
    how = ("compiled from the sdist: " if source else "") + _installed_wheel(venv)
    return RehearsalStep(name, served == "", f"{how}; noetl --version = {release.version}; " + (served or "server started, answered, stopped"))


def _installed_wheel(venv: Path) -> str:
    proc = _run([str(venv / "bin" / "python"), "-c",
                 "import importlib.metadata as m; print(' '.join(l.split(':',1)[1].strip() for l in "
                 "m.distribution('noetl').read_text('WHEEL').splitlines() if l.startswith('Tag:')))"],
                timeout=60, check=False)
    return f"installed the {proc.stdout.strip() or '?'} wheel"


def _serve(noetl: Path, env: dict[str, str], where: Path) -> str:
    """'' when `noetl server start --init-db`, `--json server status` and `server stop` work."""
    port = str(_free_port())
    start = _run([str(noetl), "--port", port, "server", "start", "--init-db"], env=env, timeout=SERVER_SECONDS,
                 check=False, cwd=where)
    try:
        if not start.ok:
            return f"server start failed ({_last_line(start)})"
        status = _run([str(noetl), "--port", port, "--json", "server", "status"], env=env, timeout=SERVER_SECONDS,
                      check=False, cwd=where)
        try:
            healthy = status.ok and bool(json.loads(status.stdout))
        except ValueError:
            healthy = False
        if not healthy:
            return f"server status failed ({_last_line(status)})"
    finally:
        stop = _run([str(noetl), "server", "stop"], env=env, timeout=SERVER_SECONDS, check=False, cwd=where)
    if not stop.ok:
        return f"server stop failed ({_last_line(stop)})"
    return ""


def _user_env(where: Path) -> dict[str, str]:
    """A user's environment with nothing of ours in it: no pip/uv configuration, its own HOME."""
    from .verify import clean_environment

    env = {k: v for k, v in clean_environment().items() if not k.startswith("NOETL_")}
    # its own HOME keeps noetl's config apart; Rust stays where this user's rustup put it
    env.setdefault("RUSTUP_HOME", str(Path.home() / ".rustup"))
    env.setdefault("CARGO_HOME", str(Path.home() / ".cargo"))
    home = where / "home"
    home.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), NOETL_HOME=str(where / "noetl-home"), NOETL_CONFIG_DIR=str(where / "noetl-config"),
               PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", NO_PROXY="127.0.0.1,localhost",
               no_proxy="127.0.0.1,localhost", PYTHONDONTWRITEBYTECODE="1")
    return env


def _verify_downloads(layout: Layout, matrix: Matrix, downloads: Path, work: Path,
                      progress: Progress) -> tuple[dict[str, WheelReport], RehearsalStep]:
    """verify on every downloaded file: its report per file name, and the step's line."""
    from . import verify

    files = sorted(str(p) for p in downloads.iterdir()) if downloads.is_dir() else []
    if not files:
        return {}, RehearsalStep("verify", False, "nothing was downloaded to verify")
    # fresh: the rehearsal proves what the index served, by running every check on it now
    report = verify.verify(files, layout, matrix, progress=progress, fresh=True)
    verify.write_json(report, work / "verify.json")
    failures = [f"{w.wheel}: {r.check}" for w in report.wheels for r in w.results if r.failed]
    detail = f"{len(report.wheels)} downloaded files; " + (f"FAILED {', '.join(failures)}" if failures else "all passed")
    return {w.wheel: w for w in report.wheels}, RehearsalStep("verify", not failures, f"{detail} ({work / 'verify.json'})")


# the run check's verdict, as the table's "ran" column says it
RAN = {CheckStatus.PASS: "yes", CheckStatus.SKIP: "-", CheckStatus.FAIL: "FAILED"}


def _row(choice: InstallerChoice, report: WheelReport | None) -> RehearsalRow:
    """The table's row of one target: what pip and uv chose, and how its wheel's binary ran in verify."""
    run = report.result("run") if report else None
    ran = RAN[run.status] + (f" ({_short(run.detail)})" if run.detail else "") if run else "not verified"
    ok = choice.ok and report is not None and report.ok and run is not None
    return RehearsalRow(choice.target.name, choice.wheel.name, "yes: " + choice.pip if choice.ok else choice.pip,
                        choice.uv, ran, ok)


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render(outcome: RehearsalOutcome) -> str:
    rows = [[r.target, r.wheel, r.pip, r.uv, r.ran] for r in outcome.rows]
    steps = [f"{'ok  ' if s.ok else 'FAIL'} {s.name}: {s.detail}" for s in outcome.steps]
    verdict = "passed" if outcome.ok else "FAILED"
    return "\n".join([
        table(["target", "wheel", "selected-by-pip", "selected-by-uv", "ran"], rows), "", *steps, "",
        f"rehearsal of noetl {outcome.version} on {outcome.index}: {verdict} ({outcome.seconds:.0f} s); "
        f"logs in {outcome.log_dir}, the report in {outcome.log_dir.parent / REPORT}",
    ])


# ---------------------------------------------------------------- running programs


def _run(cmd: Sequence[str], *, timeout: float, check: bool = True, env: dict[str, str] | None = None,
         cwd: Path | None = None, log: Path | None = None) -> Captured:
    """procs.capture, raising ReleaseError when the program could not run (or with ``check``, failed)."""
    proc = capture(cmd, timeout=timeout, env=env, cwd=cwd, log=log)
    if proc.code is None:
        raise ReleaseError(f"{Path(cmd[0]).name} {' '.join(cmd[1:3])}: {proc.stderr}")
    if check and not proc.ok:
        raise ReleaseError(f"{Path(cmd[0]).name} {' '.join(cmd[1:3])} failed: {_last_line(proc)}")
    return proc


def _last_line(proc: Captured) -> str:
    return _short(proc.last_line(f"exit {proc.code}"), 200)
