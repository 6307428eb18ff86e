"""Static validation of an emitted TOSA graph against the TOSA 1.0 specification.

An invalid graph is executorch's bug whatever runs it next, but each tool fails on it in its
own way: the reference model segfaults (a tosa-tools weakness, a separate finding), vela
reports "Validation error: ERROR_IF(...)", model-converter fails. Checking the graph *before*
any tool runs it gives the one verdict all targets share, ``invalid-tosa``, named by the
broken rule, with each tool's reaction kept as evidence.

Why a checker of our own: tosa-tools has no validator for serialized graphs (its
``tosa_verify`` compares results; ``tosa-opt --tosa-deserialize --tosa-validate`` accepts
the conv with mismatched channels; the reference model checks ERROR_IFs only while it
executes, then crashes; ``TosaSerializer.loadTosaFlatbuffer`` segfaults on a truncated
file). executorch validates FX nodes before serialising. vela's regor carries a validator
generated from the specification, but only inside a full Ethos-U compile, against the
Ethos-U profile, in native code: :func:`vela_validation` runs it in a subprocess as a second
opinion, and the tests hold this checker to agree with it.

The rules are read from the TOSA 1.0.1 specification (chapter 2 "Operators": the operator
argument tables, i.e. shapes, ranks and element types; the "Supported Data Types" tables;
the ERROR_IF/REQUIRE statements of each operator's pseudocode and of ``broadcast_shape`` and
``idiv_check``; "Operator Graphs"; "Compile Time Constant" status):

* graph: every operand names a tensor or shape of the graph and comes from a graph input,
  an operator or constant data; no tensor is produced twice; block outputs exist; constant
  data covers its shape; known operators; operand counts;
* CONV2D, DEPTHWISE_CONV2D, TRANSPOSE_CONV2D (2.3 "Tensor Operators"): ranks, the argument
  shapes (``shapeCheck``: weight against input channels, batch), bias size ``BC``, the
  output-size formulas (``idiv_check``), pad >= 0 / out_pad > -K, stride and dilation >= 1,
  zero-point tensors ``[1]``, compile-time constant, zero unless int8;
* AVG_POOL2D, MAX_POOL2D: kernel/stride >= 1, 0 <= pad < kernel, output size, channels,
  AVG_POOL2D zero points;
* MATMUL: A ``[N,H,C]``, B ``[N,C,W]``, output ``[N,H,W]``, zero points;
* elementwise binary (2.5), comparison (2.8), SELECT (2.7): ``broadcast_shape``
  (equal ranks, dims equal or 1, output = broadcast); MUL's shift ``[1]`` int8 constant,
  REQUIRE 0 <= shift <= 63 and shift == 0 unless int32;
* CLAMP, TABLE, NEGATE and the unary operators (2.4, 2.6): output shape = input shape;
  CLAMP ERROR_IF(max_val < min_val), NaN bounds; TABLE length 256 / 513, constant; NEGATE
  zero points;
* CONCAT, RESHAPE, TRANSPOSE, PAD, SLICE, TILE (2.10 "Data Layout"), REDUCE_* and ARGMAX
  (2.9, 2.3): every ERROR_IF of their pseudocode on ranks, axes, permutations, shape
  operands and output shapes;
* RESCALE (2.13 "Type Conversion"): multiplier/shift length ``NC`` (last dim if per-channel,
  else 1), multiplier int32 iff scale32 else int16, shift int8, zero-point and
  unsigned/scale32/rounding ERROR_IFs, REQUIRE multiplier >= 0 and 2 <= shift <= 62
  (``apply_scale_32/16``);
* data types: every operator above against its "Supported Data Types" table (including
  ``acc_type``); with ``spec`` (executorch's ``TOSA-1.0+INT+int16`` form) also the profiles and
  extensions that table requires, and the graph's version.

Not covered: levels (MAX_RANK, MAX_KERNEL ...), RESIZE/GATHER/SCATTER/FFT/control flow,
data-dependent REQUIREs. Executorch 1.5.1 stores all per-channel weight zero points (zeros)
in a ``[1]`` weight_zp tensor; longer constant data than the shape is therefore accepted.

A message starts with a stable kind (``CONV2D: weight/input channels``) for signatures, then
the rule and the numbers in parentheses (:func:`violation_kind`).
"""

from __future__ import annotations

import functools
import re
from typing import Any, NamedTuple

import numpy as np

from fuzz.judge.tosa.reader import _T, _Graph, _load, _Op, _size


def violation_kind(message: str) -> str:
    """The stable part of a violation (operator and rule), for signatures."""
    return message.split(" (", 1)[0]


def tosa_violations(tosa_bytes: bytes, spec: str | None = None) -> list[str]:
    """The specification rules the graph breaks; empty when none of the checked ones is.

    ``spec`` (``TOSA-1.0+INT+int16``) adds the profile/extension rules; without it only
    rules that hold under every profile are checked. Never raises for any bytes."""
    profile = _parse_spec(spec) if spec else None
    try:
        graph = _load(tosa_bytes)
    except Exception as e:  # noqa: BLE001 - any parse failure means it is not a TOSA graph
        return [f"graph: not a TOSA flatbuffer ({type(e).__name__}: {str(e)[:80]})"]
    if not graph.ops and not graph.outputs:
        return ["graph: not a TOSA flatbuffer (no operators, no outputs)"]
    out = _graph_rules(graph, profile)
    for i, op in enumerate(graph.ops):
        try:
            out += _check_op(op, profile)
        except Exception as e:  # noqa: BLE001 - malformed attributes are a finding, not our crash
            out.append(f"{op.name}: malformed operator ({type(e).__name__} at operator {i})")
    return list(dict.fromkeys(out))  # one line per distinct violation, in graph order


# --------------------------------------------------------------------------------------------
# Profiles and extensions (executorch's TosaSpecification string form).


class _Profile(NamedTuple):
    text: str
    version: tuple[int, int]
    have: frozenset[str]  # "INT", "FP" and lower-case extensions


_SPEC = re.compile(r"^TOSA-(\d+)\.(\d+)(?:\.\d+)?((?:\+[A-Za-z0-9_]+)*)$")


def _parse_spec(spec: str) -> _Profile:
    m = _SPEC.match(spec.strip())
    if not m:
        raise ValueError(f"not a TOSA specification string: {spec!r}")
    tokens = [t for t in m.group(3).split("+") if t]
    have = frozenset(t.upper() if t.upper() in ("INT", "FP") else t.lower() for t in tokens)
    return _Profile(spec, (int(m.group(1)), int(m.group(2))), have)


