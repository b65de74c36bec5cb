"""Checks of the binary against the wheel's tags: architecture, libc, minimum macOS, signature."""

from __future__ import annotations

from ..platforms import Arch, Libc, arches, os_families, systems
from ..targets import Target
from .binary import ElfFacts, MachoFacts, PeFacts
from .claim import Claim, dotted
from .context import Context
from .results import Verdict, check, fail, ok

@check("arch")
def check_arch(ctx: Context) -> Verdict:
    """Executable format and architecture match the tags: ELF OS/ABI (the OS class's),
    machine/class/endianness/float ABI, every Mach-O slice (both for universal2), PE machine."""
    claim, facts = ctx.claim, ctx.facts
    if claim is None:
        return fail(ctx.claim_problem)
    if facts is None:
        return fail(ctx.facts_problem)
    want_format = systems()[claim.os].format
    if facts.format != want_format:
        return fail(f"{ctx.binary_member} is {facts.describe()}, but a {claim.family.name} wheel needs {want_format}")
    problem = _arch_problem(facts, claim, ctx.target)
    if problem:
        return fail(f"{ctx.binary_member} is {facts.describe()}: {problem}")
    level = ""
    if isinstance(facts, ElfFacts) and claim.arch.arm_isa:
        cpu = dict(facts.arm).get("TAG_CPU_ARCH", 0)
        level = f", code for ARM{ARM_CPU_ARCH.get(cpu, cpu)} (at most ARM{claim.arch.arm_isa})"
    return ok(f"{facts.describe()}{level}, as {claim.wheel_arch} needs")


def _arch_problem(facts: ElfFacts | MachoFacts | PeFacts, claim: Claim, target: Target | None) -> str:
    arch = claim.arch
    if isinstance(facts, ElfFacts):
        osabi = os_families()[claim.os].elf_osabi  # which OS an ELF is for: its OS class says
        if facts.osabi not in osabi:
            return f"OS/ABI {facts.osabi}, but a {systems()[claim.os].name} binary says {' or '.join(osabi)}"
        if facts.machine != arch.elf_machine:
            return f"{claim.wheel_arch} needs {arch.elf_machine}"
        if facts.elf_class != arch.elf_class or facts.endian != arch.endian:
            return f"{claim.wheel_arch} needs {arch.elf_class}-bit {arch.endian}-endian"
        if facts.machine == "EM_ARM":
            want_hard = target.triple.hard_float if target else True
            if facts.hard_float != want_hard:
                return f"{target.name if target else claim.wheel_arch} needs the " + (
                    "hard-float" if want_hard else "soft-float") + " EABI"
            if arch.arm_isa:
                return _arm_isa_problem(dict(facts.arm), arch.arm_isa, claim.wheel_arch)
        return ""
    if isinstance(facts, MachoFacts):
        want = sorted(a.macho_cpu or a.name for a in claim.slices)
        have = sorted(s.cpu for s in facts.slices)
        return "" if have == want else f"{claim.wheel_arch} needs {' + '.join(want)}"
    return "" if facts.machine == arch.pe_machine else f"{claim.wheel_arch} needs {arch.pe_machine}"


# What an ARM instruction-set level allows in .ARM.attributes, in the ARM ELF ABI's values:
# Tag_CPU_arch 1-7 = v4 .. v6KZ, 8 = v6T2, 9 = v6K, 10 = v7; Tag_THUMB_ISA_use 1 = Thumb-1,
# 2 = Thumb-2; Tag_Advanced_SIMD_arch 0 = no NEON. ARMv6 (ARM1176) has neither Thumb-2 nor NEON.
ARM_CPU_ARCH = {1: "v4", 2: "v4T", 3: "v5T", 4: "v5TE", 5: "v5TEJ", 6: "v6", 7: "v6KZ", 8: "v6T2", 9: "v6K",
                10: "v7", 11: "v6-M", 12: "v6S-M", 13: "v7E-M", 14: "v8"}
ARM_ISA = {
    "v6": {"TAG_CPU_ARCH": {1, 2, 3, 4, 5, 6, 7, 9}, "TAG_THUMB_ISA_USE": {0, 1}, "TAG_ADVANCED_SIMD_ARCH": {0}},
    "v7": {"TAG_CPU_ARCH": set(range(1, 11)), "TAG_THUMB_ISA_USE": {0, 1, 2}},
}


def _arm_isa_problem(attributes: dict[str, int], isa: str, wheel_arch: str) -> str:
    allowed = ARM_ISA[isa]
    if "TAG_CPU_ARCH" not in attributes:
        return f"{wheel_arch} needs ARM{isa}: the binary has no .ARM.attributes saying which CPU it needs"
    for tag, values in allowed.items():
        have = attributes.get(tag, 0)
        if have not in values:
            shown = ARM_CPU_ARCH.get(have, str(have)) if tag == "TAG_CPU_ARCH" else str(have)
            return f"{wheel_arch} needs code for ARM{isa}, but {tag} is {shown} (instructions ARM{isa} lacks)"
    return ""


