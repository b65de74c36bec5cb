"""What a check finds: frozen values, one per (wheel, check); rendering lives in render.py."""

from __future__ import annotations

from dataclasses import dataclass

PASS, FAIL, SKIP = "pass", "fail", "skip"


@dataclass(frozen=True)
class Result:
    """One check's verdict on one wheel, with a one-line reason."""

    check: str
    status: str  # PASS, FAIL or SKIP (applies, but this host cannot do it)
    detail: str

    @property
    def failed(self) -> bool:
        return self.status == FAIL


def passed(check: str, detail: str) -> Result:
    return Result(check, PASS, detail)


def failed(check: str, detail: str) -> Result:
    return Result(check, FAIL, detail)


def skipped(check: str, detail: str) -> Result:
    return Result(check, SKIP, detail)


@dataclass(frozen=True)
class WheelReport:
    """Every check's result for one wheel."""

    wheel: str  # file name
    path: str
    target: str | None  # None when no target in targets.toml fits the wheel
    sha256: str
    results: tuple[Result, ...]

    @property
    def ok(self) -> bool:
        return not any(r.failed for r in self.results)

    def result(self, check: str) -> Result | None:
        return next((r for r in self.results if r.check == check), None)


@dataclass(frozen=True)
class Report:
    wheels: tuple[WheelReport, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(w.ok for w in self.wheels)