# --------------------------------------------------------------------------------------------
# The "Supported Data Types" tables of TOSA 1.0.1: per operator, the type variables of its
# operands (inputs, outputs; upper case is a fixed type) and the modes with the profile or
# extension each needs ("INT|FP": either profile).

_CONV_MODES = ("INT8 INT8 INT32 INT32 INT | INT8 INT4 INT32 INT32 int4 | INT16 INT8 INT48 INT48 int16 | "
               "FP8E4M3 FP8E4M3 FP16 FP16 fp8e4m3 | FP8E5M2 FP8E5M2 FP16 FP16 fp8e5m2 | FP16 FP16 FP16 FP16 FP | "
               "FP16 FP16 FP16 FP32 FP | BF16 BF16 BF16 FP32 bf16 | FP32 FP32 FP32 FP32 FP")
_LAYOUT_MODES = ("BOOL INT|FP | INT8 INT | INT16 INT | INT32 INT | FP8E4M3 fp8e4m3 | FP8E5M2 fp8e5m2 | FP16 FP | "
                 "BF16 bf16 | FP32 FP")
_FLOAT_UNARY = "FP16 FP | BF16 bf16 | FP32 FP"
_ARITH = "INT32 INT|FP | FP16 FP | BF16 bf16 | FP32 FP"
_COMPARE = "INT32 INT | FP16 FP | BF16 bf16 | FP32 FP"

_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], str]] = {
    # op: (input type vars, output type vars, mode variables in order, modes)
    "CONV2D": (("in", "weight", "out", "in", "weight"), ("out",), ("in", "weight", "out", "acc"), _CONV_MODES),
    "DEPTHWISE_CONV2D": (("in", "weight", "out", "in", "weight"), ("out",), ("in", "weight", "out", "acc"), _CONV_MODES),
    "TRANSPOSE_CONV2D": (("in", "weight", "out", "in", "weight"), ("out",), ("in", "weight", "out", "acc"), _CONV_MODES),
    "AVG_POOL2D": (("io", "io", "io"), ("io",), ("io", "acc"),
                   ("INT8 INT32 INT | INT16 INT32 int16 | FP8E4M3 FP16 fp8e4m3 | FP8E5M2 FP16 fp8e5m2 | "
                    "FP16 FP16 FP | FP16 FP32 FP | BF16 FP32 bf16 | FP32 FP32 FP")),
    "MAX_POOL2D": (("io",), ("io",), ("io",),
                   "INT8 INT | INT16 int16 | FP8E4M3 fp8e4m3 | FP8E5M2 fp8e5m2 | FP16 FP | BF16 bf16 | FP32 FP"),
    "MATMUL": (("in", "in", "in", "in"), ("out",), ("in", "out"),
               ("INT8 INT32 INT | INT16 INT48 int16 | FP8E4M3 FP16 fp8e4m3 | FP8E5M2 FP16 fp8e5m2 | FP16 FP16 FP | "
                "FP16 FP32 FP | BF16 FP32 bf16 | FP32 FP32 FP")),
    "RESCALE": (("in", "mul", "INT8", "in", "out"), ("out",), ("in", "out"),
                ("INT8 INT8 INT | INT8 INT16 INT | INT8 INT32 INT | INT16 INT8 INT | INT16 INT16 INT | INT16 INT32 INT | "
                 "INT32 INT8 INT | INT32 INT16 INT | INT32 INT32 INT | INT48 INT8 int16 | INT48 INT16 int16 | "
                 "INT48 INT32 int16")),
    "MUL": (("in", "in", "INT8"), ("out",), ("in", "out"),
            "INT8 INT32 INT | INT16 INT32 INT | INT32 INT32 INT|FP | FP16 FP16 FP | BF16 BF16 bf16 | FP32 FP32 FP"),
    "ADD": (("io", "io"), ("io",), ("io",), _ARITH),
    "SUB": (("io", "io"), ("io",), ("io",), _ARITH),
    "INTDIV": (("io", "io"), ("io",), ("io",), "INT32 INT|FP"),
    "MAXIMUM": (("io", "io"), ("io",), ("io",), _COMPARE),
    "MINIMUM": (("io", "io"), ("io",), ("io",), _COMPARE),
    "ARITHMETIC_RIGHT_SHIFT": (("io", "io"), ("io",), ("io",), "INT8 INT | INT16 INT | INT32 INT"),
    "LOGICAL_LEFT_SHIFT": (("io", "io"), ("io",), ("io",), "INT8 INT|FP | INT16 INT|FP | INT32 INT|FP"),
    "LOGICAL_RIGHT_SHIFT": (("io", "io"), ("io",), ("io",), "INT8 INT|FP | INT16 INT|FP | INT32 INT|FP"),
    "EQUAL": (("in", "in"), ("BOOL",), ("in",), _COMPARE),
    "GREATER": (("in", "in"), ("BOOL",), ("in",), _COMPARE),
    "GREATER_EQUAL": (("in", "in"), ("BOOL",), ("in",), _COMPARE),
    "SELECT": (("BOOL", "io", "io"), ("io",), ("io",),
               "BOOL INT|FP | INT8 INT | INT16 INT | INT32 INT | FP16 FP | BF16 bf16 | FP32 FP"),
    "CLAMP": (("io",), ("io",), ("io",), "INT8 INT | INT16 int16 | FP16 FP | BF16 bf16 | FP32 FP"),
    "TABLE": (("in", "table"), ("out",), ("in", "table", "out"), "INT8 INT8 INT8 INT | INT16 INT16 INT32 int16"),
    "NEGATE": (("io", "io", "io"), ("io",), ("io",), "INT8 INT | INT16 INT | INT32 INT | " + _FLOAT_UNARY),
    "ABS": (("io",), ("io",), ("io",), "INT32 INT | " + _FLOAT_UNARY),
    "CONCAT": (("io*",), ("io",), ("io",), _LAYOUT_MODES.replace("INT16 INT", "INT16 int16")),
    "RESHAPE": (("io", "SHAPE"), ("io",), ("io",), _LAYOUT_MODES),
    "TRANSPOSE": (("io",), ("io",), ("io",), _LAYOUT_MODES),
    "PAD": (("io", "SHAPE", "io"), ("io",), ("io",), _LAYOUT_MODES),
    "SLICE": (("io", "SHAPE", "SHAPE"), ("io",), ("io",), _LAYOUT_MODES),
    "TILE": (("io", "SHAPE"), ("io",), ("io",), _LAYOUT_MODES),
    "REDUCE_SUM": (("io",), ("io",), ("io",), "INT32 INT | " + _FLOAT_UNARY),
    "REDUCE_MAX": (("io",), ("io",), ("io",), "INT8 INT | INT16 INT | INT32 INT | " + _FLOAT_UNARY),
    "REDUCE_MIN": (("io",), ("io",), ("io",), "INT8 INT | INT16 INT | INT32 INT | " + _FLOAT_UNARY),
    "ARGMAX": (("in",), ("INT32",), ("in",),
               "INT8 INT | INT16 int16 | FP8E4M3 fp8e4m3 | FP8E5M2 fp8e5m2 | FP16 FP | BF16 bf16 | FP32 FP"),
    "IDENTITY": (("io",), ("io",), ("io",),
                 ("BOOL INT|FP | INT4 int4 | INT8 INT|FP | INT16 INT|FP | INT32 INT|FP | INT48 int16 | "
                  "FP8E4M3 fp8e4m3 | FP8E5M2 fp8e5m2 | FP16 FP | BF16 bf16 | FP32 FP")),
    "CONST": ((), ("out",), ("out",),
              ("BOOL INT|FP | INT4 int4 | INT8 INT|FP | INT16 INT|FP | INT32 INT|FP | INT48 int16 | "
               "FP8E4M3 fp8e4m3 | FP8E5M2 fp8e5m2 | FP16 FP | BF16 bf16 | FP32 FP")),
    "CAST": (("in",), ("out",), ("in", "out"),
             ("BOOL INT8 INT | BOOL INT16 INT | BOOL INT32 INT | INT8 BOOL INT | INT8 INT16 INT | INT8 INT32 INT | "
              "INT8 FP16 FP | INT8 BF16 bf16 | INT8 FP32 FP | INT16 BOOL INT | INT16 INT8 INT | INT16 INT32 INT | "
              "INT16 FP16 FP | INT16 BF16 bf16 | INT16 FP32 FP | INT32 BOOL INT | INT32 INT8 INT | INT32 INT16 INT | "
              "INT32 FP16 FP | INT32 BF16 bf16 | INT32 FP32 FP | BF16 INT8 bf16 | BF16 INT16 bf16 | BF16 INT32 bf16 | "
              "BF16 FP8E4M3 bf16 | BF16 FP8E5M2 bf16 | BF16 FP32 bf16 | FP8E4M3 FP16 fp8e4m3 | FP8E4M3 BF16 fp8e4m3 | "
              "FP8E4M3 FP32 fp8e4m3 | FP8E5M2 FP16 fp8e5m2 | FP8E5M2 BF16 fp8e5m2 | FP8E5M2 FP32 fp8e5m2 | "
              "FP16 INT8 FP | FP16 INT16 FP | FP16 INT32 FP | FP16 FP8E4M3 fp8e4m3 | FP16 FP8E5M2 fp8e5m2 | "
              "FP16 FP32 FP | FP32 INT8 FP | FP32 INT16 FP | FP32 INT32 FP | FP32 FP8E4M3 fp8e4m3 | "
              "FP32 FP8E5M2 fp8e5m2 | FP32 BF16 bf16 | FP32 FP16 FP")),
}
for _u in ("SIGMOID", "TANH", "ERF", "EXP", "LOG", "RECIPROCAL", "RSQRT", "FLOOR", "CEIL", "SIN", "COS"):
    _TYPES[_u] = (("io",), ("io",), ("io",), _FLOAT_UNARY)
