"""Numerics localisation on the real pipeline: executorch 1.5.1's lowering, the TOSA reference
model's intermediate dump, and the teacher-forced quantized model. Nothing is mocked."""

from __future__ import annotations

import importlib.metadata
import sys

import numpy as np
import pytest
import torch

from fuzz.generate.case import Case
from fuzz.judge import localize
from fuzz.judge.localize import _parse_dump, beyond_noise, fusion_groups, unmatched_producers
from fuzz.judge.oracle import code_report, judge
from fuzz.judge.outcome import FAILURES
from fuzz.judge.signature import culprit_label, numerics_verdict, span_label
from reducer.shrink import narrows, same_bug
from tests.conftest import ROOT

EXECUTORCH = importlib.metadata.version("executorch")
DATA = ROOT / "tests" / "data"
AVGPOOL_CASE = DATA / "conv-avgpool-conv.case.json"
#: int16 sin -> expand (a no-op, never lowered) -> reshape -> hardswish, inputs with +-200 spikes
SIN_CASE = DATA / "int16-sin-expand-reshape-hardswish.case.json"
#: two sins of the same input: neither TABLE can be told apart, so sin_a's value is unmatched
SPAN_CASE = DATA / "int16-two-sins-span.case.json"
#: INT+FP conv -> avg_pool -> layer_norm over rows the calibration makes near-constant
LAYER_NORM_CASE = DATA / "conv-avgpool-layernorm.case.json"
#: int16 layer_norm of a graph input with heavy-tailed rows (found by seed 202, case 14)
#: int16 adaptive_avg_pool -> relu6 -> max_pool (seed 202, case 47): the max_pool output
#: matches no TOSA tensor, and its scale is 25 times finer than the pool's
OUTPUT_ONLY_CASE = DATA / "int16-avgpool-relu6-maxpool.case.json"
WRONG_LAYER_NORM_CASE = DATA / "int16-layer-norm-rsqrt-table.case.json"
#: a lone int16 tanh calibrated on [0, 1] with +-1000 spikes (seed 202, tosa-int16)
TANH_CASE = DATA / "int16-tanh-spikes.case.json"
#: int16 relu -> layer_norm, heavy-tailed input (seed 202, tosa-int16, reduced by hand from a
#: six-node case): the norm's mean is lowered without a trace, beside its traced RESCALE
RELU_LAYER_NORM_CASE = DATA / "int16-relu-layernorm.case.json"
#: INT+FP, layer_norm and linear left in float (module_activations), input calibrated with
#: spikes so a row's spread is a few LSB: 1.5.1's DecomposeMeanDimPass rounds the norm's mean to
#: the input's int8 grid (reduced from seed 202's vgf-int-fp bug a1f0b8bc775d)
FLOAT_LAYER_NORM_CASE = DATA / "float-layernorm-linear.case.json"
#: int16 batch_norm, running var 1e-4..1e-3 and eps 1e-3: var + eps quantizes to codes 5..7 of
#: 2^-12, between the rsqrt TABLE's knots at 0 and 128 (reduced from seed 202's u85 bug 516b60c171cb)
BATCH_NORM_SMALL_VAR_CASE = DATA / "int16-batchnorm-small-var.case.json"
#: int16 graph, its avg_pool2d (ceil_mode) quantized int8 (module_activations), then an int16
#: add of the pool with itself (reduced from seed 202's tosa-int16 bucket f04cb3dc6ad7)
INT8_POOL_IN_INT16_CASE = DATA / "int16-graph-int8-avgpool.case.json"
on_1_5_1 = pytest.mark.skipif(EXECUTORCH != "1.5.1", reason="behaviour measured on executorch 1.5.1")


def _rows(o):
    return {r["node"]: r for r in o.localization["table"]}


@pytest.mark.pipeline
@on_1_5_1
def test_wrong_relu_before_a_cat_is_named_not_the_conv_where_it_shows(seed_case):
    """conv -> relu -> cat(relu, y) -> conv: 1.5.1 lets the non-fuseable relu's negative
    values through. The output conv is off by several LSB, but only from its input: the
    localisation names the relu (fused with its conv) as the culprit."""
    from fuzz.judge.pipeline import run_case

    o = run_case(seed_case, "tosa-int-fp")
    rows = _rows(o)
    assert o.status == "numerics"
    assert o.signature == "tosa-int-fp/compare/numerics-activation-floor@relu(nonfuseable,after-conv2d)"
    assert o.localization["culprit"] == "relu"
    assert rows["relu"]["local_max"] > 10 and rows["relu"]["fused"] == ["conv1"]
    # conv2 is exact given what it received, and wrong only through its input.
    assert rows["conv2"]["local_max"] <= 1 and rows["conv2"]["symptom"] is None
    assert rows["conv2"]["propagated_max"] > 1
    # The cat passes the relu's out-of-range codes through: not its fault.
    assert rows["merged"]["symptom"] is None


