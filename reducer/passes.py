"""Reduction passes: each proposes smaller variants of a case, biggest cuts first.

A pass is a generator ``pass_(case) -> (description, candidate)``. It may propose invalid
cases; the reducer drops those with ``Case.validate`` before spending a lowering on them, so
passes stay simple edits of the JSON rather than shape-aware rewrites. Whether a candidate
is *smaller* is decided by :func:`cost` alone, so every accepted step strictly shrinks the
case and reduction always terminates.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Callable, Iterator

from fuzz.core import target_options
from fuzz.core.errors import CaseError
from fuzz.core.targets import TARGETS
from fuzz.generate import recipes
from fuzz.generate.case import Case, TensorSpec
from fuzz.generate.ops import get_op
from fuzz.generate.ops.base import numel

Candidate = tuple[str, Case]
Pass = Callable[[Case], Iterator[Candidate]]

#: Simplest first: a TOSA profile needs no external compiler, INT before INT+FP.
TARGET_ORDER = ("tosa-int", "tosa-int-fp", "tosa-int16", "vgf-int", "vgf-int-fp", "ethos-u85-256", "ethos-u55-128")
_KIND_RANK = {"uniform": 1, "normal": 2, "constant": 2, "sparse": 3, "spikes": 3, "heavy_tailed": 3}


# -- size ------------------------------------------------------------------------------


def cost(case: Case) -> tuple:
    """Lexicographic size: graph first, then tensors, params, data recipes, config, target."""
    q = case.quant
    default_q = type(q)()
    # Per-tensor weights are the simpler config; the qmin/qmax knobs are simplest at default.
    quant_cost = int(q.per_channel) + sum(getattr(q, k) != getattr(default_q, k) for k in ("act_qmin", "act_qmax", "weight_qmin", "weight_qmax"))
    quant_cost += len(q.module_activations)  # one precision for the whole graph is simplest
    spelling_cost = sum(n.spelling != get_op(n.op).spellings[0] for n in case.nodes)
    return (
        len(case.nodes),
        len(case.inputs),
        len(case.outputs),
        sum(numel(t.shape) for t in case.inputs),
        sum(_param_size(v) for n in case.nodes for v in n.params.values()),
        case.calibration.get("samples", 1),
        _data_cost(case),
        quant_cost + (q.activations == "int16" and not TARGETS[case.target].forced_activations),
        len(case.options),  # compile-spec options: the target's defaults are simplest
        spelling_cost,
        TARGET_ORDER.index(case.target),
        _digits(case),
    )


def _param_size(v: Any) -> int:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return abs(v)
    if isinstance(v, (list, tuple)):
        return sum(_param_size(x) for x in v)
    return 0


def _recipe_cost(r: Any, default: dict) -> int:
    if isinstance(r, list):
        return 10 * len(r) + sum(_recipe_cost(x, default) for x in r)
    if r == default:
        return 0
    return _KIND_RANK[r["kind"]] + sum(1 for k in recipes.WEIGHT_MODIFIERS if r.get(k))


def _data_cost(case: Case) -> int:
    calib = sum(_recipe_cost(r, recipes.DEFAULT_CALIBRATION) for r in case.calibration.get("inputs", {}).values())
    weights = _recipe_cost(case.weights["default"], recipes.DEFAULT_WEIGHTS)
    weights += sum(1 + _recipe_cost(r, recipes.DEFAULT_WEIGHTS) for r in case.weights.get("nodes", {}).values())
    return calib + weights


def _digits(case: Case) -> int:
    """Significant digits in recipe numbers: 0.065 reads better than 0.0647312."""
    total = 0

    def walk(x: Any) -> None:
        nonlocal total
        if isinstance(x, float):
            total += len(f"{x:.6g}".replace("-", "").replace(".", "").lstrip("0"))
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(case.calibration)
    walk(case.weights)
    return total


# -- graph surgery ---------------------------------------------------------------------


def prune(case: Case) -> Case:
    """Drop nodes no output depends on, then inputs and recipes nothing uses."""
    c = copy.deepcopy(case)
    live = set(c.outputs)
    for n in reversed(c.nodes):
        if n.id in live:
            live.update(n.inputs)
    c.nodes = [n for n in c.nodes if n.id in live]
    c.inputs = [t for t in c.inputs if t.name in live]
    names = {t.name for t in c.inputs}
    calib = c.calibration.get("inputs", {})
    for name in list(calib):
        if name not in names:
            del calib[name]
    weighted = {n.id for n in c.nodes}
    per_node = c.weights.get("nodes", {})
    for nid in list(per_node):
        if nid not in weighted:
            del per_node[nid]
    c.quant.module_activations = {k: v for k, v in c.quant.module_activations.items() if k in weighted}
    return c


def _replace_uses(case: Case, old: str, new: str) -> Case:
    c = copy.deepcopy(case)
    c.nodes = [n for n in c.nodes if n.id != old]
    for n in c.nodes:
        n.inputs = [new if i == old else i for i in n.inputs]
    c.outputs = [new if o == old else o for o in c.outputs]
    c.outputs = list(dict.fromkeys(c.outputs))  # two outputs may collapse into one
    return prune(c)


def shapes_of(case: Case) -> dict[str, tuple[int, ...]]:
    try:
        return case.validate()
    except CaseError:
        return {}


# -- passes ----------------------------------------------------------------------------


def drop_outputs(case: Case) -> Iterator[Candidate]:
    if len(case.outputs) < 2:
        return
    for o in case.outputs:
        c = copy.deepcopy(case)
        c.outputs = [x for x in c.outputs if x != o]
        yield f"drop output {o}", prune(c)


def drop_nodes(case: Case) -> Iterator[Candidate]:
    """Remove a node: reconnect its consumers to one of its inputs, or feed them a new graph
    input of the node's shape (which also drops everything only that node needed).
    Candidates that remove the most nodes come first."""
    shapes = shapes_of(case)
    input_names = {t.name for t in case.inputs}
    found: list[Candidate] = []
    for n in reversed(case.nodes):
        for src in dict.fromkeys(n.inputs):
            if src in input_names and n.id in case.outputs:
                continue  # an output must stay a node
            found.append((f"drop {n.id} ({n.op}), consumers read {src}", _replace_uses(case, n.id, src)))
        if n.id not in case.outputs and n.id in shapes:
            c = copy.deepcopy(case)
            c.inputs.append(TensorSpec(n.id, list(shapes[n.id])))
            c.nodes = [m for m in c.nodes if m.id != n.id]
            found.append((f"replace {n.id} ({n.op}) by a graph input", prune(c)))
    found.sort(key=lambda dc: len(dc[1].nodes))  # stable: biggest cuts first, then graph order
    yield from found


def drop_operands(case: Case) -> Iterator[Candidate]:
    """Fewer operands for variadic ops (cat of three -> cat of two)."""
    for n in case.nodes:
        if get_op(n.op).arity is not None or len(n.inputs) < 2:
            continue
        for i, src in enumerate(n.inputs):
            c = copy.deepcopy(case)
            node = next(m for m in c.nodes if m.id == n.id)
            node.inputs = node.inputs[:i] + node.inputs[i + 1:]
            yield f"{n.id}: drop operand {src}", prune(c)


def shrink_shapes(case: Case) -> Iterator[Candidate]:
    """Halve each input dimension, or set it to 1; leading (batch) dims first."""
    for t in case.inputs:
        for d, size in enumerate(t.shape):
            for new in dict.fromkeys((1, size // 2)):
                if 1 <= new < size:
                    c = copy.deepcopy(case)
                    next(x for x in c.inputs if x.name == t.name).shape[d] = new
                    yield f"{t.name}: dim {d} {size} -> {new}", c


def shrink_params(case: Case) -> Iterator[Candidate]:
    """Integer params toward 0/1 (kernel, stride, padding, dilation, groups, channels),
    booleans to False (bias); negative ints (dims) are left alone."""
    for n in case.nodes:
        for key, v in n.params.items():
            for new in _smaller_values(v):
                c = copy.deepcopy(case)
                next(m for m in c.nodes if m.id == n.id).params[key] = new
                yield f"{n.id}: {key} {v!r} -> {new!r}", c


def _smaller_values(v: Any) -> list[Any]:
    if isinstance(v, bool):
        return [False] if v else []
    if isinstance(v, int):
        return [x for x in dict.fromkeys((0, 1, v // 2)) if 0 <= x < v]
    if isinstance(v, list) and v and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return [list(s) for s in dict.fromkeys(tuple(min(x, m) for x in v) for m in (0, 1)) if list(s) != v and min(s) >= 0]
    return []


def simplify_spellings(case: Case) -> Iterator[Candidate]:
    for n in case.nodes:
        canonical = get_op(n.op).spellings[0]
        if n.spelling != canonical:
            c = copy.deepcopy(case)
            next(m for m in c.nodes if m.id == n.id).spelling = canonical
            yield f"{n.id}: spelling {n.spelling} -> {canonical}", c


def simplify_calibration(case: Case) -> Iterator[Candidate]:
    samples = case.calibration.get("samples", 1)
    for new in dict.fromkeys((1, samples // 2)):
        if 1 <= new < samples:
            c = copy.deepcopy(case)
            c.calibration["samples"] = new
            yield f"calibration samples {samples} -> {new}", c
    for name, r in case.calibration.get("inputs", {}).items():
        for desc, new in _simpler_recipes(r, recipes.DEFAULT_CALIBRATION):
            c = copy.deepcopy(case)
            if new is None:
                del c.calibration["inputs"][name]
            else:
                c.calibration["inputs"][name] = new
            yield f"calibration {name}: {desc}", c


def simplify_weights(case: Case) -> Iterator[Candidate]:
    for nid, r in case.weights.get("nodes", {}).items():
        c = copy.deepcopy(case)
        del c.weights["nodes"][nid]
        yield f"weights {nid}: use the default recipe", c
        for desc, new in _simpler_recipes(r, recipes.DEFAULT_WEIGHTS):
            if new is not None:
                c = copy.deepcopy(case)
                c.weights["nodes"][nid] = new
                yield f"weights {nid}: {desc}", c
    for desc, new in _simpler_recipes(case.weights["default"], recipes.DEFAULT_WEIGHTS):
        c = copy.deepcopy(case)
        c.weights["default"] = dict(new or recipes.DEFAULT_WEIGHTS)
        yield f"default weights: {desc}", c


def _simpler_recipes(r: Any, default: dict) -> Iterator[tuple[str, Any]]:
    """Default first, then one simplification at a time (keep what the regime needs)."""
    if r == default:
        return
    yield "default recipe", None
    if isinstance(r, list):
        yield "one recipe for every sample", r[0]
        return
    for key in recipes.WEIGHT_MODIFIERS:
        if r.get(key):
            yield f"drop {key}", {k: v for k, v in r.items() if k != key}
    if r["kind"] in ("sparse", "spikes"):
        yield f"{r['kind']} -> uniform", {"kind": "uniform", "low": r["low"], "high": r["high"], **_mods(r)}
    if r["kind"] == "heavy_tailed":
        yield "heavy_tailed -> normal", {"kind": "normal", "mean": 0.0, "std": r["scale"], **_mods(r)}
    rounded = {k: (_round2(v) if isinstance(v, float) else v) for k, v in r.items()}
    if rounded != r:
        yield "round to 2 significant digits", rounded


def _mods(r: dict) -> dict:
    return {k: r[k] for k in recipes.WEIGHT_MODIFIERS if k in r}


def _round2(x: float) -> float:
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, 1 - int(math.floor(math.log10(abs(x)))))


def simplify_quant(case: Case) -> Iterator[Candidate]:
    default = type(case.quant)()
    if case.quant.per_channel:
        c = copy.deepcopy(case)
        c.quant.per_channel = False
        yield "quant per-tensor weights", c
    for key in ("act_qmin", "act_qmax", "weight_qmin", "weight_qmax"):
        if getattr(case.quant, key) != getattr(default, key):
            c = copy.deepcopy(case)
            setattr(c.quant, key, getattr(default, key))
            yield f"quant {key} -> {getattr(default, key)}", c
    if case.quant.activations == "int16" and not TARGETS[case.target].forced_activations:
        c = copy.deepcopy(case)
        c.quant.activations = "int8"
        c.quant.module_activations = {k: v for k, v in c.quant.module_activations.items() if v != "int8"}
        yield "quant activations int16 -> int8", c
    for node_id in case.quant.module_activations:
        c = copy.deepcopy(case)
        del c.quant.module_activations[node_id]
        yield f"quant {node_id} activations -> the global {case.quant.activations}", c


def default_options(case: Case) -> Iterator[Candidate]:
    """Back to the target's default configuration, one option at a time (a system config and
    its memory mode together: vela checks them as a pair)."""
    groups = [("accelerator",), ("system_config", "memory_mode"), ("optimise",), *((k,) for k in target_options.PIPELINE_OPS), ("extension",)]
    for keys in groups:
        if any(k in case.options for k in keys):
            c = copy.deepcopy(case)
            for k in keys:
                c.options.pop(k, None)
            yield f"options {'/'.join(keys)} -> default", c


def simpler_target(case: Case) -> Iterator[Candidate]:
    for t in TARGET_ORDER[: TARGET_ORDER.index(case.target)]:
        yield f"target {case.target} -> {t}", case.with_target(t)


#: Cheapest and biggest cuts first; the reducer loops over them to a fixed point.
PASSES: tuple[tuple[str, Pass], ...] = (
    ("drop-outputs", drop_outputs),
    ("drop-nodes", drop_nodes),
    ("drop-operands", drop_operands),
    ("shrink-shapes", shrink_shapes),
    ("shrink-params", shrink_params),
    ("calibration", simplify_calibration),
    ("weights", simplify_weights),
    ("quant", simplify_quant),
    ("options", default_options),
    ("spellings", simplify_spellings),
    ("target", simpler_target),
)

