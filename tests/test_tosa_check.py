"""TOSA graph validation (fuzz.judge.tosa.validator) against the TOSA 1.0 specification's rules.

Graphs come from the real tools: hand-built ones from tosa-tools' own serializer (each breaks
one rule, beside a valid twin), and graphs executorch 1.5.1 emits. vela's validator, which is
generated from the specification, is the independent oracle: where it checks a rule, it must
agree with ours on both the broken graph and its valid twin."""

from __future__ import annotations

import copy
import importlib.metadata
import random
import tempfile
import time

import numpy as np
import pytest

from fuzz.core.targets import TARGETS
from fuzz.generate.case import Case
from fuzz.judge.outcome import FAILURES
from fuzz.judge.tosa.reader import dumped_tosa_files
from fuzz.judge.tosa.validator import tosa_violations, violation_kind
from fuzz.judge.tosa.vela import vela_validation
from tests.conftest import ROOT

ts = pytest.importorskip("tosa_serializer")
D = ts.DType

CAT_CASE = ROOT / "tests" / "data" / "cat-same-tensor-conv.case.json"
on_1_5_1 = pytest.mark.skipif(importlib.metadata.version("executorch") != "1.5.1", reason="bug measured on 1.5.1")


# -- graphs built with tosa-tools' serializer, as executorch builds them -----------------------


class Graph:
    """A one-block TOSA 1.0 graph: inputs, constants, operators whose results are outputs."""

    def __init__(self) -> None:
        self.g = ts.TosaSerializer("", targetMajor=1, targetMinor=0, targetPatch=0, targetDraft=False)

    def input(self, name: str, shape: list[int], dtype=D.INT8) -> str:
        self.g.addInputTensor(ts.TosaSerializerTensor(name, shape, dtype, data=None))
        return name

    def const(self, name: str, shape: list[int], dtype, values) -> str:
        self.g.addConst(shape, dtype, values, name=name)
        return name

    def op(self, op, inputs: list[str], shape: list[int], dtype, attr: str, **kw) -> bytes:
        a = ts.TosaSerializerAttribute()
        getattr(a, attr)(**kw)
        y = self.g.addIntermediate(shape, dtype)
        self.g.addOperator(op, inputs, [y.name], a)
        self.g.addOutputTensor(y)
        return bytes(self.g.serialize())


def conv2d(ic_weight=2, out_h=4, bias=3, in_dtype=D.INT8, input_zp=-128) -> bytes:
    g = Graph()
    g.input("x", [1, 4, 4, 2], in_dtype)
    g.const("w", [3, 1, 1, ic_weight], D.INT8, np.ones((3, 1, 1, ic_weight), np.int8))
    out = D.INT48 if in_dtype == D.INT16 else D.INT32
    g.const("b", [bias], out, np.zeros(bias, np.int64 if out == D.INT48 else np.int32))
    g.const("xzp", [1], in_dtype, [input_zp])
    g.const("wzp", [1], D.INT8, [0])
    return g.op(ts.Op.CONV2D, ["x", "w", "b", "xzp", "wzp"], [1, out_h, 4, 3], out, "Conv2dAttribute",
                pad=[0, 0, 0, 0], stride=[1, 1], dilation=[1, 1], local_bound=False, acc_type=out)


def depthwise(c_weight=2) -> bytes:
    g = Graph()
    g.input("x", [1, 4, 4, 2])
    g.const("w", [1, 1, c_weight, 1], D.INT8, np.ones((1, 1, c_weight, 1), np.int8))
    g.const("b", [2], D.INT32, [0, 0])
    g.const("xzp", [1], D.INT8, [0])
    g.const("wzp", [1], D.INT8, [0])
    return g.op(ts.Op.DEPTHWISE_CONV2D, ["x", "w", "b", "xzp", "wzp"], [1, 4, 4, 2], D.INT32, "DepthwiseConv2dAttribute",
                pad=[0, 0, 0, 0], stride=[1, 1], dilation=[1, 1], local_bound=False, acc_type=D.INT32)


