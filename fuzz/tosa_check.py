"""Static validation of an emitted TOSA graph against the TOSA 1.0 specification's ERROR_IF rules.

An invalid graph is executorch's bug whatever runs it next, but what runs it next fails in
its own way: the reference model segfaults (a tosa-tools weakness, a separate finding), vela
reports "Validation error: ERROR_IF(...)", model-converter fails. Checking the graph
*before* any tool runs it gives the one verdict all targets share, ``invalid-tosa``, named
by the broken rule, with each tool's reaction kept as evidence.

Neither tosa-tools' Python packages nor executorch offer a validator for serialized graphs
(executorch validates FX nodes before serialising; vela's validator sits inside its native
compiler), so the rules are read from the TOSA 1.0 specification, chapter 2 "Operators",
for the operators executorch emits for the graphs armfuzz generates:

* CONV2D, DEPTHWISE_CONV2D: ranks, ``shapeCheck`` of weight against input channels, bias
  size, the output-size formula (2.3 "Tensor Operators");
* AVG_POOL2D, MAX_POOL2D: the output-size formula;
* MATMUL: batch and inner dimensions;
* CONCAT: rank, axis range, equal non-axis dimensions, output axis = sum (2.10 "Data Layout");
* RESHAPE: equal element counts; TRANSPOSE: ``perms`` a permutation, output = permuted input;
* RESCALE, CLAMP, TABLE and the unary element-wise operators: output shape = input shape;
  CLAMP min <= max;
* binary element-wise operators (2.5): equal ranks, broadcastable dimensions, output = the
  broadcast shape.

Every operator input must name a tensor of the graph. A violation message starts with a
stable kind (``CONV2D: weight/input channels``) for signatures, then the numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

_BINARY = {"ADD", "SUB", "MUL", "MAXIMUM", "MINIMUM", "POW", "INTDIV", "EQUAL", "GREATER", "GREATER_EQUAL",
           "LOGICAL_AND", "LOGICAL_OR", "BITWISE_AND", "BITWISE_OR", "ARITHMETIC_RIGHT_SHIFT", "LOGICAL_LEFT_SHIFT",
           "LOGICAL_RIGHT_SHIFT"}
_SAME_SHAPE = {"RESCALE", "CLAMP", "TABLE", "SIGMOID", "TANH", "ERF", "EXP", "LOG", "ABS", "NEGATE", "RECIPROCAL",
               "RSQRT", "FLOOR", "CEIL", "CAST", "IDENTITY", "LOGICAL_NOT", "BITWISE_NOT", "CLZ", "SIN", "COS"}


def violation_kind(message: str) -> str:
    """The stable part of a violation (operator and rule), for signatures."""
    return message.split(" (", 1)[0]


def dumped_tosa_files(artifacts: str | Path) -> list[Path]:
    """The TOSA flatbuffers executorch wrote while lowering, one per delegate.

    With ``dump_intermediate_artifacts_to(path)`` the TOSA backend writes
    ``output_<tag>_<spec>.tosa`` before vela or model-converter runs
    (executorch/backends/arm/tosa/backend.py, ``debug_tosa_dump``), so the graph a failing tool
    received is there even when the tool then failed.
    """
    return sorted(Path(artifacts).glob("output_*.tosa"))


def tosa_violations(tosa_bytes: bytes) -> list[str]:
    """The specification rules the graph breaks; empty when none of the checked ones is."""
    try:
        ops, tensors = read_graph(tosa_bytes)
    except Exception as e:  # noqa: BLE001 - any parse failure means it is not a TOSA graph
        return [f"not a TOSA flatbuffer ({type(e).__name__})"]
    if not ops:
        return ["not a TOSA flatbuffer (no operators)"]
    out: list[str] = []
    for name, inputs, outputs, attr, _ in ops:
        missing = [i for i in inputs if i not in tensors]
        if missing:
            out.append(f"{name}: undefined input tensor ({len(missing)} missing)")
            continue
        ins = [tensors[i] for i in inputs]
        outs = [tensors[o] for o in outputs if o in tensors]
        try:
            out += _check(name, ins, outs, attr)
        except (IndexError, ValueError, TypeError) as e:
            out.append(f"{name}: malformed operands ({type(e).__name__})")
    return out


def read_graph(tosa_bytes: bytes) -> tuple[list[tuple[str, list[str], list[str], Any, str | None]], dict[str, tuple[list[int], str, Any]]]:
    """(operators, tensors) of a TOSA flatbuffer, every block in order. An operator is
    (name, input names, output names, attribute table or None, debug location text or None);
    a tensor maps its name to (shape, dtype name, constant data or None). Shared with
    fuzz.localize, which reads the locations."""
    from tosa import Attribute, DType, Op, TosaGraph

    op_names = {v: k for k, v in vars(Op.Op).items() if isinstance(v, int)}
    dtype_names = {v: k for k, v in vars(DType.DType).items() if isinstance(v, int)}
    attr_names = {v: k for k, v in vars(Attribute.Attribute).items() if isinstance(v, int)}
    if len(tosa_bytes) < 8:
        raise ValueError("too short")
    graph = TosaGraph.TosaGraph.GetRootAs(tosa_bytes, 0)
    ops, tensors = [], {}
    for r in range(graph.RegionsLength()):
        region = graph.Regions(r)
        for b in range(region.BlocksLength()):
            block = region.Blocks(b)
            for i in range(block.TensorsLength()):
                t = block.Tensors(i)
                shape = [int(d) for d in t.ShapeAsNumpy()] if t.ShapeLength() else []
                data = t.DataAsNumpy() if t.DataLength() else None
                tensors[t.Name().decode()] = (shape, dtype_names.get(t.Type(), str(t.Type())), data)
            for i in range(block.ShapesLength()):  # shape values (CONST_SHAPE outputs), no tensor shape
                tensors[block.Shapes(i).Name().decode()] = ([], "SHAPE", None)
            for i in range(block.OperatorsLength()):
                op = block.Operators(i)
                name = op_names.get(op.Op(), str(op.Op()))
                attr = _attribute(op, attr_names.get(op.AttributeType()))
                loc = op.Location()
                ops.append((name, [op.Inputs(j).decode() for j in range(op.InputsLength())],
                            [op.Outputs(j).decode() for j in range(op.OutputsLength())], attr,
                            loc.Text().decode() if loc is not None and loc.Text() else None))
    return ops, tensors


def _attribute(op: Any, kind: str | None) -> Any:
    """The operator's attribute table as its generated class (Conv2dAttribute, ...), or None."""
    import importlib

    table = op.Attribute()
    if table is None or not kind or kind == "NONE":
        return None
    try:
        cls = getattr(importlib.import_module(f"tosa.{kind}"), kind)
    except (ImportError, AttributeError):
        return None
    attr = cls()
    attr.Init(table.Bytes, table.Pos)
    return attr


