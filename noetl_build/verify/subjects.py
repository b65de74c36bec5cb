"""Which wheels to verify, and the target each was built for (dist/manifest.json, else its tags)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import dist
from ..errors import ClaimError, ConfigError
from ..layout import Layout
from ..targets import Matrix, Target
from ..wheelfile import WheelFile
from .claim import claim_of


@dataclass(frozen=True)
class Subject:
    wheel: Path  # a wheel, or the sdist
    target: Target | None  # None: an sdist, or no target in targets.toml fits the wheel's tags


def is_sdist(path: Path) -> bool:
    return path.name.endswith(".tar.gz")


def select(selectors: Sequence[str], layout: Layout, matrix: Matrix) -> list[Subject]:
    """Every wheel in dist/ when ``selectors`` is empty; else the triples' and paths' wheels."""
    if not selectors:
        _require_dist(layout)
        wheels = sorted(layout.dist.glob("*.whl"))
        if not wheels:
            raise ConfigError(f"{layout.dist} holds no wheels: build them first (nox -s build_all)")
        subjects = [for_path(w, matrix) for w in [*wheels, *sorted(layout.dist.glob("*.tar.gz"))]]
    else:
        subjects = [_one(s, layout, matrix) for s in dict.fromkeys(selectors)]
    subjects = list({s.wheel.resolve(): s for s in subjects}.values())  # a wheel named twice is checked once
    order = {name: i for i, name in enumerate(matrix.names())}
    return sorted(subjects, key=lambda s: (order.get(s.target.name, len(order)) if s.target else len(order), s.wheel.name))


def _one(selector: str, layout: Layout, matrix: Matrix) -> Subject:
    path = Path(selector)
    if selector.endswith((".whl", ".tar.gz")) or path.exists():
        if not path.is_file():
            raise ConfigError(f"{selector}: no such {'sdist' if selector.endswith('.tar.gz') else 'wheel'}")
        return for_path(path.resolve(), matrix)
    (target,) = matrix.select([selector])  # an unknown triple is a ConfigError naming the close ones
    _require_dist(layout)
    entry = dist.load_entries(layout.dist).get(target.name)
    if entry is None:
        raise ConfigError(f"no wheel for {target.name} in {layout.dist}: build it with nox -s wheel -- {target.name}")
    return Subject(layout.dist_file(entry.wheel), target)


def _require_dist(layout: Layout) -> None:
    if not layout.dist.is_dir():
        raise ConfigError(f"no {layout.dist}: build wheels first (nox -s build_all), or name wheel files")


def for_path(wheel: Path, matrix: Matrix) -> Subject:
    """The wheel's target: its entry in the manifest next to it, else the target its tags fit.

    An sdist has no target: it builds for whichever machine installs it.
    """
    if is_sdist(wheel):
        return Subject(wheel, None)
    by_target = {t.name: t for t in matrix.targets}
    for entry in dist.load_entries(wheel.parent).values():
        if entry.wheel == wheel.name and entry.target in by_target:
            return Subject(wheel, by_target[entry.target])
    return Subject(wheel, infer_target(WheelFile.platform_tags_of(wheel.name), matrix))


def infer_target(platform_tags: Sequence[str], matrix: Matrix) -> Target | None:
    """The target with exactly these tags; else the first of the same OS family and architecture."""
    wanted = sorted(platform_tags)
    for target in matrix.targets:
        if sorted(target.tags) == wanted:
            return target
    try:
        claim = claim_of(platform_tags)
    except ClaimError:
        return None
    for target in matrix.targets:
        theirs = claim_of(target.tags)
        if (theirs.family, theirs.arch.name) == (claim.family, claim.arch.name):
            return target
    return None