_TYPES["POW"] = (("io", "io"), ("io",), ("io",), _FLOAT_UNARY)

#: Operand counts (TOSA 1.0 argument tables; zero points, shifts and shape values are inputs).
_ARITY = {"CONV2D": 5, "DEPTHWISE_CONV2D": 5, "TRANSPOSE_CONV2D": 5, "AVG_POOL2D": 3, "MAX_POOL2D": 1, "MATMUL": 4,
          "RESCALE": 5, "MUL": 3, "TABLE": 2, "NEGATE": 3, "RESHAPE": 2, "PAD": 3, "SLICE": 3, "TILE": 2,
          "SELECT": 3, "CONST": 0, "CONST_SHAPE": 0}
_BINARY = {"ADD", "SUB", "MUL", "MAXIMUM", "MINIMUM", "POW", "INTDIV", "EQUAL", "GREATER", "GREATER_EQUAL",
           "LOGICAL_AND", "LOGICAL_OR", "LOGICAL_XOR", "BITWISE_AND", "BITWISE_OR", "BITWISE_XOR",
           "ARITHMETIC_RIGHT_SHIFT", "LOGICAL_LEFT_SHIFT", "LOGICAL_RIGHT_SHIFT"}
_UNARY = {"CLAMP", "SIGMOID", "TANH", "ERF", "EXP", "LOG", "ABS", "RECIPROCAL", "RSQRT", "FLOOR", "CEIL",
          "CAST", "IDENTITY", "LOGICAL_NOT", "BITWISE_NOT", "CLZ", "SIN", "COS"}
_ARITY.update({o: 2 for o in _BINARY - {"MUL"}})
_ARITY.update({o: 1 for o in _UNARY | {"TRANSPOSE", "REDUCE_SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PRODUCT",
                                        "REDUCE_ALL", "REDUCE_ANY", "ARGMAX", "REVERSE"}})
_MODES = {op: [(m.split()[:-1], m.split()[-1]) for m in re.split(r"\s\|\s", spec)] for op, (*_, spec) in _TYPES.items()}

_EXT_NAMES = {"int16": "EXT-INT16", "int4": "EXT-INT4", "bf16": "EXT-BF16", "fp8e4m3": "EXT-FP8E4M3",
              "fp8e5m2": "EXT-FP8E5M2", "INT": "PRO-INT", "FP": "PRO-FP"}


def _v(op: str, kind: str, detail: str) -> str:
    return f"{op}: {kind} ({detail})"


# --------------------------------------------------------------------------------------------
# Graph-level rules ("Operator Graphs").


