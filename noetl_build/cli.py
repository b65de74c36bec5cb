"""Command line of the build package; the noxfile's sessions call it.

    python -m noetl_build build [--all | TRIPLE ...]
    python -m noetl_build doctor
    python -m noetl_build apt-packages
    python -m noetl_build verify [TRIPLE|WHEEL ...]
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
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import BuildError, ConfigError
from .layout import Layout
from .report import say, unexpected
from .targets import load_matrix


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m noetl_build", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository (default: cwd)")
    parser.add_argument("--dist", type=Path, help="where wheels land (default: ROOT/dist)")
    parser.add_argument("--build-dir", type=Path, help="intermediate files (default: ROOT/build)")
    parser.add_argument("--targets-file", type=Path, help="the matrix (default: ROOT/targets.toml)")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build wheels for the targets named (or --all)")
    build.add_argument("targets", nargs="*", metavar="TRIPLE")
    build.add_argument("--all", action="store_true", help="every target in targets.toml")
    sub.add_parser("doctor", help="which toolchain builds each target, and what is missing")
    sub.add_parser("apt-packages", help="Debian packages the targets need on this host")
    sub.add_parser("sdist", help="the source distribution (its wheel compiles the binary) into dist/")
    verify = sub.add_parser("verify", help="prove wheels right for their platforms (every wheel in dist/ if none named)")
    verify.add_argument("wheels", nargs="*", metavar="TRIPLE|WHEEL")
    verify.add_argument("--only", action="append", default=[], metavar="CHECK", help="run just this check (repeatable)")
    verify.add_argument("--json", type=Path, help="the JSON report (default: DIST/verify.json)")
    verify.add_argument("--fresh", action="store_true", help="check every wheel again, even those unchanged since they passed")
    bench = sub.add_parser("bench", help="time cold, no-op and packaging builds, verify and --version; sizes (bench.json)")
    bench.add_argument("targets", nargs="*", metavar="TRIPLE", help="default: the first target of each OS")
    bench.add_argument("--json", type=Path, help="the results (default: ROOT/bench.json)")
    bench.add_argument("--profiles", action="store_true",
                       help="compare bench.toml's release-profile candidates instead (cold compiles, size, --version)")
    version = sub.add_parser("version", help="the current and next version and the commits that decide it")
    mode = version.add_mutually_exclusive_group()
    mode.add_argument("--bump", action="store_true", help="release: write the next version everywhere, commit, tag")
    mode.add_argument("--print", dest="print_version", action="store_true", help="just the version a build gets")
    mode.add_argument("--check", action="store_true", help="fail unless every version file says the same")
    version.add_argument("--dry-run", action="store_true", help="with --bump: say what would happen, change nothing")
    publish = sub.add_parser("publish", help="upload every wheel in dist/, then the sdist, with twine, after proving the set complete and verified; run again, it skips what the index has")
    publish.add_argument("--repository-url", default=None, metavar="URL", help="the index's upload URL (default: PyPI's)")
    publish.add_argument("--allow-dev", action="store_true", help="allow a development version (never to PyPI)")
    publish.add_argument("--attestations", action="store_true", help="sign each file (PEP 740, sigstore; in CI) and upload the attestations")
    publish.add_argument("--check", action="store_true",
                         help="run every refusal and prove every target's dependencies install from wheels, upload nothing")
    publish.add_argument("--index-url", default=None, metavar="URL",
                         help="the simple index users install from, where publish reads which files it already has "
                              "and --check the dependencies (default: PyPI's and TestPyPI's "
                              "/simple/ for their upload URL, else REPOSITORY_URL + 'simple/')")
    rehearse = sub.add_parser("rehearse", help="publish to a real index on 127.0.0.1 and prove every target installs back from it")
    rehearse.add_argument("--work", type=Path, help="scratch directory (default: BUILD/rehearsal)")
    rehearse.add_argument("--no-userlands", action="store_true",
                          help="leave out the Debian userlands (they need root and debootstrap; nox -s userland)")
    userland = sub.add_parser("userland", help="install and run each Linux glibc target's wheel in a real Debian root (debootstrap, qemu)")
    userland.add_argument("targets", nargs="*", metavar="TRIPLE", help="default: every target")
    userland.add_argument("--wheelhouse", type=Path, help="the dependencies' wheels the index serves (default: BUILD/wheelhouse)")
    assets = sub.add_parser("release-assets", help="copy what a GitHub release carries (wheels, sdist, sums, manifest, SBOMs) into DIR")
    assets.add_argument("directory", type=Path, metavar="DIR")
    sub.add_parser("wheelhouse", help="fetch what the rehearsal's fresh venvs install besides noetl into BUILD/wheelhouse")
    deps = sub.add_parser("deps", help="prove noetl's whole install closure is wheels on every target's platform (no compiler)")
    deps.add_argument("targets", nargs="*", metavar="TRIPLE", help="default: every target")
    deps.add_argument("--index-url", default=None, metavar="URL", help="the simple index (default: the one pip uses here)")
    deps.add_argument("--python", action="append", default=[], metavar="X.Y",
                      help="a Python version to prove it for (repeatable; default: platforms.toml [python])")
    deps.add_argument("--version", default=None, metavar="V",
                      help="noetl's version on the index (default: this checkout's; when the index does not have "
                           "it, its Requires-Dist is read from dist/'s wheels, else from pyproject.toml)")
    deps.add_argument("--json", type=Path, help="the report (default: BUILD/deps.json)")
    sub.add_parser("shards", help="the JSON for a CI strategy.matrix: one shard per group of targets sharing a toolchain")
    gather = sub.add_parser("gather", help="merge the dist/ parts built by shards into one dist/ (one SHA256SUMS, one manifest)")
    gather.add_argument("parts", nargs="+", type=Path, metavar="PART")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    layout = Layout.at(args.root, dist=args.dist, build=args.build_dir, targets=args.targets_file)
    try:
        return _dispatch(args, layout)
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


def _dispatch(args: argparse.Namespace, layout: Layout) -> int:
    if args.command == "version":
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
    matrix = load_matrix(layout.targets_file)
    if args.command == "apt-packages":
        print("\n".join(sorted({p for t in matrix.targets for p in t.apt})))
        return 0
    if args.command == "doctor":
        from . import doctor

        notes, rows = doctor.diagnose(matrix.targets)
        print(doctor.render(notes, rows))
        return 0 if all(r.can_build for r in rows) else 1
    if args.command == "build":
        if not args.targets and not args.all:
            raise ConfigError(
                "name the targets to build (nox -s wheel -- TRIPLE ...), or build all with "
                "nox -s build_all; targets: " + ", ".join(matrix.names())
            )
        targets = matrix.select(args.targets)
        from . import pipeline

        results = pipeline.build(targets, layout, matrix=matrix.targets)
        print(pipeline.render(results))
        return 0 if all(r.ok for r in results) else 1
    if args.command == "bench":
        from dataclasses import asdict

        from . import bench
        from .files import atomic_write_text

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
    if args.command == "sdist":
        from .sdist import build_sdist

        print(build_sdist(layout))
        return 0
    if args.command == "verify":
        from . import verify
        report = verify.verify(args.wheels, layout, matrix, only=args.only, progress=say, fresh=args.fresh)
        verify.write_json(report, args.json or layout.verify_json, keep_others=args.json is None and bool(args.wheels))
        print(verify.render(report))
        return 0 if report.ok else 1
    if args.command in ("publish", "release-assets"):
        from . import publish

        if args.command == "release-assets":
            for path in publish.release_assets(layout, matrix, args.directory):
                print(path)
            return 0
        publish.publish(
            layout, matrix, repository_url=args.repository_url, allow_dev=args.allow_dev,
            attestations=args.attestations, check_only=args.check, index_url=args.index_url, progress=say,
        )
        return 0
    if args.command == "deps":
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
    if args.command == "wheelhouse":
        from . import rehearsal

        print(rehearsal.fill_wheelhouse(layout, matrix, progress=say))
        return 0
    if args.command == "userland":
        from . import userland

        proved = userland.userland(layout, matrix, args.targets, wheelhouse=args.wheelhouse, progress=say)
        print(userland.render(proved))
        return 0 if proved.ok else 1
    if args.command == "rehearse":
        from . import rehearsal

        outcome = rehearsal.rehearse(layout, matrix, work=args.work, userlands=not args.no_userlands, progress=say)
        print(rehearsal.render(outcome))
        return 0 if outcome.ok else 1
    if args.command == "shards":
        from . import shards

        print(json.dumps(shards.strategy_matrix(matrix)))
        return 0
    if args.command == "gather":
        from . import shards

        print(shards.gather(args.parts, layout.dist, matrix))
        return 0
    raise AssertionError(args.command)
