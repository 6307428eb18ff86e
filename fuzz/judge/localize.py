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
output error is rounding carried downstream: ``numerics-propagated``, not a bug. Two
refinements keep that honest:

* a node whose producers matched no lowered tensor was judged through their *reference*
  values, so the culprit is the span, those producers plus the node (:func:`unmatched_producers`);
* an ill-conditioned op (:data:`ILL_CONDITIONED`) is wrong only beyond what 1 LSB on its
  inputs moves its reference by, element by element (:func:`noise_floors`, :func:`beyond_noise`).
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from fuzz.judge.oracle import code_report, judge
from fuzz.judge.qparams import is_dequantize, is_quantize, node_qparams, origin, origin_of_trace
from fuzz.judge.tosa.reader import read_graph

#: TOSA dtypes whose dumped values are integer codes of a quantized tensor.
_CODE_DTYPES = {"INT8": "int8", "INT16": "int16"}
_TENSOR_HEADER = re.compile(r"^Name: (\S+) DType=(\w+) isValid=\d+ Rank=\d+ Shape=\[([\d, ]*)\]")
_INT = re.compile(r"-?\d+")
#: InsertTableOpsPass's table constant, named after the FX node the TABLE replaced
#: (``b_aten_sin_default_table_constant``; without the ``b_`` up to 1.2.0)
_TABLE_CONSTANT = re.compile(r"^(?:b_)?aten_([a-z0-9_]+?)_(?:default|tensor|scalar|int)(?:_\d+)?_table_constant$")
#: TOSA operators an Arm pass builds with only its own stack trace, each the whole lowering of
#: one case op: 1.5.1's RewriteMatmulPass (``_passes/rewrite_matmul.py``) creates the MATMUL of
#: a matmul so. Inherited from its first input, an INT group_norm -> matmul gave the MATMUL and
#: its output RESCALE to the group_norm, judged 238 LSB "wrong" (mean +41: the matmul's values
#: in the norm's domain) while the graph output was 1 LSB off (seed 202, INT+FP bucket 99476dc9214f).
_UNTRACED_LOWERING = {"MATMUL": ("matmul",)}


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
    #: for an ill-conditioned op: the largest change of its local reference when its inputs
    #: move by 1 LSB (:func:`noise_floors`), and its largest local error beyond its own
    #: element's floor, which is what it is judged on (:func:`beyond_noise`); 0 for other ops
    noise_max: float = 0.0
    beyond_noise: float = 0.0
    #: producers not matched to a lowered tensor (:func:`unmatched_producers`): the local
    #: error is that of this span, the node included, not of the node alone
    span: list[str] = field(default_factory=list)


@dataclass
class Localization:
    table: list[NodeDivergence]
    culprit: str | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"culprit": self.culprit, "note": self.note, "table": [asdict(r) for r in self.table]}


# -- the lowered side ---------------------------------------------------------------------