@pytest.mark.pipeline
@on_1_5_1
def test_pooling_rounding_amplified_by_the_next_conv_is_not_a_bug():
    """conv -> avg_pool -> conv, 2 LSB off at the output with mean +0.08: avg_pool rounds by
    at most 1 LSB and the second conv is exact from its lowered input."""
    from fuzz.judge.pipeline import run_case

    o = run_case(Case.load(AVGPOOL_CASE), "tosa-int-fp")
    rows = _rows(o)
    assert o.status == "numerics-propagated" and o.status not in FAILURES
    assert o.signature == "tosa-int-fp/compare/numerics-propagated@conv2d"
    assert o.numerics[0]["max_lsb"] > 1  # the output alone would have been called a bug
    assert all(r["checked"] and r["symptom"] is None for r in rows.values())
    assert rows["avg_pool2d_1"]["local_max"] <= 1 and rows["conv2d_2"]["local_max"] == 0


@pytest.mark.pipeline
@on_1_5_1
def test_the_corpus_numerics_entries_localise_to_their_relu():
    from fuzz.judge.pipeline import run_case

    case = Case.load(ROOT / "corpus" / "relu-nonfuseable-unclamped" / "reduced.case.json")
    o = run_case(case, "tosa-int")
    assert o.localization["culprit"] == "relu"
    assert o.signature == "tosa-int/compare/numerics-activation-floor@relu(nonfuseable,after-conv2d)"


#: conv -> hardtanh(0, 1) -> cat: the hardtanh floors at 0 by its params (reduced from seed
#: 202's tosa-int-fp bucket 2ba2b3895cb0, filed as max-error@hardtanh beside the relu6 floor bug)
HARDTANH_FLOOR_CASE = DATA / "conv-hardtanh0-cat.case.json"


def test_only_activations_bounded_below_at_zero_floor_there():
    from types import SimpleNamespace as N

    from fuzz.judge.localize import floors_at_zero

    assert floors_at_zero(N(op="relu", params={})) and floors_at_zero(N(op="relu6", params={}))
    assert floors_at_zero(N(op="hardtanh", params={"min_val": 0.0, "max_val": 1.0}))
    assert floors_at_zero(N(op="clamp", params={"min": 0.0, "max": 2.0}))
    assert not floors_at_zero(N(op="hardtanh", params={"min_val": -1.0, "max_val": 1.0}))
    assert not floors_at_zero(N(op="clamp", params={"min": 0.021, "max": 1.021}))
    assert not floors_at_zero(N(op="clamp", params={"min": None, "max": 1.0}))
    assert not floors_at_zero(N(op="conv2d", params={}))


@pytest.mark.pipeline
@on_1_5_1
def test_a_hardtanh_floored_at_zero_is_the_activation_floor_bug_not_its_own():
    """hardtanh(0, 1) after a conv, its zp moved off qmin by a cat: 1.5.1 leaves codes below
    its zero-point, the relu6 rule exactly. It files under the one activation-floor bug."""
    from fuzz.judge.pipeline import run_case
    from fuzz.triage.bugs import bug_key

    o = run_case(Case.load(HARDTANH_FLOOR_CASE), "tosa-int")
    assert o.signature == "tosa-int/compare/numerics-activation-floor@hardtanh(nonfuseable,after-conv2d)"
    assert o.localization["culprit"] == "hardtanh_1"
    assert bug_key(o.signature) == "compare/numerics-activation-floor"


#: INT group_norm -> matmul(in0, norm), spiky input (reduced from seed 202's tosa-int-fp bucket
#: 99476dc9214f, filed as max-error@group_norm(alone), 239 LSB, with the output 1 LSB off)
GROUPNORM_MATMUL_CASE = DATA / "groupnorm-matmul-spikes.case.json"


@pytest.mark.pipeline
@on_1_5_1
def test_a_matmul_built_by_a_pass_is_not_the_value_of_the_node_before_it():
    """1.5.1's RewriteMatmulPass builds the MATMUL with only its own stack trace. Inherited
    from its first input, the MATMUL and its output RESCALE were taken as the group_norm's
    value: 238 LSB "wrong", mean +41. The MATMUL stands for the case's matmul now, and what is
    left is the output's one code at -128 under act_qmin -127: the narrow-range bug."""
    from fuzz.judge.pipeline import run_case

    o = run_case(Case.load(GROUPNORM_MATMUL_CASE), "tosa-int")
    assert o.signature == "tosa-int/compare/numerics-narrow-range@matmul(unlocalized)"
    assert all(r["symptom"] is None for r in o.localization["table"])


