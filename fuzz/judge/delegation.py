"""The delegation oracle: an op left on the CPU that the backend takes when it is spelled
another way, or when it is alone.

``not-delegated`` only says that *nothing* reached the backend. A quantized graph in which
one op stays on the CPU lowers, runs and may even be numerically right, and still loses the
op's acceleration (on Ethos-U, a CPU op in an int8 graph is a fallback to the Cortex-M). Such
an op is a finding only when a control, lowered on the same target and configuration, shows
the backend takes it:

1. **spelling** -- the same case with only that node rewritten in its op's canonical spelling
   (the first out-of-place one the registry lists). Two spellings of one computation must be
   delegated alike; if the respelled node leaves the CPU, the outcome is
   ``spelling-not-delegated@<op>(<spelling>)``. E.g. ``torch.subtract(x, y)`` exports to
   ``aten.subtract``, which no quantizer annotation names, so it stays in float where
   ``x - y`` is quantized and delegated.
2. **context** -- the node alone: its input shapes, params, spelling, weights and the case's
   quantization. If the lone node is delegated, the context changed the partitioner's mind:
   ``partially-delegated@<op>(<aten op>)``. Not asked for a node downstream of another CPU
   op (that op is the cause, and gets its own controls), nor for an in-place spelling (a
   lone node cannot modify its graph input; its spelling control covers it).

An op the backend leaves on the CPU in every spelling and alone is unsupported by design,
and nothing is reported.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import torch

from fuzz.generate.case import Case, Node, TensorSpec
from fuzz.generate.ops import FUSEABLE, get_op
from fuzz.judge.oracle import counted, op_name
from fuzz.judge.qparams import origin

#: Controls run per case at most: each is one more lowering (1-4 s). CPU ops are taken in
#: graph order, so the first ones (closest to the inputs, where a CPU region starts) go first.
MAX_CONTROLS = 2


def cpu_nodes(graph_module: torch.fx.GraphModule, line_to_node: dict[int, str]) -> list[dict[str, str]]:
    """Compute ops the lowered program runs on the CPU, each with the case node it came from
    (from its stack trace). Ops no case node explains (glue a pass added) are skipped.
    (Carried into repros.)"""
    out, seen = [], set()
    for n in graph_module.graph.nodes:
        if not counted(n):
            continue
        node = origin(n, line_to_node)
        aten = op_name(n.target)
        if node is None or (node, aten) in seen:
            continue
        seen.add((node, aten))
        out.append({"node": node, "aten": aten})
    return out


def exported_ops(graph_module: torch.fx.GraphModule, line_to_node: dict[int, str]) -> dict[str, list[str]]:
    """The aten ops each case node exported to, as the quantizer sees them (before it
    annotates anything; read it before prepare_pt2e, which rewrites the graph it is given):
    what names a spelling's root cause, e.g. ``negative`` for both ``torch.negative(x)`` and
    ``x.negative()``. (Carried into repros.)"""
    out: dict[str, list[str]] = {}
    for n in graph_module.graph.nodes:
        if not counted(n):
            continue
        node = origin(n, line_to_node)
        name = op_name(n.target)
        if node is not None and name not in out.setdefault(node, []):
            out[node].append(name)
    return out


def canonical_spelling(case: Case, node_id: str) -> str | None:
    """The op's first out-of-place spelling that takes the node's params, or None when that
    is the node's own."""
    node = next(n for n in case.nodes if n.id == node_id)
    first = get_op(node.op).canonical_spelling(node.params)
    return None if first == node.spelling else first


def respelled_case(case: Case, node_id: str) -> Case | None:
    """The spelling control: the case with only ``node_id`` in its canonical spelling."""
    spelling = canonical_spelling(case, node_id)
    if spelling is None:
        return None
    control = copy.deepcopy(case)
    next(n for n in control.nodes if n.id == node_id).spelling = spelling
    control.validate("control")
    return control


def control_case(case: Case, node_id: str) -> Case:
    """The context control: the node alone; its inputs become graph inputs of their shapes,
    the rest (params, spelling, weights, quantization, target and its options, seed) is the case's."""
    shapes = case.validate()
    node = next(n for n in case.nodes if n.id == node_id)
    if node.spelling in get_op(node.op).inplace_spellings:
        raise ValueError(f"{node_id} is spelled in place; alone it would modify a graph input")
    names = list(dict.fromkeys(node.inputs))
    inputs = [TensorSpec(name, list(shapes[name])) for name in names]
    calibration = {
        "samples": case.calibration.get("samples", 1),
        # An intermediate's distribution is unknown without running the case: normal data.
        "inputs": {name: copy.deepcopy(case.calibration.get("inputs", {}).get(name, {"kind": "normal", "mean": 0.0, "std": 1.0}))
                   for name in names},
    }
    weights = copy.deepcopy(case.weights)
    weights["nodes"] = {k: v for k, v in weights.get("nodes", {}).items() if k == node_id}
    quant = copy.deepcopy(case.quant)
    quant.module_activations = {k: v for k, v in quant.module_activations.items() if k == node_id}
    control = Case(inputs=inputs, nodes=[Node(node.id, node.op, list(node.inputs), copy.deepcopy(node.params), node.spelling)],
                   outputs=[node.id], weights=weights, calibration=calibration, quant=quant,
                   target=case.target, seed=case.seed, options=dict(case.options))
    control.validate("control")
    return control