@check("libraries")
def check_libraries(ctx: Context) -> Verdict | None:
    """Linux and Windows: the binary loads only libraries every system of its OS has (ELF DT_NEEDED,
    PE imports; platforms.toml's list), and a Windows binary is a console program. For linux_armv6l,
    which no auditwheel policy covers, this is the "no foreign libraries" proof."""
    claim, facts = ctx.claim, ctx.facts
    if claim is None or isinstance(facts, MachoFacts) or facts is None:
        return None
    system = systems()[claim.os]
    loaded = facts.needed if isinstance(facts, ElfFacts) else facts.imports
    foreign = system.foreign(loaded)
    if foreign:
        return fail(f"loads {', '.join(foreign)}: not on every {system.name} system")
    if isinstance(facts, PeFacts) and system.subsystem and facts.subsystem != system.subsystem:
        return fail(f"PE subsystem {facts.subsystem}, not {system.subsystem} (a console program)")
    what = "static: loads no library" if not loaded else f"loads {len(loaded)} system libraries only"
    return ok(what + (f", {facts.subsystem}" if isinstance(facts, PeFacts) else ""))


@check("glibc")
def check_glibc(ctx: Context) -> Verdict | None:
    """glibc wheels: the highest GLIBC_x.y symbol version needed is at most the tag's (for a tag
    that names no version, linux_armv6l, the target's glibc in targets.toml)."""
    claim = ctx.claim
    if claim is None or claim.family.libc != Libc.GNU:
        return None
    facts = ctx.facts
    if not isinstance(facts, ElfFacts):
        return fail(ctx.facts_problem or f"{ctx.binary_member} is not ELF")
    if facts.interpreter and "ld-musl" in facts.interpreter:
        return fail(f"loader is {facts.interpreter} (musl), but the wheel is {claim.family.name}")
    if facts.glibc is None:
        return ok("no versioned glibc symbols (static)")
    allowed, who, whose = claim.version, "tag", "the tag's glibc"
    if allowed is None and ctx.target is not None:
        allowed, who, whose = ctx.target.glibc, "targets.toml", "the glibc targets.toml gives"
    if allowed is None:
        return fail("the tag names no glibc version and no target in targets.toml gives one")
    if facts.glibc > allowed:
        return fail(f"needs GLIBC_{dotted(facts.glibc)}, newer than {whose} {dotted(allowed)}")
    return ok(f"needs GLIBC_{dotted(facts.glibc)} at most; {who} allows {dotted(allowed)}")


@check("musl")
def check_musl(ctx: Context) -> Verdict | None:
    """musllinux: static, or dynamic with the musl loader; no glibc symbols."""
    claim = ctx.claim
    if claim is None or claim.family.libc != Libc.MUSL:
        return None
    facts = ctx.facts
    if not isinstance(facts, ElfFacts):
        return fail(ctx.facts_problem or f"{ctx.binary_member} is not ELF")
    if facts.glibc is not None:
        return fail(f"needs glibc symbols (GLIBC_{dotted(facts.glibc)}): built against glibc, not musl")
    if facts.static:
        return ok("static executable")
    if facts.interpreter and facts.interpreter.startswith("/lib/ld-musl-"):
        return ok(f"dynamic, musl loader {facts.interpreter}")
    return fail(f"dynamic with loader {facts.interpreter or 'none'}: not the musl loader (/lib/ld-musl-*.so.1)")


@check("macos-min")
def check_macos_min(ctx: Context) -> Verdict | None:
    """macOS: every slice's minimum OS is at most the tag's (arm64 starts at 11.0 anyway)."""
    claim = ctx.claim
    if claim is None or systems()[claim.os].format != MachoFacts.format:
        return None
    facts = ctx.facts
    if not isinstance(facts, MachoFacts):
        return fail(ctx.facts_problem or f"{ctx.binary_member} is not Mach-O")
    tag_version = claim.version or (0, 0)
    problems, seen = [], []
    for slice_ in facts.slices:
        arch = _slice_arch(slice_.cpu, claim.os)
        floor = arch.min_macos if arch else None
        allowed = max(tag_version, floor) if floor else tag_version
        name = arch.wheel_arch[claim.os] if arch else slice_.cpu
        if slice_.minos is None:
            problems.append(f"{name} slice has no LC_BUILD_VERSION or LC_VERSION_MIN_MACOSX")
        elif slice_.minos > allowed:
            problems.append(f"{name} slice needs macOS {dotted(slice_.minos)}, newer than the tag's {dotted(allowed)}")
        seen.append(f"{name} {dotted(slice_.minos)}")
    if problems:
        return fail("; ".join(problems))
    return ok(f"minimum macOS {', '.join(seen)}; tag says {dotted(tag_version)}")


def _slice_arch(cpu: str, os_key: str) -> Arch | None:
    """The architecture of a Mach-O slice (its min-macos: arm64 exists from 11.0 on)."""
    return next((arch for arch in arches().values() if arch.macho_cpu == cpu and os_key in arch.wheel_arch), None)


@check("codesign")
def check_codesign(ctx: Context) -> Verdict | None:
    """arm64 macOS kills unsigned code: every arm64 slice carries LC_CODE_SIGNATURE, and its
    CodeDirectory's page hashes match the pages (nothing changed the file after signing)."""
    facts = ctx.facts
    if not isinstance(facts, MachoFacts) or ctx.claim is None or systems()[ctx.claim.os].format != MachoFacts.format:
        return None
    arm = [s for s in facts.slices if s.cpu == "ARM64"]
    if not arm:
        return None
    if not all(s.signed for s in arm):
        return fail(f"the arm64 slice of {ctx.binary_member} has no LC_CODE_SIGNATURE: macOS will kill it")
    stale = [s.signature_problem for s in arm if s.signature_problem]
    if stale:
        return fail(f"the arm64 slice of {ctx.binary_member}: {stale[0]}: macOS will kill it")
    return ok("arm64 slice signed (LC_CODE_SIGNATURE, every page hash matches)")