def avg_pool(pad_bottom=0, out_h=2) -> bytes:
    g = Graph()
    g.input("x", [1, 4, 4, 2])
    g.const("izp", [1], D.INT8, [0])
    g.const("ozp", [1], D.INT8, [0])
    return g.op(ts.Op.AVG_POOL2D, ["x", "izp", "ozp"], [1, out_h, 2, 2], D.INT8, "AvgPool2dAttribute",
                kernel=[2, 2], stride=[2, 2], pad=[0, pad_bottom, 0, 0], acc_type=D.INT32)


def concat(w2=3, out_c=4) -> bytes:
    g = Graph()
    g.input("x", [1, 3, 3, 2])
    g.input("y", [1, 3, w2, 2])
    return g.op(ts.Op.CONCAT, ["x", "y"], [1, 3, 3, out_c], D.INT8, "ConcatAttribute", axis=3)


def reshape(out=(1, 18)) -> bytes:
    g = Graph()
    g.input("x", [1, 3, 3, 2])
    g.const("s", [len(out)], D.SHAPE, np.array(out, np.int64))
    return g.op(ts.Op.RESHAPE, ["x", "s"], list(out), D.INT8, "ReshapeAttribute")


def transpose(perms=(0, 3, 1, 2)) -> bytes:
    g = Graph()
    g.input("x", [1, 3, 4, 2])
    return g.op(ts.Op.TRANSPOSE, ["x"], [1, 2, 3, 4], D.INT8, "TransposeAttribute", perms=list(perms))


def rescale(nc=2, shift=30) -> bytes:
    g = Graph()
    g.input("x", [1, 2, 2, 2], D.INT32)
    g.const("m", [nc], D.INT32, [1 << 30] * nc)
    g.const("s", [nc], D.INT8, [shift] * nc)
    g.const("izp", [1], D.INT32, [0])
    g.const("ozp", [1], D.INT8, [3])
    return g.op(ts.Op.RESCALE, ["x", "m", "s", "izp", "ozp"], [1, 2, 2, 2], D.INT8, "RescaleAttribute", scale32=True,
                rounding_mode=ts.RoundingMode.SINGLE_ROUND, per_channel=True, input_unsigned=False, output_unsigned=False)


def clamp(lo=-10, hi=10) -> bytes:
    g = Graph()
    g.input("x", [1, 2, 2, 2])
    # TOSA 1.0 stores the bounds as bytes of the input type
    return g.op(ts.Op.CLAMP, ["x"], [1, 2, 2, 2], D.INT8, "ClampAttribute", min_val=list(np.int8(lo).tobytes()),
                max_val=list(np.int8(hi).tobytes()), nan_mode=ts.NanPropagationMode.PROPAGATE)


def add(shape2=(1, 1, 1, 2)) -> bytes:
    g = Graph()
    g.input("x", [1, 2, 2, 2], D.INT32)
    g.input("y", list(shape2), D.INT32)
    return g.op(ts.Op.ADD, ["x", "y"], [1, 2, 2, 2], D.INT32, "AddAttribute")


def matmul(c=3) -> bytes:
    g = Graph()
    g.input("a", [1, 2, 3])
    g.input("b", [1, c, 4])
    g.const("az", [1], D.INT8, [0])
    g.const("bz", [1], D.INT8, [0])
    return g.op(ts.Op.MATMUL, ["a", "b", "az", "bz"], [1, 2, 4], D.INT32, "MatMulAttribute")


def mul(shift=0) -> bytes:
    g = Graph()
    g.input("x", [1, 2, 2, 2])
    g.input("y", [1, 2, 2, 2])
    g.const("sh", [1], D.INT8, [shift])
    return g.op(ts.Op.MUL, ["x", "y", "sh"], [1, 2, 2, 2], D.INT32, "MulAttribute")


def table(n=256) -> bytes:
    g = Graph()
    g.input("x", [1, 2, 2, 2])
    g.const("t", [n], D.INT8, np.zeros(n, np.int8))
    return g.op(ts.Op.TABLE, ["x", "t"], [1, 2, 2, 2], D.INT8, "TableAttribute")


