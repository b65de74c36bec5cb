"""Wheels: the generic wheel once, then one per target with its binary, retagged."""

from __future__ import annotations

import email.policy
import shutil
import stat
import sys
import zipfile
from email.parser import BytesParser
from pathlib import Path

from .errors import BuildError
from .fingerprint import Stamp, digest, files_under, sha256_file
from .layout import Layout
from .procs import run
from .targets import Target

# Besides the package, what the generic wheel is built from.
PROJECT_FILES = ("pyproject.toml", "README.md", "LICENSE")
FILE_MODE, DIR_MODE, EXEC_MODE = 0o644, 0o755, 0o755


def generic_inputs(layout: Layout) -> list[Path]:
    files = files_under(layout.package, skip=["bin"])
    return files + [layout.root / name for name in PROJECT_FILES if (layout.root / name).is_file()]


def build_generic_wheel(layout: Layout, *, epoch: int) -> Path:
    """The py3-none-any wheel of the Python package (code, UI, DDL): input to every target."""
    out_dir = layout.build / "generic"
    stamp = Stamp(out_dir / "wheel.json")
    inputs = generic_inputs(layout)
    fingerprint = digest(files=inputs, base=layout.root, extra={"epoch": epoch})
    wheel = out_dir / str(stamp.read().get("wheel", "-"))
    if stamp.current(wheel, fingerprint):
        return wheel

    # Build from a clean copy: no stale setuptools build/ dirs, no noetl/bin from a dev tree.
    source = out_dir / "source"
    shutil.rmtree(source, ignore_errors=True)
    for path in inputs:
        dest = source / path.relative_to(layout.root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    staging = out_dir / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", staging, source],
        what="generic wheel: python -m build",
        env=_with_epoch(epoch),
        log=layout.logs / "generic-wheel.log",
    )
    built = _only(staging.glob("*.whl"), "generic wheel")
    wheel = out_dir / built.name
    built.replace(wheel)
    stamp.write({"fingerprint": fingerprint, "wheel": wheel.name, "sha256": sha256_file(wheel)})
    return wheel


def build_platform_wheel(
    generic: Path, binary: Path, target: Target, work: Path, *, epoch: int, log: Path
) -> Path:
    """A wheel for ``target``: the generic one plus noetl/bin/<binary>, tagged for the platform.

    It is left in ``work``; publishing it to dist/ is the caller's (atomic) step.
    """
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = _with_epoch(epoch)
    wheel_cmd = [sys.executable, "-m", "wheel"]
    run([*wheel_cmd, "unpack", "--dest", work / "tree", generic], what=f"{target.name}: wheel unpack", env=env, log=log)
    tree = _only((work / "tree").iterdir(), "unpacked wheel")

    dest = tree / "noetl" / "bin" / target.binary_name
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(binary, dest)
    _normalise_modes(tree, executable=dest)
    _set_not_purelib(_only(tree.glob("*.dist-info"), "dist-info") / "WHEEL")

    packed = work / "packed"
    packed.mkdir()
    run([*wheel_cmd, "pack", "--dest-dir", packed, tree], what=f"{target.name}: wheel pack", env=env, log=log)
    pure = _only(packed.glob("*.whl"), "packed wheel")
    run(
        [*wheel_cmd, "tags", "--platform-tag", target.platform_tag, "--remove", pure],
        what=f"{target.name}: wheel tags", env=env, log=log,
    )
    final = _only(packed.glob("*.whl"), "retagged wheel")
    _normalise_zip_modes(final, executable=f"noetl/bin/{target.binary_name}")
    return final


def wheel_tags(wheel: Path) -> list[str]:
    """The Tag lines of a wheel's WHEEL file."""
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/WHEEL"))
        info = BytesParser(policy=email.policy.compat32).parsebytes(zf.read(name))
    return list(info.get_all("Tag", []))


def _normalise_modes(tree: Path, *, executable: Path) -> None:
    """0644 for files, 0755 for dirs and the binary: nothing depends on the umask."""
    tree.chmod(DIR_MODE)
    for path in tree.rglob("*"):
        path.chmod(DIR_MODE if path.is_dir() else FILE_MODE)
    executable.chmod(EXEC_MODE)


def _normalise_zip_modes(wheel: Path, *, executable: str) -> None:
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
    import os

    return {**os.environ, "SOURCE_DATE_EPOCH": str(epoch)}


def _only(paths: object, what: str) -> Path:
    found = list(paths)  # type: ignore[call-overload]
    if len(found) != 1:
        raise BuildError(f"expected one {what}, found {len(found)}: {found}")
    return Path(found[0])
