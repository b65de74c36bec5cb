"""What a check finds: frozen values, one per (wheel, check); rendering lives in render.py.

A check is declared once, with its name (``@check("tags")``), and returns an unnamed
verdict (``ok``, ``fail``, ``skip``; None where it does not apply); calling it gives the
``CheckResult`` stamped with its name. The verdicts' names (``CheckStatus``) live in
``..verdicts``, which publish reads verify.json with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..verdicts import CheckStatus as CheckStatus  # re-exported: verify's checks name it from here

PASS, FAIL, SKIP = CheckStatus.PASS, CheckStatus.FAIL, CheckStatus.SKIP
Subject = TypeVar("Subject")  # what a check looks at: a wheel's Context, an UnpackedSdist


@dataclass(frozen=True)
class Verdict:
    """What a check finds, before it is named: a status and a one-line reason."""

    status: CheckStatus
    detail: str


def ok(detail: str) -> Verdict:
    return Verdict(PASS, detail)


def fail(detail: str) -> Verdict:
    return Verdict(FAIL, detail)


def skip(detail: str) -> Verdict:
    return Verdict(SKIP, detail)


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict on one wheel, with a one-line reason."""

    check: str
    status: CheckStatus
    detail: str

    @property
    def failed(self) -> bool:
        return self.status == FAIL


# Results built by name, not by a declared check: a crashed check's verdict, tests' sample reports.
def passed(check: str, detail: str) -> CheckResult:
    return CheckResult(check, PASS, detail)


def failed(check: str, detail: str) -> CheckResult:
    return CheckResult(check, FAIL, detail)


def skipped(check: str, detail: str) -> CheckResult:
    return CheckResult(check, SKIP, detail)


@dataclass(frozen=True)
class Check(Generic[Subject]):
    """A check and its name; calling it gives its verdict as a CheckResult of that name."""

    name: str
    judge: Callable[[Subject], Verdict | None]

    def __call__(self, subject: Subject) -> CheckResult | None:
        verdict = self.judge(subject)
        return None if verdict is None else CheckResult(self.name, verdict.status, verdict.detail)


def check(name: str) -> Callable[[Callable[[Subject], Verdict | None]], Check[Subject]]:
    """Declare the decorated function the check called ``name``."""
    return lambda judge: Check(name, judge)


def run_checks(checks: Iterable[Check[Subject]], subject: Subject, only: tuple[str, ...] = ()) -> tuple[CheckResult, ...]:
    """Every check (or those named in ``only``) on ``subject``; a check that crashes fails, naming why."""
    results = []
    for each in checks:
        if only and each.name not in only:
            continue
        try:
            result = each(subject)
        except Exception as exc:  # a checker's bug must not hide the other verdicts
            result = failed(each.name, f"the check crashed: {type(exc).__name__}: {exc}")
        if result is not None:
            results.append(result)
    return tuple(results)


@dataclass(frozen=True)
class WheelReport:
    """Every check's result for one wheel."""

    wheel: str  # file name
    path: str
    target: str | None  # None when no target in targets.toml fits the wheel
    sha256: str
    results: tuple[CheckResult, ...]
    remembered: str | None = None  # when an earlier run found these results (verify/memory.py)

    @property
    def ok(self) -> bool:
        return not any(r.failed for r in self.results)

    def result(self, check: str) -> CheckResult | None:
        return next((r for r in self.results if r.check == check), None)


@dataclass(frozen=True)
class Report:
    wheels: tuple[WheelReport, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(w.ok for w in self.wheels)