def _graph_rules(g: _Graph, profile: _Profile | None) -> list[str]:
    out = []
    if g.version[0] != 1:
        out.append(_v("graph", "not TOSA 1.x", f"version {g.version[0]}.{g.version[1]}"))
    elif profile is not None and g.version != profile.version:
        out.append(_v("graph", "version differs from the spec", f"graph {g.version[0]}.{g.version[1]}, {profile.text}"))
    produced: dict[str, str] = {}
    for op in g.ops:
        for o in op.out_names:
            if o in produced:
                out.append(_v("graph", "tensor produced twice", f"by {produced[o]} and {op.name}"))
            produced[o] = op.name
    missing = [o for o in g.outputs if o not in g.operands]
    if missing:
        out.append(_v("graph", "undefined output", f"{len(missing)} of {len(g.outputs)}"))
    # An operand must come from somewhere: a graph input, an operator, or constant data. A
    # graph with no operator at all is legal when its outputs are its inputs: executorch emits
    # one for an identity (a split into one piece), and the reference model runs it exactly.
    sources = set(g.inputs) | set(produced) | {n for n, t in g.operands.items() if t.data is not None}
    dangling = {i for op in g.ops for i in op.in_names if i in g.operands and i not in sources}
    if dangling:
        out.append(_v("graph", "operand never produced", f"{len(dangling)} tensors"))
    unproduced = [o for o in g.outputs if o in g.operands and o not in sources]
    if unproduced:
        out.append(_v("graph", "output never produced", f"{len(unproduced)} of {len(g.outputs)}"))
    if g.short_data:
        out.append(_v("graph", "constant data shorter than its shape", f"{len(g.short_data)} tensors"))
    return out


# --------------------------------------------------------------------------------------------
# Operator rules.


def _check_op(op: _Op, profile: _Profile | None) -> list[str]:
    name = op.name
    if name.isdigit():
        return [_v("graph", "unknown operator", f"op code {name}")]
    if any(t is None for t in op.ins) or any(t is None for t in op.outs):
        n = sum(t is None for t in op.ins + op.outs)
        return [_v(name, "undefined operand", f"{n} of {len(op.ins) + len(op.outs)} not in the graph")]
    want = _ARITY.get(name)
    if name == "CONCAT" and not op.ins:
        return [_v(name, "empty input list", "ERROR_IF(input1 == [])")]
    if want is not None and len(op.ins) != want:
        return [_v(name, "operand count", f"expected {want}, got {len(op.ins)}")]
    if name not in ("CONST", "CONST_SHAPE") and len(op.outs) != 1:
        return [_v(name, "output count", f"expected 1, got {len(op.outs)}")]
    out = _types(op, profile)
    check = _CHECKS.get(name)
    if check is not None:
        out += check(op, profile)
    elif name in _BINARY:
        out += _broadcast(name, [t.shape for t in op.ins[:2]], op.outs[0].shape)
    elif name in _UNARY:
        out += _same_shape(op)
    return out


def _types(op: _Op, profile: _Profile | None) -> list[str]:
    """The operand types against the operator's type variables and Supported Data Types."""
    spec = _TYPES.get(op.name)
    if spec is None:
        return []
    in_vars, out_vars, mode_vars, _ = spec
    if in_vars and in_vars[0].endswith("*"):
        in_vars = (in_vars[0][:-1],) * len(op.ins)
    bound: dict[str, tuple[str, str]] = {}
    out = []
    operands = [(_arg(op.name, i), v, t) for i, (v, t) in enumerate(zip(in_vars, op.ins))]
    operands += [("output", v, t) for v, t in zip(out_vars, op.outs)]
    for arg, var, t in operands:
        if var.isupper():
            if t.dtype != var:
                out.append(_v(op.name, f"{arg} type", f"{t.dtype}, must be {var}"))
        elif var in bound and bound[var][1] != t.dtype:
            out.append(_v(op.name, f"{arg}/{bound[var][0]} types differ", f"{t.dtype} != {bound[var][1]}"))
        else:
            bound.setdefault(var, (arg, t.dtype))
    if out:
        return out
    if "acc" in mode_vars:
        acc = getattr(op.attr, "AccType", None)
        if acc is None:
            return [_v(op.name, "missing acc_type", "attribute absent")]
        bound["acc"] = ("acc_type", _enum_names("DType").get(acc(), str(acc())))
    actual = [bound[v][1] for v in mode_vars if v in bound]
    if len(actual) != len(mode_vars):
        return []
    modes = [need for types, need in _MODES[op.name] if types == actual]
    label = ", ".join(f"{v} {t}" for v, t in zip(mode_vars, actual))
    if not modes:
        return [_v(op.name, "unsupported data types", f"{label} is in no Supported Data Types row")]
    if profile is not None and not any(_allowed(need, profile) for need in modes):
        needs = " or ".join(dict.fromkeys(_EXT_NAMES.get(n, n) for need in modes for n in need.split("|")))
        return [_v(op.name, f"data types need {needs}", f"{label}; {profile.text}")]
    return []


def _allowed(need: str, profile: _Profile) -> bool:
    return any(n in profile.have for n in need.split("|"))


_ARG_NAMES = {
    "CONV2D": ("input", "weight", "bias", "input_zp", "weight_zp"),
    "DEPTHWISE_CONV2D": ("input", "weight", "bias", "input_zp", "weight_zp"),
    "TRANSPOSE_CONV2D": ("input", "weight", "bias", "input_zp", "weight_zp"),
    "AVG_POOL2D": ("input", "input_zp", "output_zp"),
    "MATMUL": ("A", "B", "A_zp", "B_zp"),
    "RESCALE": ("input", "multiplier", "shift", "input_zp", "output_zp"),
    "MUL": ("input1", "input2", "shift"),
    "TABLE": ("input1", "table"),
    "NEGATE": ("input1", "input1_zp", "output_zp"),
    "RESHAPE": ("input1", "shape"),
    "PAD": ("input1", "padding", "pad_const"),
    "SLICE": ("input1", "start", "size"),
    "TILE": ("input1", "multiples"),
    "SELECT": ("input1", "input2", "input3"),
}


def _arg(op: str, index: int) -> str:
    """The specification's name of an input (``weight``, ``input_zp``), not the tensor's."""
    names = _ARG_NAMES.get(op, ())
    return names[index] if index < len(names) else f"input{index + 1}"


