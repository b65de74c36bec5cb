"""Checks of the sdist, so that everything `publish` uploads has a verdict in verify.json.

    twine           `twine check --strict`: metadata PyPI renders and accepts
    pypi            no upload rule of PyPI's refuses it (checks_pypi.py)
    sdist-contents  one root directory named for it; the crate with Cargo.lock, the built UI,
                    the package, the backend and the SBOM; no binary, no build output, nothing
                    but regular files and directories, no name that leaves the root
    version         the file name, PKG-INFO and noetl/__init__.py say one version
    sbom            sboms/noetl.cdx.json is valid CycloneDX 1.6 for this version; its crates are
                    in the sdist's Cargo.lock with its checksums, its npm packages exactly the
                    non-dev ones of the sdist's package-lock.json

Building the sdist's wheel is not a check here: it compiles the binary (minutes); the rehearsal
(`nox -s rehearse`) does it from the index.
"""

from __future__ import annotations

import email.policy
import json
import tarfile
import tempfile
from dataclasses import dataclass
from email.parser import BytesParser
from pathlib import Path, PurePosixPath

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packaging.utils import InvalidSdistFilename, parse_sdist_filename

from ..errors import VersionError
from ..files import sha256_file
from ..sbom import SBOM_DIR, SBOM_NAME
from ..version import version_in_source
from ..wheels import BIN_DIR
from .checks_common import twine_verdict
from .checks_pypi import check_sdist_pypi
from .checks_sbom import _crate_hashes, _difference, _listed, _npm_lock, _schema_problem
from .results import FAIL, Check, CheckResult, Verdict, WheelReport, check, fail, ok, run_checks

REQUIRED = (
    "PKG-INFO", "pyproject.toml", "LICENSE", "README.md",
    "noetlctl/Cargo.toml", "noetlctl/Cargo.lock", "noetlctl/src/main.rs",
    "noetl/__init__.py", "noetl/cli_wrapper.py", "noetl/core/ui/index.html",
    "noetl_build/backend.py", "ui-src/package-lock.json", f"{SBOM_DIR}/{SBOM_NAME}",
)
FORBIDDEN_PARTS = frozenset({"node_modules", "target", "__pycache__", ".git", "build", "dist"})


@dataclass(frozen=True)
class UnpackedSdist:
    path: Path
    version: str
    root: str  # the directory every member is under: noetl-X
    members: dict[str, tarfile.TarInfo]  # by name relative to root
    tree: Path  # the regular files, extracted (for the checkers that read files)


@check("sdist-contents")
def check_contents(sdist: UnpackedSdist) -> Verdict:
    missing = [name for name in REQUIRED if name not in sdist.members]
    binaries = [name for name in sdist.members if name.startswith(BIN_DIR)]
    stray = [name for name in sdist.members if FORBIDDEN_PARTS.intersection(PurePosixPath(name).parts)]
    odd = [name for name, info in sdist.members.items() if not (info.isfile() or info.isdir())]
    problems = [f"missing {', '.join(missing)}"] if missing else []
    problems += [f"a binary: {binaries[0]}"] if binaries else []
    problems += [f"build output or VCS files: {', '.join(stray[:3])}"] if stray else []
    problems += [f"not a regular file: {', '.join(odd[:3])}"] if odd else []
    if problems:
        return fail("; ".join(problems))
    files = sum(info.isfile() for info in sdist.members.values())
    return ok(f"{files} files under {sdist.root}/: the crate and Cargo.lock, the built UI, "
              "the package, the backend and the SBOM; no binary or build output")


@check("version")
def check_version(sdist: UnpackedSdist) -> Verdict:
    version = sdist.version
    said = {"PKG-INFO": _pkg_info_version(sdist)}
    try:
        said["noetl/__init__.py"] = version_in_source((sdist.tree / "noetl/__init__.py").read_bytes(), "noetl/__init__.py")
    except (OSError, VersionError) as exc:
        said["noetl/__init__.py"] = f"nothing readable ({exc})"
    wrong = [f"{where} says {value or 'nothing'}" for where, value in said.items() if value != version]
    if wrong:
        return fail(f"the file name says {version}, but " + "; ".join(wrong))
    return ok(f"{version} in the name, PKG-INFO and noetl/__init__.py")


