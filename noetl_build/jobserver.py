"""One GNU make jobserver for a whole build run, so concurrent cargos never oversubscribe the host.

    with Jobserver.open(directory, tokens) as jobs:   a named pipe holding ``tokens`` bytes
        with jobs.slot():                             one token: the implicit one of the cargo started
            run(cargo, env={**env, **jobs.environment})

cargo reads ``CARGO_MAKEFLAGS`` (before MAKEFLAGS) and, finding ``--jobserver-auth=fifo:PATH``,
takes a token from the pipe for every job beyond its first instead of using its own ``-j``; it
hands the same jobserver to rustc and to build scripts. The make protocol gives each client one
implicit token: the build takes that token for a cargo *before* starting it and gives it back
when cargo exits, so ``tokens`` bounds everything the run compiles at once. A named pipe (not a
pair of inherited descriptors) needs nothing passed through ``subprocess``.

Tokens are single bytes, as make writes them; a cargo killed while holding extra tokens loses
them for the rest of this run only (the pipe is made afresh by every run).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import struct
import tempfile
import termios
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

TOKEN = b"+"  # what GNU make writes; cargo's jobserver crate gives back the byte it read


@dataclass(frozen=True)
class Jobserver:
    path: Path  # the named pipe
    tokens: int
    _fd: int  # the run's own descriptor, read and write, so the pipe never sees end-of-file

    @classmethod
    @contextlib.contextmanager
    def open(cls, directory: Path, tokens: int) -> Iterator[Jobserver]:
        """A fresh pipe with ``tokens`` tokens in a private directory under ``directory``; removed after."""
        if tokens < 1:
            raise ValueError(f"a jobserver needs at least one token, got {tokens}")
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="jobserver-", dir=directory) as scratch:
            path = Path(scratch) / "fifo"
            os.mkfifo(path, 0o600)
            fd = os.open(path, os.O_RDWR)  # O_RDWR: opening neither blocks nor leaves the pipe writer-less
            try:
                os.write(fd, TOKEN * tokens)
                yield cls(path, tokens, fd)
            finally:
                os.close(fd)

    @property
    def environment(self) -> dict[str, str]:
        """What a cargo started in a slot gets: the pipe as its jobserver (no ``-j`` of its own)."""
        flags = f"-j --jobserver-auth=fifo:{self.path}"
        return {"CARGO_MAKEFLAGS": flags, "MAKEFLAGS": flags}

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one token (waiting for it) while the body runs one client: its implicit token."""
        token = os.read(self._fd, 1)
        try:
            yield
        finally:
            os.write(self._fd, token or TOKEN)

    def available(self) -> int:
        """Tokens in the pipe now (nobody holds them): for tests and the bench's accounting."""
        return _pending(self._fd)


def _pending(fd: int) -> int:
    if not stat.S_ISFIFO(os.fstat(fd).st_mode):
        raise ValueError("not a pipe")
    raw = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    return int(struct.unpack("i", raw)[0])