@functools.cache
def _enum_names(enum: str) -> dict[int, str]:
    """Value -> name of a flatbuffer enum of the ``tosa`` package (DType, RoundingMode)."""
    import importlib

    cls = getattr(importlib.import_module(f"tosa.{enum}"), enum)
    return {v: k for k, v in vars(cls).items() if isinstance(v, int)}


# -- shapes -----------------------------------------------------------------------------------

_WORD = {"IC": "channels", "C": "channels", "OC": "channels", "N": "batch"}


def _shapes(op: str, args: list[tuple[str, list[int], str]]) -> tuple[dict[str, int], list[str]]:
    """``shapeCheck`` over the argument table: each ``(arg, shape, "[N,IH,IW,IC]")`` binds its
    symbols; a rank or a symbol that disagrees with an earlier argument is a violation."""
    bound: dict[str, tuple[int, str, str]] = {}
    out = []
    for arg, shape, pattern in args:
        syms = pattern.strip("[]").split(",")
        if len(shape) != len(syms):
            out.append(_v(op, f"{arg} rank", f"expected {len(syms)} ({pattern}), got {len(shape)}"))
            continue
        for sym, dim in zip(syms, shape):
            if sym.isdigit():
                if dim != int(sym):
                    out.append(_v(op, f"{arg} shape", f"{shape}, must be {pattern}"))
                continue
            if sym in bound and bound[sym][0] != dim:
                prev_dim, prev_arg, prev_pattern = bound[sym]
                out.append(_v(op, f"{arg}/{prev_arg} {_WORD.get(sym, sym)}",
                              f"ERROR_IF(shapeCheck({arg}, {pattern}, {prev_arg}, {prev_pattern})): "
                              f"{arg} {sym} {dim} != {prev_arg} {sym} {prev_dim}"))
            bound.setdefault(sym, (dim, arg, pattern))
    return {s: d for s, (d, _, _) in bound.items()}, out


def _output_is(op: str, want: list, got: list[int], rule: str = "") -> list[str]:
    """The output shape the rule computes (a float means ``idiv_check`` did not divide)."""
    if any(isinstance(d, float) and not d.is_integer() for d in want):
        shown = [round(d, 2) if isinstance(d, float) else d for d in want]
        return [_v(op, "output size not integral", f"ERROR_IF(idiv_check) {rule}: {shown}".replace("  ", " "))]
    want = [int(d) for d in want]
    if want != list(got):
        return [_v(op, "output shape", f"expected {want}, graph says {list(got)}")]
    return []


def _same_shape(op: _Op) -> list[str]:
    return _output_is(op.name, list(op.ins[0].shape), op.outs[0].shape)


def _broadcast(op: str, shapes: list[list[int]], out_shape: list[int]) -> list[str]:
    """TOSA 1.0 ``broadcast_shape``: equal ranks, each dim equal or 1; the output is the result."""
    shape = list(shapes[0])
    for other in shapes[1:]:
        if len(other) != len(shape):
            return [_v(op, "operand ranks differ", f"ERROR_IF(rank(shape1) != rank(shape2)): {shapes}")]
        for i, d in enumerate(other):
            if shape[i] == 1:
                shape[i] = d
            elif d not in (1, shape[i]):
                return [_v(op, "operands not broadcastable", f"ERROR_IF(shape2[i] != 1 && shape2[i] != shape[i]): {shapes}")]
    return _output_is(op, shape, out_shape)


def _const(op: str, arg: str, t: _T, profile: _Profile | None) -> list[str]:
    """Zero points, shifts, multipliers, tables and shape operands are Compile Time Constants
    in PRO-INT and PRO-FP unless EXT-DYNAMIC is there."""
    if t.data is None and not (profile is not None and "dynamic" in profile.have):
        return [_v(op, f"{arg} not a compile-time constant", "CTC input fed by a non-constant")]
    return []


def _zero_points(op: str, pairs: list[tuple[str, _T, str]], profile: _Profile | None) -> list[str]:
    """``ERROR_IF(!is_same<T,i8_t>() && zp != 0)`` for each (arg, zp tensor, element type)."""
    out = []
    for arg, t, dtype in pairs:
        out += _const(op, arg, t, profile)
        if t.values and dtype != "INT8" and t.values[0] != 0:
            out.append(_v(op, f"{arg} nonzero for {dtype}", f"ERROR_IF(!is_same<T,i8_t>() && {arg} != 0): {t.values[0]}"))
    return out


def _ints(attr: Any, field: str, length: int, op: str) -> tuple[list[int], list[str]]:
    if attr is None:
        return [], [_v(op, "missing attribute", field)]
    got = getattr(attr, f"{field}AsNumpy")()
    vals = [int(x) for x in got] if not isinstance(got, int) else []
    if len(vals) != length:
        return [], [_v(op, f"{field.lower()} length", f"expected {length}, got {len(vals)}")]
    return vals, []