def tosa_operators(tosa_bytes: bytes, line_to_node: dict[int, str],
                   nodes: Any = ()) -> list[tuple[str, list[str], str | None]]:
    """(operator, output tensor names, case node) per TOSA operator, in graph order.

    The case node comes from the operator's debug location, written by the Arm backend in
    ``DebugMode.TOSA`` (executorch/backends/arm/operators/node_visitor.py
    ``_serialize_operator``): the JSON of its FX node, whose stack trace names the line of the
    generated model. Nodes that Arm passes create without a stack trace (the RESCALE and
    TRANSPOSE after a conv, on 1.2.0) inherit the case node of the operator that produced
    their first attributed input: they finish that node's computation. Unless a traced
    operator of one other node reads the same input: then they start that node's computation
    beside it. 1.5.1 lowers an int16 layer_norm's mean (REDUCE_SUM, MUL, SUB) without a
    trace, next to the norm's traced RESCALE of the same input; inherited, its x - mean (of
    the input's shape) became the value of the relu before the norm, 2061 LSB "wrong" (seed
    202, tosa-int16 relu -> layer_norm, whose relu alone is exact).

    Except a TABLE that *replaced* a case node: InsertTableOpsPass (1.5.1
    ``_passes/insert_table_ops.py``) creates it with no trace of the op it replaces (sin,
    hardswish, ...), which then has no operator of its own, so inheriting gave hardswish's
    TABLE to the reshape before it (the reshape was then judged on hardswish's values). The
    pass names the table constant after the FX node it replaced (:data:`_TABLE_CONSTANT`):
    the TABLE goes to the one case node (``nodes``: id, op, inputs) of that op, with no
    operator of its own, that reads the node its input came from (or, for an input from
    outside this graph, a tensor no operator here made); to none if several do (its value is
    then unmatched: :func:`unmatched_producers`). A TABLE inside a decomposition (layer_norm's
    rsqrt) names no case op and still inherits. A node with no operator of its own is read
    through its producer: in a conv -> relu6 -> sin (U55, 1.5.1) the non-fuseable relu6 left no
    operator, its sin's TABLE reads the conv's tensor, and taken for the conv's (so the relu6's)
    last value, the sin's codes made the relu6 148 LSB "wrong" where its consumer sin was exact.
    """
    graph = read_graph(tosa_bytes)[0]
    traced = []
    for _, _, _, _, location in graph:
        node = None
        if location:
            try:
                trace = json.loads(location).get("torch_info", {}).get("stack_trace", [])
                node = origin_of_trace("\n".join(trace), line_to_node)
            except (ValueError, AttributeError):
                node = None
        traced.append(node)
    owning = set(traced)
    traced_readers: dict[str, set[str]] = {}  # tensor -> the case nodes of traced operators reading it
    for (_, inputs, _, _, _), node in zip(graph, traced):
        if node is not None:
            for i in inputs:
                traced_readers.setdefault(i, set()).add(node)
    by_id = {n.id: n for n in nodes}

    def carried_by(name: str) -> str:
        # A node with no operator of its own (a relu6 dropped into its conv's RESCALE) is
        # read from its producer's tensors: a TABLE reading them reads that node.
        seen = set()
        while name in by_id and name not in owning and len(by_id[name].inputs) == 1 and name not in seen:
            seen.add(name)
            name = by_id[name].inputs[0]
        return name

    out = []
    produced_by: dict[str, str] = {}
    # tensor -> the node whose value it carries, before the sibling rule: an untraced RESCALE
    # of a conv's output that a traced add beside it also reads goes to the add, yet what it
    # carries on to a TABLE is still the conv's (its relu's) value
    carries: dict[str, str] = {}
    for (name, inputs, outputs, _, _), node in zip(graph, traced):
        inherited = next((carries[i] for i in inputs if i in carries), None)
        if node is None:
            node = next((produced_by[i] for i in inputs if i in produced_by), None)
            replaced = _replaced_ops(name, inputs)
            if replaced:
                sources = {node, inherited} - {None}
                readers = [n.id for n in nodes if n.op in replaced and n.id not in owning
                           and (sources & {carried_by(i) for i in n.inputs} if sources else any(i not in owning for i in n.inputs))]
                if readers:  # one: the node it replaced; several: cannot tell which
                    node = readers[0] if len(readers) == 1 else None
                inherited = node
            else:
                siblings = {r for i in inputs for r in traced_readers.get(i, ())} - {node}
                node = siblings.pop() if len(siblings) == 1 else node
        else:
            inherited = node
        if node is not None:
            produced_by.update((o, node) for o in outputs)
        if inherited is not None:
            carries.update((o, inherited) for o in outputs)
        out.append((name, outputs, node))
    return out


def _replaced_ops(name: str, inputs: list[str]) -> tuple[str, ...]:
    """The case ops an untraced TOSA operator stands for on its own: a TABLE's by its table
    constant, else :data:`_UNTRACED_LOWERING`'s; none for an operator that only finishes or
    starts another node's computation (a RESCALE, a RESHAPE)."""
    if name == "TABLE" and inputs:
        m = _TABLE_CONSTANT.match(inputs[-1])
        return (m.group(1),) if m else ()
    return _UNTRACED_LOWERING.get(name, ())


def first_misshapen(tosa_bytes: bytes, line_to_node: dict[int, str], nodes: Any, shapes: dict[str, Any]) -> str | None:
    """The first case node (in case order) whose lowered value has another element count than
    the case gives it: the last TOSA operator attributed to it (:func:`tosa_operators`) outputs
    that many elements. A wrong-shaped delegate output is named there, not at the op that
    returns it: a negative pad before a relu6 and an abs leaves the abs with the pad's extra
    rows (seed 202). Layout changes (NCHW to NHWC) keep the count. None when every attributed
    node has its count."""
    import math

    _, tensors = read_graph(tosa_bytes)
    last: dict[str, list[str]] = {}
    for _, outputs, node in tosa_operators(tosa_bytes, line_to_node, nodes):
        if node is not None:
            last[node] = outputs
    for n in nodes:
        outputs = last.get(n.id)
        if not outputs or n.id not in shapes or outputs[0] not in tensors:
            continue
        if math.prod(tensors[outputs[0]][0]) != math.prod(shapes[n.id]):
            return n.id
    return None


