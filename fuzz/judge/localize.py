"""Numerics localisation: name the node whose lowered value is wrong, not the output it shows at.

A wrong value made at a relu before a cat only *shows* at the conv after the cat, and 1-LSB
pooling rounding grows through the next conv. Judging outputs alone therefore names the
wrong op and calls propagated rounding a bug. Here every case node with a quantized output is
judged *locally*: its lowered value against the fake-quantized reference computed from its
own lowered inputs.

How, without changing what was lowered (intermediates made into outputs change the
partition and can hide the bug):

* the program is lowered once, with the Arm backend's own debug mode
  (``ArmCompileSpec.DebugMode.TOSA``), which writes into every TOSA operator's ``location``
  the FX node it came from, with its stack trace; the trace's line in the generated model
  names the case node (:func:`fuzz.judge.qparams.origin_of_trace`);
* each delegate's TOSA graph is run again on the inputs it received during execution, with
  the reference model's ``dump_intermediates``, which prints every tensor it computes;
* the quantized PyTorch model is interpreted *teacher-forced*: each quantize node's output is
  replaced by the lowered codes of the same tensor, so the value computed at the next
  quantize node is the local reference, from the lowered inputs.

A node is the **culprit** when its local error breaks the oracle's tolerance
(:func:`fuzz.judge.oracle.judge`, the same tolerances as the outputs). When no node does, the
output error is rounding carried downstream: ``numerics-propagated``, not a bug.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from fuzz.judge.oracle import code_report, judge
from fuzz.judge.qparams import is_quantize, node_qparams, origin, origin_of_trace
from fuzz.judge.tosa.reader import read_graph

#: TOSA dtypes whose dumped values are integer codes of a quantized tensor.
_CODE_DTYPES = {"INT8": "int8", "INT16": "int16"}
_TENSOR_HEADER = re.compile(r"^Name: (\S+) DType=(\w+) isValid=\d+ Rank=\d+ Shape=\[([\d, ]*)\]")
_INT = re.compile(r"-?\d+")


@dataclass
class NodeDivergence:
    """One case node's errors, in LSB of its own output scale, over every sample."""

    node: str
    op: str
    #: the lowered value against the reference computed from the node's lowered inputs
    local_max: float = 0.0
    local_mean: float = 0.0
    #: the lowered value against the plain reference (errors carried from upstream included)
    propagated_max: float = 0.0
    propagated_mean: float = 0.0
    elements: int = 0
    #: the oracle's verdict on the local error (None: within tolerance)
    symptom: str | None = None
    #: case nodes fused into this one's lowered value (producers with no quantized output)
    fused: list[str] = field(default_factory=list)
    #: False when no lowered tensor could be matched to the node: not judged
    checked: bool = True
    #: the node's output qparams (fusion of an activation depends on zp == qmin)
    qparams: dict[str, Any] = field(default_factory=dict)


@dataclass
class Localization:
    table: list[NodeDivergence]
    culprit: str | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"culprit": self.culprit, "note": self.note, "table": [asdict(r) for r in self.table]}


# -- the lowered side ---------------------------------------------------------------------


def tosa_operators(tosa_bytes: bytes, line_to_node: dict[int, str]) -> list[tuple[str, list[str], str | None]]:
    """(operator, output tensor names, case node) per TOSA operator, in graph order.

    The case node comes from the operator's debug location, written by the Arm backend in
    ``DebugMode.TOSA`` (executorch/backends/arm/operators/node_visitor.py
    ``_serialize_operator``): the JSON of its FX node, whose stack trace names the line of the
    generated model. Nodes that Arm passes create without a stack trace (the RESCALE and
    TRANSPOSE after a conv, on 1.2.0) inherit the case node of the operator that produced
    their first attributed input: they finish that node's computation.
    """
    out = []
    produced_by: dict[str, str] = {}
    for name, inputs, outputs, _, location in read_graph(tosa_bytes)[0]:
        node = None
        if location:
            try:
                trace = json.loads(location).get("torch_info", {}).get("stack_trace", [])
                node = origin_of_trace("\n".join(trace), line_to_node)
            except (ValueError, AttributeError):
                node = None
        if node is None:
            node = next((produced_by[i] for i in inputs if i in produced_by), None)
        if node is not None:
            produced_by.update((o, node) for o in outputs)
        out.append((name, outputs, node))
    return out