def _conv_out(size: int, pad_a: int, pad_b: int, kernel: int, stride: int, dilation: int = 1) -> float:
    """Output size of a convolution or pooling window (TOSA 1.0, CONV2D / AVG_POOL2D)."""
    return (size - 1 + pad_a + pad_b - (kernel - 1) * dilation) / stride + 1


def _check(name: str, ins: list, outs: list, attr: Any) -> list[str]:
    shape = [t[0] for t in ins]
    out_shape = outs[0][0] if outs else None
    v: list[str] = []
    if name in ("CONV2D", "DEPTHWISE_CONV2D"):
        x, w, bias = shape[0], shape[1], shape[2]
        if len(x) != 4 or len(w) != 4:
            return [f"{name}: input and weight must be rank 4 (input {x}, weight {w})"]
        if name == "CONV2D":
            oc, kh, kw, ic = w
            if ic != x[3]:
                v.append(f"CONV2D: weight/input channels (ERROR_IF(shapeCheck(weight, input)): weight IC {ic} != input C {x[3]})")
        else:
            kh, kw, c, m = w
            oc = c * m
            if c != x[3]:
                v.append(f"DEPTHWISE_CONV2D: weight/input channels (weight C {c} != input C {x[3]})")
        if bias and bias[0] not in (1, oc):
            v.append(f"{name}: bias size (bias {bias[0]} != OC {oc} and != 1)")
        if attr is not None and out_shape is not None:
            pad, stride, dil = list(attr.PadAsNumpy()), list(attr.StrideAsNumpy()), list(attr.DilationAsNumpy())
            want = [x[0], _conv_out(x[1], pad[0], pad[1], kh, stride[0], dil[0]), _conv_out(x[2], pad[2], pad[3], kw, stride[1], dil[1]), oc]
            v += _output_matches(name, want, out_shape)
    elif name in ("AVG_POOL2D", "MAX_POOL2D"):
        x = shape[0]
        if attr is not None and out_shape is not None and len(x) == 4:
            k, s, p = list(attr.KernelAsNumpy()), list(attr.StrideAsNumpy()), list(attr.PadAsNumpy())
            want = [x[0], _conv_out(x[1], p[0], p[1], k[0], s[0]), _conv_out(x[2], p[2], p[3], k[1], s[1]), x[3]]
            v += _output_matches(name, want, out_shape)
    elif name == "MATMUL":
        a, b = shape[0], shape[1]
        if len(a) != 3 or len(b) != 3 or a[0] != b[0] or a[2] != b[1]:
            v.append(f"MATMUL: operand shapes (A {a}, B {b})")
        elif out_shape is not None:
            v += _output_matches(name, [a[0], a[1], b[2]], out_shape)
    elif name == "CONCAT":
        axis = attr.Axis() if attr is not None else 0
        ranks = {len(s) for s in shape}
        if len(ranks) != 1:
            return [f"CONCAT: input ranks differ ({sorted(ranks)})"]
        rank = ranks.pop()
        if not 0 <= axis < rank:
            return [f"CONCAT: axis out of range (axis {axis}, rank {rank})"]
        if any(s[:axis] + s[axis + 1:] != shape[0][:axis] + shape[0][axis + 1:] for s in shape):
            v.append(f"CONCAT: non-axis dimensions differ ({shape}, axis {axis})")
        elif out_shape is not None:
            want = list(shape[0])
            want[axis] = sum(s[axis] for s in shape)
            v += _output_matches(name, want, out_shape)
    elif name == "RESHAPE":
        if out_shape is not None and int(np.prod(shape[0])) != int(np.prod(out_shape)):
            v.append(f"RESHAPE: element count changes ({shape[0]} -> {out_shape})")
    elif name == "TRANSPOSE":
        perms = [int(p) for p in attr.PermsAsNumpy()] if attr is not None else []
        if sorted(perms) != list(range(len(shape[0]))):
            v.append(f"TRANSPOSE: perms not a permutation ({perms} for rank {len(shape[0])})")
        elif out_shape is not None:
            v += _output_matches(name, [shape[0][p] for p in perms], out_shape)
    elif name in _BINARY:
        a, b = shape[0], shape[1]
        if len(a) != len(b):
            v.append(f"{name}: operand ranks differ ({a}, {b})")
        elif any(x != y and 1 not in (x, y) for x, y in zip(a, b)):
            v.append(f"{name}: operands not broadcastable ({a}, {b})")
        elif out_shape is not None:
            v += _output_matches(name, [max(x, y) for x, y in zip(a, b)], out_shape)
    elif name in _SAME_SHAPE and out_shape is not None:
        v += _output_matches(name, shape[0], out_shape)
        if name == "CLAMP" and attr is not None:
            v += _clamp_bounds(attr, ins[0][1])
    return v


def _output_matches(name: str, want: list, got: list[int]) -> list[str]:
    if any(isinstance(d, float) and not d.is_integer() for d in want):
        return [f"{name}: output size not integral ({[round(d, 2) if isinstance(d, float) else d for d in want]})"]
    want = [int(d) for d in want]
    if want != list(got):
        return [f"{name}: output shape (expected {want}, graph says {list(got)})"]
    return []


def _clamp_bounds(attr: Any, dtype: str) -> list[str]:
    """TOSA 1.0 stores CLAMP's bounds as bytes of the input's type."""
    np_type = {"INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "FP32": np.float32, "FP16": np.float16}.get(dtype)
    if np_type is None or not attr.MinValLength() or not attr.MaxValLength():
        return []
    lo = np.frombuffer(attr.MinValAsNumpy().tobytes(), dtype=np_type)[0]
    hi = np.frombuffer(attr.MaxValAsNumpy().tobytes(), dtype=np_type)[0]
    return [f"CLAMP: min greater than max ({lo} > {hi})"] if lo > hi else []
