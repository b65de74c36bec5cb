"""auditwheel on Linux wheels: the policy it finds must be the tag claimed, with no external libs."""

from __future__ import annotations

import json
from typing import Any

from ..procs import capture
from ..platforms import canonical
from .context import Context
from .results import Verdict, check, fail, ok
from .tools import python_module


@check("auditwheel")
def check_auditwheel(ctx: Context) -> Verdict | None:
    """`auditwheel show --json`: its exit status alone is no verdict, its JSON is."""
    if ctx.claim is None or ctx.claim.family.policy != "auditwheel":
        return None  # not Linux, or a family no auditwheel policy covers (linux_armv6l)
    out = capture(python_module("auditwheel", "show", "--json", ctx.wheel.path), timeout=300)
    try:
        report = json.loads(out.stdout)
    except json.JSONDecodeError:
        return fail(f"auditwheel show: {out.failure() if not out.ok else 'printed no JSON'}")
    if not isinstance(report, dict):
        return fail("auditwheel show --json printed no JSON object")
    if "error" in report or not out.ok:  # it exits 1 with {"error": ...} when it finds no fitting binary
        reason = " ".join(str(report.get("error") or out.failure()).split())
        return fail(f"auditwheel: {reason}")
    return judge(report, ctx.wheel.platform_tags)


def judge(report: dict[str, Any], platform_tags: tuple[str, ...]) -> Verdict:
    """Compare auditwheel's JSON report with the wheel's platform tags."""
    claimed = sorted({canonical(tag) for tag in platform_tags})
    found = str(report.get("overall_tag", ""))
    external = sorted(report.get("external_libs") or {})
    if external:
        return fail(f"external libraries outside the {found} policy: {', '.join(external)}")
    if claimed != [found]:
        return fail(f"auditwheel finds {found or 'no policy'}, but the wheel claims {', '.join(claimed)}")
    return ok(f"policy {found}, no external libraries")
