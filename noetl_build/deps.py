"""Does `pip install noetl` need a compiler anywhere? noetl's whole install closure, per platform.

    environments(targets, pythons) -> list[Environment]   one per target machine (a universal2
                                                          target: one per slice) and Python
    Index(url)                                            a PEP 503/691 simple index, read with
                                                          a cache; files, metadata, downloads
    resolve(index, env, roots) -> Resolution              Requires-Dist, recursively, markers
                                                          evaluated for ``env``: each package's
                                                          wheel, or the sdist it would build
    check(index, targets, version, pythons) -> Report      noetl==version from the index, per
                                                          environment; `python -m noetl_build deps`
    fill(index, targets, requirements, dest, pythons)     every environment's closure downloaded,
                                                          sha256-checked (the rehearsal's wheelhouse)

An environment is what a user's machine tells an installer: the wheel tags it accepts (the
target's oldest supported system: its minimum glibc, musl or macOS, as verify's pip probe) and
the PEP 508 marker values of that OS and architecture (platforms.toml), so `colorama; sys_platform
== "win32"` is in the closure on Windows only, which pip's own `--platform` cannot tell.

The resolver is greedy (each name: the highest version every requirement met so far allows, with
a wheel for the environment if any version has one), redone with what it learned until it holds;
a requirement nothing satisfies is reported, never guessed. A package with no fitting wheel is a
*source build*; what that needs is read from its sdist: a Rust backend (maturin, setuptools-rust),
a C extension (setup.py's Extension/ext_modules, Cython), or nothing (a pure build).
"""

from __future__ import annotations

import email.parser
import hashlib
import io
import json
import os
import re
import tarfile
import tomllib
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms
from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from .errors import ReleaseError
from .files import atomic_write_text
from .platforms import arches, python_versions
from .report import table
from .targets import Target

PYPI_SIMPLE = "https://pypi.org/simple/"
TIMEOUT = 60  # one HTTP request to the index
ROUNDS = 10  # resolution passes before a closure that keeps changing is reported
Progress = Callable[[str], None]


def default_index() -> str:
    """The index the ordinary pip here uses: $PIP_INDEX_URL, else PyPI."""
    return os.environ.get("PIP_INDEX_URL") or PYPI_SIMPLE


# ---------------------------------------------------------------- environments


@dataclass(frozen=True)
class Environment:
    target: str
    machine: str  # "glibc 2.17 aarch64": the oldest system the target supports
    platform: str  # the platform tag asked for (verify's pip probe)
    python: tuple[int, int]
    tags: tuple[Tag, ...]  # most preferred first
    markers: dict[str, str] = field(hash=False, compare=False)

    @property
    def python_text(self) -> str:
        return f"{self.python[0]}.{self.python[1]}"

    def rank(self, tag: Tag) -> int | None:
        try:
            return self.tags.index(tag)
        except ValueError:
            return None


def environments(targets: Iterable[Target], pythons: Iterable[tuple[int, int]] | None = None) -> list[Environment]:
    """Every target's machine(s) × every Python (platforms.toml [python] by default)."""
    from .verify.resolution import probes

    found = []
    pythons = tuple(pythons or python_versions())
    for target in targets:
        for probe in probes(target):
            arch = _probe_arch(target, probe.pip_platform)
            for python in pythons:
                found.append(_environment(target, probe.machine, probe.pip_platform, arch, python))
    return found


def _probe_arch(target: Target, platform: str) -> str:
    """The architecture (platforms.toml key) a probe's platform tag is for: a slice of a fat target."""
    arch = arches()[target.triple.arch]
    for name in arch.slices:
        if platform.endswith("_" + arches()[name].wheel_arch["macos"]):
            return name
    return arch.name


def _environment(target: Target, machine: str, platform: str, arch_name: str, python: tuple[int, int]) -> Environment:
    system = target.triple.system
    plats = list(expand_platform(platform))
    interpreter = f"cp{python[0]}{python[1]}"
    tags = (*cpython_tags(python, abis=[interpreter], platforms=plats),
            *compatible_tags(python, interpreter, plats))
    full = f"{python[0]}.{python[1]}.0"
    markers = {
        **system.markers,
        "platform_machine": arches()[arch_name].machine(system.key) or "",
        "platform_release": "", "platform_version": "",
        "python_version": f"{python[0]}.{python[1]}", "python_full_version": full,
        "implementation_name": "cpython", "implementation_version": full,
        "platform_python_implementation": "CPython",
    }
    return Environment(target.name, machine, platform, python, tuple(dict.fromkeys(tags)), markers)