def test_dump_parser_reads_integer_tensors_and_skips_float_ones():
    text = [
        "Node type: CONST ID: 0 Eval Count: 1\n",
        "   Output[0]  Name: w DType=FP32 isValid=1 Rank=1 Shape=[2, ]\n",
        "Name: w DType=FP32 isValid=1 Rank=1 Shape=[2, ]\n",
        "[ 0.50000 -1.25000 ]\n",
        "Node type: RESCALE ID: 3 Eval Count: 1\n",
        "    Input[0]  Name: acc DType=INT32 isValid=1 Rank=4 Shape=[1, 1, 2, 2, ]\n",
        "   Output[0]  Name: out DType=INT8 isValid=1 Rank=4 Shape=[1, 1, 2, 2, ]\n",
        "Name: out DType=INT8 isValid=1 Rank=4 Shape=[1, 1, 2, 2, ]\n",
        "[[[[ -128 5 ]\n",
        "[ 7 127 ]\n",
        "]]]\n",
    ]
    got = _parse_dump(text)
    assert list(got) == ["out"]
    assert got["out"].shape == (1, 1, 2, 2) and got["out"].flatten().tolist() == [-128, 5, 7, 127]


def test_fusion_groups_follow_single_use_unquantized_producers(seed_case):
    groups = fusion_groups(seed_case, {"relu", "merged", "conv2"})
    assert groups == {"relu": ["relu", "conv1"], "merged": ["merged"], "conv2": ["conv2"]}


def test_a_node_left_in_float_is_not_fused_into_its_consumer(seed_case):
    """conv1 left in float computes its own value: relu judged through it is a span with it."""
    seed_case.quant.module_activations = {"conv1": "float"}
    groups = fusion_groups(seed_case, {"relu", "merged", "conv2"})
    assert groups["relu"] == ["relu"]
    assert unmatched_producers(seed_case, "relu", {"relu", "merged", "conv2"}, groups) == ["conv1"]


def test_numerics_verdict_names_culprit_propagation_or_unlocalized():
    ops = {"c": "conv2d", "r": "relu", "o": "conv2d"}
    bad = [{"output": "o", "symptom": "max-error"}]
    row = {"node": "r", "op": "relu", "symptom": "out-of-range", "fused": ["c"], "checked": True,
           "qparams": {"zp": -111, "qmin": -127}}
    ok = {"node": "o", "op": "conv2d", "symptom": None, "fused": [], "checked": True, "qparams": {}}
    assert numerics_verdict("tosa-int", {"culprit": "r", "table": [row, ok]}, ops, bad) == (
        "numerics", "tosa-int/compare/numerics-out-of-range@relu(nonfuseable,after-conv2d)")
    assert numerics_verdict("tosa-int", {"culprit": None, "table": [ok]}, ops, bad) == (
        "numerics-propagated", "tosa-int/compare/numerics-propagated@conv2d")
    unmatched = {**ok, "checked": False}
    assert numerics_verdict("tosa-int", {"culprit": None, "table": [unmatched]}, ops, bad) == (
        "numerics", "tosa-int/compare/numerics-max-error@conv2d(unlocalized)")
    assert culprit_label("avg_pool2d", {"zp": 0, "qmin": -128}, []) == "avg_pool2d(alone)"


def test_a_failing_output_never_judged_is_not_called_propagated():
    """Every judged node is fine, but the failing output's own node was not judged: its op may
    be what is wrong, so it is a bug, not carried rounding. An output with no quantized node
    of its own (a batch_norm folded into its conv) is its judged producer's value."""
    ops = {"c": "conv2d", "s": "sin", "b": "batch_norm"}
    conv = {"node": "c", "op": "conv2d", "symptom": None, "fused": [], "checked": True, "qparams": {}}
    sin = {"node": "s", "op": "sin", "symptom": None, "fused": [], "checked": False, "qparams": {}}
    bad = [{"output": "c", "symptom": "max-error"}, {"output": "s", "symptom": "bias"}]
    assert numerics_verdict("tosa-int16", {"culprit": None, "table": [conv, sin]}, ops, bad) == (
        "numerics", "tosa-int16/compare/numerics-bias@sin(unlocalized)")
    folded = [{"output": "b", "symptom": "max-error"}]
    assert numerics_verdict("tosa-int16", {"culprit": None, "table": [conv]}, ops, folded) == (
        "numerics-propagated", "tosa-int16/compare/numerics-propagated@batch_norm")


