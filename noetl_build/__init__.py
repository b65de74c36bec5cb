"""Build machinery for NoETL's per-platform wheels.

The noxfile wires sessions to this package; everything that decides or does
something lives here, in modules that each hold one idea:

- ``targets``   the matrix in targets.toml, validated into frozen values
- ``platforms`` facts about architectures and wheel platform tags (platforms.toml,
  checked on load by ``platforms_schema``)
- ``toolchain`` which Rust toolchain builds a target, and how
- ``compile``   cargo-zigbuild for one target
- ``ui`` / ``wheels`` / ``dist``  the generic wheel, per-target wheels, dist/
- ``pipeline``  the whole run, one result per target
- ``report``    rendering results (tables, JSON)
"""
