"""A check's verdict as verify gives it and dist/verify.json spells it: the vocabulary that verify
(its checks, table and JSON report) and publish (which reads that report) share.

It lives outside the verify package on purpose: importing anything under verify/ runs the
package's __init__, which imports the checkers (pyelftools, cyclonedx, ...), and publish runs in
a venv holding requirements/release.txt alone.
"""

from __future__ import annotations

from enum import StrEnum


class CheckStatus(StrEnum):
    """A check's verdict; each is its string ("pass"), so verify.json and messages spell it so."""

    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"  # the check applies, but this host cannot do it
