"""Read the qparams the quantizer chose, mapped back to case nodes.

After ``convert_pt2e`` every quantized tensor is ``quantize_per_tensor(producer, scale, zp,
qmin, qmax, dtype)``. ``origin`` maps each producer back to the case node whose source line
created it (export keeps the stack trace of the generated model; fuzz.judge.regimes collects the
facts), so evidence reads in the case's own names: "relu output qparams: scale=0.00393, zp=-111; qmin=-127 -> not fuseable".
"""

from __future__ import annotations

import re
from typing import Any

import torch

from fuzz.generate.codegen import MODEL_FILENAME
from fuzz.generate.ops import FUSEABLE as FUSEABLE_ACTIVATIONS
_LINE = re.compile(r'File "' + re.escape(MODEL_FILENAME) + r'", line (\d+)')


def origin(fx_node: torch.fx.Node, line_to_node: dict[int, str]) -> str | None:
    """The case node that produced an FX node, from its recorded stack trace."""
    return origin_of_trace(fx_node.meta.get("stack_trace") or "", line_to_node)


def origin_of_trace(trace: str, line_to_node: dict[int, str]) -> str | None:
    """The case node named by the innermost line of the generated model in a stack trace."""
    hits = _LINE.findall(trace)
    for line in reversed(hits):
        if int(line) in line_to_node:
            return line_to_node[int(line)]
    return None


def computing_node(node: torch.fx.Node) -> torch.fx.Node:
    """The op behind a chain of quantize/dequantize nodes: a delegate's outputs are the
    quantize after the op that computed them."""
    while node.op == "call_function" and "quantize_per" in str(node.target) and node.args and isinstance(node.args[0], torch.fx.Node):
        node = node.args[0]
    return node


def is_dequantize(node: torch.fx.Node) -> bool:
    return node.op == "call_function" and "dequantize_per_tensor" in str(node.target)


def node_qparams(node: torch.fx.Node) -> dict[str, Any]:
    """qparams of a per-tensor quantize/dequantize node as plain data."""
    scale, zp, qmin, qmax, dtype = node.args[1:6]
    return {"scale": float(scale), "zp": int(zp), "qmin": int(qmin), "qmax": int(qmax), "dtype": str(dtype).replace("torch.", "")}


def is_quantize(node: torch.fx.Node) -> bool:
    return node.op == "call_function" and "quantize_per_tensor" in str(node.target) and "dequantize" not in str(node.target)


def graph_output_qparams(gm: torch.fx.GraphModule) -> list[dict[str, Any] | None]:
    """For each graph output: the qparams of the dequantize feeding it, or None (float output)."""
    out_node = next(n for n in gm.graph.nodes if n.op == "output")
    outs = out_node.args[0]
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    return [node_qparams(o) if isinstance(o, torch.fx.Node) and is_dequantize(o) else None for o in outs]


def activation_evidence(case_nodes: list[Any], qparams: dict[str, dict[str, Any]]) -> list[str]:
    """One line per fuseable-kind activation, saying whether its output zp allows fusion."""
    lines = []
    for n in case_nodes:
        if n.op not in FUSEABLE_ACTIVATIONS or n.id not in qparams:
            continue
        q = qparams[n.id]
        verdict = "fuseable (zp == qmin)" if q["zp"] == q["qmin"] else "not fuseable (zp != qmin)"
        lines.append(f"{n.id} ({n.op}) output qparams: scale={q['scale']:.6g}, zp={q['zp']}; qmin={q['qmin']} -> {verdict}")
    return lines