def _conv(op: _Op, profile: _Profile | None) -> list[str]:
    x, w, b, xzp, wzp = op.ins
    name = op.name
    weight_pattern = {"CONV2D": "[OC,KH,KW,IC]", "TRANSPOSE_CONV2D": "[OC,KH,KW,IC]", "DEPTHWISE_CONV2D": "[KH,KW,C,M]"}[name]
    in_pattern = "[N,IH,IW,C]" if name == "DEPTHWISE_CONV2D" else "[N,IH,IW,IC]"
    sym, out = _shapes(name, [("input", x.shape, in_pattern), ("weight", w.shape, weight_pattern),
                              ("bias", b.shape, "[BC]"), ("input_zp", xzp.shape, "[1]"), ("weight_zp", wzp.shape, "[1]")])
    out += _zero_points(name, [("input_zp", xzp, x.dtype), ("weight_zp", wzp, w.dtype)], profile)
    if len(x.shape) != 4 or len(w.shape) != 4 or len(b.shape) != 1:
        return out
    oc = sym["C"] * sym["M"] if name == "DEPTHWISE_CONV2D" else sym["OC"]
    if sym["BC"] not in (1, oc):
        out.append(_v(name, "bias size", f"ERROR_IF(BC != OC && BC != 1): BC {sym['BC']}, OC {oc}"))
    kh, kw = sym["KH"], sym["KW"]
    if name == "TRANSPOSE_CONV2D":
        pad, e1 = _ints(op.attr, "OutPad", 4, name)
        stride, e2 = _ints(op.attr, "Stride", 2, name)
        out += e1 + e2
        if e1 or e2:
            return out
        if pad[0] <= -kh or pad[1] <= -kh or pad[2] <= -kw or pad[3] <= -kw:
            out.append(_v(name, "out_pad too negative", f"ERROR_IF(out_pad <= -K): {pad}, K {kh}x{kw}"))
        if min(stride) < 1:
            return out + [_v(name, "stride below 1", f"ERROR_IF(stride_y < 1 || stride_x < 1): {stride}")]
        want = [x.shape[0], (x.shape[1] - 1) * stride[0] + pad[0] + pad[1] + kh,
                (x.shape[2] - 1) * stride[1] + pad[2] + pad[3] + kw, oc]
        return out + _output_is(name, want, op.outs[0].shape)
    pad, e1 = _ints(op.attr, "Pad", 4, name)
    stride, e2 = _ints(op.attr, "Stride", 2, name)
    dil, e3 = _ints(op.attr, "Dilation", 2, name)
    out += e1 + e2 + e3
    if e1 or e2 or e3:
        return out
    if min(pad) < 0:
        out.append(_v(name, "negative pad", f"ERROR_IF(pad < 0): {pad}"))
    if min(stride) < 1:
        out.append(_v(name, "stride below 1", f"ERROR_IF(stride_y < 1 || stride_x < 1): {stride}"))
    if min(dil) < 1:
        out.append(_v(name, "dilation below 1", f"ERROR_IF(dilation_y < 1 || dilation_x < 1): {dil}"))
    if min(stride) < 1:
        return out
    want = [x.shape[0], (x.shape[1] - 1 + pad[0] + pad[1] - (kh - 1) * dil[0]) / stride[0] + 1,
            (x.shape[2] - 1 + pad[2] + pad[3] - (kw - 1) * dil[1]) / stride[1] + 1, oc]
    return out + _output_is(name, want, op.outs[0].shape, "OH/OW")


def _pool(op: _Op, profile: _Profile | None) -> list[str]:
    name, x = op.name, op.ins[0]
    args = [("input", x.shape, "[N,IH,IW,C]")]
    if name == "AVG_POOL2D":
        args += [("input_zp", op.ins[1].shape, "[1]"), ("output_zp", op.ins[2].shape, "[1]")]
    _, out = _shapes(name, args + [("output", op.outs[0].shape, "[N,OH,OW,C]")])
    if name == "AVG_POOL2D":
        out += _zero_points(name, [("input_zp", op.ins[1], x.dtype), ("output_zp", op.ins[2], x.dtype)], profile)
    kernel, e1 = _ints(op.attr, "Kernel", 2, name)
    stride, e2 = _ints(op.attr, "Stride", 2, name)
    pad, e3 = _ints(op.attr, "Pad", 4, name)
    out += e1 + e2 + e3
    if e1 or e2 or e3 or len(x.shape) != 4:
        return out
    if min(kernel) < 1:
        out.append(_v(name, "kernel below 1", f"ERROR_IF(kernel_y < 1 || kernel_x < 1): {kernel}"))
    if min(stride) < 1:
        out.append(_v(name, "stride below 1", f"ERROR_IF(stride_y < 1 || stride_x < 1): {stride}"))
    if min(pad) < 0:
        out.append(_v(name, "negative pad", f"ERROR_IF(pad < 0): {pad}"))
    if max(pad[0], pad[1]) >= kernel[0] or max(pad[2], pad[3]) >= kernel[1]:
        out.append(_v(name, "pad not below kernel", f"ERROR_IF(pad >= kernel): pad {pad}, kernel {kernel}"))
    if min(kernel) < 1 or min(stride) < 1:
        return out
    want = [x.shape[0], (x.shape[1] + pad[0] + pad[1] - kernel[0]) / stride[0] + 1,
            (x.shape[2] + pad[2] + pad[3] - kernel[1]) / stride[1] + 1, x.shape[3]]
    return out + _output_is(name, want, op.outs[0].shape, "OH/OW")


def _matmul(op: _Op, profile: _Profile | None) -> list[str]:
    a, b, azp, bzp = op.ins
    _, out = _shapes("MATMUL", [("A", a.shape, "[N,H,C]"), ("B", b.shape, "[N,C,W]"), ("A_zp", azp.shape, "[1]"),
                                ("B_zp", bzp.shape, "[1]"), ("output", op.outs[0].shape, "[N,H,W]")])
    # 1.0.1 prints ERROR_IF(is_same<in_t,i8_t> && ...), a typo the specification fixed later
    # (!is_same, "Zero point only for i8_t"); the intended rule is checked.
    return out + _zero_points("MATMUL", [("A_zp", azp, a.dtype), ("B_zp", bzp, b.dtype)], profile)


