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
from fuzz.generate.ops import MOVEMENT_OPS
from fuzz.judge.outcome import Outcome
from fuzz.replay.corpus import observed
from fuzz.triage.bugs import bug_key
from reducer import traceback_tail
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


#: Whole-graph configuration regimes and the control case (its variant's first word) that flips each.
_CONFIG_CONTROLS = {"config-act-qmin-127": "act_qmin", "config-act-qmin-128": "act_qmin", "config-per-tensor-weights": "per_channel"}
#: Whole-graph configuration regimes without a flipping control: they change every op's arithmetic.
_CONFIG_ARITHMETIC = ("config-a16w8", "config-a8w4")
#: "[regime] <tensor> ..." (fuzz.judge.regimes) or "regime: <tensor> ..."
_EVIDENCE = re.compile(r"^\[?(?P<regime>[\w-]+)(?:\]|:) (?P<detail>(?P<tensor>[\w.]+).*)$")


def bearing_regimes(case: Case, outcome: Outcome, controls: list[Control]) -> list[tuple[str, str, str]]:
    """(regime, why it matters, evidence) for the regimes that bear on this failure: a report
    lists a qparams corner only when the failure can depend on it.

    By verdict kind: a spelling left off the backend (``spelling-not-delegated``) never depends
    on qparams (its control, the canonical spelling with the same qparams, is delegated), so it
    lists none. A numerics verdict is about qparams: the corners of the tensors its culprit
    computes from count (the culprit, the producers fused into it, and their inputs; every
    tensor when no node was localised). Any other failure (a crash, invalid TOSA, a tool's
    refusal, a partial delegation) counts the corners of the reduced case's nodes that compute
    with qparams: the reducer removed every node the failure does not need, and an op that only
    moves values (MOVEMENT_OPS) reads none, so a slice crash lists nothing.

    Whole-graph configuration regimes count when their control shows it: the activation range
    and per-tensor weights only when the control that flips them no longer shows the bug, and
    a16w8 or 4-bit weights when a counted node computes with them.
    """
    if outcome.status == "spelling-not-delegated":
        return []
    nodes = {n.id: n for n in case.nodes}
    row = next((r for r in outcome.localization.get("table", []) if r["node"] == outcome.localization.get("culprit")), None)
    if outcome.status.startswith("numerics") and row is not None:
        computing = {row["node"], *row.get("fused", [])} & set(nodes)
        tensors = computing | {i for n in computing for i in nodes[n].inputs}
    elif outcome.status.startswith("numerics"):
        computing = set(nodes)
        tensors = computing | {t.name for t in case.inputs}
    else:
        computing = tensors = {n.id for n in case.nodes if n.op not in MOVEMENT_OPS}
    flipped = {c.variant.split(" ", 1)[0] for c in controls if c.observed and not c.same}
    details: dict[str, str] = {}
    for line in outcome.regime_evidence:
        m = _EVIDENCE.match(line)
        if m and m["regime"] not in details and (m["regime"].startswith("config-") or m["tensor"] in tensors):
            details[m["regime"]] = m["detail"]
    out = []
    for r in outcome.regimes:
        if r not in REGIMES:
            continue
        if r in _CONFIG_CONTROLS:
            bears = _CONFIG_CONTROLS[r] in flipped
        elif r in _CONFIG_ARITHMETIC:
            bears = bool(computing)
        else:
            bears = r in details
        if bears:
            out.append((r, REGIMES[r], details.get(r, "")))
    return out


def report_traceback(outcome: Outcome, fresh: str = "") -> str:
    """The traceback a report and an issue show for a crash (reducer.traceback_tail): the failing
    pass's or tool's frames from the outcome's stored tail, else from ``fresh`` (a fresh run of
    the repro), else the stored tail, condensed; "" for other verdicts."""
    if outcome.status != "crash" or not (outcome.traceback or fresh):
        return ""
    exc = traceback_tail.exception_type(outcome.signature)
    for text in (outcome.traceback, fresh):
        shown = traceback_tail.failing_frames(text, exc, outcome.message) if text else None
        if shown:
            return shown
    return ("[the failing frames were cut from the stored traceback; run repro.py to see them]\n"
            + traceback_tail.condensed(outcome.traceback))


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


def title_of(o: Outcome, case: Case) -> str:
    """A report's and an issue's title: the culprit of a numerics verdict, else where it raised and the message's first line."""
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
    traceback: str | None = None,
) -> str:
    """report.md; ``traceback`` is the failing frames when the caller has them (report_traceback
    with a fresh run of the repro), else they come from the outcome."""
    t = TARGETS[case.target]
    if verification is None:
        vline = "Not verified: the script was not run."
    elif verification["verified"]:
        vline = f"Verified: a fresh `python repro.py` failed with the same signature in {verification['reproduced']} of {verification['runs']} run(s)."
    else:
        vline = (f"NOT verified: a fresh run reproduced the signature in {verification['reproduced']} of {verification['runs']} run(s); "
                 "observed " + ", ".join(f"`{code(x)}`" for x in verification["observed"]) + ".")
    env = template_env()
    env.filters.update(md=md, fence=fence, code=code)
    return env.get_template("report.md.j2").render(
        title=title_of(outcome, case),
        target=case.target,
        target_upper=case.target.upper(),
        # The whole configuration when the case sets options (MACs, memory mode, pipeline modes).
        target_desc=(target_options.describe(t.name, t.accelerator, case.options) if case.options
                     else t.tosa_spec or t.accelerator or t.family),
        release=versions.get("executorch", "?"),
        ops_phrase=" → ".join(n.op for n in case.nodes),
        failure_phrase=_failure_phrase(outcome),
        evidence=outcome.evidence,
        regimes=bearing_regimes(case, outcome, controls),
        observed=f"{outcome.signature}\n{outcome.message}".strip(),
        traceback=report_traceback(outcome) if traceback is None else traceback,
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
