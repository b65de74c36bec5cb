"""How this host runs a target's binary: natively, under qemu-user, under wine, or not at all."""

from __future__ import annotations

import platform
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from . import systems
from .procs import first_on_path
from .targets import RunMethod, Target

WINE_CANDIDATES = ("wine64", "/usr/lib/wine/wine64", "wine")
# platform.machine() -> the Rust architecture it runs natively
HOST_ARCH = {"x86_64": "x86_64", "AMD64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


@dataclass(frozen=True)
class Runner:
    """A command prefix that runs the target's binary here, or why there is none."""

    via: RunMethod
    prefix: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    missing: str = ""  # set when the method is declared but unavailable on this host

    @property
    def available(self) -> bool:
        return self.via != RunMethod.NONE and not self.missing


def runner_for(target: Target) -> Runner:
    if target.run == RunMethod.NATIVE:
        host, host_os = HOST_ARCH.get(platform.machine()), systems.host()
        if host_os is None or host_os.key != target.triple.os or host != target.triple.arch:
            return Runner(RunMethod.NATIVE, missing=f"this host is {platform.system()} {platform.machine()}")
        return Runner(RunMethod.NATIVE)
    if target.run == RunMethod.QEMU:
        assert target.qemu_program
        program = shutil.which(target.qemu_program)
        if not program:
            return Runner(RunMethod.QEMU, missing=f"{target.qemu_program} not found ({_apt_hint(target)})")
        prefix: tuple[str, ...] = (program,)
        if target.qemu_sysroot:
            if not Path(target.qemu_sysroot).is_dir():
                return Runner(RunMethod.QEMU, missing=f"no {target.qemu_sysroot} ({_apt_hint(target)})")
            prefix += ("-L", target.qemu_sysroot)
        return Runner(RunMethod.QEMU, prefix)
    if target.run == RunMethod.WINE:
        wine = first_on_path(WINE_CANDIDATES)
        if wine:
            return Runner(RunMethod.WINE, (wine,), env={"WINEDEBUG": "-all"})
        return Runner(RunMethod.WINE, missing=f"wine64 not found ({_apt_hint(target)})")
    return Runner(RunMethod.NONE)


def _apt_hint(target: Target) -> str:
    return "apt-get install " + " ".join(target.apt) if target.apt else "see targets.toml"