def _rescale(op: _Op, profile: _Profile | None) -> list[str]:
    x, mul, shift, izp, ozp = op.ins
    y, a = op.outs[0], op.attr
    if a is None:
        return [_v("RESCALE", "missing attribute", "RescaleAttribute")]
    scale32, per_channel = bool(a.Scale32()), bool(a.PerChannel())
    in_u, out_u = bool(a.InputUnsigned()), bool(a.OutputUnsigned())
    rounding = _enum_names("RoundingMode").get(a.RoundingMode(), "?")
    out = _output_is("RESCALE", list(x.shape), y.shape)
    if per_channel and len(x.shape) < 1:
        out.append(_v("RESCALE", "per-channel on a scalar", "ERROR_IF(per_channel && rank(input) < 1)"))
        nc = 1
    else:
        nc = x.shape[-1] if per_channel else 1
    _, shape_errors = _shapes("RESCALE", [("multiplier", mul.shape, f"[{nc}]"), ("shift", shift.shape, f"[{nc}]"),
                                          ("input_zp", izp.shape, "[1]"), ("output_zp", ozp.shape, "[1]")])
    out += [m.replace("shape (", "length (", 1) for m in shape_errors]
    want_mul = "INT32" if scale32 else "INT16"
    if mul.dtype != want_mul:
        out.append(_v("RESCALE", "multiplier type", f"{mul.dtype}, must be {want_mul} with scale32={scale32}"))
    for arg, t in (("multiplier", mul), ("shift", shift), ("input_zp", izp), ("output_zp", ozp)):
        out += _const("RESCALE", arg, t, profile)
    for arg, t, dtype, unsigned in (("input_zp", izp, x.dtype, in_u), ("output_zp", ozp, y.dtype, out_u)):
        if not t.values:
            continue
        zp = t.values[0]
        if dtype == "INT16" and unsigned:
            if zp not in (0, 32768, -32768):  # u16 32768 reads back as int16 -32768
                out.append(_v("RESCALE", f"{arg} not 0 or 32768 for uint16", f"{zp}"))
        elif dtype != "INT8" and zp != 0:
            out.append(_v("RESCALE", f"{arg} nonzero for {dtype}", f"ERROR_IF(!is_same<T,i8_t>() && {arg} != 0): {zp}"))
    rules = [(scale32 and x.dtype == "INT48", "scale32 with int48 input", "ERROR_IF(scale32 && is_same<in_t,i48_t>())"),
             (not scale32 and rounding == "DOUBLE_ROUND", "double round without scale32",
              "ERROR_IF(!scale32 && (rounding_mode == DOUBLE_ROUND))"),
             (in_u and out_u, "unsigned input and output", "ERROR_IF(input_unsigned && output_unsigned)"),
             (in_u and x.dtype in ("INT32", "INT48"), "unsigned input of 32/48 bits", f"{x.dtype} input_unsigned"),
             (out_u and y.dtype == "INT32", "unsigned int32 output", "ERROR_IF(is_same<out_t,i32_t>() && output_unsigned)"),
             (in_u and y.dtype == "INT32", "unsigned input to int32", "ERROR_IF(is_same<out_t,i32_t>() && input_unsigned)"),
             (out_u and x.dtype in ("INT32", "INT48"), "unsigned output from 32/48 bits", f"{x.dtype} output_unsigned")]
    out += [_v("RESCALE", kind, rule) for bad, kind, rule in rules if bad]
    if mul.values and min(mul.values) < 0:
        out.append(_v("RESCALE", "negative multiplier", f"REQUIRE(multiplier >= 0): {min(mul.values)}"))
    if shift.values and (min(shift.values) < 2 or max(shift.values) > 62):
        out.append(_v("RESCALE", "shift out of [2, 62]", f"REQUIRE(2 <= shift && shift <= 62): {sorted(set(shift.values))[:4]}"))
    return out


def _mul(op: _Op, profile: _Profile | None) -> list[str]:
    a, b, shift = op.ins
    out = _broadcast("MUL", [a.shape, b.shape], op.outs[0].shape)
    _, e = _shapes("MUL", [("shift", shift.shape, "[1]")])
    out += e + _const("MUL", "shift", shift, profile)
    if shift.values:
        s = shift.values[0]
        if not 0 <= s <= 63:
            out.append(_v("MUL", "shift out of [0, 63]", f"REQUIRE(0 <= shift && shift <= 63): {s}"))
        elif s and a.dtype != "INT32":
            out.append(_v("MUL", "shift nonzero for non-int32", f"REQUIRE(is_same<in_t,int32_t>() || shift == 0): {a.dtype} shift {s}"))
    return out


