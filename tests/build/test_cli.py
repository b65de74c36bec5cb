"""The build CLI's contract for errors: one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from noetl_build import cli, shards
from noetl_build.errors import BuildError, ConfigError

ROOT = Path(__file__).resolve().parents[2]


def run_cli(tmp_path: Path, *args: str) -> list[str]:
    return ["--root", str(ROOT), "--build-dir", str(tmp_path / "build"), "--dist", str(tmp_path / "dist"), *args]


def fail_with(exc: BaseException):
    def raiser(*_args: object, **_kwargs: object) -> object:
        raise exc

    return raiser


def test_a_users_error_is_its_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(shards, "strategy_matrix", fail_with(ConfigError("targets.toml: what is wrong; what to do")))
    assert cli.main(run_cli(tmp_path, "shards")) == ConfigError.exit_code
    captured = capsys.readouterr()
    assert captured.err == "error: targets.toml: what is wrong; what to do\n"
    assert captured.out == ""


def test_a_bug_is_one_line_naming_the_log_with_its_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(shards, "strategy_matrix", fail_with(RuntimeError("platform \x1b[31mred\nsecond line")))
    assert cli.main(run_cli(tmp_path, "shards")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: unexpected RuntimeError: platform \\x1b[31mred (a bug")
    assert "Traceback" not in err and "second line" not in err and "\x1b" not in err
    log = tmp_path / "build" / "logs" / "crash.log"
    assert str(log) in err
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "strategy_matrix" in text and "shards" in text


def test_every_error_class_has_one_root() -> None:
    import noetl_build.errors as errors

    classes = [value for value in vars(errors).values() if isinstance(value, type) and issubclass(value, Exception)]
    assert len(classes) > 5
    assert all(issubclass(cls, BuildError) for cls in classes)


def test_a_bug_in_one_target_fails_that_target_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pipeline's rule: any failure of one target is that target's one-line failure; the run goes on."""
    from noetl_build import pipeline
    from noetl_build.jobserver import Jobserver
    from noetl_build.layout import Layout
    from noetl_build.targets import load_matrix

    target = load_matrix(ROOT / "targets.toml").targets[0]
    layout = Layout.at(ROOT, build=tmp_path / "build", dist=tmp_path / "dist")
    broken = SimpleNamespace(choice=fail_with(ValueError("bad value \x1b]0;title\x07\nsecond line")))
    run = pipeline.Run(layout, None, "1.0.0", 1, tmp_path / "generic.whl", "0" * 64, broken)  # type: ignore[arg-type]
    with Jobserver.open(tmp_path, 1) as jobserver:
        result = pipeline._build_target(target, run, {}, jobserver, 0)
    assert result.status == "failed" and not result.ok
    assert result.message.startswith(f"{target.name}: unexpected ValueError: bad value \\x1b]0;title\\x07 (a bug")
    assert "\n" not in result.message and "\x1b" not in result.message
    log = tmp_path / "build" / "logs" / f"{target.name}.crash.log"
    assert str(log) in result.message and "Traceback (most recent call last)" in log.read_text()
