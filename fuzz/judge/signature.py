"""Failure signatures: stable, readable bucket keys.

``<target>/<stage>/<ExceptionType>@<where>: <normalised message>``, e.g.
``tosa-int-fp/lower/ValueError@RewriteConvPass: No output quantization parameter found in node <node>``.
Two runs of the same bug must give the same string, so node names, numbers, addresses and
paths are replaced by placeholders; ``where`` is the Arm pass (or tool) whose frame raised.
"""

from __future__ import annotations

import re
import traceback
from pathlib import Path
from types import TracebackType

from fuzz.core.paths import PACKAGE_DIR

_FUZZ_DIR = str(PACKAGE_DIR)

_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"0x[0-9a-fA-F]+"), "<addr>"),
    (re.compile(r"(/[\w.\-]+)+\.(py|so|tosa|json|vgf|bin)\b"), "<path>"),
    (re.compile(r"(?:/tmp|/var/folders)/[\w./\-]+"), "<path>"),
    # FX node names: aten_convolution_default_3, tosa_conv2d_default, quantize_per_tensor_1
    (re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)*_(?:default|tensor|scalar|int|self)(?:_\d+)?\b"), "<node>"),
    # Lifted constants: b__frozen_param1, _frozen_param12 (numbered in graph order)
    (re.compile(r"\b\w*_frozen_param\d+\b"), "<param>"),
    (re.compile(r"\b(in|of|for|at) node [\w.]+"), r"\1 node <node>"),
    (re.compile(r"%[\w.]+"), "<node>"),
    (re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])"), "<n>"),
    (re.compile(r"\s+"), " "),
]
#: Long messages (shape dumps, whole graphs) are cut; the head is what identifies the bug.
MAX_MESSAGE = 160


def normalise_message(message: str) -> str:
    """First meaningful line of an exception message, with volatile parts replaced."""
    lines = [ln.strip() for ln in str(message).strip().splitlines() if ln.strip()]
    text = lines[0] if lines else ""
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    text = text.strip()
    return text[:MAX_MESSAGE]


def not_on_this_release_signature(target: str, message: str) -> str:
    """A case asking for what this release cannot express (fuzz.core.errors.NotOnThisRelease):
    counted as a rejected configuration, never bucketed."""
    return f"{target}/rejected-config: not on this release: {normalise_message(message)}"


def crash_signature(target: str, stage: str, exc_type: str, where: str, message: str) -> str:
    at = f"@{where}" if where else ""
    return f"{target}/{stage}/{exc_type}{at}: {normalise_message(message)}"


def invalid_tosa_signature(target: str, violations: list[str]) -> str:
    """``<target>/invalid-tosa@<OP>: <rule>``, named by the first broken rule in graph order
    (fuzz.judge.tosa.validator messages start with ``OP: rule``, numbers after)."""
    from fuzz.judge.tosa.validator import violation_kind

    op, _, rule = violation_kind(violations[0]).partition(": ")
    return f"{target}/invalid-tosa@{op}: {rule}"


def numerics_signature(target: str, symptom: str, output_op: str) -> str:
    return f"{target}/compare/numerics-{symptom}@{output_op}"


#: Numerics symptoms that name the rule a value breaks rather than how far off it is: one
#: cause whatever the op, so one bug (fuzz.triage.bugs). ``narrow-range`` is the oracle's and
#: judges any value, a span's included (fuzz.judge.oracle.judge); the others are named by the
#: localisation for a node judged on its own (fuzz.judge.localize: ``floor_not_applied``,
#: ``_Forced._interpolated``, ``read_in_twins_domain``), so a span's node, once alone, may turn out to be one
#: (reducer.shrink.narrows).
ORACLE_RULES = ("narrow-range",)
NODE_RULES = ("activation-floor", "table-interpolation", "duplicate-users-fused")


