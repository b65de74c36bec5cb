"""Does `pip install noetl` need a compiler anywhere? noetl's whole install closure, per platform.

    environments(targets, pythons) -> list[Environment]   one per target machine (a universal2
                                                          target: one per slice) and Python
    Index(url)                                            a PEP 503/691 simple index, read with
                                                          a cache; files, metadata, downloads
    resolve(index, env, roots) -> Resolution              Requires-Dist, recursively, markers
                                                          evaluated for ``env``: each package's
                                                          wheel, or the sdist it would build
    check(index, targets, version, *, pythons,            noetl==version from the index (each
          local_wheels, project) -> ClosureReport                target's own wheel), or its Requires-Dist
                                                          from dist/ or pyproject.toml when the
                                                          index lacks it; `python -m noetl_build deps`
    fill(index, targets, requirements, dest, *, pythons)  every environment's closure downloaded,
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
import functools
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
    own: frozenset[str] = frozenset()  # the target's own wheel's platform tags (targets.toml)
    alone: bool = False  # a slice of a universal2 target: only the target's own noetl wheel is asked

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
    from .probes import probes

    found = []
    pythons = tuple(pythons or python_versions())
    for target in targets:
        for probe in probes(target):
            arch = _probe_arch(target, probe.pip_platform)
            for python in pythons:
                found.append(_environment(target, probe.machine, probe.pip_platform, arch, python, alone=probe.alone))
    return found


def _probe_arch(target: Target, platform: str) -> str:
    """The architecture (platforms.toml key) a probe's platform tag is for: a slice of a fat target."""
    arch = arches()[target.triple.arch]
    for name in arch.slices:
        if platform.endswith("_" + arches()[name].wheel_arch[target.triple.os]):
            return name
    return arch.name


def _environment(target: Target, machine: str, platform: str, arch_name: str, python: tuple[int, int], *,
                 alone: bool = False) -> Environment:
    system = target.triple.system
    plats = list(expand_platform(platform))
    interpreter = f"cp{python[0]}{python[1]}"
    tags = (*cpython_tags(python, abis=[interpreter], platforms=plats),
            *compatible_tags(python, interpreter, plats))
    full = f"{python[0]}.{python[1]}.0"
    markers = {
        **system.markers,
        "platform_machine": target.triple.os_family.machine(arches()[arch_name]) or "",
        "platform_release": "", "platform_version": "",
        "python_version": f"{python[0]}.{python[1]}", "python_full_version": full,
        "implementation_name": "cpython", "implementation_version": full,
        "platform_python_implementation": "CPython",
    }
    return Environment(target.name, machine, platform, python, tuple(dict.fromkeys(tags)), markers,
                       frozenset(target.tags), alone)


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
        self.needs: dict[str, str] = {}  # an sdist's URL -> what building it needs (source_needs)
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


Admit = Callable[[File], bool]  # which of a project's files may be picked at all


def resolve(index: Index, env: Environment, roots: Iterable[Requirement],
            constraints: dict[str, SpecifierSet] | None = None, *,
            admit: dict[str, Admit] | None = None) -> Resolution:
    """``roots`` and their Requires-Dist, recursively, for ``env``: one file per package.

    ``constraints`` narrow a project's versions; ``admit`` limits the files a project may be
    picked from (noetl: the target's own wheel)."""
    roots = list(roots)
    admit = {canonicalize_name(name): test for name, test in (admit or {}).items()}
    learned: dict[str, SpecifierSet] = {canonicalize_name(n): s for n, s in (constraints or {}).items()}
    for _ in range(ROUNDS):
        picks, problems, wanted = _one_pass(index, env, roots, learned, admit)
        # a later requirement that the pick of an earlier pass breaks: pick again knowing it
        broken = {name: spec for name, spec in wanted.items()
                  if name in picks and not spec.contains(picks[name].version, prereleases=True)}
        if not broken:
            return Resolution(env, tuple(sorted(picks.values(), key=lambda p: p.name)), tuple(problems))
        for name, spec in broken.items():
            learned[name] = learned.get(name, SpecifierSet()) & spec
    return Resolution(env, (), (f"the closure did not settle in {ROUNDS} passes (conflicting requirements)",))


