"""Command line of the build package; the noxfile's sessions call it.

    python -m noetl_build build [--all | TRIPLE ...]
    python -m noetl_build doctor
    python -m noetl_build apt-packages
    python -m noetl_build verify [TRIPLE|WHEEL ...]
    python -m noetl_build bench [TRIPLE ...] [--profiles]
    python -m noetl_build sdist
    python -m noetl_build version [--bump [--dry-run] | --print | --check]
    python -m noetl_build publish [--repository-url URL] [--allow-dev] [--attestations] [--check]
    python -m noetl_build wheelhouse
    python -m noetl_build deps [--index-url URL] [--python X.Y ...] [--version V] [TRIPLE ...]
    python -m noetl_build rehearse [--work DIR] [--no-userlands]
    python -m noetl_build userland [TRIPLE ...] [--wheelhouse DIR]
    python -m noetl_build release-assets DIR
    python -m noetl_build shards
    python -m noetl_build gather PART [PART ...]

Each command is one row of COMMANDS (at the end): its name, its help line, the function that
adds its arguments and the handler that runs it. The parser is built from that table and a
command is run by looking it up; a new command is a new row (and, if nox should run it, a
session in noxfile.py: tests/build/test_cli_table.py checks that the two agree).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import BuildError, ConfigError, printable
from .layout import Layout
from .report import say, unexpected
from .targets import load_matrix


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """A command with no arguments of its own."""


@dataclass(frozen=True)
class Command:
    """One subcommand: `name` and `help` as `--help` lists them, `add_arguments` fills its parser,
    `handler` runs it and returns the exit code (a `BuildError` it raises is reported by `main`)."""

    name: str
    help: str
    handler: Callable[[argparse.Namespace, Layout], int]
    add_arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    layout = Layout.at(args.root, dist=args.dist, build=args.build_dir, targets=args.targets_file)
    try:
        return _BY_NAME[args.command].handler(args, layout)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: dist/ holds only complete wheels", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not a user's mistake: one line here, the traceback in a log
        doing = "python -m noetl_build " + " ".join(sys.argv[1:] if argv is None else argv)
        print(f"error: {unexpected(exc, layout.crash_log, doing)}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m noetl_build", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository (default: cwd)")
    parser.add_argument("--dist", type=Path, help="where wheels land (default: ROOT/dist)")
    parser.add_argument("--build-dir", type=Path, help="intermediate files (default: ROOT/build)")
    parser.add_argument("--targets-file", type=Path, help="the matrix (default: ROOT/targets.toml)")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_arguments(sub.add_parser(command.name, help=command.help))
    return parser


# The commands, each its arguments (if any) then its handler, in the order `--help` lists them.


def _positive(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {printable(text)}")
    return value


def _build_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("targets", nargs="*", metavar="TRIPLE")
    parser.add_argument("--all", action="store_true", help="every target in targets.toml")
    parser.add_argument("--jobs", type=_positive, metavar="N",
                        help="what all the cargos of the run compile at once (default: the usable cores)")
    parser.add_argument("--serial", action="store_true",
                        help="one target at a time, in the order given (default: three at once, in lanes)")


def _build(args: argparse.Namespace, layout: Layout) -> int:
    matrix = load_matrix(layout.targets_file)
    if not args.targets and not args.all:
        raise ConfigError(
            "name the targets to build (nox -s wheel -- TRIPLE ...), or build all with "
            "nox -s build_all; targets: " + ", ".join(matrix.names())
        )
    targets = matrix.select(args.targets)
    from . import pipeline

    results = pipeline.build(targets, layout, matrix=matrix.targets, jobs=args.jobs, serial=args.serial)
    print(pipeline.render(results))
    return 0 if all(r.ok for r in results) else 1


def _doctor(args: argparse.Namespace, layout: Layout) -> int:
    matrix = load_matrix(layout.targets_file)
    from . import doctor

    notes, rows = doctor.diagnose(matrix.targets)
    print(doctor.render(notes, rows))
    return 0 if all(r.can_build for r in rows) else 1


def _apt_packages(args: argparse.Namespace, layout: Layout) -> int:
    matrix = load_matrix(layout.targets_file)
    print("\n".join(sorted({p for t in matrix.targets for p in t.apt})))
    return 0


def _sdist(args: argparse.Namespace, layout: Layout) -> int:
    load_matrix(layout.targets_file)  # a broken matrix stops every command but version, this one too
    from .sdist import build_sdist

    print(build_sdist(layout))
    return 0


def _verify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("wheels", nargs="*", metavar="TRIPLE|WHEEL")
    parser.add_argument("--only", action="append", default=[], metavar="CHECK", help="run just this check (repeatable)")
    parser.add_argument("--json", type=Path, help="the JSON report (default: DIST/verify.json)")
    parser.add_argument("--fresh", action="store_true", help="check every wheel again, even those unchanged since they passed")


def _verify(args: argparse.Namespace, layout: Layout) -> int:
    matrix = load_matrix(layout.targets_file)
    from . import verify

    report = verify.verify(args.wheels, layout, matrix, only=args.only, progress=say, fresh=args.fresh)
    verify.write_json(report, args.json or layout.verify_json, keep_others=args.json is None and bool(args.wheels))
    print(verify.render(report))
    return 0 if report.ok else 1


def _bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("targets", nargs="*", metavar="TRIPLE", help="default: the first target of each OS")
    parser.add_argument("--json", type=Path, help="the results (default: ROOT/bench.json)")
    parser.add_argument("--profiles", action="store_true",
                        help="compare bench.toml's release-profile candidates instead (cold compiles, size, --version)")
    parser.add_argument("--concurrent", action="store_true",
                        help="the serial and the concurrent cold build instead (default: every target), CPU busy, "
                             "wheels compared, a one-line change rebuilt")
    parser.add_argument("--jobs", type=_positive, metavar="N", help="with --concurrent: jobserver tokens (default: the usable cores)")
    parser.add_argument("--timings", action="store_true",
                        help="cargo --timings of a cold compile instead, per target (default: one of each OS and libc)")


def _bench(args: argparse.Namespace, layout: Layout) -> int:
    matrix = load_matrix(layout.targets_file)
    from dataclasses import asdict

    from . import bench
    from .files import atomic_write_text

    if args.concurrent:
        from . import buildbench

        measured_build = buildbench.concurrent(matrix.select(args.targets) if args.targets else list(matrix.targets),
                                               layout, matrix, scratch=layout.build / "bench-build", jobs=args.jobs,
                                               progress=say)
        atomic_write_text(args.json or layout.root / "bench-build.json",
                          json.dumps(buildbench.to_json(measured_build), indent=2) + "\n")
        print(buildbench.render(measured_build))
        return 0
    if args.timings:
        from . import buildbench, timings

        rows = timings.timings(matrix.select(args.targets) if args.targets else buildbench.rebuild_targets(matrix.targets),
                               layout, scratch=layout.build / "bench-timings", matrix=matrix.targets, progress=say)
        atomic_write_text(args.json or layout.root / "bench-timings.json", json.dumps(timings.to_json(rows), indent=2) + "\n")
        print(timings.render(rows))
        return 0
    chosen = matrix.select(args.targets) if args.targets else bench.default_targets(matrix)
    if args.profiles:
        measured = bench.profiles(chosen, layout, scratch=layout.build / "bench-profiles", progress=say)
        atomic_write_text(args.json or layout.root / "bench-profiles.json",
                          json.dumps([asdict(r) for r in measured], indent=2) + "\n")
        print(bench.render_profiles(measured))
        return 0
    result = bench.bench(chosen, layout, matrix, scratch=layout.build / "bench", progress=say)
    bench.write_json(result, args.json or layout.root / "bench.json")
    print(bench.render(result))
    return 0


def _version_arguments(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--bump", action="store_true", help="release: write the next version everywhere, commit, tag")
    mode.add_argument("--print", dest="print_version", action="store_true", help="just the version a build gets")
    mode.add_argument("--check", action="store_true", help="fail unless every version file says the same")
    parser.add_argument("--dry-run", action="store_true", help="with --bump: say what would happen, change nothing")


def _version(args: argparse.Namespace, layout: Layout) -> int:
    """The one command that does not read the matrix: versions are the repository's, not the targets'."""
    from . import version

    if args.dry_run and not args.bump:
        raise ConfigError("--dry-run goes with --bump: nox -s version -- --bump --dry-run")
    if args.bump:
        version.bump(layout.root, dry_run=args.dry_run)
    elif args.print_version:
        print(version.build_version(layout.root))
    elif args.check:
        print(f"every version file says {version.check_agreement(layout.root)}")
    else:
        print(version.render(version.decide(layout.root)))
    return 0


def _publish_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repository-url", default=None, metavar="URL", help="the index's upload URL (default: PyPI's)")
    parser.add_argument("--allow-dev", action="store_true", help="allow a development version (never to PyPI)")
    parser.add_argument("--attestations", action="store_true", help="sign each file (PEP 740, sigstore; in CI) and upload the attestations")
    parser.add_argument("--check", action="store_true",
                        help="run every refusal and prove every target's dependencies install from wheels, upload nothing")
    parser.add_argument("--index-url", default=None, metavar="URL",
                        help="the simple index users install from, where publish reads which files it already has "
                             "and --check the dependencies (default: PyPI's and TestPyPI's "
                             "/simple/ for their upload URL, else REPOSITORY_URL + 'simple/')")


def _publish(args: argparse.Namespace, layout: Layout) -> int:
    matrix = load_matrix(layout.targets_file)
    from . import publish

    publish.publish(
        layout, matrix, repository_url=args.repository_url, allow_dev=args.allow_dev,
        attestations=args.attestations, check_only=args.check, index_url=args.index_url, progress=say,
    )
    return 0


def _rehearse_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--work", type=Path, help="scratch directory (default: BUILD/rehearsal)")
    parser.add_argument("--no-userlands", action="store_true",
                        help="leave out the Debian userlands (they need root and debootstrap; nox -s userland)")


def _rehearse(args: argparse.Namespace, layout: Layout) -> int:
    matrix = load_matrix(layout.targets_file)
    from . import rehearsal

    outcome = rehearsal.rehearse(layout, matrix, work=args.work, userlands=not args.no_userlands, progress=say)
    print(rehearsal.render(outcome))
    return 0 if outcome.ok else 1


def _userland_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("targets", nargs="*", metavar="TRIPLE", help="default: every target")
    parser.add_argument("--wheelhouse", type=Path, help="the dependencies' wheels the index serves (default: BUILD/wheelhouse)")


def _userland(args: argparse.Namespace, layout: Layout) -> int:
    matrix = load_matrix(layout.targets_file)
    from . import userland

    proved = userland.userland(layout, matrix, args.targets, wheelhouse=args.wheelhouse, progress=say)
    print(userland.render(proved))
    return 0 if proved.ok else 1


def _release_assets_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=Path, metavar="DIR")


def _release_assets(args: argparse.Namespace, layout: Layout) -> int:
    matrix = load_matrix(layout.targets_file)
    from . import publish

    for path in publish.release_assets(layout, matrix, args.directory):
        print(path)
    return 0


def _wheelhouse(args: argparse.Namespace, layout: Layout) -> int:
    matrix = load_matrix(layout.targets_file)
    from . import rehearsal

    print(rehearsal.fill_wheelhouse(layout, matrix, progress=say))
    return 0


def _deps_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("targets", nargs="*", metavar="TRIPLE", help="default: every target")
    parser.add_argument("--index-url", default=None, metavar="URL", help="the simple index (default: the one pip uses here)")
    parser.add_argument("--python", action="append", default=[], metavar="X.Y",
                        help="a Python version to prove it for (repeatable; default: platforms.toml [python])")
    parser.add_argument("--version", default=None, metavar="V",
                        help="noetl's version on the index (default: this checkout's; when the index does not have "
                             "it, its Requires-Dist is read from dist/'s wheels, else from pyproject.toml)")
    parser.add_argument("--json", type=Path, help="the report (default: BUILD/deps.json)")


def _deps(args: argparse.Namespace, layout: Layout) -> int:
    matrix = load_matrix(layout.targets_file)
    from . import deps
    from .platforms import parse_version
    from .version import build_version

    targets = matrix.select(args.targets) if args.targets else matrix.targets
    try:
        pythons = [parse_version(text) for text in args.python] or None
    except ValueError as exc:
        raise ConfigError(f"--python: {exc}") from None
    closure = deps.check(deps.Index(args.index_url or deps.default_index()), targets,
                         args.version or build_version(layout.root), pythons=pythons,
                         local_wheels=layout.dist, project=layout.root / "pyproject.toml", progress=say)
    deps.write_json(closure, args.json or layout.deps_json)
    print(deps.render(closure))
    for line in deps.failures(closure):
        print(f"error: {line}", file=sys.stderr)
    return 0 if closure.ok else 1


def _shards(args: argparse.Namespace, layout: Layout) -> int:
    matrix = load_matrix(layout.targets_file)
    from . import shards

    print(json.dumps(shards.strategy_matrix(matrix)))
    return 0


def _gather_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("parts", nargs="+", type=Path, metavar="PART")


def _gather(args: argparse.Namespace, layout: Layout) -> int:
    matrix = load_matrix(layout.targets_file)
    from . import shards

    print(shards.gather(args.parts, layout.dist, matrix))
    return 0


COMMANDS: tuple[Command, ...] = (
    Command("build", "build wheels for the targets named (or --all)", _build, _build_arguments),
    Command("doctor", "which toolchain builds each target, and what is missing", _doctor),
    Command("apt-packages", "Debian packages the targets need on this host", _apt_packages),
    Command("sdist", "the source distribution (its wheel compiles the binary) into dist/", _sdist),
    Command("verify", "prove wheels right for their platforms (every wheel in dist/ if none named)",
            _verify, _verify_arguments),
    Command("bench", "time cold, no-op and packaging builds, verify and --version; sizes (bench.json)",
            _bench, _bench_arguments),
    Command("version", "the current and next version and the commits that decide it", _version, _version_arguments),
    Command("publish", "upload every wheel in dist/, then the sdist, with twine, after proving the set complete "
                       "and verified; run again, it skips what the index has", _publish, _publish_arguments),
    Command("rehearse", "publish to a real index on 127.0.0.1 and prove every target installs back from it",
            _rehearse, _rehearse_arguments),
    Command("userland", "install and run each Linux glibc target's wheel in a real Debian root (debootstrap, qemu)",
            _userland, _userland_arguments),
    Command("release-assets", "copy what a GitHub release carries (wheels, sdist, sums, manifest, SBOMs) into DIR",
            _release_assets, _release_assets_arguments),
    Command("wheelhouse", "fetch what the rehearsal's fresh venvs install besides noetl into BUILD/wheelhouse",
            _wheelhouse),
    Command("deps", "prove noetl's whole install closure is wheels on every target's platform (no compiler)",
            _deps, _deps_arguments),
    Command("shards", "the JSON for a CI strategy.matrix: one shard per group of targets sharing a toolchain", _shards),
    Command("gather", "merge the dist/ parts built by shards into one dist/ (one SHA256SUMS, one manifest)",
            _gather, _gather_arguments),
)
_BY_NAME = {command.name: command for command in COMMANDS}