#: (valid graph, the same graph breaking one rule, the kind we report, vela's rule or None
#: where vela does not check it: REQUIREs hold at run time, vela validates ERROR_IFs only).
BROKEN = {
    "conv-channels": (conv2d, {"ic_weight": 3}, "CONV2D: weight/input channels",
                      "Conv2D: ERROR_IF(shapeCheck(weight, [OC,KH,KW,IC], input, [N,IH,IW,IC]))"),
    "conv-output": (conv2d, {"out_h": 5}, "CONV2D: output shape",
                    "Conv2D: ERROR_IF(OH != idiv_check(IH - 1 + pad_top + pad_bottom - (KH - 1) * dilation_y, stride_y) + 1)"),
    "conv-bias": (conv2d, {"bias": 2}, "CONV2D: bias size", "Conv2D: ERROR_IF(BC != OC && BC != 1)"),
    "conv16-zero-point": (lambda **kw: conv2d(in_dtype=D.INT16, **{"input_zp": 0, **kw}), {"input_zp": 5},
                          "CONV2D: input_zp nonzero for INT16", "Conv2D: ERROR_IF(!is_same<in_t,i8_t>() && input_zp != 0)"),
    "depthwise-channels": (depthwise, {"c_weight": 3}, "DEPTHWISE_CONV2D: weight/input channels",
                           "DepthwiseConv2D: ERROR_IF(shapeCheck(weight, [KH,KW,C,M], input, [N,IH,IW,C]))"),
    "avg-pool-pad": (avg_pool, {"pad_bottom": 2}, "AVG_POOL2D: pad not below kernel",
                     "AvgPool: ERROR_IF(pad_top >= kernel_y || pad_bottom >= kernel_y)"),
    "avg-pool-output": (avg_pool, {"out_h": 3}, "AVG_POOL2D: output shape",
                        "AvgPool: ERROR_IF(OH != idiv_check(IH + pad_top + pad_bottom - kernel_y, stride_y) + 1)"),
    "concat-dims": (concat, {"w2": 4}, "CONCAT: non-axis dimensions differ",
                    "Concat: ERROR_IF(shapes1[shape_index][axis_index] != shapes1[0][axis_index])"),
    "concat-sum": (concat, {"out_c": 5}, "CONCAT: output shape", "Concat: ERROR_IF(axis_sum != shape[axis])"),
    "reshape-count": (reshape, {"out": (1, 17)}, "RESHAPE: element count changes",
                      "Reshape: ERROR_IF(tensor_size(shape1) != tensor_size(shape))"),
    "transpose-perms": (transpose, {"perms": (0, 3, 3, 2)}, "TRANSPOSE: perms not a permutation",
                        "Transpose: ERROR_IF(indexes_used[index] == true)"),
    "rescale-length": (rescale, {"nc": 1}, "RESCALE: multiplier length",
                       "Rescale: ERROR_IF(shapeCheck(shift, [NC], multiplier, [NC]))"),
    "clamp-bounds": (clamp, {"lo": 10, "hi": -10}, "CLAMP: min greater than max", "Clamp: ERROR_IF(max_val < min_val)"),
    "add-broadcast": (add, {"shape2": (1, 1, 3, 2)}, "ADD: operands not broadcastable",
                      "Add: ERROR_IF(shape2[i] != 1 && shape2[i] != shape[i])"),
    "matmul-inner": (matmul, {"c": 4}, "MATMUL: B/A channels", "MatMul: ERROR_IF(shapeCheck(B, [N,C,W], A, [N,H,C]))"),
    "rescale-shift": (rescale, {"shift": 63}, "RESCALE: shift out of [2, 62]", None),
    "mul-shift-int8": (mul, {"shift": 3}, "MUL: shift nonzero for non-int32", None),
    "table-length": (table, {"n": 255}, "TABLE: table length", None),
}