def test_a_span_is_named_by_the_ops_in_it_that_compute():
    """Data movement is left out and the ops are sorted, so the name survives the reducer
    dropping a reshape or an expand, and the same op in another chain is the same bug."""
    assert span_label(["sin", "expand", "reshape"]) == "sin(span)"
    assert span_label(["sin", "reshape"]) == span_label(["sin", "permute", "reshape"]) == "sin(span)"
    assert span_label(["sin", "conv2d", "sin"]) == span_label(["conv2d", "sin"]) == "conv2d+sin(span)"
    assert span_label(["expand", "reshape"]) == "expand+reshape(span)"  # nothing computes: name what is there
    ops = {"a": "sin", "e": "expand", "r": "reshape"}
    row = {"node": "r", "op": "reshape", "symptom": "max-error", "fused": [], "checked": True, "qparams": {},
           "span": ["a", "e"]}
    assert numerics_verdict("tosa-int16", {"culprit": "r", "table": [row]}, ops, [{"output": "r", "symptom": "max-error"}]) == (
        "numerics", "tosa-int16/compare/numerics-max-error@sin(span)")


def test_the_reducer_may_narrow_a_span_but_not_leave_it():
    want = "tosa-int16/compare/numerics-max-error@conv2d+sin(span)"
    assert same_bug(want, "tosa-int16/compare/numerics-max-error@sin(span)", False)
    assert same_bug(want, "tosa-int16/compare/numerics-max-error@sin(alone)", False)
    assert same_bug(want, "tosa-int/compare/numerics-max-error@conv2d(alone)", True)
    assert not same_bug(want, "tosa-int/compare/numerics-max-error@conv2d(alone)", False)
    want = want.partition("/")[2]  # narrows compares signatures without their target (same_bug strips it)
    assert narrows(want, "compare/numerics-max-error@sin(alone)")
    assert not narrows(want, "compare/numerics-bias@sin(alone)")  # another symptom
    assert narrows(want, "compare/numerics-table-interpolation@sin(alone)")  # the rule its error breaks
    assert not narrows(want, "compare/numerics-table-interpolation@relu(alone)")  # not in the span
    assert not narrows(want, "compare/numerics-max-error@relu(alone)")  # not in the span
    assert not narrows(want, "compare/numerics-max-error@sin(unlocalized)")
    assert not narrows(want, "compare/numerics-propagated@sin")
    assert not narrows("compare/numerics-max-error@sin(alone)", "compare/numerics-max-error@sin(span)")


def test_unmatched_producers_walk_back_to_matched_nodes():
    case = Case.load(SIN_CASE)
    groups = {n.id: [n.id] for n in case.nodes}
    assert unmatched_producers(case, "hardswish", {"reshape", "hardswish"}, groups) == []
    assert unmatched_producers(case, "reshape", {"reshape", "hardswish"}, groups) == ["sin", "expand"]
    assert unmatched_producers(case, "reshape", {"sin", "reshape"}, groups) == ["expand"]


def test_fused_producers_are_part_of_their_node_not_a_span(seed_case):
    groups = fusion_groups(seed_case, {"relu", "merged", "conv2"})
    assert unmatched_producers(seed_case, "relu", {"relu", "merged", "conv2"}, groups) == []


def test_an_error_within_each_elements_noise_floor_is_not_evidence():
    """The floor is per element: 30 LSB on a near-constant row whose floor is 61 is noise; 5
    LSB on a row that 1 LSB of input moves by 1 is not, whatever the largest floor."""
    q = {"scale": 0.01, "zp": 0, "qmin": -128, "qmax": 127, "dtype": "int8"}
    local = torch.zeros(4, dtype=torch.float64)
    floor = torch.tensor([61.0, 1.0, 1.0, 1.0], dtype=torch.float64)
    noisy = torch.tensor([30.0, 1.0, -1.0, 0.0], dtype=torch.float64)
    rep = {**code_report(local, noisy, q), "elements": 4}
    assert judge(rep) == "max-error"  # what the plain tolerance says
    assert judge(beyond_noise(rep, noisy - local, floor)) is None
    wrong = torch.tensor([30.0, 5.0, 0.0, 0.0], dtype=torch.float64)
    assert judge(beyond_noise({**code_report(local, wrong, q), "elements": 4}, wrong - local, floor)) == "max-error"
    # a shift every element's floor explains leaves no mean; one beyond it does
    many = torch.ones(100, dtype=torch.float64)
    rep = {**code_report(torch.zeros(100, dtype=torch.float64), many * 2, q), "elements": 100}
    assert judge(beyond_noise(rep, many * 2, many * 2)) is None
    assert judge(beyond_noise(rep, many * 2, many)) == "bias"
    # noise never puts a code outside [qmin, qmax]
    out = {**rep, "out_of_range": 3, "narrow_range": False}
    assert judge(beyond_noise(out, many * 2, many * 2)) == "out-of-range"


@pytest.mark.pipeline
@on_1_5_1
def test_int16_sin_is_named_not_the_reshape_after_it():
    """int16 sin -> expand -> reshape -> hardswish used to be ``max-error@reshape(alone)``
    (2454 LSB): InsertTableOpsPass makes sin's and hardswish's TABLEs without a trace of the
    op they replace, so sin matched nothing (nor did the no-op expand) and hardswish's TABLE
    was given to the reshape before it, which was then judged on hardswish's values. Each
    TABLE now goes to the node it replaced: sin is wrong on its own (int16 TABLEs interpolate
    513 points, 0.78 rad apart over these +-200 inputs, and exactly that: table-interpolation),
    the reshape and hardswish are not."""
    from fuzz.judge.pipeline import run_case

    o = run_case(Case.load(SIN_CASE))
    rows = _rows(o)
    assert o.signature == "tosa-int16/compare/numerics-table-interpolation@sin(alone)"
    assert o.localization["culprit"] == "sin" and rows["sin"]["checked"] and rows["sin"]["local_max"] > 100
    assert not rows["expand"]["checked"]  # a no-op: never lowered
    assert rows["reshape"]["checked"] and rows["reshape"]["local_max"] == 0 and rows["reshape"]["span"] == ["expand"]
    assert rows["hardswish"]["checked"] and rows["hardswish"]["local_max"] <= 2


@pytest.mark.pipeline
@on_1_5_1
def test_a_value_made_in_unmatched_producers_is_blamed_on_the_span():
    """Two sins of one input: their TABLEs cannot be told apart, so sin_a matches no lowered
    tensor and the reshape after it is judged from sin_a's reference value. The reshape
    computes nothing; the culprit is the span sin_a -> reshape, named ``sin(span)``. Its
    error is sin_a's TABLE interpolation: with the TABLE computed as TOSA does, nothing is
    left (it was max-error before the rule reached inside spans and decompositions)."""
    from fuzz.judge.pipeline import run_case

    o = run_case(Case.load(SPAN_CASE))
    rows = _rows(o)
    assert o.signature == "tosa-int16/compare/numerics-table-interpolation@sin(span)"
    assert o.localization["culprit"] == "reshape" and rows["reshape"]["span"] == ["sin_a"]
    assert not rows["sin_a"]["checked"] and not rows["sin_b"]["checked"]
    assert o.message.startswith("the span sin_a (sin) -> reshape (reshape) is wrong locally")


@pytest.mark.pipeline
@on_1_5_1
def test_an_output_no_lowered_tensor_matched_is_judged_from_what_the_program_returned():
    """25 LSB off at the max_pool output, which matches no TOSA tensor (nor does the relu6
    before it). Judged from the program's own output, the span relu6 -> max_pool is exact
    from the pool's lowered codes: 1 LSB of pool rounding at a 25 times coarser scale, carried.
    Unjudged, the output would have been unlocalized, and a bug."""
    from fuzz.judge.pipeline import run_case

    o = run_case(Case.load(OUTPUT_ONLY_CASE))
    rows = _rows(o)
    assert o.signature == "tosa-int16/compare/numerics-propagated@max_pool2d"
    assert o.numerics[0]["max_lsb"] > 20 and not rows["relu6_4"]["checked"]
    assert rows["max_pool2d_5"]["checked"] and rows["max_pool2d_5"]["span"] == ["relu6_4"]
    assert rows["max_pool2d_5"]["local_max"] == 0 and rows["adaptive_avg_pool2d_0"]["local_max"] <= 1


@pytest.mark.pipeline
@on_1_5_1
def test_layer_norm_over_near_constant_rows_is_not_called_wrong_for_its_inputs_rounding():
    """INT+FP conv -> avg_pool -> layer_norm: 34 LSB off at the output, from 1 LSB of
    avg_pool rounding divided by each row's tiny spread. It used to be ``max-error@layer_norm(alone)``
    with 61 LSB locally: forcing the lowered output into every same-shaped quantize node of
    the decomposition (x - mean, its square, ...) made the local reference nonsense. Forced
    at its output only, the layer_norm is exact; its noise floor says how ill-conditioned it is."""
    from fuzz.judge.pipeline import run_case

    o = run_case(Case.load(LAYER_NORM_CASE))
    rows = _rows(o)
    assert o.status == "numerics-propagated" and o.signature == "tosa-int-fp/compare/numerics-propagated@layer_norm"
    assert o.numerics[0]["max_lsb"] > 30
    assert rows["pool"]["local_max"] <= 1 and rows["norm"]["local_max"] == 0
    assert rows["norm"]["noise_max"] > 30 and rows["pool"]["noise_max"] == 0  # avg_pool is not ill-conditioned


@pytest.mark.pipeline
@on_1_5_1
def test_an_ill_conditioned_node_within_its_noise_floor_is_not_wrong():
    """The same case in int16: the layer_norm's decomposition rounds differently from the
    fake-quantized model by 30 LSB, where 1 LSB on its inputs moves it by 61."""
    from fuzz.judge.pipeline import run_case

    o = run_case(Case.load(LAYER_NORM_CASE), "tosa-int16")
    norm = _rows(o)["norm"]
    assert o.status == "numerics-propagated"
    assert norm["local_max"] > 2 and norm["local_max"] < norm["noise_max"] and norm["beyond_noise"] == 0
    assert norm["symptom"] is None


@pytest.mark.pipeline
@on_1_5_1
def test_a_wrong_ill_conditioned_node_is_still_wrong():
    """int16 layer_norm: its rsqrt is an int16 TABLE, 513 points interpolated over var + eps
    from about 1e-5 to 100, too coarse where rsqrt is steep (its codes 300 off the
    reference's). The output is 434 LSB off; 1 LSB on the input moves it by 4 at most. So the
    noise floor does not hide it, and the rule it breaks is named: with its rsqrt computed as
    the TABLE computes it, nothing is left (``table-interpolation``, one bug with the lone
    int16 tanh's)."""
    from fuzz.judge.pipeline import run_case

    o = run_case(Case.load(WRONG_LAYER_NORM_CASE))
    norm = _rows(o)["norm"]
    assert o.signature == "tosa-int16/compare/numerics-table-interpolation@layer_norm(alone)"
    assert norm["local_max"] > 400 and norm["noise_max"] < 10 and norm["beyond_noise"] > 400


@pytest.mark.pipeline
@on_1_5_1
def test_untraced_operators_beside_a_nodes_traced_ones_are_that_nodes():
    """The layer_norm's mean (REDUCE_SUM, MUL, SUB: no trace on 1.5.1) reads the relu's output
    beside the norm's own traced RESCALE. Inherited from the relu, its x - mean became the
    relu's value, and the relu (exact when alone) was blamed, 2061 LSB. Now the relu is exact
    and the norm is named, by the rule its rsqrt TABLE breaks."""
    from fuzz.judge.pipeline import run_case

    o = run_case(Case.load(RELU_LAYER_NORM_CASE))
    rows = _rows(o)
    assert rows["relu_0"]["checked"] and rows["relu_0"]["symptom"] is None and rows["relu_0"]["local_max"] <= 1
    assert o.signature == "tosa-int16/compare/numerics-table-interpolation@layer_norm(alone)"


@pytest.mark.pipeline
@on_1_5_1
def test_a_consumer_of_a_float_node_is_judged_as_a_span_with_it():
    """The linear is exact; the float layer_norm before it is wrong (its mean rounded to the
    input's int8 grid). Taken as fused into the linear, the bug was named
    ``linear(after-layer_norm)``; the layer_norm's float value matches no lowered code, so the
    culprit is the span, named by both ops."""
    from fuzz.judge.pipeline import run_case

    o = run_case(Case.load(FLOAT_LAYER_NORM_CASE))
    assert _rows(o)["linear_4"]["span"] == ["layer_norm_2"]
    assert o.signature == "tosa-int-fp/compare/numerics-max-error@layer_norm+linear(span)"


@pytest.mark.pipeline
@on_1_5_1
def test_a_table_op_off_by_interpolation_and_one_code_at_the_storage_bound_is_the_table_bug():
    """1970 LSB from interpolating rsqrt between its knots, and one output code at -32768 past
    int16's qmin -32767: the table rule explains the error, so the bug is the table's, not a
    max-error of its own."""
    from fuzz.judge.pipeline import run_case

    o = run_case(Case.load(BATCH_NORM_SMALL_VAR_CASE))
    row = _rows(o)["batch_norm_3"]
    assert row["local_max"] > 1000
    assert o.signature == "tosa-int16/compare/numerics-table-interpolation@batch_norm(alone)"


@pytest.mark.pipeline
@on_1_5_1
def test_an_int8_node_in_an_int16_graph_is_judged_in_its_own_domain():
    """The pool's int8 output is requantized into the int16 add's domain by a RESCALE that
    carries the pool's line. That RESCALE's int16 codes were taken as the pool's value and
    judged against its int8 range: "out-of-range, 1460 LSB". The pool is within 1 int8 LSB,
    and the add's 32 int16 LSB are that 1 LSB (scale ratio 16, doubled by x + x): carried
    rounding, not a bug."""
    from fuzz.judge.pipeline import run_case

    o = run_case(Case.load(INT8_POOL_IN_INT16_CASE))
    rows = _rows(o)
    assert rows["avg_pool2d_1"]["qparams"]["dtype"] == "int8" and rows["avg_pool2d_1"]["local_max"] <= 1
    assert rows["add_2"]["local_max"] <= 2 and rows["add_2"]["propagated_max"] > 2  # the end-to-end error is there
    assert o.signature == "tosa-int16/compare/numerics-propagated@add"


