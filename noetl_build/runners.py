"""How this host runs a target's binary: natively, under qemu-user, under wine, or not at all."""

from __future__ import annotations

import platform
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .procs import first_on_path
from .targets import Target

WINE_CANDIDATES = ("wine64", "/usr/lib/wine/wine64", "wine")
# platform.machine() -> the Rust architecture it runs natively
HOST_ARCH = {"x86_64": "x86_64", "AMD64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


@dataclass(frozen=True)
class Runner:
    """A command prefix that runs the target's binary here, or why there is none."""

    via: str  # "native", "qemu", "wine" or "none"
    prefix: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    missing: str = ""  # set when the method is declared but unavailable on this host

    @property
    def available(self) -> bool:
        return self.via != "none" and not self.missing


def runner_for(target: Target) -> Runner:
    if target.run == "native":
        host = HOST_ARCH.get(platform.machine())
        if platform.system() != "Linux" or host != target.triple.arch:
            return Runner("native", missing=f"this host is {platform.system()} {platform.machine()}")
        return Runner("native")
    if target.run == "qemu":
        assert target.qemu_program
        program = shutil.which(target.qemu_program)
        if not program:
            return Runner("qemu", missing=f"{target.qemu_program} not found ({_apt_hint(target)})")
        prefix: tuple[str, ...] = (program,)
        if target.qemu_sysroot:
            if not Path(target.qemu_sysroot).is_dir():
                return Runner("qemu", missing=f"no {target.qemu_sysroot} ({_apt_hint(target)})")
            prefix += ("-L", target.qemu_sysroot)
        return Runner("qemu", prefix)
    if target.run == "wine":
        wine = first_on_path(WINE_CANDIDATES)
        if wine:
            return Runner("wine", (wine,), env={"WINEDEBUG": "-all"})
        return Runner("wine", missing=f"wine64 not found ({_apt_hint(target)})")
    return Runner("none")


def _apt_hint(target: Target) -> str:
    return "apt-get install " + " ".join(target.apt) if target.apt else "see targets.toml"
