"""Files the build writes and checks: one hash, one atomic write, the modes a wheel's files get."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # the PEP 517 backend (docs/packaging.md) imports this module on Python 3.10 too
    import tomli as tomllib

FILE_MODE = 0o644  # every file in a wheel or dist/ but the binary
EXEC_MODE = 0o755  # the binary, and directories
TMP_SUFFIX = ".tmp"  # atomic_output's temporaries: .<name>.<pid>.<random>.tmp


def read_toml(path: Path, *, what: str, error: type[Exception]) -> dict[str, Any]:
    """``path`` as TOML; ``error`` (a BuildError) in one line when it is missing (naming ``what``
    it should hold) or not valid TOML."""
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise error(f"{path}: no such file ({what})") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML: {exc}") from None


def sha256_file(path: Path) -> str:
    """The file's sha256 as hex, read in blocks."""
    h = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextmanager
def atomic_output(path: Path, *, mode: int = FILE_MODE) -> Iterator[Path]:
    """A fresh temporary path beside ``path`` to write; renamed onto ``path`` (with ``mode``)
    when the block ends without an error, removed when it fails: a reader, or a build that is
    interrupted, never sees half a file, and what ``path`` held stays until the new one is whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        tmp.chmod(mode)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_symlink(link: Path, target: Path) -> None:
    """Make ``link`` point at ``target`` by one rename of a fresh link made beside it: two
    builds (or two lanes of one) making the same link at once both succeed, and a reader never
    finds it missing."""
    link.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):  # a random name taken by another writer: try another
        tmp = link.with_name(f".{link.name}.{os.getpid()}.{os.urandom(4).hex()}{TMP_SUFFIX}")
        try:
            tmp.symlink_to(target)
        except FileExistsError:
            continue
        try:
            os.replace(tmp, link)
        finally:
            tmp.unlink(missing_ok=True)
        return
    raise FileExistsError(f"no free temporary name beside {link}")


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text)


def atomic_copy(source: Path, path: Path, *, mode: int = FILE_MODE) -> Path:
    with atomic_output(path, mode=mode) as tmp:
        shutil.copyfile(source, tmp)
    return path


def _writer(temporary: Path) -> int | None:
    """The process id in an atomic_output temporary's name, or None if it is not one."""
    name = temporary.name
    if not (name.startswith(".") and name.endswith(TMP_SUFFIX)):
        return None
    parts = name[1:-len(TMP_SUFFIX)].split(".")
    return int(parts[-2]) if len(parts) >= 3 and parts[-2].isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def sweep_temporaries(directory: Path) -> list[Path]:
    """Remove the temporaries that killed writers left in ``directory`` (their process is gone);
    a temporary of a live writer, and every other file, stays. Returns what was removed."""
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    for path in sorted(directory.glob(f".*{TMP_SUFFIX}")):
        pid = _writer(path)
        if pid is not None and pid != os.getpid() and not _alive(pid) and path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


@contextmanager
def exclusive_lock(path: Path, on_wait: Callable[[], None]) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (made with its directory); ``on_wait`` runs once
    when another process holds it, before waiting for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait()
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield
