"""One root for every error a user can cause; only the CLI entry point catches it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """" (did you mean 'x'?)" naming the closest of ``choices``, or "" when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class BuildError(Exception):
    """An error with a one-line message that says what is wrong and what to do."""

    exit_code = 1


class ConfigError(BuildError):
    """targets.toml (or a command line naming targets) is wrong."""

    exit_code = 2


class ToolchainError(BuildError):
    """A tool needed for a target is missing."""

    exit_code = 3


class VersionError(BuildError):
    """The version cannot be derived, the version files disagree, or a release cannot be made."""


class ReleaseError(BuildError):
    """dist/ is not a release that may be published, or the index refused it."""
