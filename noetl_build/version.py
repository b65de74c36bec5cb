"""One derived version: Conventional Commits decide it (through commitizen), every version file carries it.

A release is the commit "bump: version A → B" tagged vB. Any other tree builds as a PEP 440
development version of the next release with a local label: 0.2.0.dev3+g1a2b3c4[.dirty].
docs/versioning.md tells the rules and how to release.
"""

from __future__ import annotations

import ast
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .errors import BuildError, CommandError, GitFailed, GitMissing, VersionError
from .procs import capture, run
from .report import say, table

if sys.version_info >= (3, 11):
    import tomllib
else:  # the PEP 517 backend imports this module on Python 3.10 too (with tomli installed)
    import tomli as tomllib

if TYPE_CHECKING:
    from commitizen.cz.base import BaseCommitizen
    from commitizen.defaults import Settings

INIT = "noetl/__init__.py"
CARGO_TOML = "noetlctl/Cargo.toml"
CARGO_LOCK = "noetlctl/Cargo.lock"
PACKAGE_JSON = "ui-src/package.json"
PACKAGE_LOCK = "ui-src/package-lock.json"
PYPROJECT = "pyproject.toml"
# who writes each file in a bump: commitizen (version_files + its own version), cargo, npm
COMMITIZEN_WRITES = (INIT, CARGO_TOML, PACKAGE_JSON, PYPROJECT)


@dataclass(frozen=True, kw_only=True)
class Commit:
    sha: str  # short
    subject: str
    increment: str | None  # "MAJOR" | "MINOR" | "PATCH" | None: what this commit asks for, per commitizen


@dataclass(frozen=True, kw_only=True)
class Decision:
    current: str  # the release version the files carry
    tag: str | None  # "v0.1.0" when that tag exists and HEAD descends from it
    next: str | None  # the next release per commitizen; None when no commit asks for one
    commits: tuple[Commit, ...]  # since the tag (all when there is none), newest first
    distance: int  # len(commits)
    sha: str  # short sha of HEAD
    dirty: bool  # tracked files modified; untracked files don't count

    @property
    def released(self) -> bool:
        """The tag is at HEAD (no commit since it, and it is an ancestor) and the tree is clean."""
        return self.tag is not None and self.distance == 0 and not self.dirty

    @property
    def version(self) -> str:
        """The version a build of this tree gets (PEP 440)."""
        if self.released:
            return self.current
        local = f"g{self.sha}" + (".dirty" if self.dirty else "")
        return _pep440(f"{self.next or next_patch(self.current)}.dev{self.distance}+{local}")


@dataclass(frozen=True)
class _Logged:
    rev: str
    sha: str
    subject: str
    body: str


# --- the version files -------------------------------------------------------------------


def read_package_version(root: Path) -> str:
    """__version__ of root/noetl/__init__.py, read with ast (never imported)."""
    path = root / INIT
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise VersionError(f"cannot read __version__ from {path}: {exc.strerror}") from None
    return version_in_source(source, str(path))


def version_in_source(source: bytes, where: str) -> str:
    """The string assigned to __version__ in a module's source (a file, or a wheel's member)."""
    try:
        return str(ast.literal_eval(_version_value(_parse_python(source, where), where)))
    except ValueError:
        raise VersionError(f"{where}: __version__ must be a plain string like \"0.1.0\"") from None


def write_package_version(init_file: Path, version: str) -> None:
    """Set __version__ in init_file (a staged copy of noetl/__init__.py); every other byte stays."""
    _pep440(version)
    data = init_file.read_bytes()
    value = _version_value(_parse_python(data, str(init_file)), str(init_file))
    lines = data.splitlines(keepends=True)
    start = sum(map(len, lines[: value.lineno - 1])) + value.col_offset
    end = sum(map(len, lines[: cast(int, value.end_lineno) - 1])) + cast(int, value.end_col_offset)
    init_file.write_bytes(data[:start] + f'"{version}"'.encode() + data[end:])


def places(root: Path) -> dict[str, str]:
    """Every file that carries the version -> the version it says (relative path keys)."""
    found = {
        INIT: read_package_version(root),
        CARGO_TOML: _cargo_version(root),
        CARGO_LOCK: _cargo_lock_version(root),
        PACKAGE_JSON: str(_json(root, PACKAGE_JSON).get("version")),
        PACKAGE_LOCK: _package_lock_version(root),
    }
    commitizen = _toml(root, PYPROJECT).get("tool", {}).get("commitizen", {})
    if "version" in commitizen:
        found[PYPROJECT] = str(commitizen["version"])
    return found


