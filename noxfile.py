"""Sessions: each picks a venv, installs pinned tools, and calls the noetl_build package.

    nox -s build_all [-- --serial|--jobs N]  every target in targets.toml (three at once)
    nox -s wheel -- TRIPLE [TRIPLE ...]  just those
    nox -s doctor                        toolchains, strategies and what is missing
    nox -s sdist                         the source distribution into dist/
    nox -s verify [-- TRIPLE|WHEEL ...]  prove the wheels in dist/ right
    nox -s tests [-- PYTEST ARGS]        the test suite
    nox -s version [-- --bump [--dry-run] | --print | --check]
                                         the current and next version; the release
    nox -s publish [-- --repository-url URL --allow-dev --attestations --check]
                                         upload dist/ with twine, refusing an unproven set
    nox -s rehearse                      publish to an index on 127.0.0.1, install back
    nox -s userland [-- TRIPLE ...]      install and run the wheels in real Debian roots (root)
    nox -s deps [-- --index-url URL TRIPLE ...]
                                         noetl's install closure is wheels on every platform
    nox -s shards                        CI's strategy.matrix (JSON): one shard per toolchain
    nox -s gather -- PART [PART ...]     merge the shards' dist/ parts into dist/
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests"]
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
REQUIREMENTS = ROOT / "requirements"
REHEARSAL = ("release", "verify", "build")  # twine and the local index, verify's checkers, the build's tools


def install(session: nox.Session, *names: str) -> None:
    """pip install requirements/<name>.txt for each name, skipped when the venv already has exactly that."""
    files = sorted(REQUIREMENTS.glob("*.txt"))
    wanted = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()
    marker = Path(session.virtualenv.location) / f".installed-{'-'.join(names)}"
    if marker.is_file() and marker.read_text() == wanted:
        return
    requirements = [arg for name in names for arg in ("-r", str(REQUIREMENTS / f"{name}.txt"))]
    session.install("--disable-pip-version-check", *requirements)
    marker.write_text(wanted)


def noetl_build(session: nox.Session, requirements: Sequence[str], command: str, *args: str) -> None:
    """Install requirements/<name>.txt for each of requirements, then run `python -m noetl_build COMMAND ARGS`.

    COMMAND is a row of noetl_build/cli.py's COMMANDS, which owns its arguments, help and exit codes;
    tests/build/test_cli_table.py checks that every session names one and that its fixed ARGS parse.
    """
    install(session, *requirements)
    session.run("python", "-m", "noetl_build", command, *args)


@nox.session
def build_all(session: nox.Session) -> None:
    """Build the wheel of every target in targets.toml into dist/."""
    noetl_build(session, ["build"], "build", "--all", *session.posargs)


@nox.session
def wheel(session: nox.Session) -> None:
    """Build the wheels of the targets named: nox -s wheel -- TRIPLE [TRIPLE ...]."""
    noetl_build(session, ["build"], "build", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Time cold and no-op builds, packaging, verify and `noetl --version`; sizes: nox -s bench [-- TRIPLE ...]."""
    noetl_build(session, ["build", "verify"], "bench", *session.posargs)


@nox.session
def doctor(session: nox.Session) -> None:
    """Show, per target, the toolchain and strategy that will build it and what is missing."""
    noetl_build(session, ["build"], "doctor")


@nox.session
def sdist(session: nox.Session) -> None:
    """Write dist/noetl-<version>.tar.gz: crate, built UI, package, docs; its wheel compiles the binary."""
    noetl_build(session, ["build"], "sdist")


@nox.session
def verify(session: nox.Session) -> None:
    """Prove the wheels in dist/ right for their platforms: nox -s verify [-- TRIPLE|WHEEL ... | --fresh]."""
    noetl_build(session, ["verify", "build"], "verify", *session.posargs)


@nox.session
def version(session: nox.Session) -> None:
    """Show the current and next version and the commits that decide it: nox -s version [-- --bump [--dry-run] | --print | --check]."""
    noetl_build(session, ["build"], "version", *session.posargs)


@nox.session
def publish(session: nox.Session) -> None:
    """Upload the sdist and every wheel in dist/ with twine: nox -s publish [-- --repository-url URL ...]."""
    signing = ["attest"] if "--attestations" in session.posargs else []
    noetl_build(session, ["release", *signing], "publish", *session.posargs)


@nox.session
def rehearse(session: nox.Session) -> None:
    """Publish dist/ to a real index on 127.0.0.1 and prove every target installs back from it."""
    noetl_build(session, REHEARSAL, "wheelhouse")
    noetl_build(session, REHEARSAL, "rehearse", *session.posargs)


@nox.session
def deps(session: nox.Session) -> None:
    """Prove noetl's whole install closure is wheels on every target's platform: nox -s deps [-- --index-url URL ...]."""
    noetl_build(session, ["build"], "deps", *session.posargs)


@nox.session
def userland(session: nox.Session) -> None:
    """Install and run each Linux glibc target's wheel in a real Debian root: nox -s userland [-- TRIPLE ...]."""
    noetl_build(session, REHEARSAL, "wheelhouse")
    noetl_build(session, REHEARSAL, "userland", *session.posargs)


@nox.session
def shards(session: nox.Session) -> None:
    """Print the JSON of CI's strategy.matrix: one shard per group of targets sharing a toolchain."""
    noetl_build(session, ["build"], "shards")


@nox.session
def gather(session: nox.Session) -> None:
    """Merge the dist/ parts the shards built into dist/: nox -s gather -- PART [PART ...]."""
    noetl_build(session, ["build"], "gather", *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite: the Rust crate's tests, then pytest (builds real targets: minutes)."""
    noetl_build(session, ["tests"], "wheelhouse")  # what the release rehearsal's fresh venvs install, fetched before any test
    if not session.posargs:
        session.run("cargo", "test", "--locked", "--manifest-path", "noetlctl/Cargo.toml", external=True)
    # tests start `python -m noetl.server` in other directories: the checkout's package
    session.run("python", "-m", "pytest", *(session.posargs or ["-ra"]), env={"PYTHONPATH": str(ROOT)})
