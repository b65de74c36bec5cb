"""The checks, in the order the table shows them, and running them all on one wheel."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import WheelError
from ..files import sha256_file
from ..layout import Layout
from ..targets import Target
from ..wheelfile import WheelFile
from .auditwheel import check_auditwheel
from .checks_binary import check_arch, check_codesign, check_glibc, check_libraries, check_macos_min, check_musl
from .checks_common import (
    check_build_paths, check_contents, check_files, check_modes, check_record, check_tags, check_twine,
    check_wheel_metadata,
)
from .auditable import check_auditable
from .checks_pypi import check_pypi
from .checks_release import check_entry_points, check_install, check_name, check_version
from .checks_sbom import check_compiler, check_sbom
from .context import Context, prepare
from .delocate import check_delocate
from .execution import check_console_script, check_run
from .resolution import check_pip, check_uv
from .results import FAIL, Check, CheckResult, WheelReport, run_checks

CHECKS: tuple[Check[Context], ...] = (
    check_tags,
    check_record,
    check_wheel_metadata,
    check_files,
    check_modes,
    check_twine,
    check_pypi,
    check_contents,
    check_sbom,
    check_compiler,
    check_name,
    check_version,
    check_entry_points,
    check_auditable,
    check_arch,
    check_libraries,
    check_glibc,
    check_musl,
    check_macos_min,
    check_codesign,
    check_build_paths,
    check_auditwheel,
    check_delocate,
    check_run,
    check_console_script,
    check_install,
    check_pip,
    check_uv,
)
CHECK_NAMES = tuple(each.name for each in CHECKS)


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
        return WheelReport(path.name, str(path), target_name, sha256, (CheckResult("wheel", FAIL, str(exc)),))
    with tempfile.TemporaryDirectory(prefix="noetl-verify-") as scratch:
        ctx = prepare(wheel, target, layout=layout, work=Path(scratch), find_links=path.parent,
                      build_paths=build_paths)
        results = run_checks(CHECKS, ctx, only)
    return WheelReport(path.name, str(path), target_name, sha256, results)


def build_machine_paths(layout: Layout) -> tuple[str, ...]:
    """Paths of this machine a binary must not carry: the repo, home, the user cache (cargo's target
    dirs), cargo/rustup homes, std source."""
    from ..toolchain import discover

    home = Path.home()
    paths = [layout.root, layout.build, layout.cache, home,
             Path(os.environ.get("CARGO_HOME", home / ".cargo")),
             Path(os.environ.get("RUSTUP_HOME", home / ".rustup"))]
    paths += [toolchain.std_source for toolchain in discover()]
    unique = dict.fromkeys(str(p.resolve()) for p in paths)
    return tuple(p for p in unique if p != "/")
