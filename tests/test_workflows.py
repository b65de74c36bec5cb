"""The GitHub Actions workflows (.github/workflows): lint-clean, pinned, least-privileged, and
running exactly the commands README gives. Fast: nothing is built.

actionlint is the one pinned in requirements/go-tools.txt, which `bash .ci/setup` installs
(into /opt/noetl-tools/bin, linked into /usr/local/bin).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])
README = ROOT / "README.md"
GO_TOOLS = ROOT / "requirements" / "go-tools.txt"

# The only actions the workflows may use, each at a commit verified against the action's
# repository: sha -> the version named in the `uses:` line's trailing comment.
VERIFIED_ACTIONS = {
    "actions/checkout": {
        "1af3b93b6815bc44a9784bd300feb67ff0d1eeb3": "v6.0.0",
        "3d3c42e5aac5ba805825da76410c181273ba90b1": "v7.0.1",
    },
    "actions/upload-artifact": {"bbbca2ddaa5d8feaa63e36b76fdaad77386f024f": "v7.0.0"},
    "actions/download-artifact": {"3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c": "v8.0.1"},
    "actions/cache": {"27d5ce7f107fe9357f9df03efb73ab90386fccae": "v5.0.5"},
}
# A step whose name starts with this only prepares the job (git for actions/checkout, safe.directory,
# caches, a venv): it is not one of README's commands.
SETUP_PREFIX = "setup:"


# ----------------------------------------------------------------------------- helpers


def load(name: str) -> dict[Any, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(data, dict), f"{name}: not a mapping"
    return data


def triggers(workflow: dict[Any, Any]) -> Any:
    """The `on:` block (YAML 1.1 reads the bare key `on` as True)."""
    return workflow["on"] if "on" in workflow else workflow[True]


def steps_of(job: dict[str, Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = job.get("steps", [])
    return steps


def run_steps(job: dict[str, Any]) -> list[str]:
    """The job's `run:` scripts, setup steps left out, each stripped."""
    return [
        step["run"].strip()
        for step in steps_of(job)
        if "run" in step and not str(step.get("name", "")).startswith(SETUP_PREFIX)
    ]


def strip_comment(line: str) -> str:
    return re.sub(r"\s+#.*$", "", line).strip()


def sh_blocks(markdown: str) -> list[tuple[str, list[str]]]:
    """Each fenced ```sh block, with the heading it stands under: its command lines, trailing
    `# comments` stripped, blanks dropped."""
    blocks: list[tuple[str, list[str]]] = []
    heading = ""
    fence: tuple[str, str] | None = None  # (backticks, language) of the open block
    lines: list[str] = []
    for line in markdown.splitlines():
        if fence is None:
            opening = re.match(r"^(```+)\s*(\w*)\s*$", line)
            if opening:
                fence, lines = (opening.group(1), opening.group(2)), []
            elif re.match(r"^#{1,6} ", line):
                heading = line.lstrip("#").strip()
        elif line.strip() == fence[0]:
            if fence[1] in ("sh", "bash", "shell"):
                blocks.append((heading, [c for c in map(strip_comment, lines) if c]))
            fence = None
        else:
            lines.append(line)
    return blocks


def readme_setup_commands() -> list[str]:
    """README's first fenced block: `bash .ci/setup && nox -s build_all`, then the test command."""
    blocks = sh_blocks(README.read_text())
    assert blocks and len(blocks[0][1]) >= 2, "README.md should begin with a ```sh block of two set-up commands"
    return blocks[0][1]


def readme_release_commands() -> list[str]:
    """The commands of README's release section(s) (a heading starting "Releas": "Releasing",
    "Release artifacts"), in order; every ```sh block but the first when there is no such section."""
    blocks = sh_blocks(README.read_text())
    release = [lines for heading, lines in blocks if heading.startswith("Releas")]
    return [line for lines in (release or [lines for _, lines in blocks[1:]]) for line in lines]


