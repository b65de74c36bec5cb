"""The source tree: which files make the wheel and the sdist, and the time stamped into both.

Used by the matrix (from a checkout) and by the PEP 517 backend (from a checkout or an
unpacked sdist), so it imports nothing outside the standard library and this package's
standard-library-only modules.
"""

from __future__ import annotations

import os
from pathlib import Path

from .fingerprint import files_under
from .procs import capture

# Besides the package, what a wheel is built from.
WHEEL_FILES = ("pyproject.toml", "README.md", "LICENSE")
# What an sdist holds besides those: the crate, the UI's source (its lock names what the
# shipped UI bundles), the build package (the backend lives there) and the docs.
SDIST_TREES = ("noetl", "noetl_build", "noetlctl", "ui-src", "docs")
# Never shipped from a tree: a dev checkout's own binary; build outputs of the crate and UI.
SKIPPED = {"noetl": ["bin"], "ui-src": ["dist"]}
PKG_INFO = "PKG-INFO"
FALLBACK_EPOCH = 315532800  # 1980-01-01, the earliest time a zip can hold
# SOURCE_DATE_EPOCH for the compilers and linkers (cargo's environment), whatever the commit:
# ring's build script (cc) reruns when it changes, and with it rustls and noetl, so the commit's
# time there would rebuild dependencies on every commit. What reads it: lld's COFF linker (the
# PE header's TimeDateStamp); ELF and Mach-O binaries do not depend on it. The commit's time
# stays where it is a time: the wheels' and the sdist's files, the SBOMs.
COMPILE_EPOCH = FALLBACK_EPOCH


def _tree(root: Path, name: str) -> list[Path]:
    files = files_under(root / name, skip=SKIPPED.get(name, []))
    return [f for f in files if f.suffix != ".pyc"]


def _project_files(root: Path) -> list[Path]:
    return [root / name for name in WHEEL_FILES if (root / name).is_file()]


def wheel_sources(root: Path) -> list[Path]:
    """What the py3-none-any wheel is built from: the package (code, DDL, built UI) and project files."""
    return _tree(root, "noetl") + _project_files(root)


def sdist_sources(root: Path) -> list[Path]:
    """What the sdist holds, PKG-INFO and the SBOM aside."""
    files = [f for name in SDIST_TREES if (root / name).is_dir() for f in _tree(root, name)]
    return sorted(files + _project_files(root))


def is_sdist(root: Path) -> bool:
    """True in an unpacked sdist: its PKG-INFO froze the version and its files' times."""
    return (root / PKG_INFO).is_file()


def source_date_epoch(root: Path) -> int:
    """SOURCE_DATE_EPOCH if set; else an sdist's own time, or the commit's: one source, one set of bytes."""
    if os.environ.get("SOURCE_DATE_EPOCH"):
        return int(os.environ["SOURCE_DATE_EPOCH"])
    if is_sdist(root):
        return int((root / PKG_INFO).stat().st_mtime)
    out = capture(["git", "log", "-1", "--format=%ct"], cwd=root)
    try:
        return int(out.stdout.strip()) if out.ok else FALLBACK_EPOCH
    except ValueError:
        return FALLBACK_EPOCH