_MANYLINUX = re.compile(r"manylinux_(\d+)_(\d+)_(.+)")
_MUSLLINUX = re.compile(r"musllinux_(\d+)_(\d+)_(.+)")
_MACOSX = re.compile(r"macosx_(\d+)_(\d+)_(.+)")
_LEGACY = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}


def expand_platform(platform: str) -> Iterable[str]:
    """The platform tags a machine of ``platform`` installs, newest first (as pip's own list is)."""
    if match := _MANYLINUX.fullmatch(platform):
        major, minor, arch = int(match[1]), int(match[2]), match[3]
        for version in range(minor, -1, -1):
            yield f"manylinux_{major}_{version}_{arch}"
            if (major, version) in _LEGACY:
                yield f"{_LEGACY[major, version]}_{arch}"
        yield f"linux_{arch}"
    elif match := _MUSLLINUX.fullmatch(platform):
        major, minor, arch = int(match[1]), int(match[2]), match[3]
        for version in range(minor, -1, -1):
            yield f"musllinux_{major}_{version}_{arch}"
        yield f"linux_{arch}"
    elif match := _MACOSX.fullmatch(platform):
        yield from mac_platforms((int(match[1]), int(match[2])), match[3])
    else:
        yield platform  # linux_armv6l, win_amd64, ...: no older spelling


# ---------------------------------------------------------------- the index


@dataclass(frozen=True)
class File:
    filename: str
    url: str
    sha256: str | None
    requires_python: str | None
    metadata: bool  # the index serves <url>.metadata (PEP 658/714)
    yanked: bool


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links.append(dict(attrs))


class Index:
    """A simple index (PEP 503 HTML or PEP 691 JSON) at ``url``; what it answers is kept."""

    def __init__(self, url: str) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self._pages: dict[str, list[File]] = {}
        self._metadata: dict[str, email.message.Message] = {}
        self._opener = urllib.request.build_opener(*([urllib.request.ProxyHandler({})] if _loopback(self.url) else []))

    def _get(self, url: str, accept: str = "*/*") -> tuple[bytes, str]:
        request = urllib.request.Request(url, headers={"Accept": accept, "User-Agent": "noetl-build-deps"})
        try:
            with self._opener.open(request, timeout=TIMEOUT) as response:
                return response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise FileNotFoundError(url) from None
            raise ReleaseError(f"the index {self.url} answered HTTP {exc.code} for {url}") from None
        except (OSError, ValueError) as exc:
            raise ReleaseError(f"cannot reach the index {self.url} ({exc}): is it up, and the URL its simple index?") from None

    def files(self, name: str) -> list[File]:
        """The project's files; [] when the index has no such project."""
        project = canonicalize_name(name)
        if project not in self._pages:
            try:
                body, kind = self._get(f"{self.url}{project}/", "application/vnd.pypi.simple.v1+json, text/html;q=0.1")
            except FileNotFoundError:
                self._pages[project] = []
                return []
            page_url = f"{self.url}{project}/"
            self._pages[project] = self._json_files(body, page_url) if "json" in kind else self._html_files(body, page_url)
        return self._pages[project]

    @staticmethod
    def _json_files(body: bytes, page_url: str) -> list[File]:
        files = []
        for entry in json.loads(body).get("files", []):
            metadata = entry.get("core-metadata", entry.get("dist-info-metadata", False))
            files.append(File(entry["filename"], urllib.parse.urljoin(page_url, entry["url"]),
                              entry.get("hashes", {}).get("sha256"), entry.get("requires-python"),
                              bool(metadata), bool(entry.get("yanked", False))))
        return files

    @staticmethod
    def _html_files(body: bytes, page_url: str) -> list[File]:
        parser = _Links()
        parser.feed(body.decode("utf-8", errors="replace"))
        files = []
        for link in parser.links:
            href = link.get("href")
            if not href:
                continue
            url, _, fragment = urllib.parse.urljoin(page_url, href).partition("#")
            sha256 = fragment.removeprefix("sha256=") if fragment.startswith("sha256=") else None
            filename = urllib.parse.unquote(url.rsplit("/", 1)[-1])
            metadata = link.get("data-core-metadata") or link.get("data-dist-info-metadata")
            files.append(File(filename, url, sha256, link.get("data-requires-python"),
                              bool(metadata) and metadata != "false", "data-yanked" in link))
        return files

    def download(self, file: File) -> bytes:
        data, _ = self._get(file.url)
        if file.sha256 and hashlib.sha256(data).hexdigest() != file.sha256:
            raise ReleaseError(f"{file.filename} from {self.url} does not match the sha256 the index lists")
        return data

    def metadata(self, file: File) -> email.message.Message:
        """The file's core metadata: PEP 658's .metadata where served, else read from the file."""
        if file.url not in self._metadata:
            text: bytes | None = None
            if file.metadata:
                try:
                    text, _ = self._get(file.url + ".metadata")
                except FileNotFoundError:
                    text = None
            if text is None:
                text = _metadata_in(file.filename, self.download(file))
            self._metadata[file.url] = email.parser.BytesParser().parsebytes(text)
        return self._metadata[file.url]