def every_job(workflow: dict[Any, Any]) -> dict[str, dict[str, Any]]:
    jobs: dict[str, dict[str, Any]] = workflow["jobs"]
    return jobs


# ----------------------------------------------------------------------------- actionlint


def pinned_actionlint() -> tuple[str, str]:
    """(module path, version) of actionlint in requirements/go-tools.txt."""
    for line in GO_TOOLS.read_text().splitlines():
        match = re.fullmatch(r"(\S+/cmd/actionlint)@(v\S+)", line.strip())
        if match:
            return match.group(1), match.group(2)
    raise AssertionError(f"{GO_TOOLS.relative_to(ROOT)} pins no .../cmd/actionlint@VERSION")


def actionlint() -> str:
    found = shutil.which("actionlint")
    if found:
        return found
    fallback = Path("/opt/noetl-tools/bin/actionlint")
    if fallback.is_file():
        return str(fallback)
    pytest.fail("actionlint is not installed (neither on PATH nor in /opt/noetl-tools/bin): run `bash .ci/setup`")


def test_actionlint_is_the_pinned_version() -> None:
    _, version = pinned_actionlint()
    proc = subprocess.run([actionlint(), "--version"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    reported = proc.stdout.splitlines()[0].strip() if proc.stdout else ""
    assert reported == version, (
        f"actionlint reports {reported!r}, requirements/go-tools.txt pins {version}: run `bash .ci/setup`"
    )


def test_there_are_workflows() -> None:
    assert {p.name for p in WORKFLOW_FILES} >= {"ci.yml", "release.yml"}


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_actionlint_passes(path: Path) -> None:
    # actionlint also runs shellcheck on every run: script when shellcheck is on PATH
    proc = subprocess.run(
        [actionlint(), "-no-color", str(path.relative_to(ROOT))],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, f"actionlint {path.name}:\n{proc.stdout}{proc.stderr}"


# ----------------------------------------------------------------------------- pinning and privileges


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_every_action_is_a_verified_commit(path: Path) -> None:
    workflow = yaml.safe_load(path.read_text())
    uses = [
        (name, step["uses"])
        for name, job in every_job(workflow).items()
        for step in steps_of(job)
        if "uses" in step
    ]
    uses += [(name, job["uses"]) for name, job in every_job(workflow).items() if "uses" in job]
    assert uses, f"{path.name} uses no action at all?"
    for job, ref in uses:
        action, _, sha = ref.partition("@")
        assert re.fullmatch(r"[0-9a-f]{40}", sha), f"{path.name} job {job}: {ref} is not pinned to a commit SHA"
        assert action in VERIFIED_ACTIONS, f"{path.name} job {job}: {action} is not one of {sorted(VERIFIED_ACTIONS)}"
        assert sha in VERIFIED_ACTIONS[action], f"{path.name} job {job}: {ref} is not a verified commit of {action}"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_every_pin_names_its_version(path: Path) -> None:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = re.search(r"\buses:\s*([^@\s]+)@([0-9a-f]{40})\s*(?:#\s*(\S+))?", line)
        if not match:
            continue
        action, sha, comment = match.groups()
        expected = VERIFIED_ACTIONS.get(action, {}).get(sha)
        assert comment == expected, f"{path.name}:{number}: {action}@{sha} should end with `# {expected}`"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_no_expression_inside_a_run_script(path: Path) -> None:
    """${{ }} in a script is pasted in before the shell reads it (injection): pass values by env:."""
    workflow = yaml.safe_load(path.read_text())
    for name, job in every_job(workflow).items():
        for step in steps_of(job):
            assert "${{" not in step.get("run", ""), f"{path.name} job {name}: {step['run']!r}"


def test_ci_permissions_and_concurrency() -> None:
    ci = load("ci.yml")
    assert ci["permissions"] == {"contents": "read"}
    for name, job in every_job(ci).items():
        assert job.get("permissions", {}) in ({}, {"contents": "read"}), f"ci job {name} asks for more"
    assert ci["concurrency"]["cancel-in-progress"] is True
    assert "github.ref" in ci["concurrency"]["group"]


def test_release_permissions_are_per_job_and_least() -> None:
    release = load("release.yml")
    assert release["permissions"] == {}, "release.yml grants nothing at the top; each job asks for its own"
    jobs = every_job(release)
    for name, job in jobs.items():
        assert "permissions" in job, f"release job {name} should say what it needs"
        granted = job["permissions"]
        if name != "pypi":
            assert "id-token" not in granted, f"only the pypi job may mint an OIDC token, not {name}"
        if name != "github-release":
            assert granted.get("contents") != "write", f"only github-release may write contents, not {name}"
    assert jobs["pypi"]["permissions"] == {"id-token": "write", "contents": "read"}
    assert jobs["github-release"]["permissions"] == {"contents": "write"}


def test_release_concurrency_never_cancels_a_release() -> None:
    concurrency = load("release.yml")["concurrency"]
    assert "github.ref" in concurrency["group"]
    assert concurrency["cancel-in-progress"] is False


def test_pypi_job() -> None:
    jobs = every_job(load("release.yml"))
    pypi = jobs["pypi"]
    environment = pypi["environment"]
    assert (environment["name"] if isinstance(environment, dict) else environment) == "pypi"
    assert set(pypi["needs"]) == {"single", "gather", "rehearse"}
    condition = pypi["if"]
    for part in ("!cancelled()", "needs.single.result == 'success'", "needs.gather.result == 'success'",
                 "needs.rehearse.result == 'success'", "startsWith(github.ref, 'refs/tags/v')"):
        assert part in condition, f"the pypi job's if: lacks {part}"
    assert run_steps(pypi)[-2:] == ["nox -s publish -- --check", "nox -s publish -- --attestations"]
    assert not any("TWINE_PASSWORD" in str(step.get("env", {})) for step in steps_of(pypi)), "trusted publishing: no token"
    assert jobs["github-release"]["needs"] in ("pypi", ["pypi"])


def test_the_rehearsal_gates_publishing() -> None:
    """Every Debian userland runs before PyPI sees a file (issue 18): root with mount rights."""
    jobs = every_job(load("release.yml"))
    rehearse = jobs["rehearse"]
    assert set(rehearse["needs"]) == {"single", "gather"}
    assert rehearse["container"] == {"image": "debian:12", "options": "--privileged"}
    assert run_steps(rehearse) == ["bash .ci/setup && nox -s rehearse"]
    assert "startsWith(github.ref" not in rehearse["if"], "a dispatch rehearses too"
    assert rehearse["permissions"] == {"contents": "read"}


def test_every_job_has_a_timeout() -> None:
    for path in WORKFLOW_FILES:
        for name, job in every_job(yaml.safe_load(path.read_text())).items():
            assert isinstance(job.get("timeout-minutes"), int), f"{path.name} job {name} has no timeout-minutes"
    assert every_job(load("ci.yml"))["tests"]["timeout-minutes"] == 60


# ----------------------------------------------------------------------------- triggers and layout


def test_triggers() -> None:
    assert set(triggers(load("ci.yml"))) == {"push", "pull_request"}
    on = triggers(load("release.yml"))
    assert on["push"] == {"tags": ["v*"]}
    layout = on["workflow_dispatch"]["inputs"]["layout"]
    assert layout["type"] == "choice" and layout["options"] == ["single", "sharded"] and layout["default"] == "single"


def test_release_layout_selects_the_jobs() -> None:
    jobs = every_job(load("release.yml"))
    layout = "(inputs.layout || vars.RELEASE_LAYOUT || 'single')"
    assert jobs["single"]["if"].replace(" ", "") == f"{layout}=='single'".replace(" ", "")
    assert jobs["plan"]["if"].replace(" ", "") == f"{layout}=='sharded'".replace(" ", "")
    assert jobs["shard"]["needs"] in ("plan", ["plan"])
    assert jobs["shard"]["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    assert jobs["gather"]["needs"] in ("shard", ["shard"])


# ----------------------------------------------------------------------------- README's commands


def container_build_job_checks(workflow: str, name: str) -> None:
    job = every_job(load(workflow))[name]
    assert job["container"] in ("debian:12", {"image": "debian:12"}), f"{workflow} {name}: not in debian:12"
    checkout = [s for s in steps_of(job) if s.get("uses", "").startswith("actions/checkout@")]
    assert checkout and checkout[0].get("with", {}).get("fetch-depth") == 0, f"{workflow} {name}: full history"
    caches = [s for s in steps_of(job) if s.get("uses", "").startswith("actions/cache@")]
    if caches:
        paths = caches[0]["with"]["path"].split()
        assert {"~/.cargo/registry", "~/.cache/zig", "~/.cache/noetl", "build"} <= set(paths)


def test_ci_runs_readmes_test_command() -> None:
    container_build_job_checks("ci.yml", "tests")
    test_command = readme_setup_commands()[1]
    assert run_steps(every_job(load("ci.yml"))["tests"]) == [test_command]


def test_single_release_job_runs_readmes_commands_in_order() -> None:
    container_build_job_checks("release.yml", "single")
    readme = [readme_setup_commands()[0], *readme_release_commands()]
    steps = run_steps(every_job(load("release.yml"))["single"])
    assert steps, "the single job runs nothing"
    assert steps[0] == readme_setup_commands()[0], "the first step sets up and builds everything, as README's first line"
    missing = [s for s in steps if s not in readme]
    assert not missing, f"run steps of the single release job that README does not give: {missing}; README: {readme}"
    positions = [readme.index(s) for s in steps]
    assert positions == sorted(positions), f"the single job runs {steps}, README's order is {readme}"
    # publish uploads only what a passing dist/verify.json lists, the sdist included
    assert steps[-2:] == ["nox -s sdist", "nox -s verify"]


def test_release_jobs_run_in_debian_12_with_full_history() -> None:
    for name in ("single", "shard", "gather"):
        container_build_job_checks("release.yml", name)


def test_release_uploads_dist() -> None:
    jobs = every_job(load("release.yml"))
    for name, artifact in (("single", "dist"), ("gather", "dist"), ("shard", "dist-${{ matrix.shard }}")):
        uploads = [s["with"] for s in steps_of(jobs[name]) if s.get("uses", "").startswith("actions/upload-artifact@")]
        assert uploads == [{"name": artifact, "path": "dist/", "if-no-files-found": "error"}], name


# ----------------------------------------------------------------------------- the sharded plan


def targets_in_toml() -> list[str]:
    return [t["triple"] for t in tomllib.loads((ROOT / "targets.toml").read_text())["target"]]


def test_shards_cover_every_target_exactly_once() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "noetl_build", "shards"], cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, f"python -m noetl_build shards:\n{proc.stdout}{proc.stderr}"
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, f"stdout should be the JSON line alone (it becomes a job output): {proc.stdout!r}"
    matrix = json.loads(lines[0])
    assert set(matrix) == {"include"}
    shards = matrix["include"]
    assert shards
    names = [s["shard"] for s in shards]
    assert len(names) == len(set(names)), f"shard names repeat: {names}"
    for shard in shards:
        assert set(shard) == {"shard", "targets"}, shard
        # it names the artifact dist-<shard>
        assert re.fullmatch(r"[A-Za-z0-9._-]+", shard["shard"]), shard
    built = [t for s in shards for t in s["targets"].split()]
    assert sorted(built) == sorted(targets_in_toml()), f"shards: {shards}"
