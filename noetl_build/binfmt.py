"""binfmt_misc handlers for qemu-user-static, registered for the length of a with-block.

    debian_handler(program, name) -> Handler   magic, mask and interpreter of Debian's
                                               /usr/lib/binfmt.d/<program>.conf, with the F flag
    registered(handlers) -> context            binfmt_misc mounted if it was not, the handlers
                                               registered; on leaving (an error, Ctrl-C or SIGTERM
                                               included) exactly those are removed again and
                                               binfmt_misc unmounted if this mounted it

The F flag makes the kernel open the interpreter when the handler is registered, so a foreign
program starts inside a chroot that has no qemu of its own. The kernel tries the newest handler
first (measured), so ours win while registered, and what was registered before stays as it was:
a handler someone else registered (Debian's `qemu-aarch64`, a test's) is never removed, and its
leaving in the middle of our run does not stop it. Each run's names carry its process id, so two
runs never remove each other's. The directory is a parameter: tests use a plain directory that
behaves like binfmt_misc's (tests/build/test_userland.py).
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import ToolchainError, shown
from .procs import capture

BINFMT_MISC = Path("/proc/sys/fs/binfmt_misc")
CONF_DIR = Path("/usr/lib/binfmt.d")  # systemd's format, shipped by Debian's qemu-user-static
CONTROL_FILES = frozenset({"register", "status"})
PREFIX = "noetl-userland-"  # every handler this package registers is named so
_NAME = re.compile(r"[A-Za-z0-9_.+-]{1,64}")
_HEX = re.compile(r"(\\x[0-9a-fA-F]{2})*")


@dataclass(frozen=True)
class Handler:
    name: str
    offset: str  # decimal, "" for 0
    magic: str  # as binfmt_misc's register line takes it: \xNN escapes
    mask: str
    interpreter: Path
    flags: str

    def line(self) -> str:
        """What `register` is written: `:name:M:offset:magic:mask:interpreter:flags`."""
        return f":{self.name}:M:{self.offset}:{self.magic}:{self.mask}:{self.interpreter}:{self.flags}"


def debian_handler(program: str, name: str, *, conf_dir: Path = CONF_DIR) -> Handler:
    """Debian's handler for ``program`` (e.g. "qemu-aarch64"), named ``name``, with the F flag.

    ToolchainError in one line when qemu-user-static is not installed (no such file, or its
    interpreter is missing) or the file is not the one-line format Debian ships.
    """
    conf = conf_dir / f"{program}.conf"
    install = "apt-get install qemu-user-static (requirements/apt.txt)"
    try:
        lines = [ln.strip() for ln in conf.read_text().splitlines() if ln.strip() and not ln.startswith(("#", ";"))]
    except FileNotFoundError:
        raise ToolchainError(f"qemu-user-static is not installed (no {conf}): {install}") from None
    except OSError as exc:
        raise ToolchainError(f"{conf}: cannot read it ({exc.strerror})") from None
    handler = parse_line(lines[0] if len(lines) == 1 else "", conf)
    if not handler.interpreter.is_file():
        raise ToolchainError(f"qemu-user-static is not installed ({conf} names {handler.interpreter}, "
                             f"which is missing): {install}")
    if not _NAME.fullmatch(name):
        raise ToolchainError(f"binfmt handler name {shown(name)}: letters, digits and _.+- only")
    flags = handler.flags if "F" in handler.flags else handler.flags + "F"
    return replace(handler, name=name, flags=flags)


def parse_line(line: str, where: Path) -> Handler:
    """A register line of type M (`:name:M:offset:magic:mask:interpreter:flags`)."""
    fields = line.split(":")
    bad = ToolchainError(f"{where}: not one binfmt_misc register line of type M "
                         "(:name:M:offset:magic:mask:interpreter:flags)")
    if len(fields) != 8 or fields[0] or fields[2] != "M":
        raise bad
    _, name, _, offset, magic, mask, interpreter, flags = fields
    if (not _NAME.fullmatch(name) or (offset and not offset.isdigit()) or not magic
            or not _HEX.fullmatch(magic) or not _HEX.fullmatch(mask) or not interpreter.startswith("/")
            or not re.fullmatch(r"[POCF]*", flags)):
        raise bad
    return Handler(name, offset, magic, mask, Path(interpreter), flags)


def names(directory: Path = BINFMT_MISC) -> set[str]:
    """The handlers registered in ``directory``."""
    try:
        return {p.name for p in directory.iterdir() if p.name not in CONTROL_FILES}
    except OSError:
        return set()


def mounted(directory: Path = BINFMT_MISC) -> bool:
    return (directory / "register").exists()


def run_name(program: str) -> str:
    """The name this process registers ``program``'s handler under: ours, and unique per run."""
    return f"{PREFIX}{os.getpid()}-{program.removeprefix('qemu-')}"


@contextmanager
def registered(handlers: Sequence[Handler], *, directory: Path = BINFMT_MISC,
               mount: Sequence[str] = ("mount", "-t", "binfmt_misc", "binfmt_misc"),
               unmount: Sequence[str] = ("umount",)) -> Iterator[list[str]]:
    """``handlers`` registered in ``directory`` (binfmt_misc mounted there first when it is not);
    yields the names registered. On leaving, exactly those are removed, and the file system is
    unmounted if this mounted it and no one registered anything else meanwhile."""
    mounted_here = False
    if handlers and not mounted(directory):
        proc = capture([*mount, str(directory)], timeout=30)
        if not proc.ok or not mounted(directory):
            raise ToolchainError(
                f"binfmt_misc cannot be mounted on {directory} ({proc.failure()}): foreign userlands need root "
                "and a kernel with binfmt_misc (modprobe binfmt_misc)")
        mounted_here = True
    done: list[str] = []
    try:
        for handler in handlers:
            if handler.name in names(directory):
                raise ToolchainError(f"a binfmt handler named {shown(handler.name)} is already registered: "
                                     "this process registered it and has not removed it")
            try:
                (directory / "register").write_text(handler.line())
            except OSError as exc:
                raise ToolchainError(f"registering the binfmt handler {handler.name} failed ({exc.strerror}): "
                                     "it needs root") from None
            done.append(handler.name)
        yield list(done)
    finally:
        with held_signals():
            for name in reversed(done):
                unregister(name, directory)
            if mounted_here and not names(directory):
                capture([*unmount, str(directory)], timeout=30)


def unregister(name: str, directory: Path = BINFMT_MISC) -> None:
    """Remove the handler ``name`` (writing -1 to its file, never creating one); gone already is fine."""
    try:
        fd = os.open(directory / name, os.O_WRONLY)
    except FileNotFoundError:
        return
    try:
        os.write(fd, b"-1")
    except OSError:
        pass  # removed between open and write
    finally:
        os.close(fd)


@contextmanager
def held_signals() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP wait until the block (a clean-up) is done, then arrive."""
    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    try:
        before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (ValueError, OSError):  # no signal masks here
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise KeyboardInterrupt for the length of the block, so the clean-ups of
    with-blocks and finally clauses run when the session is stopped, as on Ctrl-C."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, interrupt)
    except ValueError:  # not the main thread: leave the handlers as they are
        pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