def wrong_shape_signature(target: str, op: str | None, changed_by: str | None = None) -> str:
    """A delegate output with another element count than the program declares
    (fuzz.judge.compat.WrongOutputShape), named at the case op that computes it and the pass
    that changed the output's size, when one did (fuzz.judge.pass_shapes): ``amin`` with
    ``dim=()`` (all dims) returns its input unreduced after ConvertMinMaxPass,
    ``amin(ConvertMinMaxPass)``; otherwise ``(delegate-output)`` (a node visitor or the
    serialisation made it). Wrong output, so numerics; the shapes stay out of the key, since
    the same rule breaks at every rank. Shared by the pipeline and the repro verifier."""
    if not op:
        return numerics_signature(target, "shape", "delegate-output(unlocalized)")
    return numerics_signature(target, "shape", f"{op}({changed_by or 'delegate-output'})")


def locate(tb: TracebackType | None) -> tuple[str, str | None]:
    """(where, refined stage) for an exception's traceback (see :func:`locate_frames`)."""
    return locate_frames(frames_of(tb))


def frames_of(tb: TracebackType | None) -> list[tuple[str, str, str]]:
    """(filename, function, class of ``self`` or '') per frame, outermost first.

    Rendered repros print the same triples for the verifier, so a crash is located the same
    way in a worker and in a fresh process.
    """
    out = []
    while tb is not None:
        obj = tb.tb_frame.f_locals.get("self")
        out.append((tb.tb_frame.f_code.co_filename, tb.tb_frame.f_code.co_name, type(obj).__name__ if obj is not None else ""))
        tb = tb.tb_next
    return out


#: Where the TOSA dialect's ops live: each op's fake implementation (a function named as the
#: op, AVG_POOL2D) checks its operands whenever a pass builds or retraces a node of it.
_DIALECT_OPS = "/backends/arm/tosa/dialect/ops/"


def locate_frames(frames: list[tuple[str, str, str]]) -> tuple[str, str | None]:
    """``where`` is the TOSA dialect op and the operand validator it called that raised
    (``tosa.AVG_POOL2D.validate_avg_pool2d_dtype``), else the innermost executorch ``...Pass``
    class on the stack (the pass that was running), else the innermost Arm backend function,
    else the innermost executorch/torch function. The stage is refined to ``compile`` when
    vela or model-converter raised.

    A validator is named rather than the pass because it runs at every retrace: one float
    input to an AVG_POOL2D was refused in RewriteAvgPool2dPass on INT and in
    ComputeConstantOpsAOTPass on INT+FP (seed 202), the same wrong operand. A check written
    inline in the op's function (CLAMP's min > max) keeps the pass: no shared rule to name.
    """
    for i in range(len(frames) - 1, -1, -1):
        filename, name, _ = frames[i]
        if _DIALECT_OPS in filename and name.isupper():
            checks = [n for f, n, _ in frames[i + 1:] if _DIALECT_OPS in f and "validate" in n]
            if checks:
                return f"tosa.{name}.{checks[-1]}", None
            break
    tool = None
    for filename, _, _ in frames:
        if "arm_vela" in filename or "/ethosu/vela/" in filename or "/vela/" in filename:
            tool = "vela"
        elif "model_converter" in filename:
            tool = "model-converter"
    for filename, _, cls in reversed(frames):
        if cls.endswith("Pass") and "executorch" in filename:
            return cls, "compile" if tool else None
    if tool:
        return f"{tool}:{frames[-1][1]}", "compile"
    for key in ("executorch/backends/arm", "executorch", "torchao", "torch"):
        for filename, name, _ in reversed(frames):
            if key in filename:
                return f"{Path(filename).stem}.{name}", None
    return (frames[-1][1] if frames else ""), None