@pytest.mark.parametrize("rule", list(BROKEN))
def test_a_graph_breaking_one_rule_is_named_by_it_and_its_valid_twin_passes(rule):
    build, broken, kind, _ = BROKEN[rule]
    assert tosa_violations(build(), "TOSA-1.0+INT+int16") == []
    violations = tosa_violations(build(**broken), "TOSA-1.0+INT+int16")
    assert violations and violation_kind(violations[0]) == kind, violations


@pytest.mark.parametrize("rule", [r for r, (*_, vela) in BROKEN.items() if vela])
def test_vela_validator_agrees_on_the_broken_graph_and_its_twin(rule):
    """vela's regor validator is generated from the same specification: it must call the
    twin valid and name the same ERROR_IF on the broken graph (ours holds the numbers)."""
    build, broken, _, vela_rule = BROKEN[rule]
    assert vela_validation(build()) == []
    assert vela_rule in vela_validation(build(**broken))


def _add_graph(second: str = "x", twice: bool = False, ghost: bool = False) -> bytes:
    g = Graph()
    g.input("x", [1, 2, 2, 2], D.INT32)
    if ghost:  # a tensor of the graph that no operator produces
        second = g.g.addIntermediate([1, 2, 2, 2], D.INT32).name
    y = g.g.addIntermediate([1, 2, 2, 2], D.INT32)
    for op, attr in [(ts.Op.ADD, "AddAttribute")] + [(ts.Op.SUB, "SubAttribute")] * twice:
        a = ts.TosaSerializerAttribute()
        getattr(a, attr)()
        g.g.addOperator(op, ["x", second], [y.name], a)
    g.g.addOutputTensor(y)
    return bytes(g.g.serialize())


@pytest.mark.parametrize("kwargs, kind", [({"ghost": True}, "graph: operand never produced"),
                                          ({"twice": True}, "graph: tensor produced twice"),
                                          ({"second": "nowhere"}, "ADD: undefined operand")])
def test_graph_rules(kwargs, kind):
    """Operator Graphs: every operand comes from a graph input, an operator or constant data,
    once (vela compiles all three without a word)."""
    assert tosa_violations(_add_graph()) == []
    assert [violation_kind(v) for v in tosa_violations(_add_graph(**kwargs))] == [kind]


def test_profile_and_extension_rules_need_the_spec():
    """An int16 conv is valid TOSA, but only with EXT-INT16: the spec decides."""
    graph = conv2d(in_dtype=D.INT16, input_zp=0)
    assert tosa_violations(graph) == []
    assert tosa_violations(graph, "TOSA-1.0+INT+int16") == []
    (v, *_) = tosa_violations(graph, "TOSA-1.0+INT")
    assert violation_kind(v) == "CONST: data types need EXT-INT16"  # the INT48 bias comes first
    assert "CONV2D: data types need EXT-INT16" in {violation_kind(x) for x in tosa_violations(graph, "TOSA-1.0+INT")}
    with pytest.raises(ValueError):
        tosa_violations(graph, "INT16 please")


def test_violation_kind_is_the_stable_part():
    assert violation_kind("CONV2D: weight/input channels (weight IC 2 != input IC 1)") == "CONV2D: weight/input channels"
    a, b = (tosa_violations(conv2d(ic_weight=w))[0] for w in (3, 5))
    assert a != b and violation_kind(a) == violation_kind(b)


def test_a_graph_whose_outputs_are_its_inputs_needs_no_operator():
    """executorch lowers an identity (torch.split into one piece) to a graph with no operator;
    TOSA 1.0 asks only that every output be defined, and the reference model runs it exactly."""
    g = Graph()
    x = ts.TosaSerializerTensor("x", [1, 4, 4, 2], D.INT8, data=None)
    g.g.addInputTensor(x)
    g.g.addOutputTensor(x)
    assert tosa_violations(bytes(g.g.serialize()), "TOSA-1.0+INT") == []
    h = Graph()
    h.input("x", [1, 4, 4, 2])
    h.g.addOutputTensor(ts.TosaSerializerTensor("y", [1, 4, 4, 2], D.INT8, data=None))
    (v,) = tosa_violations(bytes(h.g.serialize()), "TOSA-1.0+INT")
    assert violation_kind(v) == "graph: undefined output"