def dump_codes(tosa_bytes: bytes, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Every int8/int16 tensor the reference model computes for one run, by TOSA name.

    ``dump_intermediates`` prints each tensor as text to the debug file (tosa-tools has no
    array-returning API for intermediates); only integer tensors are parsed, which is what a
    quantized activation is.
    """
    import tosa_reference_model as refmodel

    fd, path = tempfile.mkstemp(prefix="armfuzz-dump-", suffix=".txt")
    os.close(fd)
    try:
        refmodel.run(tosa_bytes, inputs, verbosity="NONE", dump_intermediates=1, debug_filename=path,
                     initialize_variable_tensor_from_numpy=True)
        with open(path) as f:
            return _parse_dump(f)
    finally:
        os.unlink(path)


def _parse_dump(lines: Any) -> dict[str, np.ndarray]:
    tensors: dict[str, np.ndarray] = {}
    name = dtype = None
    shape: list[int] = []
    values: list[int] = []

    def close() -> None:
        if name is not None and dtype in _CODE_DTYPES and len(values) == int(np.prod(shape)):
            tensors[name] = np.array(values, dtype=np.dtype(_CODE_DTYPES[dtype])).reshape(shape)

    for line in lines:
        m = _TENSOR_HEADER.match(line)
        if m:
            close()
            name, dtype = m.group(1), m.group(2)
            shape = [int(d) for d in m.group(3).replace(" ", "").split(",") if d]
            values = []
        elif line.startswith("Node type:"):
            close()
            name = None
        elif name is not None and dtype in _CODE_DTYPES and line.lstrip().startswith(("[", "]")):
            values.extend(int(v) for v in _INT.findall(line))
    close()
    return tensors


def _as_reference_layout(arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """The lowered tensor in the case's (NCHW) layout, or None if it is not this tensor.

    TOSA computes 4-D tensors channels-last; executorch inserts TRANSPOSEs back, but the last
    tensor of a node may still be the NHWC one.
    """
    if tuple(arr.shape) == tuple(shape):
        return arr
    if len(shape) == 4 and tuple(arr.shape) == (shape[0], shape[2], shape[3], shape[1]):
        return arr.transpose(0, 3, 1, 2)
    if arr.size == int(np.prod(shape)) and len(shape) != 4:
        return arr.reshape(shape)
    return None


def lowered_values(
    operators: list[tuple[str, list[str], str | None]],
    codes: dict[str, np.ndarray],
    groups: dict[str, list[str]],
    shapes: dict[str, tuple[int, ...]],
) -> dict[str, np.ndarray]:
    """Case node -> its lowered codes: the last integer tensor, in graph order, of an operator
    from the node or from a producer fused into it, with the node's shape."""
    owner = {member: node for node, members in groups.items() for member in members}
    found: dict[str, np.ndarray] = {}
    for _, outputs, node in operators:
        key = owner.get(node) if node is not None else None
        if key is None:
            continue
        for name in outputs:
            if name in codes:
                arr = _as_reference_layout(codes[name], shapes[key])
                if arr is not None:
                    found[key] = arr
    return found


# -- the reference side -------------------------------------------------------------------


def quantize_keys(converted: torch.fx.GraphModule, line_to_node: dict[int, str]) -> dict[torch.fx.Node, str]:
    """Each quantize node of the converted model -> the case node (or graph input) it quantizes."""
    keys: dict[torch.fx.Node, str] = {}
    for n in converted.graph.nodes:
        if is_quantize(n):
            src = n.args[0]
            key = src.name if src.op == "placeholder" else origin(src, line_to_node)
            if key is not None:
                keys[n] = key
    return keys


class _Forced(torch.fx.Interpreter):
    """Runs the quantized model, recording every quantize node's codes and replacing them
    with the lowered codes of the same tensor where one is given."""

    def __init__(self, gm: torch.fx.GraphModule, keys: dict[torch.fx.Node, str], forced: dict[str, np.ndarray],
                 shapes: dict[str, tuple[int, ...]]) -> None:
        super().__init__(gm)
        self.keys = keys
        self.forced = forced
        self.shapes = shapes
        self.codes: dict[str, torch.Tensor] = {}

    def run_node(self, n: torch.fx.Node) -> Any:
        out = super().run_node(n)
        key = self.keys.get(n)
        # A case node's line can export to several quantized FX nodes (a view, then the op):
        # the one with the node's own shape is its output.
        if key is not None and isinstance(out, torch.Tensor) and tuple(out.shape) == self.shapes.get(key):
            self.codes[key] = out
            if key in self.forced:
                out = torch.from_numpy(np.ascontiguousarray(self.forced[key])).to(out.dtype)
        return out


def fusion_groups(case: Any, quantized: set[str]) -> dict[str, list[str]]:
    """Quantized case node -> itself plus the single-consumer producers without a quantized
    output of their own (conv -> relu: the conv's value only exists inside the relu's)."""
    consumers: dict[str, int] = {}
    for n in case.nodes:
        for i in n.inputs:
            consumers[i] = consumers.get(i, 0) + 1
    by_id = {n.id: n for n in case.nodes}
    groups = {}
    for n in case.nodes:
        if n.id not in quantized:
            continue
        members, cur = [n.id], n
        while len(cur.inputs) == 1 and cur.inputs[0] in by_id and cur.inputs[0] not in quantized and consumers.get(cur.inputs[0]) == 1:
            cur = by_id[cur.inputs[0]]
            members.append(cur.id)
        groups[n.id] = members
    return groups


# -- the judgement ------------------------------------------------------------------------


def localize(
    case: Any,
    shapes: dict[str, tuple[int, ...]],
    converted: torch.fx.GraphModule,
    line_to_node: dict[int, str],
    samples: list[tuple],
    delegate_runs: list[list[tuple[bytes, list[np.ndarray]]]],
    qparams_by_node: dict[str, dict[str, Any]],
) -> Localization:
    """Per-node local and propagated errors, and the first node whose local error is a bug.

    ``delegate_runs[s]`` holds each delegate call of sample ``s``: the TOSA bytes and the
    inputs it received when the program ran.
    """
    keys = quantize_keys(converted, line_to_node)
    quantized = {k for k in keys.values() if k in {n.id for n in case.nodes}}
    groups = fusion_groups(case, quantized)
    node_shapes = {k: tuple(v) for k, v in shapes.items()}
    acc: dict[str, dict[str, list[torch.Tensor]]] = {}
    operators: dict[bytes, list] = {}  # each delegate's graph is parsed once, whatever the samples
    for sample, runs in zip(samples, delegate_runs):
        lowered: dict[str, np.ndarray] = {}
        for tosa_bytes, inputs in runs:
            if tosa_bytes not in operators:
                operators[tosa_bytes] = tosa_operators(tosa_bytes, line_to_node)
            lowered.update(lowered_values(operators[tosa_bytes], dump_codes(tosa_bytes, inputs), groups, node_shapes))
        plain, forced = _Forced(converted, keys, {}, node_shapes), _Forced(converted, keys, lowered, node_shapes)
        with torch.no_grad():
            plain.run(*sample)
            forced.run(*sample)
        for node, got in lowered.items():
            if node not in forced.codes:
                continue
            slot = acc.setdefault(node, {"got": [], "local": [], "plain": []})
            slot["got"].append(torch.from_numpy(np.ascontiguousarray(got)).double().flatten())
            slot["local"].append(forced.codes[node].double().flatten())
            slot["plain"].append(plain.codes[node].double().flatten())
    table, culprit = [], None
    out_of_range: set[str] = set()
    for n in case.nodes:
        if n.id not in quantized:
            continue
        row = NodeDivergence(n.id, n.op, fused=groups[n.id][1:])
        if n.id not in acc or n.id not in qparams_by_node:
            row.checked = False
            table.append(row)
            continue
        q = row.qparams = qparams_by_node[n.id]
        got, local, plain = (torch.cat(acc[n.id][k]) for k in ("got", "local", "plain"))
        loc = code_report(local, got, q)
        prop = code_report(plain, got, q)
        row.local_max, row.local_mean = loc["max_lsb"], loc["mean_lsb"]
        row.propagated_max, row.propagated_mean = prop["max_lsb"], prop["mean_lsb"]
        row.elements = int(got.numel())
        if loc["out_of_range"]:
            out_of_range.add(n.id)
            if any(i in out_of_range for i in n.inputs):
                # Codes outside [qmin, qmax] that came in through an input (a cat or a
                # reshape copies them) are the input's fault; judge this node on error only.
                loc["out_of_range"] = 0
        row.symptom = judge({**loc, "elements": row.elements})
        if row.symptom and culprit is None:
            culprit = n.id
        table.append(row)
    checked = sum(r.checked for r in table)
    note = "" if checked else "no lowered tensor could be matched to a case node"
    return Localization(table, culprit, note)


def node_qparams_by_key(converted: torch.fx.GraphModule, line_to_node: dict[int, str]) -> dict[str, dict[str, Any]]:
    """qparams of each quantized case node (first quantize node wins, as fuzz.judge.regimes does)."""
    out: dict[str, dict[str, Any]] = {}
    for n, key in quantize_keys(converted, line_to_node).items():
        out.setdefault(key, node_qparams(n))
    return out