def _move_lowered_codes(monkeypatch, node: str, lsb: int) -> None:
    """Fault injection: ``node``'s lowered codes moved by ``lsb``, clamped to their dtype, as a
    wrong output zero point or table entry would make them."""
    real = localize.lowered_values

    def moved(*args):
        found = real(*args)
        if node in found:
            info = np.iinfo(found[node].dtype)
            found[node] = np.clip(found[node].astype(np.int32) + lsb, info.min, info.max).astype(found[node].dtype)
        return found

    monkeypatch.setattr(localize, "lowered_values", moved)


@pytest.mark.pipeline
@on_1_5_1
def test_a_small_error_on_well_conditioned_elements_shows_under_a_large_floor(monkeypatch):
    """Fault injection: the layer_norm's lowered codes 5 LSB off, as a wrong output zero
    point would make them. Its largest floor is far above 5, but most of its elements barely
    move with their inputs: the floor is per element, no place for a real bug to hide."""
    from fuzz.judge.pipeline import run_case

    _move_lowered_codes(monkeypatch, "norm", 5)
    o = run_case(Case.load(LAYER_NORM_CASE))
    norm = _rows(o)["norm"]
    assert o.signature == "tosa-int-fp/compare/numerics-max-error@layer_norm(alone)"
    assert norm["noise_max"] > 30 and norm["beyond_noise"] > 1


@pytest.mark.pipeline
@on_1_5_1
def test_an_int16_table_op_wrong_only_by_interpolation_is_that_rule_whatever_the_op():
    """A lone int16 tanh whose input range is +-1000 (calibration spikes): the TABLE's knots
    sit 3.9 apart, and tanh rises from 0 to 1 within one segment, so the lowering is 2077 LSB
    off the op. It is exactly what a 513-entry TABLE gives (the op at the knots on either side,
    interpolated as TOSA does): ``table-interpolation``, one bug with every other TABLE op's."""
    from fuzz.judge.pipeline import run_case
    from fuzz.triage.bugs import bug_key

    o = run_case(Case.load(TANH_CASE))
    row = _rows(o)["tanh_0"]
    assert o.signature == "tosa-int16/compare/numerics-table-interpolation@tanh(alone)"
    assert row["local_max"] > 2000 and row["symptom"] == "table-interpolation"
    assert bug_key(o.signature) == bug_key("tosa-int16/compare/numerics-table-interpolation@sin(alone)")
    # The repro carries the rule (fuzz.judge.localize as source) and names it the same way.
    from reducer.repro import render, verify

    case = Case.load(TANH_CASE)
    v = verify(render(case, o.signature, "1.5.1"), case, o.signature, sys.executable, runs=1)
    assert v.verified, v.to_dict()


@pytest.mark.pipeline
@on_1_5_1
def test_a_table_op_wrong_beyond_interpolation_is_not_called_interpolation(monkeypatch):
    """Fault injection: the tanh's lowered codes 5 LSB off its TABLE, as a wrong table entry
    or output zero point would make them. The rule explains only what the TABLE computes,
    so this stays max-error, a bug of its own."""
    from fuzz.judge.pipeline import run_case

    _move_lowered_codes(monkeypatch, "tanh_0", 5)
    o = run_case(Case.load(TANH_CASE))
    assert o.signature == "tosa-int16/compare/numerics-max-error@tanh(alone)"


def test_the_knots_of_a_code_are_the_table_entries_on_either_side():
    """The knots of code 200 are 128 and 256, of -200 are -256 and -128, and of 32700 are 32640
    and 32768, the table's last entry, which only the dequantized value can hold."""
    codes = torch.tensor([200, -200, 32700], dtype=torch.int16)
    assert localize._Knot(False).codes(codes).tolist() == [128, -256, 32640]
    assert localize._Knot(True).codes(codes).tolist() == [256, -128, 32768]
    assert localize._Knot(True).dequantize(codes, 0.5, 0).tolist() == [128.0, -64.0, 16384.0]


#: conv -> relu6 (zp off qmin: a cat shares its domain) -> cat, and a sin reading the relu6
#: (the acceptance campaign's ethos-u55-128 bucket 492a655604de, filed as
#: max-error@relu6(nonfuseable,after-conv2d), 148 LSB, while the sin output was exact)
RELU6_SIN_CASE = DATA / "conv-relu6-sin-cat.case.json"


