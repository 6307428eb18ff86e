"""A file-ready issue in executorch's own bug form (pytorch/executorch
``.github/ISSUE_TEMPLATE/bug-report.yml``: "🐛 Describe the bug", then "Versions").

``issue.md`` is a title line (``# ...``), then the body as GitHub lays out a filled form:

* **🐛 Describe the bug**: what fails in one sentence (flagged when it is a regression of a
  bug the known-bugs file lists as fixed), the qparams and regimes that bear on it
  (reducer.report.bearing_regimes), the verified ``repro.py`` inline (the form asks for a
  minimal example to run), expected against actual (the failing pass's or tool's frames for
  a crash, reducer.traceback_tail; the numbers for numerics), and the control cases.
* **Versions**: the output of PyTorch's ``collect_env``, which the form asks for, run with
  the interpreter the repro was verified on; then the Arm tools it does not list.

Only a verified repro makes an issue: one that does not fail as reported would be a bug
report nobody can reproduce.
"""

from __future__ import annotations

import functools
import subprocess
from typing import Any, Iterable

from fuzz.core.targets import TARGETS
from fuzz.generate.case import Case
from fuzz.generate.codegen import template_env
from fuzz.judge.oracle import BIAS_LSB, MAX_ERROR_LSB
from fuzz.judge.outcome import Outcome
from fuzz.triage.bugs import bug_key, bug_title
from reducer import traceback_tail
from reducer.report import bearing_regimes, code, fence, md, report_traceback, title_of
from reducer.repro import _target_symbols

#: GitHub refuses an issue body longer than this many characters.
MAX_BODY = 65536
#: distributions collect_env does not list, printed after it
ARM_TOOLS = ("tosa-tools", "ethos-u-vela", "ai_ml_sdk_model_converter")
_COLLECT = f"""
import importlib.metadata, runpy, sys
runpy.run_module("torch.utils.collect_env", run_name="__main__")
sys.stdout.flush()
for dist in {ARM_TOOLS!r}:
    try:
        print("ARMFUZZ-TOOL", dist + "==" + importlib.metadata.version(dist))
    except importlib.metadata.PackageNotFoundError:
        print("ARMFUZZ-TOOL", dist, "not installed")
"""