#: The aten ops executorch folds a following relu or hardtanh into
#: (FuseQuantizedActivationPass._is_fuseable_input).
FUSES_ACTIVATION = ("convolution", "linear")


def fused_user(case: Case, node_id: str) -> str | None:
    """The activation node (relu, relu6, hardtanh, clamp) that alone consumes the node's
    output, if one does: the quantizer annotates a conv or linear and that activation as one
    fused pair, with no quantize between them. (Carried into repros.)"""
    users = [n for n in case.nodes if node_id in n.inputs]
    if len(users) != 1 or users[0].op not in FUSEABLE or node_id in case.outputs:
        return None
    return users[0].id


def fused_activation_on_cpu(case: Case, node_id: str, cpu: list[dict[str, str]]) -> str | None:
    """The aten op of the node's fused_user when it sits on the CPU beside the node: the
    partitioner refuses the pair together when it will not fuse it (executorch 1.5.1: a
    hardtanh whose max is not qmax; 1.1.0-1.3.1: a relu whose zp is not qmin). The pair is
    the finding, whichever conv-like op leads it."""
    user = fused_user(case, node_id)
    return next((c["aten"] for c in cpu if c["node"] == user), None) if user else None


def _ancestors(case: Case, node_id: str) -> set[str]:
    producers = {n.id: n.inputs for n in case.nodes}
    seen: set[str] = set()
    todo = list(producers.get(node_id, []))
    while todo:
        x = todo.pop()
        if x in producers and x not in seen:
            seen.add(x)
            todo.extend(producers[x])
    return seen


def _lowered(got: Any) -> bool:
    return got.status in ("pass", "numerics", "numerics-propagated") and bool((got.delegation or {}).get("delegated_ops"))


def judge(case: Case, outcome: Any, run: Callable[[Case], Any]) -> None:
    """Turn a passing (or not-delegated) outcome with CPU ops into ``spelling-not-delegated``
    or ``partially-delegated`` when a control shows the backend takes one of them. ``run``
    lowers a case on the outcome's target without controls of its own (fuzz.judge.pipeline.run_case)."""
    if outcome.status not in ("pass", "not-delegated"):
        return
    left = outcome.delegation.get("cpu_nodes", [])
    on_cpu = {c["node"] for c in left}
    runs = 0
    for cpu in left:
        node = next(n for n in case.nodes if n.id == cpu["node"])
        if case.quant.module_activations.get(node.id) == "float":
            continue  # left unquantized on purpose: an INT profile cannot take it
        plans: list[tuple[str, Callable[[], Case | None]]] = [("spelling-not-delegated", lambda: respelled_case(case, node.id))]
        if len(case.nodes) > 1 and node.spelling not in get_op(node.op).inplace_spellings and not _ancestors(case, node.id) & on_cpu:
            plans.append(("partially-delegated", lambda: control_case(case, node.id)))
        for verdict, make in plans:
            if runs == MAX_CONTROLS:
                return
            try:
                control = make()
            except Exception:  # noqa: BLE001 - a node with no valid standalone form has no control
                continue
            if control is None:
                continue
            runs += 1
            got = run(control)
            if not _lowered(got):
                continue
            d = got.delegation
            if verdict == "spelling-not-delegated":
                # Only that node changed: fewer CPU ops means it left the CPU. Named by what
                # the spelling exported to (aliases of one aten op are one root cause).
                if len(d.get("cpu_ops", [])) >= len(outcome.delegation.get("cpu_ops", [])):
                    continue
                exported = "+".join(outcome.delegation.get("exported_ops", {}).get(node.id, [])) or node.spelling
                detail, how = f"{node.op}({exported})", f"spelled '{canonical_spelling(case, node.id)}' in the same graph"
            else:
                if cpu["aten"] in d.get("cpu_ops", []):
                    continue
                act = fused_activation_on_cpu(case, node.id, left) if cpu["aten"] in FUSES_ACTIVATION else None
                detail = f"{node.op}+{act}({cpu['aten']})" if act else f"{node.op}({cpu['aten']})"
                how = "alone"
            outcome.status = verdict
            outcome.stage = "lower"
            outcome.signature = f"{outcome.target}/lower/{verdict}@{detail}"
            outcome.message = (
                f"{node.id} ({node.op} spelled '{node.spelling}', exported as "
                f"{outcome.delegation.get('exported_ops', {}).get(node.id)}, on the CPU as aten.{cpu['aten']}) runs on the CPU; {how} on "
                f"{outcome.target} with the same configuration it is delegated (control case {control.case_id}: "
                f"{d.get('delegated_ops')} op(s) delegated, CPU: {d.get('cpu_ops') or 'nothing'}; the case: "
                f"{outcome.delegation.get('delegated_ops')} delegated, CPU: {outcome.delegation.get('cpu_ops')})"
            )
            outcome.delegation["control"] = {"case": control.to_dict(), "node": node.id, "kind": verdict, "delegation": d}
            return
