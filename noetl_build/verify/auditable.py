"""The dependency list cargo-auditable embeds in each binary, held against the wheel's SBOM.

cargo-auditable (pinned in requirements/cargo-tools.txt, run as the build's rustc workspace
wrapper) writes a zlib-compressed JSON list of the crates into a `.dep-v0` section: ELF and PE
sections of that name, Mach-O `__DATA,.dep-v0` (in each slice of a fat binary). It is what the
build itself compiled, written by a tool other than our SBOM generator, and what scanners
(cargo audit bin, trivy, syft) read from a bare executable.

The list comes from `cargo metadata`, so with stable cargo it is a superset of what is compiled
in: weak features such as reqwest's `quinn?/ring` count as enabled (rust-lang/cargo#10801, 14
extra crates measured); proc-macros and build scripts' dependencies are in it as
`kind: build`. So the check asks: the binary carries the list, and every crate the
SBOM names is in it at the same version: an SBOM crate the build did not know (another
platform's, say) is a wrong SBOM. That the SBOM misses none is the sbom check's (cargo tree).
"""

from __future__ import annotations

import io
import json
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import AuditDataError
from ..sbom import sbom_member
from .context import Context
from .results import Verdict, check, fail, ok

SECTION = ".dep-v0"
MAX_JSON = 8 << 20  # an audit list is ~10 KiB; refuse anything that inflates past 8 MiB
Package = tuple[str, str]


@check("auditable")
def check_auditable(ctx: Context) -> Verdict:
    """The binary embeds its crates (cargo-auditable) and they include every crate of the SBOM."""
    if ctx.binary is None:
        return fail(ctx.facts_problem or "no binary")
    try:
        lists = read_audit_data(ctx.binary)
    except (AuditDataError, OSError, ValueError) as exc:
        return fail(f"{ctx.binary_member}: unreadable cargo-auditable data: {exc}")
    missing = [i for i, data in enumerate(lists, 1) if data is None]
    if not lists or missing:
        where = f"slice {missing[0]} of {len(lists)} of " if len(lists) > 1 else ""
        return fail(f"{where}{ctx.binary_member} carries no cargo-auditable dependency list ({SECTION})")
    embedded = set().union(*(embedded_crates(data) for data in lists if data is not None))
    listed, problem = _sbom_crates(ctx)
    if listed is None:
        return fail(problem)
    unknown = sorted(listed - embedded)
    if unknown:
        shown = ", ".join(f"{n} {v}" for n, v in unknown[:6]) + (" ..." if len(unknown) > 6 else "")
        return fail(f"the SBOM lists crates the binary's build did not: {shown}")
    slices = f" in each of {len(lists)} slices" if len(lists) > 1 else ""
    return ok(f"{len(embedded)} crates embedded{slices}; all {len(listed)} SBOM crates among them")


def embedded_crates(data: Mapping[str, Any]) -> set[Package]:
    """Every crate the list names but the root: runtime ones and `kind: build` ones, which
    include the proc-macros (clap_derive, serde_derive) that cargo tree -e normal, and so the
    SBOM, list as normal dependencies."""
    packages = data.get("packages")
    if not isinstance(packages, list):
        raise AuditDataError("no 'packages' list")
    return {(str(p["name"]), str(p["version"])) for p in packages if isinstance(p, dict) and not p.get("root")}


def read_audit_data(binary: Path) -> list[dict[str, Any] | None]:
    """The decoded list of each part of a binary (a Mach-O slice; the one ELF/PE), None where absent."""
    data = binary.read_bytes()
    if data[:4] == b"\x7fELF":
        raw = [_elf(data)]
    elif data[:2] == b"MZ":
        raw = [_pe(data)]
    else:
        raw = _macho(binary, data)
    return [None if section is None else _decode(section) for section in raw]


def _decode(section: bytes) -> dict[str, Any]:
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(section, MAX_JSON)
    except zlib.error as exc:
        raise AuditDataError(f"not zlib data ({exc})") from None
    if inflater.unconsumed_tail:
        raise AuditDataError(f"inflates past {MAX_JSON} bytes")
    decoded = json.loads(text.decode("utf-8"))
    if not isinstance(decoded, dict):
        raise AuditDataError("not a JSON object")
    return decoded


def _elf(data: bytes) -> bytes | None:
    from elftools.elf.elffile import ELFFile

    section = ELFFile(io.BytesIO(data)).get_section_by_name(SECTION)
    return bytes(section.data()) if section is not None else None


def _pe(data: bytes) -> bytes | None:
    import pefile

    pe = pefile.PE(data=data, fast_load=True)
    for section in pe.sections:
        if section.Name.rstrip(b"\0") == SECTION.encode():
            return bytes(section.get_data()[: section.Misc_VirtualSize])  # raw data is padded
    return None


def _macho(path: Path, data: bytes) -> list[bytes | None]:
    from macholib.MachO import MachO

    found: list[bytes | None] = []
    for header in MachO(str(path)).headers:  # one per slice of a fat (universal2) file
        section_data = None
        for _command, _load, sections in header.commands:
            for section in sections if isinstance(sections, list) else ():
                segment = getattr(section, "segname", b"").rstrip(b"\0")
                name = getattr(section, "sectname", b"").rstrip(b"\0")
                if segment == b"__DATA" and name == SECTION.encode():
                    start = header.offset + section.offset  # section offsets are slice-relative
                    section_data = data[start : start + section.size]
        found.append(section_data)
    return found


def _sbom_crates(ctx: Context) -> tuple[set[Package] | None, str]:
    member = sbom_member(ctx.wheel.dist_info)
    if not ctx.wheel.member(member):
        return None, f"no {member} to hold the embedded list against"
    try:
        document = json.loads(ctx.wheel.read_member(member))
        components = document.get("components", [])
        return {
            (str(c["name"]), str(c["version"])) for c in components
            if str(c.get("purl", "")).startswith("pkg:cargo/")
        }, ""
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return None, f"{member} is not a readable SBOM: {exc}"