def _loopback(url: str) -> bool:
    return (urllib.parse.urlsplit(url).hostname or "") in ("127.0.0.1", "localhost", "::1")


def _metadata_in(filename: str, data: bytes) -> bytes:
    if filename.endswith(".whl"):
        with zipfile.ZipFile(io.BytesIO(data)) as wheel:
            names = [n for n in wheel.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
            if len(names) == 1:
                return wheel.read(names[0])
    else:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as sdist:
            for member in sdist.getmembers():
                if member.isfile() and member.name.count("/") == 1 and member.name.endswith("/PKG-INFO"):
                    handle = sdist.extractfile(member)
                    if handle is not None:
                        return handle.read()
    raise ReleaseError(f"{filename}: no core metadata in it")


# ---------------------------------------------------------------- resolving


@dataclass(frozen=True)
class Pick:
    name: str
    version: str
    file: File
    wheel: bool
    needs: str = ""  # a source build: what it needs ("Rust (maturin)", "a C compiler (...)", "no compiler")


@dataclass(frozen=True)
class Resolution:
    env: Environment
    picks: tuple[Pick, ...]
    problems: tuple[str, ...]  # a requirement nothing satisfies, a closure that would not settle

    @property
    def source_builds(self) -> tuple[Pick, ...]:
        return tuple(p for p in self.picks if not p.wheel)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.source_builds


def resolve(index: Index, env: Environment, roots: Iterable[Requirement],
            constraints: dict[str, SpecifierSet] | None = None) -> Resolution:
    """``roots`` and their Requires-Dist, recursively, for ``env``: one file per package."""
    roots = list(roots)
    learned: dict[str, SpecifierSet] = dict(constraints or {})
    for _ in range(ROUNDS):
        picks, problems, wanted = _one_pass(index, env, roots, learned)
        # a later requirement that the pick of an earlier pass breaks: pick again knowing it
        broken = {name: spec for name, spec in wanted.items()
                  if name in picks and not spec.contains(picks[name].version, prereleases=True)}
        if not broken:
            return Resolution(env, tuple(sorted(picks.values(), key=lambda p: p.name)), tuple(problems))
        for name, spec in broken.items():
            learned[name] = learned.get(name, SpecifierSet()) & spec
    return Resolution(env, (), (f"the closure did not settle in {ROUNDS} passes (conflicting requirements)",))


def _one_pass(index: Index, env: Environment, roots: list[Requirement], learned: dict[str, SpecifierSet]
              ) -> tuple[dict[str, Pick], list[str], dict[str, SpecifierSet]]:
    picks: dict[str, Pick] = {}
    problems: list[str] = []
    wanted: dict[str, SpecifierSet] = {}
    queue: list[tuple[Requirement, str]] = [(r, "") for r in roots]
    done: set[tuple[str, frozenset[str]]] = set()
    while queue:
        requirement, extra = queue.pop(0)
        if requirement.marker and not requirement.marker.evaluate({**env.markers, "extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        wanted[name] = wanted.get(name, SpecifierSet()) & requirement.specifier
        if name not in picks:
            spec = wanted[name] & learned.get(name, SpecifierSet())
            pick = _pick(index, env, name, spec)
            if pick is None:
                problems.append(f"{requirement} : nothing on the index satisfies it for {env.platform}, Python {env.python_text}")
                continue
            picks[name] = pick
        key = (name, frozenset(requirement.extras))
        if key in done:
            continue
        done.add(key)
        pick = picks[name]
        for line in index.metadata(pick.file).get_all("Requires-Dist") or []:
            try:
                dependency = Requirement(line)
            except InvalidRequirement:
                problems.append(f"{pick.name} {pick.version}: unreadable Requires-Dist {line!r}")
                continue
            for wanted_extra in requirement.extras or {""}:
                queue.append((dependency, wanted_extra))
    return picks, problems, wanted


def _pick(index: Index, env: Environment, name: str, spec: SpecifierSet) -> Pick | None:
    """The newest version ``spec`` allows: its best wheel for ``env``, else its sdist."""
    candidates: dict[Version, list[tuple[File, int | None]]] = {}
    python = Version(f"{env.python_text}.0")
    for file in index.files(name):
        if file.yanked or (file.requires_python and not _python_fits(file.requires_python, python)):
            continue
        version, rank = _parse(file, env)
        if version is None or not spec.contains(version):  # pre-releases only when the specifier names one
            continue
        candidates.setdefault(version, []).append((file, rank))
    # newest first; a wheel whose own METADATA refuses this Python (an index that does not say
    # requires-python on its page) is passed over, as pip passes it over
    for version in sorted((v for v, files in candidates.items() if any(r is not None and r >= 0 for _, r in files)),
                          reverse=True):
        file = min(((f, r) for f, r in candidates[version] if r is not None and r >= 0), key=lambda item: item[1])[0]
        if file.requires_python or _python_fits(index.metadata(file).get("Requires-Python") or "", python):
            return Pick(name, str(version), file, wheel=True)
    sdists = [(v, f) for v, files in candidates.items() for f, r in files if r == -1]
    if not sdists:
        return None
    version, file = max(sdists, key=lambda item: item[0])
    return Pick(name, str(version), file, wheel=False, needs=source_needs(index, file))


def _python_fits(requires: str, python: Version) -> bool:
    if not requires.strip():
        return True
    try:
        return SpecifierSet(requires).contains(python, prereleases=True)
    except ValueError:
        return True  # an unreadable requires-python does not hide a file (pip's choice too)


def _parse(file: File, env: Environment) -> tuple[Version | None, int | None]:
    """The file's version, and its rank for ``env``: a tag's position, -1 for an sdist, None if unfit."""
    try:
        if file.filename.endswith(".whl"):
            _, version, _, tags = parse_wheel_filename(file.filename)
            ranks = [r for r in (env.rank(t) for t in tags) if r is not None]
            return version, min(ranks) if ranks else None
        if file.filename.endswith((".tar.gz", ".zip")):
            return parse_sdist_filename(file.filename)[1], -1
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        pass
    return None, None


_RUST_BACKENDS = ("maturin", "setuptools-rust", "setuptools_rust")


def source_needs(index: Index, file: File) -> str:
    """What building ``file`` (an sdist) needs: Rust, a C compiler, or nothing but Python."""
    try:
        data = index.download(file)
        members = _sdist_texts(file.filename, data, ("pyproject.toml", "setup.py"))
    except (ReleaseError, OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
        return f"unknown (its sdist could not be read: {exc})"
    build = {}
    if "pyproject.toml" in members:
        try:
            build = tomllib.loads(members["pyproject.toml"]).get("build-system", {})
        except tomllib.TOMLDecodeError:
            build = {}
    backend = str(build.get("build-backend", "setuptools.build_meta:__legacy__"))
    requires = " ".join(str(r) for r in build.get("requires", [])).lower()
    if any(name in backend or name in requires for name in _RUST_BACKENDS):
        return f"Rust and a C compiler ({backend.split(':')[0].split('.')[0]})"
    setup = members.get("setup.py", "")
    if "cython" in requires or re.search(r"\bExtension\s*\(|ext_modules", setup):
        return "a C compiler (an extension module; it may fall back to pure Python without one)"
    return f"no compiler ({backend.split(':')[0]}, a pure-Python build)"


def _sdist_texts(filename: str, data: bytes, names: tuple[str, ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    if filename.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in archive.namelist():
                parts = name.split("/")
                if len(parts) == 2 and parts[1] in names:
                    found[parts[1]] = archive.read(name).decode("utf-8", errors="replace")
        return found
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        for member in archive.getmembers():
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 2 and parts[1] in names and (handle := archive.extractfile(member)):
                found[parts[1]] = handle.read().decode("utf-8", errors="replace")
    return found


# ---------------------------------------------------------------- the check


@dataclass(frozen=True)
class Report:
    index: str
    version: str
    resolutions: tuple[Resolution, ...]
    note: str = ""

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.resolutions)


def check(index: Index, targets: Iterable[Target], version: str, *, pythons: Iterable[tuple[int, int]] | None = None,
          local_wheels: Path | None = None, progress: Progress = lambda _: None) -> Report:
    """For every environment: noetl==version from the index and its closure, all wheels?

    With ``local_wheels`` (a dist/), noetl's own Requires-Dist is read from the wheel there when
    the index does not have that version yet (PyPI before the release's upload)."""
    note = ""
    resolutions = []
    for env in environments(targets, pythons):
        roots = [Requirement(f"noetl=={version}")]
        if local_wheels is not None and not any(f.filename.endswith(".whl") and _parse(f, env)[0] == Version(version)
                                                for f in index.files("noetl")):
            roots = local_requirements(local_wheels, version)
            note = f"noetl {version} is not on {index.url} yet: its Requires-Dist was read from {local_wheels}"
        progress(f"==> deps: {env.target} ({env.platform}, Python {env.python_text})")
        resolutions.append(resolve(index, env, roots))
    return Report(index.url, version, tuple(resolutions), note)


def local_requirements(dist: Path, version: str) -> list[Requirement]:
    """The Requires-Dist of noetl ``version``'s wheels in ``dist`` (they all say the same)."""
    wheels = sorted(dist.glob(f"noetl-{version}-*.whl"))
    if not wheels:
        raise ReleaseError(f"no noetl {version} wheel in {dist} to read its dependencies from")
    message = email.parser.BytesParser().parsebytes(_metadata_in(wheels[0].name, wheels[0].read_bytes()))
    return [Requirement(line) for line in message.get_all("Requires-Dist") or []]


def render(report: Report) -> str:
    rows = []
    for r in report.resolutions:
        wheels = sum(1 for p in r.picks if p.wheel)
        if r.ok:
            verdict = f"ok: {wheels} wheels, no source build"
        else:
            verdict = "FAILED: " + "; ".join(
                [f"{p.name} {p.version} builds from source: needs {p.needs}" for p in r.source_builds] + list(r.problems))
        rows.append([r.env.target, r.env.platform, r.env.python_text,
                     " ".join(f"{p.name}=={p.version}" for p in r.picks), verdict])
    good = sum(1 for r in report.resolutions if r.ok)
    lines = [table(["target", "machine", "python", "closure", "verdict"], rows), ""]
    if report.note:
        lines.append(report.note)
    lines.append(f"deps: noetl {report.version} from {report.index}: {good} of {len(report.resolutions)} "
                 f"environments install from wheels alone" + ("" if report.ok else "; the others need a compiler or fail"))
    return "\n".join(lines)


def failures(report: Report) -> list[str]:
    """One line per failing environment, naming what fails."""
    out = []
    for r in report.resolutions:
        if r.ok:
            continue
        reasons = [f"{p.name} {p.version} builds from source (needs {p.needs})" for p in r.source_builds] + list(r.problems)
        out.append(f"{r.env.target} ({r.env.platform}, Python {r.env.python_text}): {'; '.join(reasons)}")
    return out


def to_json(report: Report) -> dict[str, object]:
    return {
        "ok": report.ok, "index": report.index, "version": report.version, "note": report.note,
        "environments": [{
            "target": r.env.target, "machine": r.env.machine, "platform": r.env.platform, "python": r.env.python_text,
            "ok": r.ok, "problems": list(r.problems),
            "closure": [{"name": p.name, "version": p.version, "file": p.file.filename, "wheel": p.wheel,
                         **({"needs": p.needs} if not p.wheel else {})} for p in r.picks],
        } for r in report.resolutions],
    }


def write_json(report: Report, path: Path) -> None:
    atomic_write_text(path, json.dumps(to_json(report), indent=2) + "\n")


# ---------------------------------------------------------------- the wheelhouse


def fill(index: Index, targets: Iterable[Target], requirements: list[Requirement], dest: Path, *,
         constraints: dict[str, SpecifierSet] | None = None, pythons: Iterable[tuple[int, int]] | None = None,
         progress: Progress = lambda _: None) -> list[str]:
    """Download every environment's closure of ``requirements`` into ``dest``; the file names.

    Raises ReleaseError naming the environments whose closure is not all wheels."""
    chosen: dict[str, File] = {}
    bad = []
    for env in environments(targets, pythons):
        resolution = resolve(index, env, requirements, constraints)
        if not resolution.ok:
            bad.append(f"{env.target} (Python {env.python_text})")
        for pick in resolution.picks:
            chosen[pick.file.filename] = pick.file
    if bad:
        raise ReleaseError(f"noetl's dependencies are not all wheels for {', '.join(bad[:5])}"
                           f"{' and more' if len(bad) > 5 else ''}: run python -m noetl_build deps to see which")
    dest.mkdir(parents=True, exist_ok=True)
    for name, file in sorted(chosen.items()):
        target = dest / name
        if target.is_file() and (file.sha256 is None or hashlib.sha256(target.read_bytes()).hexdigest() == file.sha256):
            continue
        progress(f"==> wheelhouse: {name}")
        data = index.download(file)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return sorted(chosen)
