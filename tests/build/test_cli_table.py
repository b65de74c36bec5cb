"""The CLI is one table of commands (cli.COMMANDS): the parser is built from it, main runs a command by
looking it up, and the noxfile's sessions run commands that the table has, with arguments it takes."""

from __future__ import annotations

import argparse
import ast
import dataclasses
from pathlib import Path

import pytest

from noetl_build import cli
from noetl_build.layout import Layout
from tests.conftest import ROOT

# Commands that no nox session runs, and who runs them instead.
NOT_A_SESSION = {
    "apt-packages": ".ci/setup, before nox is installed",
    "release-assets": ".github/workflows/release.yml, in the release venv",
}


def subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action


def test_the_parser_has_the_tables_commands_in_its_order_with_their_help() -> None:
    names = [command.name for command in cli.COMMANDS]
    assert len(names) == len(set(names)) > 10
    action = subcommands(cli._parser())
    assert list(action.choices) == names
    assert [(a.dest, a.help) for a in action._choices_actions] == [(c.name, c.help) for c in cli.COMMANDS]
    assert all(command.help for command in cli.COMMANDS)


def test_every_command_has_its_own_handler() -> None:
    handlers = [command.handler for command in cli.COMMANDS]
    assert all(callable(handler) for handler in handlers)
    assert len({id(handler) for handler in handlers}) == len(handlers)


def minimal_argv(parser: argparse.ArgumentParser) -> list[str]:
    """A value for each positional argument the command requires."""
    return [action.metavar or "x" for action in parser._actions  # type: ignore[misc]
            if not action.option_strings and action.nargs in (None, "+")]


@pytest.mark.parametrize("name", [command.name for command in cli.COMMANDS])
def test_main_runs_the_handler_of_the_command_named(name: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, Layout]] = []

    def handler(args: argparse.Namespace, layout: Layout) -> int:
        seen.append((args.command, layout))
        return 42

    monkeypatch.setitem(cli._BY_NAME, name, dataclasses.replace(cli._BY_NAME[name], handler=handler))
    argv = minimal_argv(subcommands(cli._parser()).choices[name])
    assert cli.main(["--root", str(tmp_path), "--dist", str(tmp_path / "out"), name, *argv]) == 42
    assert [(command, layout.dist) for command, layout in seen] == [(name, tmp_path / "out")]


def test_a_handlers_user_error_is_mains_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--root", str(tmp_path), "version", "--dry-run"]) == 2
    assert capsys.readouterr().err == "error: --dry-run goes with --bump: nox -s version -- --bump --dry-run\n"


@dataclasses.dataclass(frozen=True)
class Run:
    """One `noetl_build(session, REQUIREMENTS, COMMAND, ARGS...)` call in a nox session."""

    session: str
    requirements: tuple[str, ...]
    command: str
    fixed_args: tuple[str, ...]
    posargs: bool = False  # the session's `-- ARGS` go to the command too


def noxfile_runs() -> tuple[list[str], list[Run]]:
    """The noxfile's session names and each call of its noetl_build helper, read from its syntax tree."""
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    constants = {target.id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                 for target in node.targets if isinstance(target, ast.Name) and target.id.isupper()
                 and isinstance(node.value, (ast.Tuple, ast.List))}
    sessions: list[str] = []
    runs: list[Run] = []
    for function in tree.body:
        if not isinstance(function, ast.FunctionDef) or not any(
                ast.unparse(d).startswith("nox.session") for d in function.decorator_list):
            continue
        sessions.append(function.name)
        for call in ast.walk(function):
            if not isinstance(call, ast.Call):
                continue
            strings = [a.value for a in call.args if isinstance(a, ast.Constant)]
            if not (isinstance(call.func, ast.Name) and call.func.id == "noetl_build"):
                assert "noetl_build" not in strings, f"{function.name}: runs noetl_build without the helper"
                continue
            _session, wanted, command, *rest = call.args
            if isinstance(wanted, ast.Name):
                requirements = tuple(constants[wanted.id])
            else:
                requirements = tuple(e.value for e in wanted.elts if isinstance(e, ast.Constant))  # type: ignore[attr-defined]
            assert isinstance(command, ast.Constant), f"{function.name}: the command is not a literal"
            fixed = tuple(str(a.value) for a in rest if isinstance(a, ast.Constant))
            posargs = any(isinstance(a, ast.Starred) and ast.unparse(a) == "*session.posargs" for a in rest)
            runs.append(Run(function.name, requirements, str(command.value), fixed, posargs))
    return sessions, runs


def test_every_nox_session_runs_commands_of_the_table_with_arguments_they_take() -> None:
    sessions, runs = noxfile_runs()
    assert len(sessions) > 10
    assert {run.session for run in runs} == set(sessions), "a session that runs no command of the CLI"
    for run in runs:
        assert run.command in cli._BY_NAME, f"nox -s {run.session}: no command {run.command!r} in cli.COMMANDS"
        parser = cli._parser()
        given = minimal_argv(subcommands(parser).choices[run.command]) if run.posargs else []
        parser.parse_args([run.command, *run.fixed_args, *given])  # exits if the CLI does not take them
        for name in run.requirements:
            assert (ROOT / "requirements" / f"{name}.txt").is_file(), f"nox -s {run.session}: requirements/{name}.txt"


def test_every_command_is_run_by_a_session_or_says_who_runs_it() -> None:
    _sessions, runs = noxfile_runs()
    by_sessions = {run.command for run in runs}
    assert {command.name for command in cli.COMMANDS} - by_sessions == set(NOT_A_SESSION)
    assert not by_sessions & set(NOT_A_SESSION)


def test_the_noxfile_reading_finds_what_the_sessions_run() -> None:
    """The reader above, against sessions whose calls are known (so the checks cannot pass on nothing)."""
    _sessions, runs = noxfile_runs()
    assert Run("build_all", ("build",), "build", ("--all",), posargs=True) in runs
    assert Run("gather", ("build",), "gather", (), posargs=True) in runs
    assert Run("rehearse", ("release", "verify", "build"), "wheelhouse", ()) in runs
    assert Run("tests", ("tests",), "wheelhouse", ()) in runs
    assert [run.command for run in runs if run.session == "userland"] == ["wheelhouse", "userland"]
