"""Regime observer: which quantization corners a case actually reached.

Bugs live in specific qparams regimes (seed 000 needed a relu whose output zero-point was
-111 rather than qmin), so every outcome records the regimes its quantized graph is in, and
the generator steers toward the ones not yet covered. The observer reads *facts* from the
converted PT2E graph (qparams of every quantized tensor, per-channel weight scales) and the
float model's natural ranges, then classifies them. Classification is a pure function of
the facts, so it can be tested on hand-built graphs. It also names the op family each
regime was reached at (cells, fuzz.generate.cells), which the campaign steers by.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch

from fuzz.generate import cells
from fuzz.generate.focus import REGIMES
from fuzz.generate.ops import MOVEMENT_OPS, get_op
from fuzz.judge.qparams import FUSEABLE_ACTIVATIONS, is_quantize, node_qparams, origin

#: The int8 configs' observer eps (get_symmetric_quantization_config); a scale at it means
#: the observed range was (near) zero.
MIN_SCALE = 2.0**-16
#: Width ratio between cat inputs' natural ranges that counts as a mismatch.
MISMATCH_RATIO = 4.0
#: A tensor range this wide only comes from outliers at the sizes armfuzz generates.
HUGE_RANGE = 100.0
#: A per-channel weight scale this much below the largest channel counts as tiny.
TINY_CHANNEL = 1e-3


@dataclass
class Facts:
    """What the observer reads from one quantized graph."""

    #: case node id or graph input name -> qparams of the tensor it produces
    tensors: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: case node id -> per-output-channel weight scales (a single scale when per-tensor)
    weight_scales: dict[str, list[float]] = field(default_factory=dict)
    #: case node id or input name -> (min, max) of its float value over the calibration data
    float_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)


def _target(n: torch.fx.Node) -> str:
    return str(n.target) if n.op == "call_function" else ""


def extract_facts(gm: torch.fx.GraphModule, line_to_node: dict[int, str]) -> Facts:
    facts = Facts()
    for n in gm.graph.nodes:
        t = _target(n)
        if is_quantize(n):
            src = n.args[0]
            key = src.name if src.op == "placeholder" else origin(src, line_to_node)
            if key is not None and key not in facts.tensors:
                facts.tensors[key] = node_qparams(n)
        elif "dequantize_per_channel" in t or ("dequantize_per_tensor" in t and n.args[0].op == "get_attr"):
            if n.args[0].op != "get_attr":
                continue
            consumer = next(iter(n.users), None)
            key = origin(consumer, line_to_node) if consumer is not None else None
            if key is None or key in facts.weight_scales:
                continue
            scales = n.args[1]
            if isinstance(scales, torch.fx.Node):
                scales = getattr(gm, scales.target)
            vals = scales.flatten().tolist() if isinstance(scales, torch.Tensor) else [float(scales)]
            facts.weight_scales[key] = [float(v) for v in vals]
    return facts


def float_ranges(exported: torch.fx.GraphModule, samples: list[tuple], line_to_node: dict[int, str]) -> dict[str, tuple[float, float]]:
    """Natural (float) range of every case node and input over the calibration samples.

    A case node's line may export to several FX nodes (e.g. a pad then a conv); the last one
    in graph order is the node's output, so within a sample later values overwrite earlier.
    """
    ranges: dict[str, tuple[float, float]] = {}

    class _Recorder(torch.fx.Interpreter):
        def __init__(self, gm: torch.fx.GraphModule) -> None:
            super().__init__(gm)
            self.seen: dict[str, tuple[float, float]] = {}

        def run_node(self, n: torch.fx.Node) -> Any:
            out = super().run_node(n)
            key = n.name if n.op == "placeholder" else (origin(n, line_to_node) if n.op == "call_function" else None)
            if key is not None and isinstance(out, torch.Tensor) and out.is_floating_point() and out.numel():
                self.seen[key] = (float(out.min()), float(out.max()))
            return out

    for s in samples:
        rec = _Recorder(exported)
        with torch.no_grad():
            rec.run(*s)
        for key, (lo, hi) in rec.seen.items():
            old = ranges.get(key, (lo, hi))
            ranges[key] = (min(old[0], lo), max(old[1], hi))
    return ranges


class Reached(NamedTuple):
    """What one case reached: regimes in report order, one evidence line per regime
    instance, and the cells (fuzz.generate.cells) in first-hit order."""

    regimes: list[str]
    evidence: list[str]
    cells: list[str]


def classify(case: Any, facts: Facts) -> Reached:
    """The regimes and cells the case's quantized graph is in.

    Each hit names the tensors the regime is about; the cell's family is the family that
    computed each one (cells.family_at). A configuration regime is case-wide, so its cells
    are the families it governs: the weighted nodes' for a weight configuration, every
    computing node's for an activation one (a fuseable activation is its producer's), except nodes a module override gives another
    precision (they are not in the case-wide config)."""
    found: dict[str, None] = {}
    reached: dict[str, None] = {}
    evidence: list[str] = []
    nodes = {n.id: n for n in case.nodes}

    def hit(regime: str, line: str, at: list[str]) -> None:
        found.setdefault(regime, None)
        evidence.append(f"[{regime}] {line}")
        for key in at:
            reached.setdefault(cells.cell(regime, cells.family_at(nodes, key)), None)

    q = case.quant
    for n in case.nodes:
        qp = facts.tensors.get(n.id)
        if n.op in FUSEABLE_ACTIVATIONS and qp and qp["zp"] != qp["qmin"]:
            hit("act-nonfuseable", f"{n.id} ({n.op}) output zp={qp['zp']}, qmin={qp['qmin']}, scale={qp['scale']:.6g}", [n.id])
        if n.op in ("clamp", "hardtanh", "relu6"):
            lo, hi = _bounds(n)
            # The input's domain, or the output's when a cat shares a wider one with it: then
            # the bounds are not where the output's qmin/qmax are, and fusing the activation
            # away loses them (executorch 1.4.1's hardtanh fusion, fixed by ad9902c464).
            for side, dom in (("input", facts.tensors.get(n.inputs[0])), ("output", facts.tensors.get(n.id))):
                if not dom:
                    continue
                dom_lo = (dom["qmin"] - dom["zp"]) * dom["scale"]
                dom_hi = (dom["qmax"] - dom["zp"]) * dom["scale"]
                if (lo is not None and lo > dom_lo + dom["scale"]) or (hi is not None and hi < dom_hi - dom["scale"]):
                    hit("clamp-inside-range", f"{n.id} bounds [{lo}, {hi}] inside {side} domain [{dom_lo:.4g}, {dom_hi:.4g}]", [n.id])
                    break
        if n.op == "cat":
            rs = [facts.float_ranges.get(i) for i in n.inputs]
            if all(rs) and len(rs) > 1:
                widths = [max(hi - lo, 1e-12) for lo, hi in rs]
                signs = {lo < 0 for lo, _ in rs}
                if max(widths) / min(widths) >= MISMATCH_RATIO or len(signs) > 1:
                    hit("shared-domain-mismatch", f"{n.id} inputs {list(n.inputs)} have ranges {[(round(a, 4), round(b, 4)) for a, b in rs]}", list(n.inputs))
        if q.activations == "int16" and n.op in ("conv2d", "linear") and n.params.get("bias"):
            hit("int16-int48-bias", f"{n.id} ({n.op}) has a bias and int16 activations", [n.id])
    for key, qp in facts.tensors.items():
        width = (qp["qmax"] - qp["qmin"]) * qp["scale"]
        if qp["scale"] <= MIN_SCALE * 1.01:
            hit("scale-at-min", f"{key} scale={qp['scale']:.3g} (range {width:.3g})", [key])
        if width >= HUGE_RANGE:
            hit("scale-huge", f"{key} scale={qp['scale']:.4g} covers a range of {width:.4g}", [key])
        if qp["zp"] == qp["qmax"]:
            hit("zp-at-qmax", f"{key} zp={qp['zp']} == qmax", [key])
        is_act = key in nodes and nodes[key].op in FUSEABLE_ACTIVATIONS
        if qp["zp"] == qp["qmin"] and not is_act and qp["dtype"] == "int8":
            hit("zp-at-qmin-nonact", f"{key} zp={qp['zp']} == qmin", [key])
    for key, scales in facts.weight_scales.items():
        if len(scales) < 2:
            continue
        top = max(scales)
        tiny = [i for i, s in enumerate(scales) if s <= MIN_SCALE * 1.01 or s < TINY_CHANNEL * top]
        if tiny:
            hit("weight-zero-channel", f"{key} output channel(s) {tiny} have scale(s) {[f'{scales[i]:.3g}' for i in tiny]} vs max {top:.3g}", [key])
        positive = [s for s in scales if s > MIN_SCALE * 1.01]
        if positive and max(positive) / min(positive) >= 100:
            hit("weight-channel-spread", f"{key} channel scales span {min(positive):.3g}..{max(positive):.3g}", [key])
    governed = [n.id for n in case.nodes if n.id not in q.module_activations]
    computing = [i for i in governed if nodes[i].op not in MOVEMENT_OPS and nodes[i].op not in FUSEABLE_ACTIVATIONS]
    weighted = [i for i in governed if get_op(nodes[i].op).has_weights]
    if q.activations == "int16":
        hit("config-a16w8", "16-bit activations", computing)
    else:
        hit("config-act-qmin-127" if q.act_qmin == -127 else "config-act-qmin-128", f"act range [{q.act_qmin}, {q.act_qmax}]", computing)
    if not q.per_channel:
        hit("config-per-tensor-weights", "per-tensor weights", weighted)
    if q.four_bit_weights:
        hit("config-a8w4", f"weight range [{q.weight_qmin}, {q.weight_qmax}]", weighted)
    return Reached([r for r in REGIMES if r in found], evidence, list(reached))


def _bounds(n: Any) -> tuple[float | None, float | None]:
    if n.op == "clamp":
        return n.params.get("min"), n.params.get("max")
    if n.op == "hardtanh":
        return n.params["min_val"], n.params["max_val"]
    return 0.0, 6.0  # relu6
