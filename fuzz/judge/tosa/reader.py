"""Read a TOSA flatbuffer: every operator and tensor, bounds-checked against the buffer.

One reader for the validator (fuzz.judge.tosa.validator), for localisation
(fuzz.judge.localize, which reads the debug locations) and, carried as source, for repros.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np


def dumped_tosa_files(artifacts: str | Path) -> list[Path]:
    """The TOSA flatbuffers executorch wrote while lowering, one per delegate.

    With ``dump_intermediate_artifacts_to(path)`` the TOSA backend writes
    ``output_<tag>_<spec>.tosa`` (``debug_tosa_dump``, executorch/backends/arm/tosa/backend.py)
    before vela or model-converter runs, so the graph a failing tool received is there even
    when the tool then failed. The copies the tools make beside it (vela's ``out.tosa``,
    VGF's ``failed_model_converter_input_<tag>.tosa``) hold the same bytes and are left out.
    """
    return sorted(Path(artifacts).glob("output_*.tosa"))



def read_graph(tosa_bytes: bytes) -> tuple[list[tuple[str, list[str], list[str], Any, str | None]], dict[str, tuple[list[int], str, Any]]]:
    """(operators, tensors) of a TOSA flatbuffer, every block in order. An operator is
    (name, input names, output names, attribute table or None, debug location text or None);
    a tensor maps its name to (shape, dtype name, constant data or None). Shared with
    fuzz.judge.localize, which reads the locations."""
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


# --------------------------------------------------------------------------------------------
# Loading: bounds-checked, then read_graph (shared with fuzz.judge.localize), plus what it leaves out.


class _T(NamedTuple):
    """One operand: a tensor, or a shape value (dtype SHAPE). Data in the flatbuffer is its
    Compile Time Constant status; ``values`` decodes it (small operands only: zero points,
    shifts, shape values; weights are never decoded)."""

    name: str
    shape: list[int]
    dtype: str
    data: Any  # raw bytes (np.uint8 array) of a constant, None otherwise

    @property
    def values(self) -> list | None:
        return None if self.data is None else _decode(self.data, self.dtype, _size(self.shape))


class _Op(NamedTuple):
    name: str
    ins: list  # _T, or None for an undefined name
    outs: list
    in_names: list[str]
    out_names: list[str]
    attr: Any


class _Graph(NamedTuple):
    ops: list[_Op]
    version: tuple[int, int]
    inputs: list[str]
    outputs: list[str]
    operands: dict[str, _T]
    short_data: list[str]


#: TOSA 1.0 ``tosa.fbs``: the root table carries the file identifier "TOSA".
_IDENT = b"TOSA"


def _load(buf: bytes) -> _Graph:
    from tosa import TosaGraph

    buf = bytes(buf)
    if len(buf) < 16:
        raise ValueError(f"{len(buf)} bytes")
    if buf[4:8] != _IDENT:
        raise ValueError("no TOSA file identifier")
    g = TosaGraph.TosaGraph.GetRootAs(buf, 0)
    version = g.Version()
    ver = (version._Major(), version._Minor()) if version is not None else (-1, -1)
    shapes, inputs, outputs = _walk(g, len(buf))
    raw_ops, tensors = read_graph(buf)
    short = []
    operands: dict[str, _T] = {}
    for name, (shape, dtype, data) in tensors.items():
        if data is not None and data.size * 8 < _size(shape) * _BITS.get(dtype, 0):
            short.append(name)
            data = None
        operands[name] = _T(name, shape, dtype, data)
    for name, (rank, data) in shapes.items():
        operands[name] = _T(name, [rank], "SHAPE", data)
    ops = [_Op(name, [operands.get(i) for i in ins], [operands.get(o) for o in outs], ins, outs, attr)
           for name, ins, outs, attr, _ in raw_ops]
    return _Graph(ops, ver, inputs, outputs, operands, short)


def _walk(g: Any, size: int) -> tuple[dict[str, tuple[int, Any]], list[str], list[str]]:
    """Every vector length against the buffer size before anything iterates over it (random
    bytes would otherwise loop for billions of elements), and what read_graph does not
    return: shape values (rank, raw data) and block inputs and outputs."""

    def n(count: int, elem: int = 4) -> int:
        if count < 0 or count * elem > size:
            raise ValueError(f"vector of {count} elements in {size} bytes")
        return count

    shapes: dict[str, tuple[int, Any]] = {}
    inputs: list[str] = []
    outputs: list[str] = []
    for r in range(n(g.RegionsLength())):
        region = g.Regions(r)
        for b in range(n(region.BlocksLength())):
            block = region.Blocks(b)
            for i in range(n(block.OperatorsLength())):
                op = block.Operators(i)
                n(op.InputsLength()), n(op.OutputsLength())
            for i in range(n(block.TensorsLength())):
                t = block.Tensors(i)
                n(t.ShapeLength()), n(t.DataLength(), 1)
            for i in range(n(block.ShapesLength())):
                s = block.Shapes(i)
                data = s.DataAsNumpy() if n(s.DataLength(), 1) else None
                # CONST_SHAPE values are int64 (tosa_serializer), one per rank element.
                shapes[s.Name().decode()] = (s.Rank(), data if data is not None and data.size >= 8 * s.Rank() else None)
            inputs += [block.Inputs(i).decode() for i in range(n(block.InputsLength()))]
            outputs += [block.Outputs(i).decode() for i in range(n(block.OutputsLength()))]
    return shapes, inputs, outputs


_BITS = {"BOOL": 8, "INT4": 4, "INT8": 8, "INT16": 16, "INT32": 32, "INT48": 48, "INT64": 64, "FP32": 32, "FP16": 16,
         "BF16": 16, "FP8E4M3": 8, "FP8E5M2": 8, "SHAPE": 64}
_NP = {"BOOL": "u1", "INT8": "<i1", "INT16": "<i2", "INT32": "<i4", "INT64": "<i8", "FP32": "<f4", "FP16": "<f2",
       "SHAPE": "<i8"}


def _decode(data: np.ndarray, dtype: str, count: int) -> list | None:
    """Constant data as Python numbers; None for types not decoded (BF16, FP8 ...)."""
    raw = data.tobytes()
    if dtype in _NP:
        width = np.dtype(_NP[dtype]).itemsize
        return np.frombuffer(raw[: len(raw) // width * width], _NP[dtype])[:count].tolist()
    if dtype == "INT48":
        return [int.from_bytes(raw[i:i + 6], "little", signed=True) for i in range(0, min(len(raw) // 6, count) * 6, 6)]
    if dtype == "INT4":  # two per byte, low nibble first
        nib = [v for b in raw for v in (b & 15, b >> 4)][:count]
        return [v - 16 if v > 7 else v for v in nib]
    return None


def _size(shape: list[int]) -> int:
    return math.prod(shape) if shape else 1
