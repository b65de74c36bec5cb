"""Wheels: the generic wheel once, then one per target with its binary and SBOM, retagged."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .errors import BuildError
from .fingerprint import digest, files_under
from .layout import Layout
from .procs import run
from .reuse import read, record
from .sbom import SBOM_DIR, SBOM_NAME
from .source import wheel_sources
from .wheelfile import dist_info_of, rewrite

GENERIC_STAMP = "wheel.json"  # beside the generic wheel: reuse.record of what made it
BIN_DIR = "noetl/bin/"  # where a platform wheel holds the binary (noetl/cli_wrapper.py runs it from there)


def binary_member(binary_name: str) -> str:
    """The binary's path inside a platform wheel: noetl/bin/noetl, noetl/bin/noetl.exe."""
    return BIN_DIR + binary_name


def build_generic_wheel(layout: Layout, *, version: str, epoch: int) -> Path:
    """The py3-none-any wheel of the Python package (code, UI, DDL, SBOM): input to every target.

    It is built through the project's own PEP 517 backend (binary=none), as `pip` would.
    """
    out_dir = layout.generic
    stamp = out_dir / GENERIC_STAMP
    # the backend (the built tree's noetl_build/: backend-path ".") and what its SBOM reads count too
    inputs = wheel_sources(layout.root) + files_under(layout.root / "noetl_build") + [layout.ui_lock]
    fingerprint = digest(files=inputs, base=layout.root, extra={"epoch": epoch, "version": version})
    last = read(stamp)  # it names the wheel (whose name holds the version) it was made for
    kept = last.paths(out_dir) if last else []
    if last and last.holds(fingerprint, kept):
        return kept[0]

    staging = out_dir / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", staging,
         "-C", "binary=none", "-C", f"version={version}", layout.root],
        what="generic wheel: python -m build",
        env=_with_epoch(epoch),
        log=layout.log("generic-wheel"),
    )
    built = _only(staging.glob("*.whl"), "generic wheel")
    wheel = out_dir / built.name
    built.replace(wheel)
    record(stamp, fingerprint, [wheel])
    return wheel


def finish_wheel(
    wheel: Path, work: Path, *, sbom: bytes, epoch: int, log: Path | None, what: str,
    binary: Path | None = None, binary_name: str = "noetl", platform_tag: str | None = None,
) -> Path:
    """``wheel`` made whole in ``work``: its SBOM at <dist-info>/sboms/, and with ``binary``
    the binary at binary_member(binary_name), Root-Is-Purelib false, retagged ``platform_tag``.

    Retagging is `wheel tags`; the rest is one pass of wheelfile.rewrite, which also gives
    every entry its mode (0644, 0755 for the binary) and time and writes RECORD. The result is
    left in ``work``; publishing it is the caller's step.
    """
    if (binary is None) != (platform_tag is None):
        raise BuildError(f"{what}: a platform wheel needs both a binary and a platform tag")
    shutil.rmtree(work, ignore_errors=True)
    tagged = work / "tagged"
    tagged.mkdir(parents=True)
    source = Path(shutil.copyfile(wheel, tagged / wheel.name))
    if platform_tag is not None:
        run(
            [sys.executable, "-m", "wheel", "tags", "--platform-tag", platform_tag, "--remove", source],
            what=f"{what}: wheel tags", env=_with_epoch(epoch), log=log,
        )
        source = _only(tagged.glob("*.whl"), "retagged wheel")
    add = {f"{dist_info_of(source)}/{SBOM_DIR}/{SBOM_NAME}": sbom}
    executables: frozenset[str] = frozenset()
    if binary is not None:
        member = binary_member(binary_name)
        add[member] = binary.read_bytes()
        executables = frozenset({member})
    return rewrite(source, work / "packed" / source.name, epoch=epoch, add=add, executables=executables,
                   purelib=False if binary is not None else None)


def _with_epoch(epoch: int) -> dict[str, str]:
    return {**os.environ, "SOURCE_DATE_EPOCH": str(epoch)}


def _only(paths: object, what: str) -> Path:
    found = list(paths)  # type: ignore[call-overload]
    if len(found) != 1:
        raise BuildError(f"expected one {what}, found {len(found)}: {found}")
    return Path(found[0])
