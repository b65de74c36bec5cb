"""The checks, in the order the table shows them, and running them all on one wheel."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..files import sha256_file
from ..layout import Layout
from ..targets import Target
from .auditwheel import check_auditwheel
from .checks_binary import check_arch, check_codesign, check_glibc, check_macos_min, check_musl
from .checks_common import (
    check_build_paths, check_contents, check_modes, check_record, check_tags, check_twine, check_wheel_metadata,
)
from .auditable import check_auditable
from .checks_release import check_install, check_version
from .checks_sbom import check_sbom
from .context import Context, prepare
from .delocate import check_delocate
from .execution import check_console_script, check_run
from .resolution import check_pip, check_uv
from .results import Result, WheelReport, failed
from .wheelfile import WheelError, WheelFile

Check = Callable[[Context], Result | None]  # None where the check does not apply

CHECKS: tuple[tuple[str, Check], ...] = (
    ("tags", check_tags),
    ("RECORD", check_record),
    ("WHEEL", check_wheel_metadata),
    ("modes", check_modes),
    ("twine", check_twine),
    ("check-wheel-contents", check_contents),
    ("sbom", check_sbom),
    ("version", check_version),
    ("auditable", check_auditable),
    ("arch", check_arch),
    ("glibc", check_glibc),
    ("musl", check_musl),
    ("macos-min", check_macos_min),
    ("codesign", check_codesign),
    ("build-paths", check_build_paths),
    ("auditwheel", check_auditwheel),
    ("delocate", check_delocate),
    ("run", check_run),
    ("console-script", check_console_script),
    ("install", check_install),
    ("pip", check_pip),
    ("uv", check_uv),
)
CHECK_NAMES = tuple(name for name, _ in CHECKS)


def verify_wheel(
    path: Path, target: Target | None, *, layout: Layout, build_paths: tuple[str, ...],
    only: tuple[str, ...] = (),
) -> WheelReport:
    """Every check (or those named in ``only``) on one wheel; a check that crashes fails, naming why."""
    sha256 = sha256_file(path)
    target_name = target.name if target else None
    try:
        wheel = WheelFile.read(path)
    except WheelError as exc:
        return WheelReport(path.name, str(path), target_name, sha256, (failed("wheel", str(exc)),))
    with tempfile.TemporaryDirectory(prefix="noetl-verify-") as scratch:
        ctx = prepare(wheel, target, layout=layout, work=Path(scratch), find_links=path.parent,
                      build_paths=build_paths)
        results = []
        for name, check in CHECKS:
            if only and name not in only:
                continue
            try:
                result = check(ctx)
            except Exception as exc:  # a checker's bug must not hide the other verdicts
                result = failed(name, f"the check crashed: {type(exc).__name__}: {exc}")
            if result is not None:
                results.append(result)
    return WheelReport(path.name, str(path), target_name, sha256, tuple(results))


def build_machine_paths(layout: Layout) -> tuple[str, ...]:
    """Paths of this machine a binary must not carry: the repo, home, cargo/rustup homes, std source."""
    from ..toolchain import discover

    home = Path.home()
    paths = [layout.root, layout.build, home,
             Path(os.environ.get("CARGO_HOME", home / ".cargo")),
             Path(os.environ.get("RUSTUP_HOME", home / ".rustup"))]
    paths += [toolchain.std_source for toolchain in discover()]
    unique = dict.fromkeys(str(p.resolve()) for p in paths)
    return tuple(p for p in unique if p != "/")