@pytest.mark.pipeline
@on_1_5_1
def test_a_table_reading_a_dropped_activation_is_not_that_activations_value():
    """1.5.1 drops the non-fuseable relu6 (no operator of its own), so the sin's TABLE reads
    the conv's tensor. Inherited from the conv, the TABLE's sine codes were taken as the
    relu6's value. The TABLE is the sin's now, and the relu6 shows what it is: codes under its
    zero-point, the one activation-floor bug."""
    from fuzz.judge.pipeline import run_case

    o = run_case(Case.load(RELU6_SIN_CASE), "tosa-int")
    assert o.signature == "tosa-int/compare/numerics-activation-floor@relu6(nonfuseable,after-conv2d)"
    rows = {r["node"]: r for r in o.localization["table"]}
    assert rows["sin_4"]["local_max"] <= 1  # the sin is right on what it was given


#: sigmoid(in0) twice, the first requantized for a cat with a [0, 64] sibling (acceptance bucket
#: 9aef2fe7f572, ethos-u55-128, filed as max-error@sigmoid(alone), 3581 LSB)
TWIN_SIGMOIDS_CASE = DATA / "twin-sigmoids-cat.case.json"


def test_a_node_returning_its_twins_codes_is_told_from_one_merely_wrong():
    from types import SimpleNamespace as N

    from fuzz.judge.localize import read_in_twins_domain, twin_in_other_domain

    own = {"scale": 1 / 4096, "zp": 0, "qmin": -32767, "qmax": 32767}
    twin = {"scale": 64 / 32767, "zp": 0, "qmin": -32767, "qmax": 32767}
    local = torch.tensor([2048.0, 3000.0, 4000.0])  # sigmoid 0.5 .. 0.98 in the node's own codes
    as_twin = torch.round(local * own["scale"] / twin["scale"])
    assert read_in_twins_domain(local, as_twin, own, twin)
    assert not read_in_twins_domain(local, as_twin + 3, own, twin)
    assert not read_in_twins_domain(local, local - 40, own, twin)  # wrong, but not the twin's codes
    near = {**own, "scale": own["scale"] * 1.0005}  # a twin domain this close explains nothing
    assert not read_in_twins_domain(local, local - 1, own, near)

    a, b = N(id="s0", op="sigmoid", inputs=["in0"], params={}), N(id="s3", op="sigmoid", inputs=["in0"], params={})
    case = N(nodes=[a, N(id="c1", op="clamp", inputs=["s0"], params={}), b])
    assert twin_in_other_domain(case, b, {"s0": twin, "s3": own}) == "s0"
    assert twin_in_other_domain(case, a, {"s0": twin, "s3": own}) is None  # the first one is kept
    assert twin_in_other_domain(case, b, {"s0": own, "s3": own}) is None  # one domain: merging is harmless


@pytest.mark.pipeline
@on_1_5_1
def test_two_equal_users_of_one_input_in_two_domains_are_the_duplicate_users_bug():
    """FuseDuplicateUsersPass merges the two sigmoids; the second returns the first's codes,
    read in its own domain: 3581 LSB. One rule whatever the op: one bug."""
    from fuzz.judge.pipeline import run_case
    from fuzz.triage.bugs import bug_key

    o = run_case(Case.load(TWIN_SIGMOIDS_CASE), "tosa-int16")
    assert o.signature == "tosa-int16/compare/numerics-duplicate-users-fused@sigmoid(alone)"
    assert o.localization["culprit"] == "sigmoid_3"
    assert bug_key(o.signature) == "compare/numerics-duplicate-users-fused"


#: conv -> relu (fused, act_qmin -127) -> {add with in0, leaky_relu in int16}; a log_softmax
#: beside them (acceptance bucket 35c380599300, ethos-u85-256, filed as
#: table-interpolation@relu(fuseable, after-conv2d))
RELU_LEAKY_CASE = DATA / "conv-relu-add-leakyrelu16.case.json"


@pytest.mark.pipeline
@on_1_5_1
def test_a_value_no_table_computes_is_not_the_table_bug_and_a_table_reaches_its_reader():
    """Two mistakes in one case. The leaky_relu's TABLE reads an untraced RESCALE of the
    conv's output that the sibling rule gave to the add (it reads the same tensor), so the
    TABLE and its RESCALEs became the add's value: 216 LSB "wrong". And the relu's -128
    codes (the narrow-range bug) were called table-interpolation, because the log_softmax's
    TABLEs gave the whole graph a tabled reference, equal to the relu's own."""
    from fuzz.judge.pipeline import run_case

    o = run_case(Case.load(RELU_LEAKY_CASE), "ethos-u85-256")
    assert o.signature == "ethos-u85-256/compare/numerics-narrow-range@relu(fuseable,after-conv2d)"
    rows = {r["node"]: r for r in o.localization["table"]}
    assert rows["add_2"]["local_max"] <= 1 and rows["leaky_relu_5"]["checked"]