# -- hostile bytes ------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"\x00" * 64, bytes(range(256)) * 3, b"TOSA" * 3,
                                  random.Random(0).randbytes(4000), b"\x10\x00\x00\x00TOSA" + bytes(range(256)) * 4,
                                  conv2d()[: len(conv2d()) // 2], conv2d()[:20]],
                         ids=["empty", "zeros", "ramp", "tosa-text", "random", "tosa-identifier-then-junk", "half", "head"])
def test_hostile_bytes_are_one_clear_violation_not_a_crash(data):
    (v,) = tosa_violations(data)
    assert violation_kind(v) == "graph: not a TOSA flatbuffer"


def test_mutated_graphs_never_raise_and_stay_fast():
    """Flipped bytes in a real graph (lengths, offsets, names, enums): a list of messages,
    never an exception, never a long loop over a garbage vector length."""
    rng = random.Random(1)
    base = bytearray(conv2d())
    worst = 0.0
    for _ in range(300):
        data = bytearray(base)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        t0 = time.perf_counter()
        out = tosa_violations(bytes(data), "TOSA-1.0+INT")
        worst = max(worst, time.perf_counter() - t0)
        assert isinstance(out, list) and all(isinstance(v, str) and v for v in out)
    assert worst < 0.5


# -- graphs executorch emits ----------------------------------------------------------------------


def _lower(case: Case, target: str, artifacts: str) -> tuple[list[bytes], str, BaseException | None]:
    """The TOSA graphs a real lowering's delegates carry (TOSA targets), the spec, and the
    exception a vela/model-converter target raised; the dumped files land in ``artifacts``."""
    import torch

    from fuzz.generate.codegen import build_model, calibration_data
    from fuzz.judge import compat, oracle

    case = case.with_target(target)
    t, a = TARGETS[target], compat.arm()
    model, _ = build_model(case)
    samples = calibration_data(case)
    spec = compat.compile_spec(t, case.quant)
    compat.dump_artifacts(spec, artifacts, debug_locations=False)
    prepared = a.prepare_pt2e(torch.export.export(model, samples[0]).module(check_guards=False),
                              compat.quantizer(t, spec, case.quant))
    for s in samples:
        prepared(*s)
    exported = torch.export.export(a.convert_pt2e(prepared), samples[0])
    try:
        edge = a.to_edge_transform_and_lower(exported, partitioner=[compat.partitioner(t, spec)],
                                             compile_config=compat.edge_compile_config())
    except Exception as e:  # noqa: BLE001 - vela or model-converter refusing the graph is the point
        return [], str(spec.tosa_spec), e
    gm = edge.exported_program().graph_module
    delegates = [getattr(gm, n.args[0].target).processed_bytes for n in gm.graph.nodes if oracle.is_delegate_call(n)]
    return delegates, str(spec.tosa_spec), None


def _plain_conv() -> Case:
    """The cat case's conv alone, fed the (1, 2, 1, 2) tensor the cat should have made."""
    d = copy.deepcopy(Case.load(CAT_CASE).to_dict())
    d["inputs"] = [{"name": "x", "shape": [1, 2, 1, 2]}]
    d["nodes"] = [dict(d["nodes"][1], inputs=["x"])]
    return Case.from_dict(d)


