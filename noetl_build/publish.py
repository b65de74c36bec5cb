"""Publishing: dist/ proven a whole, verified, one-version release, then uploaded with twine.

    release_set(layout, matrix, ...) -> ReleaseSet   every refusal, in order; uploads nothing
    already_published(release, index_url)            the release's files the index has, same sha256
    upload(release, url, index_url=...)              twine, file by file: every wheel, the sdist last,
                                                     skipping what the index already has
    publish(layout, matrix, ...)                      release_set, then upload
    release_assets(layout, matrix, directory)         what a GitHub release carries

The refusals, each one line: no dist/; a target in targets.toml without its wheel; no sdist;
a wheel or sdist in dist/ that manifest.json does not list; a file whose bytes changed since
it was built; more than one version; a development version (unless ``allow_dev`` names an
index that is not PyPI's); wheels compiled by more than one rustc, or by one manifest.json does
not record; a file PyPI's own upload rules would refuse (pypi_rules: name, version, tags, zip
structure, metadata, description, sizes); a file whose sha256 is not in a passing dist/verify.json.

A publish that stopped midway (a killed job, a lost network) is finished by running it again:
before uploading anything it reads the index's simple page for the project; a file the index
already has with dist/'s sha256 is skipped, and said so; one it has with other bytes, or an
index that cannot be read, stops it before its first upload with one line. The wheels go up
before the sdist, so while a release is half-uploaded an installer finds the previous release
or a wheel of the new one, never only the new one's source. Nothing local is ever deleted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tarfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from . import deps, dist, pypi_rules
from .errors import ReleaseError
from .files import sha256_file
from .layout import Layout
from .procs import capture
from .targets import Matrix
from .toolchain import compiler_label
from .verdicts import CheckStatus

if TYPE_CHECKING:
    from twine.settings import Settings

PYPI_UPLOAD_URL = "https://upload.pypi.org/legacy/"
REBUILD = "nox -s build_all && nox -s sdist && nox -s verify"
NEW_VERSION = "release a new version (nox -s version -- --bump) or a post-release, rebuild and publish that"
# the progress lines of an upload, one a file (the rehearsal's interrupted-publish drill reads them)
UPLOADING = "==> uploading "
SKIPPING = "==> skipping "
SAME_BYTES = ": the index already has it, same sha256"


@dataclass(frozen=True)
class ReleaseSet:
    version: str
    wheels: tuple[Path, ...]  # in targets.toml order
    sdist: Path
    compiler: str = ""  # the one rustc that compiled every wheel's binary, e.g. "rustc 1.96.0 (ac68faa20c58)"

    @property
    def files(self) -> tuple[Path, ...]:
        """What is uploaded, in this order: every wheel, then the sdist. While the upload runs
        (or after it stopped midway) an installer finds the previous release, or a wheel of this
        one for its platform; never this version's sdist alone, which it would compile."""
        return (*self.wheels, self.sdist)

    @property
    def project(self) -> NormalizedName:
        return parse_sdist_filename(self.sdist.name)[0]


def is_pypi(repository_url: str) -> bool:
    """PyPI and TestPyPI: indexes that refuse local versions and keep every file forever."""
    host = (urlsplit(repository_url).hostname or "").lower()
    return host == "pypi.org" or host.endswith(".pypi.org")


