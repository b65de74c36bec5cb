"""A whole build run: UI, generic wheel, then each target on its own, ending in dist/'s index."""

from __future__ import annotations

import ast
import contextlib
import datetime as dt
import fcntl
import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import dist
from .compile import ZigTools, compile_target
from .errors import BuildError
from .fingerprint import Stamp, digest, sha256_file
from .layout import Layout
from .procs import CommandError
from .report import human_size, say, table
from .targets import Target
from .toolchain import choose
from .ui import build_ui
from .wheels import build_generic_wheel, build_platform_wheel, wheel_tags

FALLBACK_EPOCH = 315532800  # 1980-01-01, the earliest time a zip can hold


@dataclass(frozen=True, kw_only=True)
class Result:
    target: str
    status: str  # "built", "up to date" or "failed"
    wheel: str | None = None
    size: int | None = None
    seconds: float = 0.0
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "failed"


def source_date_epoch(root: Path) -> int:
    """SOURCE_DATE_EPOCH if set, else the commit's time, so a commit always builds the same bytes."""
    if os.environ.get("SOURCE_DATE_EPOCH"):
        return int(os.environ["SOURCE_DATE_EPOCH"])
    try:
        out = subprocess.run(
            ["git", "log", "-1", "--format=%ct"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        return int(out)
    except (OSError, subprocess.CalledProcessError, ValueError):
        say(f"warning: not a git checkout; timestamps in wheels are {FALLBACK_EPOCH} (1980-01-01)")
        return FALLBACK_EPOCH


def package_version(layout: Layout) -> str:
    tree = ast.parse((layout.package / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets
        ):
            return str(ast.literal_eval(node.value))
    raise BuildError("noetl/__init__.py has no __version__")


@contextlib.contextmanager
def exclusive(layout: Layout) -> Iterator[None]:
    """One build at a time per build dir: two would rewrite each other's work files."""
    layout.build.mkdir(parents=True, exist_ok=True)
    with open(layout.build / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"==> waiting for another build using {layout.build}")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def build(targets: Sequence[Target], layout: Layout) -> list[Result]:
    """Build every target's wheel into dist/, going on past failures; one Result per target."""
    with exclusive(layout):
        return _build(targets, layout)


def _build(targets: Sequence[Target], layout: Layout) -> list[Result]:
    epoch = source_date_epoch(layout.root)
    tools = ZigTools.find()
    say(f"==> zig {tools.zig_version}, {tools.zigbuild_version}, SOURCE_DATE_EPOCH={epoch}")
    say("==> ui: " + ("built" if build_ui(layout) else "up to date"))
    generic = build_generic_wheel(layout, epoch=epoch)
    say(f"==> generic wheel: {generic.name}")
    generic_sha = sha256_file(generic)

    entries = dist.load_entries(layout.dist)
    results = []
    try:
        for target in targets:
            result = _build_target(target, layout, tools, generic, generic_sha, entries, epoch=epoch)
            results.append(result)
            mark = "✓" if result.ok else "✗"
            say(f"    {mark} {target.name}: {result.status} {result.wheel or result.message}")
    finally:
        dist.write_index(layout.dist, entries, meta={"version": package_version(layout), "source_date_epoch": epoch})
    return results


def _build_target(
    target: Target, layout: Layout, tools: ZigTools, generic: Path, generic_sha: str,
    entries: dict[str, dist.Entry], *, epoch: int,
) -> Result:
    started = time.monotonic()
    try:
        choice = choose(target)
        say(f"==> {target.name}: {choice.describe()}")
        compiled = compile_target(target, choice, layout, tools, epoch=epoch)
        stamp = Stamp(layout.target_dir(target.name) / "wheel.json")
        fingerprint = digest(extra={
            "binary": compiled.sha256, "generic": generic_sha, "tags": target.platform_tag,
        })
        previous = entries.get(target.name)
        if (
            previous
            and stamp.read().get("fingerprint") == fingerprint
            and sha256_file(layout.dist / previous.wheel) == previous.sha256
        ):
            return Result(target=target.name, status="up to date", wheel=previous.wheel,
                          size=previous.size, seconds=time.monotonic() - started)
        log = layout.logs / f"{target.name}.wheel.log"
        built = build_platform_wheel(
            generic, compiled.binary, target, layout.target_dir(target.name) / "wheel", epoch=epoch, log=log
        )
        final = dist.publish(built, layout.dist)
        if previous and previous.wheel != final.name:
            (layout.dist / previous.wheel).unlink(missing_ok=True)
        seconds = time.monotonic() - started
        entry = dist.Entry(
            target=target.name, wheel=final.name, sha256=sha256_file(final), size=final.stat().st_size,
            build_seconds=round(seconds, 1),
            built_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            tags=wheel_tags(final),
        )
        entries[target.name] = entry
        stamp.write({"fingerprint": fingerprint, "wheel": final.name})
        return Result(target=target.name, status="built", wheel=final.name, size=entry.size, seconds=seconds)
    except BuildError as exc:
        if isinstance(exc, CommandError) and exc.tail:
            say("\n".join("      " + line for line in exc.tail.splitlines()))
        return Result(target=target.name, status="failed", seconds=time.monotonic() - started, message=str(exc))


def render(results: Sequence[Result]) -> str:
    rows = [
        [r.target, r.wheel or "-", human_size(r.size), f"{r.seconds:.1f}", r.status]
        for r in results
    ]
    text = table(["target", "wheel", "size", "seconds", "status"], rows)
    failures = [f"error: {r.message}" for r in results if not r.ok]
    built = sum(r.status == "built" for r in results)
    fresh = sum(r.status == "up to date" for r in results)
    summary = f"{built} built, {fresh} up to date, {len(failures)} failed"
    return "\n".join([text, "", summary, *failures])