def table_op_names(tosa_bytes: bytes) -> set[str]:
    """The ops InsertTableOpsPass replaced with a TABLE in this graph, by their table
    constants' names (:data:`_TABLE_CONSTANT`). By op, not by node: two sigmoids reading one
    input give two TABLEs that :func:`tosa_operators` cannot tell apart, and both are TABLEs."""
    names = set()
    for name, inputs, _, _, _ in read_graph(tosa_bytes)[0]:
        m = _TABLE_CONSTANT.match(inputs[-1]) if name == "TABLE" and inputs else None
        if m:
            names.add(m.group(1))
    return names


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
    dtypes: dict[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """Case node -> its lowered codes: the last integer tensor, in graph order, of an operator
    from the node or from a producer fused into it, with the node's shape and, where
    ``dtypes`` names it, the dtype of the node's own quantization. An int8 node in an int16
    graph ends in the RESCALE into its int16 consumer's domain, traced to the node; that
    tensor is the consumer's input, not the node's value (see :func:`quantize_keys`)."""
    owner = {member: node for node, members in groups.items() for member in members}
    found: dict[str, np.ndarray] = {}
    for _, outputs, node in operators:
        key = owner.get(node) if node is not None else None
        if key is None:
            continue
        want = (dtypes or {}).get(key)
        for name in outputs:
            if name in codes and want in (None, codes[name].dtype.name):
                arr = _as_reference_layout(codes[name], shapes[key])
                if arr is not None:
                    found[key] = arr
    return found


# -- the reference side -------------------------------------------------------------------


def quantize_keys(converted: torch.fx.GraphModule, line_to_node: dict[int, str]) -> dict[torch.fx.Node, str]:
    """Each quantize node of the converted model -> the case node (or graph input) it quantizes.

    A requantization, the quantize of a dequantize, computes nothing: it moves a value from
    one domain to another (an int8 module's output into its int16 consumer's). It is left to
    the reference, so each node is judged in its own domain. Keyed to the int8 avg_pool2d
    whose line it carries, its int16 codes were judged against the pool's int8 range: "out
    of range, 1460 LSB" at a pool whose int8 output was within 1 LSB (seed 202, tosa-int16
    add -> avg_pool2d (int8) -> add; the graph output's 32 int16 LSB are that 1 int8 LSB)."""
    keys: dict[torch.fx.Node, str] = {}
    for n in converted.graph.nodes:
        if is_quantize(n) and not (isinstance(n.args[0], torch.fx.Node) and is_dequantize(n.args[0])):
            src = n.args[0]
            key = src.name if src.op == "placeholder" else origin(src, line_to_node)
            if key is not None:
                keys[n] = key
    return keys


@dataclass
class _Jitter:
    """1 LSB on every code of a quantized tensor, clamped to its [qmin, qmax]: all up
    (``sign`` 1), all down (-1), or each up or down at random (0)."""

    generator: torch.Generator
    sign: int

    def apply(self, codes: torch.Tensor, qmin: int, qmax: int) -> torch.Tensor:
        if self.sign:
            delta = torch.full(codes.shape, self.sign, dtype=torch.int32)
        else:
            delta = torch.randint(0, 2, codes.shape, generator=self.generator, dtype=torch.int32) * 2 - 1
        return (codes.to(torch.int32) + delta).clamp(qmin, qmax).to(codes.dtype)


@dataclass
class _Knot:
    """Each int16 code read by a dequantize moved to the int16 TABLE knot below it (``upper``
    False) or above it.

    TOSA's int16 TABLE reads entry ``(c + 32768) >> 7`` and the next one and interpolates
    linearly by the low 7 bits; InsertTableOpsPass (1.5.1 ``generate_16_bit_table_values``)
    fills the 513 entries with the op at every 128th code from -32768, the last at code
    32768. That one does not fit in an int16 tensor, so a knot is made a value directly
    (:meth:`dequantize`)."""

    upper: bool

    def codes(self, codes: torch.Tensor) -> torch.Tensor:
        lower = codes.to(torch.int32) & ~0x7F
        return lower + 128 if self.upper else lower

    def dequantize(self, codes: torch.Tensor, scale: float, zp: int) -> torch.Tensor:
        return ((self.codes(codes).double() - zp) * scale).to(torch.float32)


class _Forced(torch.fx.Interpreter):
    """Runs the quantized model, recording each case node's output codes and replacing them
    with the lowered codes of the same tensor where one is given.

    A case node's line can export to several quantize nodes: a view, then the op, or a whole
    decomposition (the Arm quantizer decomposes layer_norm into mean, sub, var, rsqrt, mul,
    add, each quantized, several with the node's shape). Its output is the *last* one with
    the node's shape, found by a first, unforced run (``outputs``); only that one is forced.
    Forcing every same-shaped one put the output's codes into the decomposition's
    intermediates, under their scales: a 61-LSB "local error" at a correct layer_norm.

    ``jitter`` moves every case node's and graph input's codes by 1 LSB once recorded, so
    each node computes from perturbed inputs (:func:`noise_floors`). ``tables`` names the ops
    the delegate lowered to int16 TABLEs (:func:`table_op_names`); each of them with an int16
    input is then computed as its TABLE computes it (:meth:`_interpolated`), wherever it is:
    a lone tanh, or the rsqrt inside a layer_norm's decomposition.
    """

    def __init__(self, gm: torch.fx.GraphModule, keys: dict[torch.fx.Node, str], forced: dict[str, np.ndarray],
                 shapes: dict[str, tuple[int, ...]], outputs: dict[str, torch.fx.Node] | None = None,
                 jitter: _Jitter | None = None, tables: frozenset[str] = frozenset()) -> None:
        super().__init__(gm)
        self.tables = tables
        self.table_codes: dict[torch.fx.Node, tuple] = {}
        self.keys = keys
        self.forced = forced
        self.shapes = shapes
        self.codes: dict[str, torch.Tensor] = {}
        self.outputs: dict[str, torch.fx.Node] = dict(outputs or {})
        self.jitter = jitter
        self.output_nodes = set(self.outputs.values())

    def run_node(self, n: torch.fx.Node) -> Any:
        if self.tables and is_dequantize(n) and n.args[5] == torch.int16 and any(map(self._is_table_op, n.users)):
            self.table_codes[n] = self.fetch_args_kwargs_from_env(n)[0][:3]  # its input is freed once it ran
        if self.tables and self._is_table_op(n) and n.args and n.args[0] in self.table_codes:
            out = self._interpolated(n)
        else:
            out = super().run_node(n)
        key = self.keys.get(n)
        if key is not None and isinstance(out, torch.Tensor) and tuple(out.shape) == self.shapes.get(key):
            if key not in self.forced:
                self.codes[key] = out
                self.outputs[key] = n
            elif self.outputs.get(key) is n:
                self.codes[key] = out
                out = torch.from_numpy(np.ascontiguousarray(self.forced[key])).to(out.dtype)
        if self.jitter is not None and n in self.output_nodes:
            out = self.jitter.apply(out, n.args[3], n.args[4])
        return out

    def _is_table_op(self, n: torch.fx.Node) -> bool:
        return n.op == "call_function" and getattr(n.target, "_opname", None) in self.tables

    def _interpolated(self, n: torch.fx.Node) -> torch.Tensor:
        """``n`` (an op lowered to an int16 TABLE) as the TABLE computes it: its entries are the
        op at the knots on either side of each input code (:class:`_Knot`), quantized to the
        op's output qparams (so an infinite rsqrt(0) is the output's qmax), interpolated by
        the code's low 7 bits; the quantize after ``n`` rounds the result as the RESCALE after
        the TABLE does.

        A lowering that matches this but not the op itself is wrong only as far as linear
        interpolation between knots 128 codes apart must be: :func:`localize` judges that as
        one rule, ``table-interpolation``, whatever the op. Measured on seed 202's tosa-int16
        cases: a lone tanh over +-1000 (knots 3.9 apart) is 2077 LSB off the op and 0 LSB off
        this; a layer_norm whose rsqrt reads codes 81-600 of a 2^-12 scale (knots at 0 and
        128, and rsqrt(0) is the output's qmax) 27 and 1 LSB; a group_norm 7 and 1 (beyond its
        noise floor). Interpolating values instead of the quantized entries missed these two by
        hundreds of LSB. A log_softmax (exp, reciprocal and log TABLEs) goes from 8182 to 145
        LSB, 84 beyond its noise floor: not explained, so still max-error."""
        args, kwargs = self.fetch_args_kwargs_from_env(n)
        codes, scale, zp = self.table_codes[n.args[0]]
        entries = []
        out_q = next((u for u in n.users if is_quantize(u)), None)
        for knot in (_Knot(False), _Knot(True)):
            value = n.target(knot.dequantize(codes, scale, zp), *args[1:], **kwargs).double()
            if out_q is not None:
                o_scale, o_zp, o_min, o_max = out_q.args[1:5]
                value = torch.round(value / o_scale + o_zp).clamp(o_min, o_max)
            entries.append(value)
        low, high = entries
        frac = (codes.to(torch.int32) & 0x7F).double() / 128
        out = low + (high - low) * frac
        if out_q is not None:
            out = (out - o_zp) * o_scale
        return out.to(torch.float32)


def fusion_groups(case: Any, quantized: set[str]) -> dict[str, list[str]]:
    """Quantized case node -> itself plus the single-consumer producers without a quantized
    output of their own (conv -> relu: the conv's value only exists inside the relu's).

    Not a node the case leaves in float (``case.float_nodes``, a module set to float): its value
    is its own computation, in float, that no lowered code matches, so it is an unmatched
    producer and the consumer's culprit is the span (:func:`unmatched_producers`). Taken as
    fused, a float layer_norm before a linear was reported as ``linear(after-layer_norm)``, and
    the linear is exact: executorch 1.5.1's DecomposeMeanDimPass rounds the norm's mean to its
    input's int8 grid (seed 202)."""
    floats = set(getattr(case, "float_nodes", ()))
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
        while (len(cur.inputs) == 1 and cur.inputs[0] in by_id and cur.inputs[0] not in quantized
               and cur.inputs[0] not in floats and consumers.get(cur.inputs[0]) == 1):
            cur = by_id[cur.inputs[0]]
            members.append(cur.id)
        groups[n.id] = members
    return groups


# -- the judgement ------------------------------------------------------------------------


#: Ops whose lowering divides by a spread or a sum it computes, or reduces into a scale much
#: finer than its input's, so that a 1-LSB change of an input moves the output by many LSB of
#: its own scale: layer_norm and group_norm (a near-constant row divided by its own spread),
#: softmax and log_softmax (exp, sum, reciprocal), var, and the reductions mean, sum, mean_hw
#: and adaptive_avg_pool2d (an output range, so a scale, much narrower than the input's). Not
#: batch_norm: in eval mode its factors are constants (the running statistics), not computed
#: from the values it normalises, so its lowering is a per-channel affine rescale held to the
#: same tolerance as a conv's (bench/tolerance.py). Not the pointwise TABLE ops (sin, erf,
#: ...): their lowering looks up each input code on its own, so inputs that agree exactly (as
#: teacher-forced ones do) leave no room for noise.
#: (A tuple, so a repro carries it in a stable order.)
ILL_CONDITIONED = ("adaptive_avg_pool2d", "group_norm", "layer_norm", "log_softmax", "mean", "mean_hw", "softmax", "sum", "var")
#: Activations whose lower bound is 0 whatever their parameters. FuseQuantizedActivationPass
#: (1.5.1 ``_passes/fuse_quantized_activation_pass.py``) folds relu, and relu6 when 6
#: quantizes to qmax, into the conv or linear before it by setting the output quantize's qmin
#: to its zero-point, and no RESCALE enforces that qmin: relu and relu6 after a conv then leave
#: codes below the zero-point. :func:`floor_not_applied` names that rule, whatever the op.
#: hardtanh and clamp floor at 0 only by their parameters (:func:`floors_at_zero`).
ZERO_FLOOR = ("relu", "relu6")
#: The perturbed runs behind each noise floor: every input code up by 1 LSB, every one down
#: (what moves a mean or a sum most), then six with each code up or down at random (what
#: moves a normalisation most: a coherent shift cancels in x - mean). Seeded: the same case
#: gets the same floor, so the same verdict and signature, every time. Eight are enough: on
#: tests/data/conv-avgpool-layernorm.case.json (tosa-int-fp and tosa-int16) the largest
#: change after 8 runs (67 and 61 LSB) is the one after 32, at 0.3 s against 1.5 s a case.
NOISE_SIGNS = (1, -1, 0, 0, 0, 0, 0, 0)
NOISE_SEED = 0


def noise_floors(converted: torch.fx.GraphModule, keys: dict[torch.fx.Node, str], lowered: dict[str, np.ndarray],
                 shapes: dict[str, tuple[int, ...]], outputs: dict[str, torch.fx.Node], base: dict[str, torch.Tensor],
                 nodes: list[str], sample: tuple) -> dict[str, torch.Tensor]:
    """Per node and element (flattened): the largest change of its local reference, in LSB,
    when every tensor it reads (the lowered codes the run is forced to, graph inputs,
    unmatched producers) moves by 1 LSB.

    A correct lowering of an ill-conditioned op rounds at every intermediate requantization,
    and that moves its output as 1 LSB of input noise does. Measured on int16 conv ->
    avg_pool -> layer_norm with near-constant rows (tests/data/conv-avgpool-layernorm.case.json
    on tosa-int16): local error 30 LSB, floor 61 LSB. Moving the decomposition's own
    intermediates by 1 LSB as well gave 117 LSB: inputs alone already cover the error, and a
    larger floor would hide more, so inputs alone it is.
    """
    out: dict[str, torch.Tensor] = {}
    generator = torch.Generator().manual_seed(NOISE_SEED)
    for sign in NOISE_SIGNS:
        run = _Forced(converted, keys, lowered, shapes, outputs, _Jitter(generator, sign))
        run.run(*sample)
        for node in nodes:
            change = (run.codes[node].double() - base[node].double()).flatten().abs()
            out[node] = torch.maximum(out[node], change) if node in out else change
    return out


def beyond_noise(rep: dict[str, Any], err: torch.Tensor, floor: torch.Tensor) -> dict[str, Any]:
    """``rep`` (a code report) with its errors (``err``: lowered minus local reference, per
    element) less what 1 LSB of input noise explains: each element's error beyond its own
    floor, for the largest and for the signed mean. Per element, because rows are not equally
    ill-conditioned: a near-constant row moves by 60 LSB where the others move by 1, and a
    wrong lowering shows on those too (a layer_norm shifted by 5 LSB is caught under a 67-LSB
    floor, tests/test_localize.py). Noise alone leaves nothing beyond its floor, so it can
    never make the mean fail. Codes outside [qmin, qmax] stay: noise never makes them."""
    beyond = torch.sign(err) * (err.abs() - floor).clamp(min=0)
    if not beyond.numel():
        return rep
    return {**rep, "max_lsb": float(beyond.abs().max()), "mean_lsb": float(beyond.mean())}


def unmatched_producers(case: Any, node: str, matched: set[str], groups: dict[str, list[str]]) -> list[str]:
    """The case nodes upstream of ``node`` whose lowered values were not matched, up to the
    matched ones, in case order. The node's local reference was computed through their
    *reference* values, so its local error is theirs as much as its own: with them it is a
    span, and the culprit is the span."""
    by_id = {n.id: n for n in case.nodes}
    own = groups.get(node, [node])  # its fused producers are part of it, not of a span
    found: set[str] = set()
    todo = [i for m in own for i in by_id[m].inputs if i not in own]
    while todo:
        i = todo.pop()
        if i in by_id and i not in matched and i not in found:
            members = groups.get(i, [i])
            found.update(members)
            todo.extend(j for m in members for j in by_id[m].inputs)
    return [n.id for n in case.nodes if n.id in found]


def localize(
    case: Any,
    shapes: dict[str, tuple[int, ...]],
    converted: torch.fx.GraphModule,
    line_to_node: dict[int, str],
    samples: list[tuple],
    delegate_runs: list[list[tuple[bytes, list[np.ndarray]]]],
    qparams_by_node: dict[str, dict[str, Any]],
    outputs: list[dict[str, tuple[torch.Tensor, dict[str, Any]]]] | None = None,
) -> Localization:
    """Per-node local and propagated errors, and the first node whose local error is a bug.

    ``delegate_runs[s]`` holds each delegate call of sample ``s``: the TOSA bytes and the
    inputs it received when the program ran; ``outputs[s]`` what the program returned
    (:func:`program_outputs`), the value of an output node no lowered tensor matched.
    """
    keys = quantize_keys(converted, line_to_node)
    quantized = {k for k in keys.values() if k in {n.id for n in case.nodes}}
    groups = fusion_groups(case, quantized)
    node_shapes = {k: tuple(v) for k, v in shapes.items()}
    acc: dict[str, dict[str, list[torch.Tensor]]] = {}
    operators: dict[bytes, list] = {}  # each delegate's graph is parsed once, whatever the samples
    table_ops: dict[bytes, set[str]] = {}
    dtypes = {k: q["dtype"] for k, q in qparams_by_node.items() if q and q.get("dtype") in ("int8", "int16")}
    int16 = "int16" in dtypes.values()  # an int8 TABLE is exact
    for index, (sample, runs) in enumerate(zip(samples, delegate_runs)):
        lowered: dict[str, np.ndarray] = {}
        table_names: set[str] = set()  # the ops the delegates lowered to TABLE operators
        for tosa_bytes, inputs in runs:
            if tosa_bytes not in operators:
                operators[tosa_bytes] = tosa_operators(tosa_bytes, line_to_node, case.nodes)
                table_ops[tosa_bytes] = table_op_names(tosa_bytes)
            lowered.update(lowered_values(operators[tosa_bytes], dump_codes(tosa_bytes, inputs), groups, node_shapes, dtypes))
            table_names |= table_ops[tosa_bytes]
        for node, (value, q) in (outputs[index] if outputs else {}).items():
            own = qparams_by_node.get(node)
            if node in quantized and node not in lowered and own and (own["scale"], own["zp"]) == (q["scale"], q["zp"]):
                lowered[node] = (torch.round(value.detach().double() / q["scale"]) + q["zp"]).reshape(node_shapes[node]).numpy()
        plain = _Forced(converted, keys, {}, node_shapes)
        with torch.no_grad():
            plain.run(*sample)
            forced = _Forced(converted, keys, lowered, node_shapes, plain.outputs)
            forced.run(*sample)
            ill = [n.id for n in case.nodes if n.op in ILL_CONDITIONED and n.id in lowered and n.id in forced.codes]
            floors = noise_floors(converted, keys, lowered, node_shapes, plain.outputs, forced.codes, ill, sample) if ill else {}
            tabled = None
            if table_names and int16:
                tabled = _Forced(converted, keys, lowered, node_shapes, plain.outputs, tables=frozenset(table_names))
                tabled.run(*sample)
        for node, got in lowered.items():
            if node not in forced.codes:
                continue
            slot = acc.setdefault(node, {"got": [], "local": [], "plain": [], "floor": [], "tabled": []})
            slot["got"].append(torch.from_numpy(np.ascontiguousarray(got)).double().flatten())
            slot["local"].append(forced.codes[node].double().flatten())
            slot["plain"].append(plain.codes[node].double().flatten())
            if node in floors:
                slot["floor"].append(floors[node])
            if tabled is not None and node in tabled.codes:
                slot["tabled"].append(tabled.codes[node].double().flatten())
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
        row.span = unmatched_producers(case, n.id, set(acc), groups)
        if loc["out_of_range"]:
            out_of_range.add(n.id)
            if any(i in out_of_range for i in n.inputs):
                # Codes outside [qmin, qmax] that came in through an input (a cat or a
                # reshape copies them) are the input's fault; judge this node on error only.
                loc["out_of_range"] = 0
        rep = {**loc, "elements": row.elements}
        if acc[n.id]["floor"]:  # an ill-conditioned op: judged on what 1 LSB of input noise cannot explain
            floor = torch.cat(acc[n.id]["floor"])
            rep = beyond_noise(rep, got - local, floor)
            row.noise_max, row.beyond_noise = float(floor.max()), rep["max_lsb"]
        row.symptom = judge(rep)
        if row.symptom and floors_at_zero(n) and floor_not_applied(local, got, q, row.elements):
            row.symptom = "activation-floor"
        twin = twin_in_other_domain(case, n, qparams_by_node) if row.symptom else None
        if twin and read_in_twins_domain(local, got, q, qparams_by_node[twin]):
            row.symptom = "duplicate-users-fused"
        tabled = row.symptom and len(acc[n.id]["tabled"]) == len(acc[n.id]["got"])
        as_tabled = torch.cat(acc[n.id]["tabled"]) if tabled else None
        if as_tabled is not None and not torch.equal(as_tabled, local):
            # Right as its int16 TABLEs compute, wrong only against the op they stand for. A
            # value no TABLE computes is not this rule: a fused relu whose codes sat at -128
            # under act_qmin -127 (narrow-range) was called table-interpolation because a
            # TABLE elsewhere in its graph gave it a tabled reference equal to its own (U85,
            # acceptance bucket 35c380599300).
            tabled_rep = {**code_report(as_tabled, got, q), "elements": row.elements}
            if acc[n.id]["floor"]:
                tabled_rep = beyond_noise(tabled_rep, got - as_tabled, torch.cat(acc[n.id]["floor"]))
            # Left with codes at the storage bound past a narrow qmin only (int16's -32767 with
            # -32768 out): the interpolation is still what makes the error (an int16
            # batch_norm's rsqrt(var + eps) between the knots at codes 0 and 128 was 1970 LSB
            # off, and one output code sat at -32768), so the bug is the table's.
            if judge(tabled_rep) in (None, "narrow-range"):
                row.symptom = "table-interpolation"
        if row.symptom and culprit is None:
            culprit = n.id
        table.append(row)
    checked = sum(r.checked for r in table)
    note = "" if checked else "no lowered tensor could be matched to a case node"
    return Localization(table, culprit, note)


def twin_in_other_domain(case: Any, node: Any, qparams_by_node: dict[str, dict[str, Any]]) -> str | None:
    """An earlier case node with the node's op, inputs and params but other output qparams.

    FuseDuplicateUsersPass (executorch ``backends/transforms/fuse_duplicate_users_pass.py``,
    run by the Arm pass manager after FoldAndAnnotateQParamsPass) merges the users of one
    producer whose args are equal. After the fold, a node's output qparams live in its meta,
    not its args, so two sigmoids of one input, one requantized for a cat, become one, and the
    second returns the first's codes in the first's domain (seed 202 acceptance bucket
    9aef2fe7f572: 3581 int16 LSB on all seven targets, 1.2.0-1.5.1)."""
    mine = qparams_by_node.get(node.id)
    for other in case.nodes:
        if other.id == node.id:
            return None
        theirs = qparams_by_node.get(other.id)
        if (other.op, other.inputs, other.params) == (node.op, node.inputs, node.params) and mine and theirs \
                and (theirs["scale"], theirs["zp"]) != (mine["scale"], mine["zp"]):
            return other.id
    return None


def read_in_twins_domain(local: torch.Tensor, got: torch.Tensor, q: dict[str, Any], twin: dict[str, Any]) -> bool:
    """Whether the node's codes are its own value in its twin's domain: the right value
    (``local``, in the node's codes) requantized to the twin's qparams is what came back.
    Tolerance: the oracle's 1 LSB, plus the node's own rounding seen in the twin's LSBs; and
    closer to that than to its own right codes, so twins in near-equal domains never explain
    an error of some other cause."""
    value = (local - q["zp"]) * q["scale"]
    want = torch.clamp(torch.round(value / twin["scale"]) + twin["zp"], twin["qmin"], twin["qmax"])
    off = (got - want).abs().max()
    return bool(off <= 1 + math.ceil(q["scale"] / twin["scale"]) and off < (got - local).abs().max())


def floors_at_zero(node: Any) -> bool:
    """Whether a case node is an activation whose lower bound is 0: relu and relu6 always, a
    hardtanh or a clamp when its min is 0. torch.export writes relu6 as aten.hardtanh(x, 0, 6),
    and the fusion pass treats them alike: seed 202's acceptance campaign showed hardtanh(0, 1)
    and hardtanh(0, 6) after a conv wrong only by codes below the zero-point (4 buckets, each
    filed apart from the relu6 ones as max-error@hardtanh)."""
    params = getattr(node, "params", None) or {}
    if node.op in ZERO_FLOOR:
        return True
    low = params.get("min_val") if node.op == "hardtanh" else params.get("min") if node.op == "clamp" else None
    return low == 0


def floor_not_applied(local: torch.Tensor, got: torch.Tensor, q: dict[str, Any], elements: int) -> bool:
    """Whether an activation with a lower bound of 0 (:func:`floors_at_zero`) is wrong only by
    codes below its zero-point: clamping the lowered codes at the zero-point (the activation's
    0) leaves nothing the oracle rejects. 33 results of seed 202's 30-minute campaign (relu) and
    7 (relu6) on six targets are this one rule; the mean is negative in every one."""
    if q["zp"] <= q["qmin"]:
        return False
    floored = code_report(local, got.clamp(min=q["zp"]), q)
    return judge({**floored, "elements": elements}) is None


def program_outputs(names: list[str], gots: list[list[torch.Tensor]],
                    qparams: list[dict[str, Any] | None]) -> list[dict[str, tuple[torch.Tensor, dict[str, Any]]]]:
    """Per sample, each quantized graph output as the program returned it, with its qparams:
    the lowered value of an output node even when no lowered tensor matched it (a TOSA tensor
    in another layout, an op folded into the delegate's last rescale). Without it such an
    output's node was never judged, and its error was called carried rounding."""
    return [{name: (g[i], q) for i, (name, q) in enumerate(zip(names, qparams)) if q is not None} for g in gots]


def node_qparams_by_key(converted: torch.fx.GraphModule, line_to_node: dict[int, str]) -> dict[str, dict[str, Any]]:
    """qparams of each quantized case node (first quantize node wins, as fuzz.judge.regimes does)."""
    out: dict[str, dict[str, Any]] = {}
    for n, key in quantize_keys(converted, line_to_node).items():
        out.setdefault(key, node_qparams(n))
    return out