def _clamp(op: _Op, profile: _Profile | None) -> list[str]:
    out = _same_shape(op)
    a, dtype = op.attr, op.ins[0].dtype
    np_type = {"INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "FP32": np.float32, "FP16": np.float16}.get(dtype)
    if a is None or np_type is None or not a.MinValLength() or not a.MaxValLength():
        return out
    # TOSA 1.0 stores CLAMP's bounds as bytes of the input's type.
    lo = np.frombuffer(a.MinValAsNumpy().tobytes(), dtype=np_type)[0]
    hi = np.frombuffer(a.MaxValAsNumpy().tobytes(), dtype=np_type)[0]
    if np.isnan(lo) or np.isnan(hi):
        return out + [_v("CLAMP", "NaN bound", "ERROR_IF(isNaN(min_val) || isNaN(max_val))")]
    if hi < lo:
        out.append(_v("CLAMP", "min greater than max", f"ERROR_IF(max_val < min_val): {lo} > {hi}"))
    return out


def _table(op: _Op, profile: _Profile | None) -> list[str]:
    x, table = op.ins
    out = _same_shape(op) + _const("TABLE", "table", table, profile)
    size = {"INT8": 256, "INT16": 513}.get(x.dtype)
    if size is not None and table.shape != [size]:
        out.append(_v("TABLE", "table length", f"REQUIRE(length(table) == TABLE_SIZE): {table.shape}, must be [{size}]"))
    return out


def _negate(op: _Op, profile: _Profile | None) -> list[str]:
    x, izp, ozp = op.ins
    _, out = _shapes("NEGATE", [("input1_zp", izp.shape, "[1]"), ("output_zp", ozp.shape, "[1]")])
    return out + _same_shape(op) + _zero_points("NEGATE", [("input1_zp", izp, x.dtype), ("output_zp", ozp, x.dtype)], profile)


def _select(op: _Op, profile: _Profile | None) -> list[str]:
    return _broadcast("SELECT", [t.shape for t in op.ins], op.outs[0].shape)


def _axis(op: _Op) -> int | None:
    return int(op.attr.Axis()) if op.attr is not None and hasattr(op.attr, "Axis") else None


def _concat(op: _Op, profile: _Profile | None) -> list[str]:
    shapes = [t.shape for t in op.ins]
    axis = _axis(op)
    if axis is None:
        return [_v("CONCAT", "missing attribute", "axis")]
    if not 0 <= axis < max(1, len(shapes[0])):
        return [_v("CONCAT", "axis out of range", f"ERROR_IF(axis < 0 || axis >= max(1,rank(shapes1[0]))): axis {axis}, rank {len(shapes[0])}")]
    if any(len(s) != len(shapes[0]) for s in shapes):
        return [_v("CONCAT", "input ranks differ", f"ERROR_IF(rank(shapes1[i]) != rank(shapes1[0])): {shapes}")]
    if any(s[:axis] + s[axis + 1:] != shapes[0][:axis] + shapes[0][axis + 1:] for s in shapes):
        return [_v("CONCAT", "non-axis dimensions differ", f"ERROR_IF(shapes1[i][j] != shapes1[0][j]): {shapes}, axis {axis}")]
    want = list(shapes[0])
    want[axis] = sum(s[axis] for s in shapes)
    return _output_is("CONCAT", want, op.outs[0].shape)


def _reshape(op: _Op, profile: _Profile | None) -> list[str]:
    x, shape = op.ins
    y = op.outs[0].shape
    out = _const("RESHAPE", "shape", shape, profile)
    if _size(x.shape) != _size(y):
        out.append(_v("RESHAPE", "element count changes", f"ERROR_IF(tensor_size(shape1) != tensor_size(shape)): {x.shape} -> {y}"))
    if shape.values is not None and list(shape.values) != list(y):
        out.append(_v("RESHAPE", "output differs from its shape operand", f"shape {shape.values}, output {y}"))
    return out


def _transpose(op: _Op, profile: _Profile | None) -> list[str]:
    x, y = op.ins[0].shape, op.outs[0].shape
    perms = [int(p) for p in op.attr.PermsAsNumpy()] if op.attr is not None and op.attr.PermsLength() else []
    if len(perms) != len(x) or sorted(perms) != list(range(len(x))):
        return [_v("TRANSPOSE", "perms not a permutation", f"ERROR_IF(index >= rank(shape1) || indexes_used[index]): {perms} for rank {len(x)}")]
    if len(y) != len(x):
        return [_v("TRANSPOSE", "output rank", f"ERROR_IF(rank(shape1) != rank(shape)): {x} -> {y}")]
    return _output_is("TRANSPOSE", [x[p] for p in perms], y)


def _pad(op: _Op, profile: _Profile | None) -> list[str]:
    x, padding, pad_const = op.ins
    y = op.outs[0].shape
    out = _const("PAD", "padding", padding, profile) + _const("PAD", "pad_const", pad_const, profile)
    if len(y) != len(x.shape):
        return out + [_v("PAD", "output rank", f"ERROR_IF(rank(shape) != rank(shape1)): {x.shape} -> {y}")]
    p = padding.values
    if p is None:
        return out
    if len(p) != 2 * len(x.shape):
        return out + [_v("PAD", "padding length", f"{len(p)}, must be 2 * rank {len(x.shape)}")]
    if min(p, default=0) < 0:
        out.append(_v("PAD", "negative padding", f"ERROR_IF(padding[i * 2] < 0 || padding[(i * 2) + 1] < 0): {p}"))
    return out + _output_is("PAD", [p[2 * i] + d + p[2 * i + 1] for i, d in enumerate(x.shape)], y)


def _slice(op: _Op, profile: _Profile | None) -> list[str]:
    x, start, size = op.ins
    y = op.outs[0].shape
    out = _const("SLICE", "start", start, profile) + _const("SLICE", "size", size, profile)
    if len(y) != len(x.shape):
        return out + [_v("SLICE", "output rank", f"ERROR_IF(rank(shape1) != rank(shape)): {x.shape} -> {y}")]
    s, n = start.values, size.values
    if s is None or n is None:
        return out
    if len(s) != len(x.shape) or len(n) != len(x.shape):
        return out + [_v("SLICE", "start/size length", f"ERROR_IF(rank(shape1) != length(start) || rank(shape1) != length(size)): {s}, {n}")]
    if min(s) < 0:
        out.append(_v("SLICE", "negative start", f"ERROR_IF(start[index] < 0): {s}"))
    if min(n) <= 0:
        out.append(_v("SLICE", "size not positive", f"ERROR_IF(size[index] <= 0): {n}"))
    if any(a + b > d for a, b, d in zip(s, n, x.shape)):
        out.append(_v("SLICE", "slice past the end", f"ERROR_IF(start[index] + size[index] > shape1[index]): {s} + {n} > {x.shape}"))
    if list(n) != list(y):
        out.append(_v("SLICE", "output differs from size", f"ERROR_IF(shape[index] != size[index]): {n} vs {y}"))
    return out


def _tile(op: _Op, profile: _Profile | None) -> list[str]:
    x, multiples = op.ins
    y = op.outs[0].shape
    out = _const("TILE", "multiples", multiples, profile)
    if len(y) != len(x.shape):
        return out + [_v("TILE", "output rank", f"ERROR_IF(rank(shape1) != rank(shape)): {x.shape} -> {y}")]
    m = multiples.values
    if m is None:
        return out
    if len(m) != len(x.shape):
        return out + [_v("TILE", "multiples length", f"{m} for rank {len(x.shape)}")]
    return out + _output_is("TILE", [d * k for d, k in zip(x.shape, m)], y)


def _reduce(op: _Op, profile: _Profile | None) -> list[str]:
    x, y, axis = op.ins[0].shape, op.outs[0].shape, _axis(op)
    if axis is None or not 0 <= axis < len(x):
        return [_v(op.name, "axis out of range", f"ERROR_IF(axis < 0 || axis >= rank(shape1)): axis {axis}, rank {len(x)}")]
    if len(y) != len(x) or y[axis] != 1:
        return [_v(op.name, "output shape", f"ERROR_IF(shape[axis] != 1): {x} -> {y}, axis {axis}")]
    return _output_is(op.name, x[:axis] + [1] + x[axis + 1:], y)


def _argmax(op: _Op, profile: _Profile | None) -> list[str]:
    x, y, axis = op.ins[0].shape, op.outs[0].shape, _axis(op)
    if axis is None or not 0 <= axis < len(x):
        return [_v("ARGMAX", "axis out of range", f"ERROR_IF(axis < 0 || axis >= rank(shape1)): axis {axis}, rank {len(x)}")]
    return _output_is("ARGMAX", x[:axis] + x[axis + 1:], y)


_CHECKS = {"CONV2D": _conv, "DEPTHWISE_CONV2D": _conv, "TRANSPOSE_CONV2D": _conv, "AVG_POOL2D": _pool,
           "MAX_POOL2D": _pool, "MATMUL": _matmul, "RESCALE": _rescale, "MUL": _mul, "CLAMP": _clamp,
           "TABLE": _table, "NEGATE": _negate, "SELECT": _select, "CONCAT": _concat, "RESHAPE": _reshape,
           "TRANSPOSE": _transpose, "PAD": _pad, "SLICE": _slice, "TILE": _tile, "REDUCE_SUM": _reduce,
           "REDUCE_MAX": _reduce, "REDUCE_MIN": _reduce, "REDUCE_PRODUCT": _reduce, "REDUCE_ALL": _reduce,
           "REDUCE_ANY": _reduce, "ARGMAX": _argmax}


# -- Everything above, from violation_kind on, is carried as source by the repro scripts of
# -- invalid-tosa bugs (reducer.repro.validator_source), after the reader's source: keep it
# -- to the imports above.