@functools.cache
def collect_env(python: str) -> tuple[str, tuple[str, ...]]:
    """(PyTorch's collect_env output, the Arm tools' versions) for an interpreter; run once per
    interpreter and process (a campaign's bugs share one)."""
    try:
        proc = subprocess.run([python, "-I", "-c", _COLLECT], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"collect_env could not run with {python}: {e}", ()
    lines = proc.stdout.splitlines()
    tools = tuple(ln.split(" ", 1)[1] for ln in lines if ln.startswith("ARMFUZZ-TOOL "))
    text = "\n".join(ln for ln in lines if not ln.startswith("ARMFUZZ-TOOL ")).strip()
    if proc.returncode != 0:
        text += f"\n(collect_env exited {proc.returncode}: {proc.stderr.strip().splitlines()[-1:] or ''})"
    return text, tools


def expected(case: Case, outcome: Outcome) -> str:
    """What should have happened, by verdict kind and stage."""
    t = TARGETS[case.target]
    status, stage = outcome.status, outcome.stage
    if status.startswith("numerics"):
        lsb = MAX_ERROR_LSB["int16" if case.quant.activations == "int16" else "int8"]
        return (f"the lowered program's outputs match the quantized PyTorch model's: integer codes within {lsb:g} LSB, "
                f"a mean error within {BIAS_LSB:g} LSB, and every code inside [qmin, qmax] of its tensor's qparams.")
    if status == "invalid-tosa":
        return "the TOSA graph executorch emits satisfies the TOSA 1.0 specification, or the partitioner leaves the op on the CPU."
    if status == "spelling-not-delegated":
        return "the op is quantized and delegated in this spelling as it is in its canonical one: both export to the same computation."
    if status == "partially-delegated":
        return "the op is delegated with its neighbours, as it is when it is alone in a graph."
    if stage == "compile" and t.compiler:
        return f"{t.compiler} compiles the graph executorch hands it, or the partitioner leaves on the CPU what {t.compiler} cannot run."
    if stage in ("execute", "to_executorch"):
        return "the lowered program is serialized and runs."
    if status in ("native-crash", "timeout", "oom"):
        return "lowering ends in seconds with a program or an error; the process neither dies nor hangs."
    return "`to_edge_transform_and_lower` lowers the graph: the partitioner leaves on the CPU what the backend cannot take, and no pass raises."


def _actual(outcome: Outcome, traceback: str) -> tuple[str, str]:
    """(a phrase, the text block) of what happens instead."""
    if outcome.status == "crash":
        exc = traceback_tail.exception_type(outcome.signature) or "an exception"
        return f"it raises {exc} in {outcome.where or outcome.stage}:", traceback or outcome.message
    if outcome.status.startswith("numerics"):
        where = (" (on the TOSA graph the compiler was given: its output needs hardware this machine lacks)"
                 if outcome.executed == "compiler-input" else "")
        return f"the outputs differ{where}; in LSB of each tensor's scale:", outcome.message
    return f"{outcome.status} at stage {outcome.stage or 'start'}:", outcome.message


def _failure_phrase(outcome: Outcome) -> str:
    if outcome.status == "crash":
        return f"raises {traceback_tail.exception_type(outcome.signature) or 'an exception'} in {outcome.where or outcome.stage}"
    if outcome.status.startswith("numerics"):
        return "lowers, but the program's output disagrees with the quantized PyTorch model"
    if outcome.status == "invalid-tosa":
        return "emits a TOSA graph that breaks the TOSA 1.0 specification"
    if outcome.status in ("spelling-not-delegated", "partially-delegated"):
        return "leaves an op on the CPU that the backend delegates in another context"
    return f"ends with {outcome.status} at stage {outcome.stage or 'start'}"


def issue_title(case: Case, outcome: Outcome) -> str:
    t = TARGETS[case.target]
    what = title_of(outcome, case) if outcome.status == "crash" else bug_title(bug_key(outcome.signature) or outcome.signature)
    return f"Arm backend: {what} ({' → '.join(n.op for n in case.nodes)}, {outcome.spec or t.tosa_spec or t.accelerator})"[:200]


def render_issue(case: Case, outcome: Outcome, script: str, verification: dict[str, Any], controls: Iterable[Any],
                 release: str, environment: tuple[str, tuple[str, ...]], bug: dict[str, Any] | None = None,
                 traceback: str | None = None) -> str:
    """issue.md. ``controls`` are reducer.report.Control (or objects with its variant, observed
    and same); ``environment`` is :func:`collect_env`'s; ``bug`` a campaign bug's meta.json."""
    controls = list(controls)
    script = script.rstrip("\n")
    t = TARGETS[case.target]
    symbols = _target_symbols(case)
    regression = None
    if bug and bug.get("regression"):
        regression = {**bug["known"], "releases": bug.get("regressed_on", [])}
    regimes = bearing_regimes(case, outcome, controls)
    actual_phrase, actual = _actual(outcome, report_traceback(outcome) if traceback is None else traceback)
    env = template_env()
    env.filters.update(md=md, fence=fence, code=code)
    text = env.get_template("issue.md.j2").render(
        title=issue_title(case, outcome),
        ops_phrase=" → ".join(n.op for n in case.nodes),
        quantizer=symbols["quantizer_class"],
        partitioner=symbols["partitioner_class"],
        target_desc=outcome.config if case.options and outcome.config else (outcome.spec or t.tosa_spec or t.accelerator),
        failure_phrase=_failure_phrase(outcome),
        release=release,
        regression=regression,
        regimes=regimes,
        tools_needed=symbols["tools"],
        verification_line=(f"Verified: a fresh `python -I repro.py` failed this way in {verification['reproduced']} of "
                           f"{verification['runs']} run(s)."),
        script=script,
        expected=expected(case, outcome),
        actual_phrase=actual_phrase,
        actual=actual,
        passing=[c.variant for c in controls if c.observed and not c.same and c.observed.startswith("pass")],
        same=[c.variant for c in controls if c.same],
        signature=outcome.signature,
        collect_env=environment[0],
        tools=list(environment[1]) or ["not recorded"],
    )
    if len(text) > MAX_BODY:
        text = text.replace(f"```python\n{fence(script)}\n```", f"(repro.py is {len(script)} characters, too long for an issue "
                            f"body of at most {MAX_BODY}: attach it, or put it in a gist and link it here.)")
    return text