def release_set(
    layout: Layout, matrix: Matrix, *, allow_dev: bool = False, repository_url: str = PYPI_UPLOAD_URL
) -> ReleaseSet:
    """The files a release of dist/ uploads, or ReleaseError naming the first reason it may not."""
    where = layout.dist
    if not where.is_dir():
        raise ReleaseError(f"no {where}: build the release first ({REBUILD})")
    entries = dist.load_entries(where)
    missing = [name for name in matrix.names() if name not in entries]
    if missing:
        raise ReleaseError(
            f"{where} is incomplete: no wheel for {', '.join(missing)} ({len(missing)} of "
            f"{len(matrix.targets)} targets in targets.toml); build them: nox -s wheel -- {' '.join(missing)}"
        )
    sdist = dist.load_sdist(where)
    if sdist is None:
        raise ReleaseError(f"no sdist in {where}: build it with nox -s sdist")
    wheels = [entries[name] for name in matrix.names()]
    listed = {e.wheel for e in wheels} | {sdist.file}
    strays = sorted(p.name for p in [*where.glob("*.whl"), *where.glob("*.tar.gz")] if p.name not in listed)
    if strays:
        raise ReleaseError(
            f"{where} holds {', '.join(strays)}, which manifest.json does not list for any target in "
            f"targets.toml: remove {'it' if len(strays) == 1 else 'them'}, or rebuild ({REBUILD})"
        )
    expected = {e.wheel: e.sha256 for e in wheels} | {sdist.file: sdist.sha256}
    digests = {name: sha256_file(where / name) for name in expected}
    changed = [name for name, sha in expected.items() if digests[name] != sha]
    if changed:
        raise ReleaseError(
            f"{where / changed[0]} changed since it was built (its sha256 is not manifest.json's): rebuild ({REBUILD})"
        )
    version = _one_version(list(expected))
    _allowed(version, allow_dev=allow_dev, repository_url=repository_url)
    compiler = compiler_label(dist.one_compiler(wheels, rebuild=REBUILD))
    release = ReleaseSet(version=version, wheels=tuple(where / e.wheel for e in wheels), sdist=where / sdist.file,
                         compiler=compiler)
    # PyPI's own upload rules, file by file, before the first upload (a private index given a
    # development build with --allow-dev takes its local version; everything else is PyPI's)
    pypi_rules.check_release(release.files, real_index=not (allow_dev and not is_pypi(repository_url)))
    _verified(layout.verify_json, digests)
    return release


def _one_version(names: Sequence[str]) -> str:
    versions: dict[str, list[str]] = {}
    for name in names:
        versions.setdefault(str(_version_of(name)), []).append(name)
    if len(versions) > 1:
        shown = ", ".join(f"{v} ({len(files)} file{'s' if len(files) > 1 else ''})" for v, files in sorted(versions.items()))
        raise ReleaseError(f"dist/ mixes versions {shown}: rebuild everything from one commit ({REBUILD})")
    return next(iter(versions))


def _version_of(name: str) -> Version:
    try:
        if name.endswith(".whl"):
            return parse_wheel_filename(name)[1]
        return parse_sdist_filename(name)[1]
    except (InvalidWheelFilename, InvalidSdistFilename) as exc:
        raise ReleaseError(f"{name}: not a distribution's file name ({exc})") from None


def _allowed(version: str, *, allow_dev: bool, repository_url: str) -> None:
    parsed = Version(version)
    development = parsed.is_devrelease or parsed.local is not None
    if development and not allow_dev:
        raise ReleaseError(
            f"{version} is a development build, not a release: make one with nox -s version -- --bump, "
            f"rebuild from the tag and publish that (--allow-dev uploads to a test index named with --repository-url)"
        )
    if development and is_pypi(repository_url):
        raise ReleaseError(
            f"--allow-dev is for test indexes, and {repository_url} is PyPI's, which refuses development "
            "versions and keeps every file forever: name another index with --repository-url"
        )