@check("sbom")
def check_sbom(sdist: UnpackedSdist) -> Verdict:
    path = sdist.tree / SBOM_DIR / SBOM_NAME
    try:
        text = path.read_text()
        document = json.loads(text)
    except (OSError, ValueError) as exc:
        return fail(f"cannot read {SBOM_DIR}/{SBOM_NAME}: {exc}")
    invalid = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if invalid is not None:
        return fail(f"not valid CycloneDX 1.6: {_schema_problem(invalid.data)}")
    problems = []
    version = (document.get("metadata", {}).get("component") or {}).get("version")
    if version != sdist.version:
        problems.append(f"its root component is version {version or 'missing'}, the sdist {sdist.version}")
    components = document.get("components", [])
    crates = _listed(components, "cargo")
    problems += _crate_hashes(crates, sdist.tree / "noetlctl" / "Cargo.lock")
    npm = _listed(components, "npm")
    bundled, why = _npm_lock(sdist.tree / "ui-src" / "package-lock.json")
    if bundled is None:
        problems.append(why)
    else:
        problems += _difference("npm packages", set(npm), bundled, "the sdist's package-lock.json non-dev packages")
    if not crates:
        problems.append("it lists no crates")
    if problems:
        return fail("; ".join(problems))
    return ok(f"CycloneDX 1.6, version {version}: {len(crates)} crates with Cargo.lock's checksums, "
              f"{len(npm)} npm packages as package-lock.json")


@check("twine")
def check_twine(sdist: UnpackedSdist) -> Verdict:
    return twine_verdict(sdist.path)


CHECKS: tuple[Check[UnpackedSdist], ...] = (check_twine, check_sdist_pypi, check_contents, check_version, check_sbom)
CHECK_NAMES = tuple(each.name for each in CHECKS)


def verify_sdist(path: Path, *, only: tuple[str, ...] = ()) -> WheelReport:
    """Every sdist check (or those named in ``only`` that apply to an sdist) on one sdist."""
    sha256 = sha256_file(path)
    with tempfile.TemporaryDirectory(prefix="noetl-verify-sdist-") as scratch:
        try:
            sdist = _open(path, Path(scratch))
        except (tarfile.TarError, OSError, ValueError) as exc:
            return WheelReport(path.name, str(path), None, sha256, (CheckResult("sdist", FAIL, f"cannot read it: {exc}"),))
        results = run_checks(CHECKS, sdist, only)
    return WheelReport(path.name, str(path), None, sha256, results)


def _open(path: Path, scratch: Path) -> UnpackedSdist:
    try:
        name, version = parse_sdist_filename(path.name)
    except InvalidSdistFilename as exc:
        raise ValueError(f"not an sdist's name ({exc})") from None
    root = f"{name}-{version}"
    members: dict[str, tarfile.TarInfo] = {}
    with tarfile.open(path, "r:gz") as tar:
        for info in tar.getmembers():
            parts = PurePosixPath(info.name).parts
            if not parts or parts[0] != root or ".." in parts or info.name.startswith("/"):
                raise ValueError(f"member {info.name!r} is not under {root}/")
            if len(parts) > 1:
                members["/".join(parts[1:])] = info
        tree = scratch / "tree"
        for relative, info in members.items():
            if info.isfile():
                dest = tree / relative
                dest.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(info)
                if source is not None:
                    dest.write_bytes(source.read())
    return UnpackedSdist(path=path, version=str(version), root=root, members=members, tree=tree)


def _pkg_info_version(sdist: UnpackedSdist) -> str | None:
    try:
        headers = BytesParser(policy=email.policy.compat32).parsebytes((sdist.tree / "PKG-INFO").read_bytes())
    except OSError:
        return None
    value = headers.get("Version")
    return str(value).strip() if value else None
