"""Where things are: the repository's inputs and the build's outputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    root: Path
    dist: Path
    build: Path
    targets_file: Path

    @classmethod
    def at(
        cls, root: Path, *, dist: Path | None = None, build: Path | None = None, targets: Path | None = None
    ) -> Layout:
        root = root.resolve()
        return cls(
            root, (dist or root / "dist").resolve(), (build or root / "build").resolve(),
            (targets or root / "targets.toml").resolve(),
        )

    @property
    def crate(self) -> Path:
        return self.root / "noetlctl"

    @property
    def package(self) -> Path:
        return self.root / "noetl"

    @property
    def ui_source(self) -> Path:
        return self.root / "ui-src"

    @property
    def ui_lock(self) -> Path:
        return self.ui_source / "package-lock.json"

    @property
    def ui_output(self) -> Path:
        return self.package / "core" / "ui"

    @property
    def logs(self) -> Path:
        return self.build / "logs"

    def target_dir(self, name: str) -> Path:
        """Per-target outputs: the binary, its fingerprint, wheel records."""
        return self.build / "targets" / name

    def cargo_dir(self, key: str) -> Path:
        """Cargo's target dir, one per toolchain+strategy so they never evict each other."""
        return self.build / "cargo" / key
