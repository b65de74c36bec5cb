"""Wheels: the generic wheel once, then one per target with its binary and SBOM, retagged."""

from __future__ import annotations

import email.policy
import os
import shutil
import stat
import sys
import zipfile
from email.parser import BytesParser
from pathlib import Path

from .errors import BuildError
from .files import EXEC_MODE, FILE_MODE, sha256_file
from .fingerprint import Stamp, digest, files_under
from .layout import Layout
from .procs import run
from .sbom import SBOM_DIR, SBOM_NAME
from .source import wheel_sources

DIR_MODE = EXEC_MODE


def build_generic_wheel(layout: Layout, *, version: str, epoch: int) -> Path:
    """The py3-none-any wheel of the Python package (code, UI, DDL, SBOM): input to every target.

    It is built through the project's own PEP 517 backend (binary=none), as `pip` would.
    """
    out_dir = layout.build / "generic"
    stamp = Stamp(out_dir / "wheel.json")
    # the backend (the built tree's noetl_build/: backend-path ".") and what its SBOM reads count too
    inputs = wheel_sources(layout.root) + files_under(layout.root / "noetl_build") + [layout.ui_lock]
    fingerprint = digest(files=inputs, base=layout.root, extra={"epoch": epoch, "version": version})
    wheel = out_dir / str(stamp.read().get("wheel", "-"))
    if stamp.current(wheel, fingerprint):
        return wheel

    staging = out_dir / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", staging,
         "-C", "binary=none", "-C", f"version={version}", layout.root],
        what="generic wheel: python -m build",
        env=_with_epoch(epoch),
        log=layout.logs / "generic-wheel.log",
    )
    built = _only(staging.glob("*.whl"), "generic wheel")
    wheel = out_dir / built.name
    built.replace(wheel)
    stamp.write({"fingerprint": fingerprint, "wheel": wheel.name, "sha256": sha256_file(wheel)})
    return wheel


def finish_wheel(
    wheel: Path, work: Path, *, sbom: bytes, epoch: int, log: Path | None, what: str,
    binary: Path | None = None, binary_name: str = "noetl", platform_tag: str | None = None,
) -> Path:
    """``wheel`` made whole in ``work``: its SBOM at <dist-info>/sboms/, and with ``binary``
    the binary at noetl/bin/<binary_name>, Root-Is-Purelib false, retagged ``platform_tag``.

    Modes are normalised (0644, 0755 for directories and the binary) and RECORD is rewritten
    by `wheel pack`. The result is left in ``work``; publishing it is the caller's step.
    """
    if (binary is None) != (platform_tag is None):
        raise BuildError(f"{what}: a platform wheel needs both a binary and a platform tag")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = _with_epoch(epoch)
    wheel_cmd = [sys.executable, "-m", "wheel"]
    run([*wheel_cmd, "unpack", "--dest", work / "tree", wheel], what=f"{what}: wheel unpack", env=env, log=log)
    tree = _only((work / "tree").iterdir(), "unpacked wheel")
    dist_info = _only(tree.glob("*.dist-info"), "dist-info")
    (dist_info / SBOM_DIR).mkdir(exist_ok=True)
    (dist_info / SBOM_DIR / SBOM_NAME).write_bytes(sbom)

    executable = None
    if binary is not None:
        executable = tree / "noetl" / "bin" / binary_name
        executable.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(binary, executable)
        _set_not_purelib(dist_info / "WHEEL")
    _normalise_modes(tree, executable=executable)

    packed = work / "packed"
    packed.mkdir()
    run([*wheel_cmd, "pack", "--dest-dir", packed, tree], what=f"{what}: wheel pack", env=env, log=log)
    final = _only(packed.glob("*.whl"), "packed wheel")
    if platform_tag is not None:
        run(
            [*wheel_cmd, "tags", "--platform-tag", platform_tag, "--remove", final],
            what=f"{what}: wheel tags", env=env, log=log,
        )
        final = _only(packed.glob("*.whl"), "retagged wheel")
    _normalise_zip_modes(final, executable=f"noetl/bin/{binary_name}" if binary is not None else None)
    return final


def wheel_tags(wheel: Path) -> list[str]:
    """The Tag lines of a wheel's WHEEL file."""
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/WHEEL"))
        info = BytesParser(policy=email.policy.compat32).parsebytes(zf.read(name))
    return list(info.get_all("Tag", []))


def _normalise_modes(tree: Path, *, executable: Path | None) -> None:
    """0644 for files, 0755 for dirs and the binary: nothing depends on the umask."""
    tree.chmod(DIR_MODE)
    for path in tree.rglob("*"):
        path.chmod(DIR_MODE if path.is_dir() else FILE_MODE)
    if executable is not None:
        executable.chmod(EXEC_MODE)


def _normalise_zip_modes(wheel: Path, *, executable: str | None) -> None:
    """Rewrite entries whose mode is not 0644 (0755 for the binary) as regular files of that mode.

    `wheel` writes RECORD as 0664 whatever the umask; entries keep their bytes, order and time.
    """
    def wanted(name: str) -> int:
        return (stat.S_IFREG | (EXEC_MODE if name == executable else FILE_MODE)) << 16

    with zipfile.ZipFile(wheel) as src:
        infos = src.infolist()
        if all(info.external_attr == wanted(info.filename) for info in infos):
            return
        tmp = wheel.with_name(wheel.name + ".tmp")
        with zipfile.ZipFile(tmp, "w") as dst:
            for info in infos:
                entry = zipfile.ZipInfo(info.filename, date_time=info.date_time)
                entry.external_attr = wanted(info.filename)
                entry.compress_type = zipfile.ZIP_DEFLATED
                dst.writestr(entry, src.read(info))
    tmp.replace(wheel)


def _set_not_purelib(wheel_file: Path) -> None:
    lines = wheel_file.read_text().splitlines()
    if not any(line.startswith("Root-Is-Purelib:") for line in lines):
        raise BuildError(f"{wheel_file}: no Root-Is-Purelib line")
    lines = ["Root-Is-Purelib: false" if l.startswith("Root-Is-Purelib:") else l for l in lines]
    wheel_file.write_text("\n".join(lines) + "\n")


def _with_epoch(epoch: int) -> dict[str, str]:
    return {**os.environ, "SOURCE_DATE_EPOCH": str(epoch)}


def _only(paths: object, what: str) -> Path:
    found = list(paths)  # type: ignore[call-overload]
    if len(found) != 1:
        raise BuildError(f"expected one {what}, found {len(found)}: {found}")
    return Path(found[0])