def _one_pass(index: Index, env: Environment, roots: list[Requirement], learned: dict[str, SpecifierSet],
              admit: dict[str, Admit]) -> tuple[dict[str, Pick], list[str], dict[str, SpecifierSet]]:
    picks: dict[str, Pick] = {}
    problems: list[str] = []
    wanted: dict[str, SpecifierSet] = {}
    asked: dict[str, list[str]] = {}  # name -> who required it, and how ("app 1.0: pure>=1")
    unsatisfied: set[str] = set()
    queue: list[tuple[Requirement, str, str]] = [(r, "", "") for r in roots]
    done: set[tuple[str, frozenset[str]]] = set()
    while queue:
        requirement, extra, parent = queue.pop(0)
        if requirement.marker and not requirement.marker.evaluate({**env.markers, "extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        wanted[name] = wanted.get(name, SpecifierSet()) & requirement.specifier
        asked.setdefault(name, []).append(f"{parent or 'asked for'}: {requirement.name}{requirement.specifier}")
        if name in unsatisfied:
            continue
        if name not in picks:
            spec = wanted[name] & learned.get(name, SpecifierSet())
            pick = _pick(index, env, name, spec, admit.get(name))
            if pick is None:
                unsatisfied.add(name)
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
                queue.append((dependency, wanted_extra, f"{pick.name} {pick.version}"))
    for missing in sorted(unsatisfied):
        problems.append(_unsatisfied(index, env, missing, wanted[missing] & learned.get(missing, SpecifierSet()),
                                     asked[missing], admit.get(missing)))
    return picks, problems, wanted


def _unsatisfied(index: Index, env: Environment, name: str, spec: SpecifierSet, asked: list[str],
                 admit: Admit | None) -> str:
    """One line: what nothing satisfies, who asked, and whether the asks conflict with each other."""
    where = f"for {env.platform}, Python {env.python_text}"
    who = "; ".join(dict.fromkeys(asked))
    if not index.files(name):
        return f"{name}: the index has no such project (wanted by {who})"
    versions = {v for f in index.files(name) if (v := _parse(f, env)[0]) is not None and (admit is None or admit(f))}
    if len(set(asked)) > 1 and versions and not any(spec.contains(v) for v in versions):
        return f"{name}: conflicting requirements, no version is {spec} ({who})"
    return f"{name}{spec}: nothing on the index satisfies it {where} (wanted by {who})"


def _pick(index: Index, env: Environment, name: str, spec: SpecifierSet, admit: Admit | None = None) -> Pick | None:
    """The newest version ``spec`` allows: its best wheel for ``env``, else its sdist."""
    candidates: dict[Version, list[tuple[File, int | None]]] = {}
    python = Version(f"{env.python_text}.0")
    for file in index.files(name):
        if file.yanked or (file.requires_python and not _python_fits(file.requires_python, python)):
            continue
        if admit is not None and not admit(file):
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
# a setup.py that builds its extension only when it can (PyYAML's libyaml binding, say)
_OPTIONAL_EXTENSION = re.compile(r"optional\s*=\s*True|falling back|fall back to|pure[ -]python|--without-", re.I)


def source_needs(index: Index, file: File) -> str:
    """What building ``file`` (an sdist) needs: "Rust (maturin)", "a C compiler (...)" or "no compiler (...)"."""
    if file.url not in index.needs:
        index.needs[file.url] = _source_needs(index, file)
    return index.needs[file.url]


def _source_needs(index: Index, file: File) -> str:
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
    rust = [name for name in _RUST_BACKENDS if name in backend or name in requires]
    if rust:
        return f"Rust ({rust[0].replace('_', '-')})"
    setup = members.get("setup.py", "")
    if "cython" in requires or re.search(r"\bExtension\s*\(|ext_modules", setup):
        if _OPTIONAL_EXTENSION.search(setup):
            return "a C compiler for its optional extension (without one it may install as pure Python)"
        return "a C compiler (setup.py builds an extension module)"
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
class ClosureReport:
    index: str
    version: str
    resolutions: tuple[Resolution, ...]
    note: str = ""

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.resolutions)


NOETL = "noetl"


def check(index: Index, targets: Iterable[Target], version: str, *, pythons: Iterable[tuple[int, int]] | None = None,
          local_wheels: Path | None = None, project: Path | None = None,
          progress: Progress = lambda _: None) -> ClosureReport:
    """For every environment: noetl==version from the index (the target's own wheel) and its
    closure, all wheels?

    When the index does not have noetl ``version`` (PyPI before the release's upload), noetl's
    Requires-Dist is read from its wheel in ``local_wheels`` (a dist/), else from ``project``'s
    [project] dependencies (a pyproject.toml), and only the dependencies come from the index;
    the report's note says so. With neither, that is a one-line ReleaseError."""
    environments_ = environments(targets, pythons)
    note = ""
    roots = [Requirement(f"{NOETL}=={version}")]
    if not any(f.filename.endswith(".whl") and _version(f) == Version(version) for f in index.files(NOETL)):
        roots, source = _requirements_elsewhere(version, local_wheels, project, index.url)
        note = f"noetl {version} is not on {index.url}: its Requires-Dist was read from {source}; only its dependencies come from the index"
    resolutions = []
    for env in environments_:
        progress(f"==> deps: {env.target} ({env.platform}, Python {env.python_text})")
        own: dict[str, Admit] = {NOETL: functools.partial(_own_wheel, env=env)} if env.alone else {}
        resolution = resolve(index, env, roots, admit=own)
        resolutions.append(_with_own_wheel(resolution))
    return ClosureReport(index.url, version, tuple(resolutions), note)


def _version(file: File) -> Version | None:
    try:
        if file.filename.endswith(".whl"):
            return parse_wheel_filename(file.filename)[1]
        return parse_sdist_filename(file.filename)[1]
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


def _own_wheel(file: File, env: Environment) -> bool:
    """``file`` is the target's own wheel: its platform tags are the target's (targets.toml)."""
    if not file.filename.endswith(".whl"):
        return False
    try:
        tags = parse_wheel_filename(file.filename)[3]
    except (InvalidWheelFilename, InvalidVersion):
        return False
    return {t.platform for t in tags} == set(env.own)


def _with_own_wheel(resolution: Resolution) -> Resolution:
    """A machine that would install another noetl file than the target's own wheel is a problem."""
    env = resolution.env
    noetl = next((p for p in resolution.picks if p.name == NOETL), None)
    if noetl is None or not env.own or _own_wheel(noetl.file, env):
        return resolution
    wanted = ".".join(sorted(env.own))
    problem = f"noetl {noetl.version}: a {env.platform} machine takes {noetl.file.filename}, not the target's own {wanted} wheel"
    return Resolution(env, resolution.picks, (*resolution.problems, problem))


def _requirements_elsewhere(version: str, local_wheels: Path | None, project: Path | None,
                            index_url: str) -> tuple[list[Requirement], str]:
    if local_wheels is not None and any(local_wheels.glob(f"noetl-{version}-*.whl")):
        return local_requirements(local_wheels, version), f"its wheels in {local_wheels}"
    if project is not None:
        return project_requirements(project), f"{project}'s [project] dependencies"
    raise ReleaseError(f"noetl {version} is neither on {index_url} nor in {local_wheels or 'a local dist/'}: "
                       "build it (nox -s build_all) or name the version on the index (--version)")


def local_requirements(dist: Path, version: str) -> list[Requirement]:
    """The Requires-Dist of noetl ``version``'s wheels in ``dist`` (they all say the same)."""
    wheels = sorted(dist.glob(f"noetl-{version}-*.whl"))
    if not wheels:
        raise ReleaseError(f"no noetl {version} wheel in {dist} to read its dependencies from")
    message = email.parser.BytesParser().parsebytes(_metadata_in(wheels[0].name, wheels[0].read_bytes()))
    return _requirements(message.get_all("Requires-Dist") or [], wheels[0].name)


def project_requirements(pyproject: Path) -> list[Requirement]:
    """pyproject.toml's [project] dependencies, read now (they change with the server's code)."""
    from .files import read_toml

    data = read_toml(pyproject, what="noetl's [project] dependencies", error=ReleaseError)
    lines = data.get("project", {}).get("dependencies")
    if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
        raise ReleaseError(f"{pyproject}: [project] dependencies is not a list of requirements")
    return _requirements(lines, str(pyproject))


def _requirements(lines: Iterable[str], where: str) -> list[Requirement]:
    try:
        return [Requirement(line) for line in lines]
    except InvalidRequirement as exc:
        raise ReleaseError(f"{where}: unreadable requirement ({exc})") from None


def render(report: ClosureReport) -> str:
    rows = []
    for r in report.resolutions:
        wheels = sum(1 for p in r.picks if p.wheel)
        if r.ok:
            verdict = f"ok: {wheels} wheels, no source build"
        else:
            verdict = "FAILED: " + "; ".join(_reasons(r))
        rows.append([r.env.target, r.env.platform, r.env.python_text,
                     " ".join(f"{p.name}=={p.version}" + ("" if p.wheel else " (sdist)") for p in r.picks), verdict])
    good = sum(1 for r in report.resolutions if r.ok)
    lines = [table(["target", "machine", "python", "resolved (a wheel unless it says sdist)", "verdict"], rows), ""]
    if report.note:
        lines.append(report.note)
    lines.append(f"deps: noetl {report.version} from {report.index}: {good} of {len(report.resolutions)} "
                 f"environments install from wheels alone" + ("" if report.ok else "; the others need a compiler or fail"))
    return "\n".join(lines)


def _reasons(resolution: Resolution) -> list[str]:
    return [f"{p.name} {p.version} builds from source: needs {p.needs}" for p in resolution.source_builds] + list(
        resolution.problems)


def failures(report: ClosureReport) -> list[str]:
    """One line per failing environment, naming what fails."""
    return [f"{r.env.target} ({r.env.platform}, Python {r.env.python_text}): {'; '.join(_reasons(r))}"
            for r in report.resolutions if not r.ok]


def to_json(report: ClosureReport) -> dict[str, object]:
    return {
        "ok": report.ok, "index": report.index, "version": report.version, "note": report.note,
        "environments": [{
            "target": r.env.target, "machine": r.env.machine, "platform": r.env.platform, "python": r.env.python_text,
            "ok": r.ok, "problems": list(r.problems),
            "closure": [{"name": p.name, "version": p.version, "file": p.file.filename, "wheel": p.wheel,
                         **({"needs": p.needs} if not p.wheel else {})} for p in r.picks],
        } for r in report.resolutions],
    }


def write_json(report: ClosureReport, path: Path) -> None:
    atomic_write_text(path, json.dumps(to_json(report), indent=2) + "\n")


# ---------------------------------------------------------------- the wheelhouse


def fill(index: Index, targets: Iterable[Target], requirements: list[Requirement], dest: Path, *,
         constraints: dict[str, SpecifierSet] | None = None, pythons: Iterable[tuple[int, int]] | None = None,
         progress: Progress = lambda _: None) -> list[str]:
    """Download every environment's closure of ``requirements`` into ``dest``: exactly the files a
    machine of each target and Python would install (wheels, and the sdist of a package with no
    fitting wheel, so the check against this wheelhouse names it), each checked against the sha256
    the index lists. Returns the file names.

    Raises ReleaseError when a closure cannot be resolved at all (a requirement nothing satisfies)."""
    chosen: dict[str, File] = {}
    sources: set[str] = set()
    for env in environments(targets, pythons):
        resolution = resolve(index, env, requirements, constraints)
        if resolution.problems:
            raise ReleaseError(f"noetl's dependencies do not resolve for {env.target} (Python {env.python_text}) "
                               f"from {index.url}: {resolution.problems[0]}")
        for pick in resolution.picks:
            chosen[pick.file.filename] = pick.file
        sources.update(f"{p.name} {p.version} ({p.needs})" for p in resolution.source_builds)
    if sources:
        progress(f"==> wheelhouse: with sdists, since no wheel fits somewhere: {', '.join(sorted(sources))} "
                 "(python -m noetl_build deps names where)")
    dest.mkdir(parents=True, exist_ok=True)
    for name, file in sorted(chosen.items()):
        if not file.sha256:
            raise ReleaseError(f"{index.url} lists no sha256 for {name}: the wheelhouse takes only files it can check")
        target = dest / name
        if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == file.sha256:
            continue
        progress(f"==> wheelhouse: {name}")
        data = index.download(file)  # checked against file.sha256
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return sorted(chosen)
