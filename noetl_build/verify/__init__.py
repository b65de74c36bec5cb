"""`nox -s verify`: prove each wheel right for its platform before anyone installs it.

    verify(selectors, layout, matrix) -> Report      every check on every wheel selected
    render(report) -> str                            the table
    write_json(report, path)                         the JSON report (dist/verify.json)
    clean_environment() / uv_binary()                what the installer checks run pip, uv and noetl
                                                     with (the rehearsal installs as they do)

Modules, one idea each: ``subjects`` (which wheels, which target), ``..wheelfile`` (a wheel
read once), ``claim`` (what its tags promise), ``binary`` (ELF/Mach-O/PE facts), ``context``
(what one wheel's checks share), ``checks_common`` / ``checks_binary`` / ``checks_sbom`` /
``auditable`` / ``checks_release`` / ``checks_pypi`` (PyPI's upload rules, ``..pypi_rules``) /
``auditwheel`` / ``delocate`` / ``execution`` /
``resolution`` (the checks), ``checks_sdist`` (the sdist's), ``wine_stand_in`` (a DLL wine 8
lacks), ``tools`` (checkers as ``python -m``, run through ``..procs``), ``results`` (a check's
declaration, its verdict and result), ``suite`` (the checks' order), ``memory`` (passing reports
of unchanged wheels, reused), ``render``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ..errors import ConfigError, did_you_mean
from ..layout import Layout
from ..targets import Matrix
from .render import plural, render, write_json
from .results import CheckResult, CheckStatus, Report, WheelReport
from .checks_sdist import CHECK_NAMES as SDIST_CHECK_NAMES
from .checks_sdist import verify_sdist
from .execution import clean_environment, uv_binary
from .memory import Memory
from .subjects import is_sdist, select
from .suite import CHECK_NAMES, build_machine_paths, verify_wheel

__all__ = ["CHECK_NAMES", "CheckResult", "CheckStatus", "Report", "WheelReport", "clean_environment", "render",
           "uv_binary", "verify", "write_json"]


def verify(
    selectors: Sequence[str], layout: Layout, matrix: Matrix, *,
    only: Sequence[str] = (), progress: Callable[[str], None] = lambda _: None, fresh: bool = False,
) -> Report:
    """Verify the wheels (and sdists) named by triple or path (all of dist/ when none are named).

    A wheel that passed before, unchanged and under the same verify, checkers and host, keeps
    its earlier results (marked remembered) unless ``fresh``.
    """
    started = time.monotonic()
    known = tuple(dict.fromkeys([*CHECK_NAMES, *SDIST_CHECK_NAMES]))
    for name in only:
        if name not in known:
            raise ConfigError(f"unknown check '{name}'{did_you_mean(name, known)}; checks: {', '.join(known)}")
    subjects = select(selectors, layout, matrix)
    memory = Memory.at(layout)
    paths: tuple[str, ...] | None = None  # found once, when a wheel is checked at all
    reports = []
    for subject in subjects:
        kind = "sdist" if is_sdist(subject.wheel) else subject.target.name if subject.target else "?"
        progress(f"==> {kind}: {subject.wheel.name}")
        wheel_started = time.monotonic()
        key = memory.key(subject, tuple(only))
        report = None if fresh else memory.recall(key, subject.wheel)
        if report is not None:
            progress(f"    ✓ {plural(len(report.results), 'check')}, ok, as verified at {report.remembered} "
                     "(unchanged; --fresh checks again)")
            reports.append(report)
            continue
        if is_sdist(subject.wheel):
            report = verify_sdist(subject.wheel, only=tuple(only))
        else:
            paths = paths if paths is not None else build_machine_paths(layout)
            report = verify_wheel(subject.wheel, subject.target, layout=layout, build_paths=paths, only=tuple(only))
        memory.keep(key, report)
        bad = [r.check for r in report.results if r.failed]
        verdict = f"FAILED {', '.join(bad)}" if bad else "ok"
        progress(f"    {'✗' if bad else '✓'} {plural(len(report.results), 'check')}, {verdict} ({time.monotonic() - wheel_started:.1f} s)")
        reports.append(report)
    memory.save()
    return Report(tuple(reports), time.monotonic() - started)
