"""`nox -s verify`: prove each wheel right for its platform before anyone installs it.

    verify(selectors, layout, matrix) -> Report      every check on every wheel selected
    render(report) -> str                            the table
    write_json(report, path)                         the JSON report (dist/verify.json)

Modules, one idea each: ``subjects`` (which wheels, which target), ``wheelfile`` (a wheel
read once), ``claim`` (what its tags promise), ``binary`` (ELF/Mach-O/PE facts), ``context``
(what one wheel's checks share), ``checks_common`` / ``checks_binary`` / ``auditwheel`` /
``delocate`` / ``execution`` / ``resolution`` (the checks), ``wine_stand_in`` (a DLL wine 8
lacks), ``tools`` (running checkers), ``suite`` (the checks' order), ``results``, ``render``.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Sequence

from ..errors import ConfigError
from ..layout import Layout
from ..targets import Matrix
from .render import plural, render, write_json
from .results import Report, Result, WheelReport
from .subjects import select
from .suite import CHECK_NAMES, build_machine_paths, verify_wheel

__all__ = ["CHECK_NAMES", "Report", "Result", "WheelReport", "render", "verify", "write_json"]


def verify(
    selectors: Sequence[str], layout: Layout, matrix: Matrix, *,
    only: Sequence[str] = (), progress: Callable[[str], None] = lambda _: None,
) -> Report:
    """Verify the wheels named by triple or path (every wheel in dist/ when none are named)."""
    started = time.monotonic()
    for name in only:
        if name not in CHECK_NAMES:
            close = difflib.get_close_matches(name, CHECK_NAMES, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown check '{name}'{hint}; checks: {', '.join(CHECK_NAMES)}")
    subjects = select(selectors, layout, matrix)
    paths = build_machine_paths(layout)
    reports = []
    for subject in subjects:
        progress(f"==> {subject.target.name if subject.target else '?'}: {subject.wheel.name}")
        wheel_started = time.monotonic()
        report = verify_wheel(subject.wheel, subject.target, layout=layout, build_paths=paths, only=tuple(only))
        bad = [r.check for r in report.results if r.failed]
        verdict = f"FAILED {', '.join(bad)}" if bad else "ok"
        progress(f"    {'✗' if bad else '✓'} {plural(len(report.results), 'check')}, {verdict} ({time.monotonic() - wheel_started:.1f} s)")
        reports.append(report)
    return Report(tuple(reports), time.monotonic() - started)
