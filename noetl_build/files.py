"""Files the build writes and checks: one hash, one atomic write, the modes a wheel's files get."""

from __future__ import annotations

import hashlib
import os
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


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` beside ``path``, then rename it into place: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