def numerics_verdict(target: str, localization: dict, ops: dict[str, str], bad: list[dict]) -> tuple[str, str]:
    """(status, signature) of a numerics failure, from its localisation (fuzz.judge.localize)
    and the failing output reports ``bad``.

    Named at the culprit when one node is wrong locally, or at its span (:func:`span_label`)
    when the node's local reference went through producers that matched no lowered tensor;
    ``numerics-propagated`` (not a bug) when every judged node is within tolerance of the
    reference from its own lowered inputs and no failing output is a quantized node left
    unjudged; at the first bad output, marked ``unlocalized``, otherwise: an output whose own
    value was never matched (its op may be what is wrong) is not explained away as carried
    rounding. (An output with no quantized node of its own, a batch_norm folded into its
    conv, is the judged producer's value.) Shared by the pipeline and the repro verifier, so
    both name a bug the same way.
    """
    rows = localization.get("table", [])
    culprit = localization.get("culprit")
    if culprit is not None:
        row = next(r for r in rows if r["node"] == culprit)
        if row.get("span"):
            label = span_label([ops[n] for n in (*row["span"], culprit, *row["fused"])])
        else:
            label = culprit_label(row["op"], row.get("qparams") or None, [ops[f] for f in row["fused"]])
        return "numerics", numerics_signature(target, row["symptom"], label)
    unjudged = [b for b in bad if any(r["node"] == b["output"] and not r["checked"] for r in rows)]
    if any(r["checked"] for r in rows) and not unjudged:
        return "numerics-propagated", numerics_signature(target, "propagated", ops[bad[0]["output"]])
    first = (unjudged or bad)[0]
    return "numerics", numerics_signature(target, first["symptom"], f"{ops[first['output']]}(unlocalized)")


#: A numerics key or signature (after its target) at a span, as :func:`span_label` writes it:
#: ``compare/numerics-<symptom>@<op>+<op>(span)``; and at one culprit, as :func:`culprit_label`
#: writes it: ``compare/numerics-<symptom>@<op>(<context>)`` (a one-op span matches both).
SPAN_LABEL = re.compile(r"^(?P<head>compare/numerics-[\w-]+@)(?P<ops>\w+(?:\+\w+)*)\(span\)$")
CULPRIT_LABEL = re.compile(r"^(?P<head>compare/numerics-[\w-]+@)(?P<op>\w+)\((?P<context>[\w,-]*)\)$")


def span_label(span_ops: list[str]) -> str:
    """``sin(span)``, ``conv2d+sin(span)``: a wrong value made somewhere in a span of nodes
    (fuzz.judge.localize.unmatched_producers), named by the ops in it that compute, sorted.

    Ops that only move values (fuzz.generate.ops.MOVEMENT_OPS) are left out unless nothing
    else is in the span, and the order is not the graph's: int16 sin -> expand -> reshape and
    sin -> reshape are one bug, ``sin(span)``, and the reducer can drop the reshape without
    changing it (reducer.shrink.same_bug also takes a span narrowed to fewer of its ops).
    """
    from fuzz.generate.ops import MOVEMENT_OPS

    computing = [op for op in span_ops if op not in MOVEMENT_OPS] or span_ops
    return f"{'+'.join(sorted(set(computing)))}(span)"


def culprit_label(op: str, q: dict | None, fused_ops: list[str]) -> str:
    """``relu(nonfuseable,after-conv2d)``: the culprit op with its fusion context, the two
    things that decide which lowering path produced its value."""
    from fuzz.judge.qparams import FUSEABLE_ACTIVATIONS

    context = []
    if op in FUSEABLE_ACTIVATIONS and q is not None:
        context.append("fuseable" if q["zp"] == q["qmin"] else "nonfuseable")
    context += [f"after-{f}" for f in fused_ops]
    return f"{op}({','.join(context) or 'alone'})"


#: A Python list of many quoted names: from 1.4 on, executorch's pass manager re-raises a pass
#: failure with the adapter name of every pass run before it, none of them the failing one.
PASS_NAME_LIST = re.compile(r"\[(?:'[\w.]+', ){9,}'[\w.]+'\]")


def condense_pass_lists(text: str) -> str:
    """``text`` with each pass-name list replaced by its length."""
    return PASS_NAME_LIST.sub(lambda m: f"[... {m.group(0).count(',') + 1} pass names ...]", text)


def root_cause(exc: BaseException) -> BaseException:
    """Unwrap ``raise Wrapper(...) from e`` chains.

    executorch's pass manager re-raises every pass failure as a bare ``Exception("An error
    occurred when running the '<adapter>' pass after ...")``; the bug's identity (type,
    message, raising pass) is in the innermost cause.
    """
    seen = set()
    while exc.__cause__ is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc = exc.__cause__
    return exc


def raised_in_harness(tb: TracebackType | None) -> bool:
    """True when the innermost frame is armfuzz's own code: our bug, not executorch's."""
    frames = traceback.extract_tb(tb) if tb else []
    return bool(frames) and frames[-1].filename.startswith(_FUZZ_DIR)
