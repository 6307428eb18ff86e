"""Bug reports in the style of seed 000: what fails, the qparams that explain it, a verified
minimal repro, control cases that pass, a picture of the graph, releases and versions.

Everything from a case or from executorch's messages is escaped for Markdown (``md``), for
code fences (``fence``) and for inline code (``code``): a report renders what it quotes, it
never lets a message change the page.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from fuzz.core import target_options
from fuzz.core.targets import TARGETS
from fuzz.generate.case import Case
from fuzz.generate.codegen import template_env
from fuzz.generate.focus import REGIMES
from fuzz.judge.outcome import Outcome
from fuzz.replay.corpus import observed
from fuzz.triage.bugs import bug_key
from reducer.shrink import same_bug


def md(text: Any) -> str:
    """Inline Markdown text: HTML and table/emphasis characters escaped, one line."""
    s = str(text).replace("\r", " ").replace("\n", " ")
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_\[\]|#])", r"\\\1", s)


def fence(text: Any) -> str:
    """Body of a ``` block: a line of backticks inside cannot close the fence."""
    return str(text).replace("```", "`\u200b``")


def code(text: Any) -> str:
    """Inside `inline code` in a table cell."""
    return str(text).replace("`", "'").replace("|", "\\|").replace("\n", " ")


@dataclass
class Control:
    variant: str
    case: Case
    observed: str = ""
    same: bool = False
    #: for a target control of a campaign bug: "affected" (the campaign saw the bug there),
    #: "not seen", or "not fuzzed" (the campaign did not run that target)
    campaign: str = ""


def control_cases(case: Case) -> list[Control]:
    """Sibling targets, then one-knob config changes (seed 000's 'TOSA INT does not reproduce')."""
    out = [Control(f"target {t}", case.with_target(t)) for t in TARGETS if t != case.target]
    q = case.quant
    if q.activations == "int8":
        alt = -128 if q.act_qmin != -128 else -127
        c = copy.deepcopy(case)
        c.quant.act_qmin = alt
        out.append(Control(f"act_qmin {q.act_qmin} -> {alt}", c))
    c = copy.deepcopy(case)
    c.quant.per_channel = not q.per_channel
    out.append(Control(f"per_channel {q.per_channel} -> {not q.per_channel}", c))
    if case.calibration.get("inputs"):
        c = copy.deepcopy(case)
        c.calibration["inputs"] = {}
        out.append(Control("calibration: every input uniform(0, 1)", c))
    return [x for x in out if _valid(x.case)]


def _valid(case: Case) -> bool:
    try:
        case.validate()
        return True
    except Exception:  # noqa: BLE001 - a variant the target cannot take is simply not a control
        return False


def judge_controls(controls: list[Control], outcomes: list[Outcome], signature: str,
                   bug: dict[str, Any] | None = None) -> list[Control]:
    """Each control's outcome, whether it is the same bug (the same signature after the
    target, or the same bug key: the campaign's own grouping, fuzz.triage.bugs), and, for a campaign
    bug (its meta.json, with the campaign's targets), whether the campaign saw it on the
    control's target."""
    key = bug_key(signature)
    for c, o in zip(controls, outcomes):
        c.observed = observed(o)
        if bug is not None and c.variant.startswith("target "):
            t = c.case.target
            c.campaign = ("affected" if t in bug["targets"] else
                          "not seen" if t in bug.get("campaign_targets", TARGETS) else "not fuzzed")
        c.same = same_bug(signature, c.observed, allow_target_change=True) or (key is not None and bug_key(c.observed) == key)
        if c.observed == "pass" and not TARGETS[c.case.target].executes:
            # No FVP or Vulkan device here: the numerics ran on the TOSA graph the compiler got.
            c.observed = f"pass (numerics checked up to {TARGETS[c.case.target].compiler}'s input; its output not run here)"
    return controls


def mermaid(case: Case) -> str:
    """The graph as a mermaid flowchart (GitHub renders it). Ids are validated identifiers."""
    shapes = case.validate()
    lines = ["flowchart LR"]
    for t in case.inputs:
        lines.append(f'    {t.name}(["{t.name} {"x".join(map(str, t.shape))}"])')
    for n in case.nodes:
        lines.append(f'    {n.id}["{n.id}: {n.op}<br/>{"x".join(map(str, shapes[n.id]))}"]')
        for i in n.inputs:
            lines.append(f"    {i} --> {n.id}")
    for o in case.outputs:
        lines.append(f"    {o} --> out_{o}((out))")
    return "\n".join(lines)


def _failure_phrase(o: Outcome) -> str:
    if o.status == "numerics":
        return f"lowers, but its output disagrees with the quantized PyTorch model: {o.message}"
    if o.status == "crash":
        where = f" in {o.where}" if o.where else ""
        return f"fails at stage {o.stage}{where}"
    return f"ends with {o.status} at stage {o.stage or 'start'}"


def _title(o: Outcome, case: Case) -> str:
    if o.status == "numerics":
        return o.signature.split("/", 1)[1]
    first = o.message.strip().splitlines()[0] if o.message.strip() else o.status
    where = o.where or o.stage
    return (first if first.startswith(where) else f"{where}: {first}")[:150]


def render_report(
    case: Case,
    outcome: Outcome,
    script: str,
    verification: dict[str, Any] | None,
    controls: list[Control],
    reduction: dict[str, Any],
    versions: dict[str, str],
    bisection_md: str = "",
    bug: dict[str, Any] | None = None,
) -> str:
    t = TARGETS[case.target]
    if verification is None:
        vline = "Not verified: the script was not run."
    elif verification["verified"]:
        vline = f"Verified: a fresh `python repro.py` failed with the same signature in {verification['reproduced']} of {verification['runs']} run(s)."
    else:
        vline = (f"NOT verified: a fresh run reproduced the signature in {verification['reproduced']} of {verification['runs']} run(s); "
                 "observed " + ", ".join(f"`{code(x)}`" for x in verification["observed"]) + ".")
    regimes = [(r, REGIMES[r], next((e for e in outcome.regime_evidence if e.startswith(r)), "")) for r in outcome.regimes if r in REGIMES]
    regimes = [(r, why, detail.split(":", 1)[1].strip() if ":" in detail else "") for r, why, detail in regimes]
    env = template_env()
    env.filters.update(md=md, fence=fence, code=code)
    return env.get_template("report.md.j2").render(
        title=_title(outcome, case),
        target=case.target,
        target_upper=case.target.upper(),
        # The whole configuration when the case sets options (MACs, memory mode, pipeline modes).
        target_desc=(target_options.describe(t.name, t.accelerator, case.options) if case.options
                     else t.tosa_spec or t.accelerator or t.family),
        release=versions.get("executorch", "?"),
        ops_phrase=" → ".join(n.op for n in case.nodes),
        failure_phrase=_failure_phrase(outcome),
        evidence=outcome.evidence,
        regimes=regimes,
        observed=f"{outcome.signature}\n{outcome.message}".strip(),
        traceback=outcome.traceback[-3000:] if outcome.traceback else "",
        verification_line=vline,
        script=script,
        mermaid=mermaid(case),
        controls=controls,
        bisection=bisection_md,
        reduction=reduction,
        versions=versions,
        signature=outcome.signature,
        spec=outcome.spec,
        localization=outcome.localization.get("table", []) if outcome.status.startswith("numerics") else [],
        culprit=outcome.localization.get("culprit"),
        bug=bug,
    )
