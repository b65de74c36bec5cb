"""Files the build writes and checks: one hash, one atomic write, the modes a wheel's files get."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FILE_MODE = 0o644  # every file in a wheel or dist/ but the binary
EXEC_MODE = 0o755  # the binary, and directories


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
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        tmp.chmod(mode)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text)


def atomic_copy(source: Path, path: Path, *, mode: int = FILE_MODE) -> Path:
    with atomic_output(path, mode=mode) as tmp:
        shutil.copyfile(source, tmp)
    return path
