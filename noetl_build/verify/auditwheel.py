"""auditwheel on Linux wheels: the policy it finds must be the tag claimed, with no external libs."""

from __future__ import annotations

import json
from typing import Any

from .claim import canonical
from .context import Context
from .results import Result, failed, passed
from .tools import capture, python_module


def check_auditwheel(ctx: Context) -> Result | None:
    """`auditwheel show --json`: its exit status alone is no verdict, its JSON is."""
    if ctx.claim is None or ctx.claim.os != "linux":
        return None
    out = capture(python_module("auditwheel", "show", "--json", ctx.wheel.path), timeout=300)
    try:
        report = json.loads(out.stdout)
    except json.JSONDecodeError:
        return failed("auditwheel", f"auditwheel show: {out.failure() if not out.ok else 'printed no JSON'}")
    if not isinstance(report, dict):
        return failed("auditwheel", "auditwheel show --json printed no JSON object")
    if "error" in report or not out.ok:  # it exits 1 with {"error": ...} when it finds no fitting binary
        reason = " ".join(str(report.get("error") or out.failure()).split())
        return failed("auditwheel", f"auditwheel: {reason}")
    return judge(report, ctx.wheel.platform_tags)


def judge(report: dict[str, Any], platform_tags: tuple[str, ...]) -> Result:
    """Compare auditwheel's JSON report with the wheel's platform tags."""
    claimed = sorted({canonical(tag) for tag in platform_tags})
    found = str(report.get("overall_tag", ""))
    external = sorted(report.get("external_libs") or {})
    if external:
        return failed("auditwheel", f"external libraries outside the {found} policy: {', '.join(external)}")
    if claimed != [found]:
        return failed("auditwheel", f"auditwheel finds {found or 'no policy'}, but the wheel claims {', '.join(claimed)}")
    return passed("auditwheel", f"policy {found}, no external libraries")