@pytest.mark.pipeline
@on_1_5_1
def test_cat_of_the_same_tensor_emits_a_conv_whose_weight_and_input_channels_differ():
    """torch.cat([x, x], dim=-3) -> 1x1 conv, x (1, 1, 1, 2), on tosa-int: executorch 1.5.1
    emits a RESHAPE of x to (1, 1, 2, 1) where the CONCAT should be, so the conv's weight
    [2, 1, 1, 2] has IC 2 and its input 1. vela's validator names the same rule; the plain
    conv on the tensor the cat should have made is valid to both."""
    with tempfile.TemporaryDirectory() as art:
        (graph,), spec, error = _lower(Case.load(CAT_CASE), "tosa-int", art)
        assert error is None
        (dumped,) = dumped_tosa_files(art)
        assert dumped.name == f"output_tag0_{spec}.tosa" and dumped.read_bytes() == graph
    assert tosa_violations(graph, spec) == [
        ("CONV2D: weight/input channels (ERROR_IF(shapeCheck(weight, [OC,KH,KW,IC], input, [N,IH,IW,IC])): "
         "weight IC 2 != input IC 1)")]
    assert vela_validation(graph) == ["Conv2D: ERROR_IF(shapeCheck(weight, [OC,KH,KW,IC], input, [N,IH,IW,IC]))"]
    with tempfile.TemporaryDirectory() as art:
        (control,), spec, error = _lower(_plain_conv(), "tosa-int", art)
    assert error is None and tosa_violations(control, spec) == [] and vela_validation(control) == []


@pytest.mark.pipeline
@on_1_5_1
def test_the_graph_vela_refused_is_in_the_dumped_files():
    """On Ethos-U the delegate's bytes are vela's output, and vela fails here: the graph it
    received is the file the TOSA backend dumped first, and it breaks the same rule."""
    with tempfile.TemporaryDirectory() as art:
        _, spec, error = _lower(Case.load(CAT_CASE), "ethos-u55-128", art)
        assert "ERROR_IF(shapeCheck(weight" in str(error)
        (dumped,) = dumped_tosa_files(art)
        assert [violation_kind(v) for v in tosa_violations(dumped.read_bytes(), spec)] == ["CONV2D: weight/input channels"]


@pytest.mark.pipeline
@on_1_5_1
@pytest.mark.parametrize("target", list(TARGETS))
def test_cat_of_the_same_tensor_into_a_conv_is_one_invalid_tosa_verdict_on_every_target(target):
    """The reference model would segfault, vela reports ERROR_IF(shapeCheck(weight, input)),
    model-converter fails: every target gets the same invalid-tosa verdict instead."""
    from fuzz.judge.pipeline import run_case

    o = run_case(Case.load(CAT_CASE), target)
    assert o.status == "invalid-tosa" and o.status in FAILURES, (o.status, o.signature, o.message[:300])
    assert o.signature == f"{target}/invalid-tosa@CONV2D: weight/input channels"
    assert "weight IC 2 != input IC 1" in o.message
    if TARGETS[target].compiler:
        assert f"{TARGETS[target].compiler} on this graph:" in o.message  # the tool's reaction, as evidence


@pytest.mark.pipeline
def test_valid_graphs_have_no_violations(seed_case):
    """The negative control: the seed graph and a conv -> avg_pool -> conv graph lower to
    graphs the checker accepts (a false alarm here would bury real findings)."""
    from fuzz.judge.pipeline import run_case

    for case, target in ((seed_case, "tosa-int"), (Case.load(ROOT / "tests" / "data" / "conv-avgpool-conv.case.json"), "ethos-u85-256")):
        o = run_case(case, target)
        assert o.status != "invalid-tosa", o.message


def test_a_graph_the_reference_model_cannot_load_is_invalid_tosa_not_a_harness_error():
    """The reference model raises ValueError("Invalid TOSA graph") for a graph it cannot load
    (every tosa-tools here; executorch 1.1.0 emitted such graphs for index_select ->
    layer_norm, which a 1.1.0 campaign then counted as harness errors). Real reference model,
    unloadable bytes: the same InvalidTosa verdict as a TOSA_ERROR status."""
    import tosa_reference_model as refmodel

    from fuzz.judge.compat import InvalidTosa, reference_run

    statuses: list[str] = []
    with pytest.raises(InvalidTosa, match="^reference model graph status TOSA_ERROR$"):
        reference_run(refmodel, b"\0" * 64, [], statuses)
    assert statuses == ["TOSA_ERROR"]
