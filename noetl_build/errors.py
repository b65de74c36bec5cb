"""Every error class of the build package, under one root (BuildError); the one escaping rule
for what goes into a message (printable, shown) and the one helper that suggests a near name.
The CLI catches the root once and prints its one-line message; anything else that escapes is a
bug, reported as one line plus the log holding its traceback (report.unexpected).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


MESSAGE_LIMIT = 2000  # characters of one error line; a value quoted in it gets VALUE_LIMIT
VALUE_LIMIT = 80


def printable(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` as one line a terminal shows as it is: control characters (newlines, ESC, ...)
    escaped as Python writes them, and cut at ``limit`` characters, saying how many more."""
    escaped = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[: limit + 1])
    if len(text) > limit or len(escaped) > limit:
        return f"{escaped[:limit]}... ({len(text)} characters)"
    return escaped


def shown(value: object, limit: int = VALUE_LIMIT) -> str:
    """A value from a file or the command line, quoted for a message: 'x86_64-...'."""
    return f"'{printable(str(value), limit)}'"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """" (did you mean 'x'?)" naming the closest of ``choices``, or "" when none is close."""
    close = difflib.get_close_matches(word[:VALUE_LIMIT], list(choices), n=1)
    return f" (did you mean {shown(close[0])}?)" if close else ""


class BuildError(Exception):
    """An error with a one-line message that says what is wrong and what to do.

    The one escaping rule: whatever went into the message, it is kept as printable() makes it,
    so no value read from a file can fake a line, drive the terminal or flood it.
    """

    exit_code = 1

    def __init__(self, message: str = "") -> None:
        super().__init__(printable(message))


class ConfigError(BuildError):
    """targets.toml or platforms.toml (or a command line naming targets) is wrong."""

    exit_code = 2


class ToolchainError(BuildError):
    """A tool needed for a target is missing."""

    exit_code = 3


class VersionError(BuildError):
    """The version cannot be derived, the version files disagree, or a release cannot be made."""


class ElfPatchError(BuildError):
    """A binary is not what a post-link edit expects (a symbol missing, not weak, not versioned)."""


class ReleaseError(BuildError):
    """dist/ is not a release that may be published, or the index refused it."""


class GitMissing(VersionError):
    """git is not installed, so no version can be derived."""


class GitFailed(VersionError):
    def __init__(self, message: str, *, detail: str) -> None:
        super().__init__(message)
        self.detail = detail  # git's own last line


class CommandError(BuildError):
    """A program exited non-zero; ``log`` holds its full output when it was saved."""

    def __init__(self, message: str, *, log: Path | None = None, tail: str = "") -> None:
        super().__init__(message)
        self.log = log
        self.tail = tail


class SbomError(BuildError):
    """An input of the SBOM (Cargo.lock, package-lock.json, pyproject.toml, cargo's answer) is wrong."""


class WheelError(BuildError):
    """The file is not a wheel at all (not a zip, or a name that is not a wheel's)."""


class ClaimError(BuildError):
    """A wheel's platform tags are unknown or disagree, so what it promises cannot be read."""


class BinaryFormatError(BuildError):
    """The file is not an executable this project ships (ELF, Mach-O or PE)."""


class AuditDataError(BuildError):
    """A binary's cargo-auditable section is not the compressed JSON it should be."""