def _verified(report_path: Path, digests: dict[str, str]) -> None:
    """Every file's sha256 is in dist/verify.json with a passing verdict."""
    try:
        report = json.loads(report_path.read_text())
        rows = {row["sha256"]: row for row in report["wheels"]}
    except FileNotFoundError:
        raise ReleaseError(f"no {report_path}: prove the files right first (nox -s verify)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReleaseError(f"{report_path} is not a verify report ({exc}): run nox -s verify again") from None
    for name, sha in digests.items():
        row = rows.get(sha)
        if row is None:
            raise ReleaseError(
                f"{name} was not verified (its sha256 is not in {report_path}): run nox -s verify"
            )
        if row.get("ok") is not True:
            bad = [r.get("check", "?") for r in row.get("results", []) if r.get("status") == CheckStatus.FAIL]
            raise ReleaseError(f"{name} failed verify ({', '.join(bad) or 'see ' + str(report_path)}): fix it and rebuild")


# ---------------------------------------------------------------- uploading


def publish(
    layout: Layout, matrix: Matrix, *, repository_url: str | None = None, allow_dev: bool = False,
    attestations: bool = False, check_only: bool = False, credentials: tuple[str, str] | None = None,
    index_url: str | None = None, progress: Callable[[str], None] = lambda _: None,
) -> ReleaseSet:
    """Upload the release set of dist/ to ``repository_url`` (PyPI's by default) with twine.

    Credentials come as twine finds them (TWINE_USERNAME / TWINE_PASSWORD, keyring, trusted
    publishing in CI, a prompt) unless ``credentials`` gives them. What the index already has is
    read from ``index_url``, else :func:`simple_index` of the upload URL. With ``check_only``
    nothing is uploaded, and noetl's dependencies are proven to install from wheels alone on
    every target from that index (the one users will install from).
    """
    url = repository_url or PYPI_UPLOAD_URL
    release = release_set(layout, matrix, allow_dev=allow_dev, repository_url=url)
    if attestations and not is_pypi(url):
        raise ReleaseError(f"--attestations: only PyPI and TestPyPI accept attestations, not {url}")
    index = index_url or simple_index(url)
    count = f"{len(release.files)} files of noetl {release.version}"
    if check_only:
        present = already_published(release, index)
        _check_dependencies(layout, matrix, release, index)
        there = f"; {len(present)} of them already on {index} with the same sha256" if present else ""
        progress(f"ready to publish {count} to {url}: complete, verified, one version, one compiler "
                 f"({release.compiler}), PyPI's upload rules, every dependency a wheel{there}")
        return release
    present = upload(release, url, index_url=index, credentials=credentials,
                     staging=layout.publish_staging if attestations else None, progress=progress)
    there = f" ({len(present)} of them were there already)" if present else ""
    progress(f"published {count} to {url}{there}")
    return release


def simple_index(upload_url: str) -> str:
    """Where users of ``upload_url`` install from: PyPI's and TestPyPI's /simple/ for their
    /legacy/ upload URL; for any other index (pypiserver, devpi) the upload URL + ``simple/``."""
    if upload_url.rstrip("/").endswith("/legacy"):
        return upload_url.rstrip("/").removesuffix("/legacy").replace("upload.pypi.org", "pypi.org") + "/simple/"
    return upload_url.rstrip("/") + "/simple/"


def already_published(release: ReleaseSet, index_url: str) -> tuple[Path, ...]:
    """The release's files the simple index at ``index_url`` already has with dist/'s sha256 (a
    rerun skips them), in upload order. ReleaseError when the index has one with other bytes
    (the release cannot be completed: an index never takes a file name twice) or cannot be read
    (uploading blind could half-publish)."""
    index = deps.Index(index_url)
    ours = {f.name: sha256_file(f) for f in release.files}
    try:
        listed = [f for f in index.files(release.project) if f.filename in ours]
        theirs = {f.filename: f.sha256 or hashlib.sha256(index.download(f)).hexdigest() for f in listed}
    except (ReleaseError, ValueError, KeyError, TypeError, AttributeError) as exc:
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise ReleaseError(
            f"cannot tell which files of {release.project} {release.version} {index.url} already has ({reason}): "
            f"nothing was uploaded; publish again when the index answers (--index-url names its simple index)"
        ) from None
    other = [name for name in ours if name in theirs and theirs[name] != ours[name]]
    if other:
        name = other[0]
        more = f" (and {len(other) - 1} more)" if len(other) > 1 else ""
        raise ReleaseError(
            f"{index.url} already has {name} with other bytes (sha256 {theirs[name]}, dist/'s "
            f"{ours[name]}){more}: nothing was uploaded, and this version cannot be completed "
            f"since an index never takes a file name twice; {NEW_VERSION}"
        )
    return tuple(file for file in release.files if file.name in theirs)


def _check_dependencies(layout: Layout, matrix: Matrix, release: ReleaseSet, index_url: str) -> None:
    # quiet: a refusal stays one line; success is said by the "ready to publish" line
    index = _BeforeRelease(index_url, release)
    report = deps.check(index, matrix.targets, release.version, local_wheels=layout.dist)
    deps.write_json(report, layout.deps_json)
    if not report.ok:
        failing = deps.failures(report)
        raise ReleaseError(f"{len(failing)} target environment(s) would need a compiler or fail to install from "
                           f"{index_url}: {failing[0]}{f' (and more: {layout.deps_json})' if len(failing) > 1 else ''}")


class _BeforeRelease(deps.Index):
    """The index as it was before this release: the release's own files, which a publish that
    stopped midway left there for some targets only, are not listed; so noetl's requirements
    come from dist/'s wheels, as before any upload, and only its dependencies from the index."""

    def __init__(self, url: str, release: ReleaseSet) -> None:
        super().__init__(url)
        self._release = release
        self._hidden = {f.name for f in release.files}

    def files(self, name: str) -> list[deps.File]:
        listed = super().files(name)
        if name != self._release.project:
            return listed
        return [f for f in listed if f.filename not in self._hidden]


def _sign(files: Sequence[Path], staging: Path) -> dict[Path, list[Path]]:
    """PEP 740 attestations (sigstore, with the CI's OIDC identity), made beside copies of the
    files in ``staging``: dist/ stays exactly as verify saw it. Returns file -> its attestations."""
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    if not files:
        return {}
    copies = [Path(shutil.copyfile(f, staging / f.name)) for f in files]
    signed = capture([sys.executable, "-m", "pypi_attestations", "sign", *copies], timeout=600)
    if not signed.ok:
        raise ReleaseError(
            f"signing attestations failed ({signed.failure()[:300]}); "
            "it needs a CI OIDC identity (GitHub Actions with id-token: write)"
        )
    return {original: [copy.with_name(f"{copy.name}.publish.attestation")] for original, copy in zip(files, copies)}


def upload(
    release: ReleaseSet, url: str, *, index_url: str | None = None, credentials: tuple[str, str] | None = None,
    staging: Path | None = None, progress: Callable[[str], None] = lambda _: None,
) -> tuple[Path, ...]:
    """Upload the release's files to ``url`` with twine in :attr:`ReleaseSet.files` order (every
    wheel, the sdist last), skipping those the index (``index_url``, else :func:`simple_index`)
    already has with the same sha256: :func:`already_published`, whose refusals come before the
    first upload. With ``staging`` each uploaded file carries PEP 740 attestations made there.
    Returns the files skipped."""
    present = already_published(release, index_url or simple_index(url))
    todo = [file for file in release.files if file not in present]
    signed = _sign(todo, staging) if staging is not None else {}
    settings = _twine_settings(url, bool(signed), credentials)
    import requests
    from twine.commands.upload import upload as twine_upload
    from twine.exceptions import NonInteractive, TwineException

    for file in release.files:
        if file in present:
            progress(f"{SKIPPING}{file.name}{SAME_BYTES}")
            continue
        progress(f"{UPLOADING}{file.name}")
        try:
            twine_upload(settings, [str(file), *map(str, signed.get(file, []))])
        except requests.HTTPError as exc:
            raise ReleaseError(_refusal(file, url, exc.response)) from None
        except (TwineException, requests.RequestException) as exc:
            detail = " ".join(str(exc).split())[:300]
            hint = ""
            if isinstance(exc, NonInteractive):
                hint = ("; give credentials: TWINE_USERNAME=__token__ and TWINE_PASSWORD=<an API token>, "
                        "a keyring entry, or trusted publishing in CI")
            raise ReleaseError(f"uploading {file.name} to {url} failed: {detail}{hint}") from None
    return present


def _twine_settings(url: str, attestations: bool, credentials: tuple[str, str] | None) -> Settings:
    """twine's settings for ``url``: its own options, so its environment (TWINE_USERNAME,
    TWINE_PASSWORD, TWINE_CERT, ...), keyring and trusted publishing apply as for `twine upload`."""
    try:
        from twine.settings import Settings
    except ImportError:
        raise ReleaseError("twine is not installed here: run nox -s publish (it installs requirements/release.txt)") from None
    parser = argparse.ArgumentParser(add_help=False)
    Settings.register_argparse_arguments(parser)
    options = ["--repository-url", url, "--disable-progress-bar"]
    options += ["--attestations"] if attestations else []
    options += ["--non-interactive"] if not sys.stdin.isatty() else []
    options += ["--username", credentials[0], "--password", credentials[1]] if credentials else []
    return Settings.from_argparse(parser.parse_args(options))


def _refusal(file: Path, url: str, response: Any) -> str:
    status = getattr(response, "status_code", "?")
    reason = " ".join(str(getattr(response, "reason", "") or "").split())[:200]
    text = str(getattr(response, "text", "") or "")
    if status == 409 or (status == 400 and "already exist" in f"{reason} {text}".lower()):
        # its simple page did not list the file a moment ago (a stale cache, another publisher)
        return (
            f"{url} already has {file.name} (HTTP {status} {reason}), which its simple index did not list "
            f"before the upload: publish again to compare the bytes (the same are skipped), else {NEW_VERSION}. "
            f"dist/ is unchanged"
        )
    if status in (401, 403):
        return f"{url} refused the credentials for {file.name} (HTTP {status} {reason}): set TWINE_USERNAME/TWINE_PASSWORD or a keyring entry"
    return f"{url} refused {file.name} (HTTP {status} {reason})"


# ---------------------------------------------------------------- the GitHub release


def release_assets(layout: Layout, matrix: Matrix, directory: Path) -> list[Path]:
    """Copy the release set, SHA256SUMS, manifest.json and each file's SBOM into ``directory``."""
    release = release_set(layout, matrix, allow_dev=True, repository_url="file:")
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for file in [*release.files, layout.dist_file(dist.SUMS), layout.dist_file(dist.MANIFEST)]:
        written.append(Path(shutil.copyfile(file, directory / file.name)))
    for wheel in release.wheels:
        written.append(_extract_sbom(wheel, directory / f"{wheel.name.removesuffix('.whl')}.cdx.json"))
    written.append(_extract_sdist_sbom(release.sdist, directory / f"{release.sdist.name.removesuffix('.tar.gz')}.cdx.json"))
    return written


def _extract_sbom(wheel: Path, dest: Path) -> Path:
    from .sbom import sbom_member

    name, version, _, _ = parse_wheel_filename(wheel.name)
    member = sbom_member(f"{str(name).replace('-', '_')}-{version}.dist-info")
    try:
        with zipfile.ZipFile(wheel) as zf:
            dest.write_bytes(zf.read(member))
    except KeyError:
        raise ReleaseError(f"{wheel.name} has no SBOM at {member}: rebuild it (nox -s build_all)") from None
    return dest


def _extract_sdist_sbom(sdist: Path, dest: Path) -> Path:
    from .sbom import SBOM_DIR, SBOM_NAME

    member = f"{sdist.name.removesuffix('.tar.gz')}/{SBOM_DIR}/{SBOM_NAME}"
    try:
        with tarfile.open(sdist, "r:gz") as tar:
            source = tar.extractfile(member)
            if source is None:
                raise KeyError(member)
            dest.write_bytes(source.read())
    except (KeyError, tarfile.TarError) as exc:
        raise ReleaseError(f"{sdist.name} has no SBOM at {member} ({exc}): rebuild it (nox -s sdist)") from None
    return dest