def check_agreement(root: Path) -> str:
    """The one version every file carries; VersionError naming each file when they differ."""
    found = places(root)
    if len(set(found.values())) == 1:
        return next(iter(found.values()))
    said = ", ".join(f"{path} says {version}" for path, version in found.items())
    raise VersionError(
        f"the version files disagree ({said}): make them all say one version "
        "(nox -s version -- --bump writes them together)"
    )


def _parse_python(source: bytes, where: str) -> ast.Module:
    try:
        return ast.parse(source, filename=where)
    except SyntaxError as exc:
        raise VersionError(f"cannot read __version__ from {where}: {exc}") from None


def _version_value(tree: ast.Module, where: str) -> ast.expr:
    """The expression assigned to the first module-level __version__."""
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == "__version__" for t in targets):
            return value
    raise VersionError(f"{where} has no __version__ = \"X.Y.Z\" line: add one")


def _toml(root: Path, name: str) -> dict[str, Any]:
    try:
        return tomllib.loads((root / name).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise VersionError(f"cannot read {name}: {exc}") from None


def _json(root: Path, name: str) -> dict[str, Any]:
    try:
        return cast(dict[str, Any], json.loads((root / name).read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise VersionError(f"cannot read {name}: {exc}") from None


def _cargo_version(root: Path) -> str:
    return str(_toml(root, CARGO_TOML).get("package", {}).get("version"))


def _cargo_lock_version(root: Path) -> str:
    """The lock's entry for our own crate: its name, and no source (a path package)."""
    name = _toml(root, CARGO_TOML).get("package", {}).get("name")
    for package in _toml(root, CARGO_LOCK).get("package", []):
        if package.get("name") == name and "source" not in package:
            return str(package.get("version"))
    raise VersionError(f"{CARGO_LOCK} has no entry for the crate {name}: run cargo update --workspace")


def _package_lock_version(root: Path) -> str:
    """The lock says the root package's version twice; both must agree to count as one."""
    lock = _json(root, PACKAGE_LOCK)
    top, inner = str(lock.get("version")), str(lock.get("packages", {}).get("", {}).get("version"))
    return top if top == inner else f'{top} (packages[""] says {inner})'


def _cargo_lock_others(root: Path) -> list[tuple[str, str, str]]:
    """Every locked package but our own crate: a bump must leave these alone."""
    ours = _toml(root, CARGO_TOML).get("package", {}).get("name")
    return sorted(
        (str(p.get("name")), str(p.get("version")), str(p.get("source", "")))
        for p in _toml(root, CARGO_LOCK).get("package", [])
        if not (p.get("name") == ours and "source" not in p)
    )


def next_patch(version: str) -> str:
    """X.Y.Z -> X.Y.(Z+1): the base of a development version when no commit asks for a release."""
    from packaging.version import Version

    major, minor, micro = (*Version(_pep440(version)).release, 0, 0)[:3]
    return f"{major}.{minor}.{micro + 1}"


def _pep440(version: str) -> str:
    """version, if PEP 440 accepts it (packaging is imported late: this module's import is stdlib-only)."""
    from packaging.version import InvalidVersion, Version

    try:
        Version(version)
    except InvalidVersion:
        raise VersionError(f"{version!r} is not a PEP 440 version: fix the version files") from None
    return version


# --- git -----------------------------------------------------------------------------------


def _git(root: Path, *args: str) -> str:
    out = capture(["git", *args], cwd=root, timeout=None)
    if out.code is None:
        raise GitMissing("git is not installed: install it (apt-get install git) to derive versions")
    if not out.ok:
        detail = _last_line(out.stderr or out.stdout)
        raise GitFailed(f"git {args[0]} failed in {root}: {detail}", detail=detail)
    return out.stdout


def _git_succeeds(root: Path, *args: str) -> bool:
    try:
        _git(root, *args)
    except VersionError:
        return False
    return True


def _checkout(root: Path) -> Path:
    """root resolved, if it is the top of a git work tree; else VersionError."""
    root = root.resolve()
    if not root.is_dir():
        raise VersionError(f"{root} is not a directory: pass the repository as --root")
    try:
        top = Path(_git(root, "rev-parse", "--show-toplevel").strip()).resolve()
    except GitFailed as exc:
        raise VersionError(
            f"{root} is not a git checkout ({exc.detail}): versions come from its tags and commits (git clone it)"
        ) from None
    if top != root:
        raise VersionError(f"{root} is not the top of a git checkout ({top} is): pass --root {top}")
    if not _git_succeeds(root, "rev-parse", "--verify", "--quiet", "HEAD"):
        raise VersionError(f"{root} has no commits yet: commit something first")
    return root


def _log(root: Path, since: str | None) -> list[_Logged]:
    """Commits in since..HEAD (all of HEAD's history without since), newest first."""
    out = _git(root, "log", "-z", "--format=%H%x1f%h%x1f%s%x1f%b", f"{since}..HEAD" if since else "HEAD")
    entries = (entry.split("\x1f", 3) for entry in out.split("\0") if entry.strip())
    return [_Logged(rev.strip(), sha, subject, body.strip()) for rev, sha, subject, body in entries]


def _is_dirty(root: Path) -> bool:
    return bool(_git(root, "status", "--porcelain", "--untracked-files=no").strip())


def _reachable_tag(root: Path, name: str) -> str | None:
    """name, if that tag exists and HEAD descends from it (as git describe sees tags)."""
    ok = _git_succeeds(root, "merge-base", "--is-ancestor", f"refs/tags/{name}", "HEAD")
    return name if ok else None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


# --- commitizen ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rules:
    """The project's [tool.commitizen] table, read and applied by commitizen itself."""

    settings: Settings
    cz: BaseCommitizen

    @classmethod
    def load(cls, root: Path) -> _Rules:
        try:
            from commitizen import factory
            from commitizen.config import read_cfg
            from commitizen.exceptions import CommitizenException
        except ImportError:
            raise VersionError("commitizen is not installed: pip install -r requirements/build.txt") from None
        try:
            config = read_cfg(str(root / PYPROJECT))
            return cls(config.settings, factory.committer_factory(config))
        except CommitizenException as exc:
            raise VersionError(f"{root / PYPROJECT}: {_last_line(str(exc))}: add a [tool.commitizen] table") from None

    def tag_for(self, version: str) -> str:
        from commitizen.tags import TagRules

        return TagRules.from_settings(self.settings).normalize_tag(version)

    def bump_message(self, current: str, new: str) -> str:
        from commitizen.bump import create_commit_message

        return create_commit_message(current, new, self.settings["bump_message"])

    def increments(self, log: Sequence[_Logged]) -> list[str | None]:
        """What each commit asks for, as `cz bump` classifies it (its bump_pattern and bump_map)."""
        from commitizen.git import GitCommit
        from commitizen.version_increment import VersionIncrement

        zero = self.settings["major_version_zero"]
        bump_map = self.cz.bump_map_major_version_zero if zero else self.cz.bump_map
        pattern = self.cz.bump_pattern
        if not bump_map or not pattern:
            raise VersionError(f"the commit rule {self.settings['name']} cannot decide versions: use cz_conventional_commits")
        commits = [GitCommit(rev=e.rev, title=e.subject, body=e.body) for e in log]
        kept = {c.rev for c in self.cz.filter_commits_before_bump(commits)}
        found = (
            VersionIncrement.from_message(c.message, pattern, bump_map) if c.rev in kept else VersionIncrement.NONE
            for c in commits
        )
        return [None if i is VersionIncrement.NONE else str(i) for i in found]

    def next_after(self, current: str, increments: Iterable[str | None]) -> str | None:
        """current bumped by the highest increment asked for, as `cz bump --get-next` does."""
        from commitizen.version_increment import VersionIncrement
        from commitizen.version_schemes import Increment, get_version_scheme

        highest = max((VersionIncrement.from_value(i) for i in increments), default=VersionIncrement.NONE)
        if highest is VersionIncrement.NONE:
            return None
        scheme = get_version_scheme(self.settings)
        return str(scheme(current).bump(cast(Increment, str(highest))))


# --- deciding --------------------------------------------------------------------------------


def decide(root: Path) -> Decision:
    """The current release, its tag, the commits since, and the next release they ask for."""
    root = _checkout(root)
    current = _pep440(read_package_version(root))
    rules = _Rules.load(root)
    tag = _reachable_tag(root, rules.tag_for(current))
    log = _log(root, tag)
    increments = rules.increments(log)
    return Decision(
        current=current,
        tag=tag,
        next=rules.next_after(current, increments),
        commits=tuple(Commit(sha=e.sha, subject=e.subject, increment=i) for e, i in zip(log, increments)),
        distance=len(log),
        sha=_git(root, "rev-parse", "--short", "HEAD").strip(),
        dirty=_is_dirty(root),
    )


def build_version(root: Path) -> str:
    """decide(root).version; outside a git checkout (an sdist, git missing) X.Y.(Z+1).dev0+unknown."""
    try:
        _checkout(root)
    except VersionError:
        return f"{next_patch(read_package_version(root))}.dev0+unknown"
    return decide(root).version


def render(decision: Decision) -> str:
    """The decision for people: versions first, then the commits that decide the next one."""
    since = f"since {decision.tag}" if decision.tag else "(no release tag yet: every commit counts)"
    head = [
        f"current  {decision.current}",
        f"tag      {decision.tag or 'none'}",
        f"next     {decision.next or 'none (no commit asks for a release)'}",
        f"build    {decision.version}" + (" (released)" if decision.released else ""),
        "",
        f"{decision.distance} commit{'' if decision.distance == 1 else 's'} {since}:",
    ]
    rows = [(c.sha, c.increment or "-", c.subject) for c in decision.commits]
    return "\n".join([*head, table(("sha", "increment", "subject"), rows)])


# --- releasing -------------------------------------------------------------------------------


def bump(root: Path, *, dry_run: bool = False) -> str:
    """Write the next release into every version file, commit them and tag it; returns it."""
    decision = decide(root)
    root = root.resolve()
    new = _releasable(decision)
    current = check_agreement(root)
    rules = _Rules.load(root)
    tag, message = rules.tag_for(new), rules.bump_message(current, new)
    files = tuple(places(root))
    if _git_succeeds(root, "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}"):
        raise VersionError(f"tag {tag} already exists: the release {new} was made; pull it or delete the stray tag")
    if dry_run:
        print(_plan(decision, new, tag, message))
        return new
    _write_versions(root, new, files)
    _commit_and_tag(root, files, message, tag)
    print(f"{message}, tagged {tag}; publish it: git push origin HEAD {tag}")
    return new


def _releasable(decision: Decision) -> str:
    if decision.dirty:
        raise VersionError("tracked files have uncommitted changes: commit or stash them, then bump")
    if decision.next is None:
        since = f"since {decision.tag}" if decision.tag else "in the history"
        raise VersionError(f"no commit {since} asks for a release (feat:, fix:, ...): nothing to bump")
    return decision.next


def _plan(decision: Decision, new: str, tag: str, message: str) -> str:
    asked = [c for c in decision.commits if c.increment]
    return "\n".join([
        f"would bump {decision.current} → {new}, asked for by {len(asked)} of {decision.distance} commits:",
        f"  commitizen writes {', '.join(COMMITIZEN_WRITES)}",
        f"  cargo update --workspace writes {CARGO_LOCK}",
        f"  npm version writes {PACKAGE_LOCK}",
        f"  commit {message!r}, annotated tag {tag}",
        "nothing was changed (dry run)",
    ])


def _write_versions(root: Path, new: str, files: Sequence[str]) -> None:
    """commitizen, then cargo and npm for their lock files; every file checked after."""
    others = _cargo_lock_others(root)
    try:
        say(f"==> commitizen: {new} into {', '.join(COMMITIZEN_WRITES)}")
        _tool([sys.executable, "-m", "commitizen", "bump", "--yes", "--version-files-only", "--check-consistency"],
              cwd=root, what="cz bump")
        say(f"==> cargo update --workspace --offline: {CARGO_LOCK}")
        _tool(["cargo", "update", "--workspace", "--offline", "--manifest-path", CARGO_TOML], cwd=root,
              what="cargo update")
        say(f"==> npm version {new}: {PACKAGE_LOCK}")
        _tool(["npm", "version", new, "--no-git-tag-version", "--ignore-scripts", "--allow-same-version"],
              cwd=root / "ui-src", what="npm version")
        _check_written(root, new, files, others)
    except BuildError as exc:
        undo = f"git checkout -- {' '.join(files)}"
        raise VersionError(f"{exc}; the version files are half-written, undo with: {undo}") from None


def _check_written(root: Path, new: str, files: Sequence[str], others: list[tuple[str, str, str]]) -> None:
    written = check_agreement(root)
    if written != new:
        raise VersionError(f"commitizen wrote {written} but the commits ask for {new}")
    if _cargo_lock_others(root) != others:
        raise VersionError(f"cargo update changed other packages in {CARGO_LOCK}")
    changed = set(_git(root, "diff", "--name-only", "HEAD").split())
    if stray := sorted(changed - set(files)):
        raise VersionError(f"the bump changed files that carry no version: {', '.join(stray)}")


def _commit_and_tag(root: Path, files: Sequence[str], message: str, tag: str) -> None:
    _git(root, "commit", "--quiet", "-m", message, "--", *files)
    _git(root, "tag", "-a", tag, "-m", message)


def _tool(cmd: Sequence[str], *, cwd: Path, what: str) -> None:
    try:
        run(cmd, what=what, cwd=cwd)
    except CommandError as exc:
        detail = _last_line(exc.tail)
        raise VersionError(f"{exc}: {detail}" if detail else str(exc)) from None
