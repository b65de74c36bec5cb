"""Everything the checks of one wheel share, worked out once: the claim, the binary, its facts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import BinaryFormatError, ClaimError
from ..layout import Layout
from ..targets import Target
from ..wheelfile import WheelFile
from ..wheels import BIN_DIR, binary_member
from .binary import BinaryFacts, inspect
from .claim import Claim, claim_of


@dataclass(frozen=True, kw_only=True)
class Context:
    wheel: WheelFile
    target: Target | None  # None when no target in targets.toml fits the wheel
    layout: Layout
    work: Path  # a private scratch directory for this wheel
    find_links: Path  # the directory installers pick wheels from (resolution checks)
    build_paths: tuple[str, ...] = ()  # build-machine paths that must not be in the binary
    claim: Claim | None = None
    claim_problem: str = ""
    binary_member: str | None = None  # its name in the zip
    binary: Path | None = None  # extracted, with the zip's permission bits
    facts: BinaryFacts | None = None
    facts_problem: str = ""


def prepare(
    wheel: WheelFile, target: Target | None, *,
    layout: Layout, work: Path, find_links: Path, build_paths: tuple[str, ...] = (),
) -> Context:
    claim, claim_problem = None, ""
    try:
        claim = claim_of(wheel.platform_tags)
    except ClaimError as exc:
        claim_problem = str(exc)
    member = _binary_member(wheel, target)
    binary, facts, facts_problem = None, None, ""
    if member is None:
        facts_problem = f"no executable under {BIN_DIR} in the wheel"
    else:
        binary = wheel.extract(member, work / "bin" / Path(member).name)
        try:
            facts = inspect(binary)
        except BinaryFormatError as exc:
            facts_problem = f"{member}: {exc}"
    return Context(
        wheel=wheel, target=target, layout=layout, work=work, find_links=find_links, build_paths=build_paths,
        claim=claim, claim_problem=claim_problem, binary_member=member, binary=binary,
        facts=facts, facts_problem=facts_problem,
    )


def _binary_member(wheel: WheelFile, target: Target | None) -> str | None:
    if target is not None:
        name = binary_member(target.binary_name)
        return name if wheel.member(name) else None
    found = [m.name for m in wheel.members if m.name.startswith(BIN_DIR)]
    return found[0] if len(found) == 1 else None
