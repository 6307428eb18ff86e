"""Numerics localisation on the real pipeline: executorch 1.5.1's lowering, the TOSA reference
model's intermediate dump, and the teacher-forced quantized model. Nothing is mocked."""

from __future__ import annotations

import importlib.metadata

import pytest

from fuzz.generate.case import Case
from fuzz.judge.localize import _parse_dump, fusion_groups
from fuzz.judge.outcome import FAILURES
from fuzz.judge.signature import culprit_label, numerics_verdict
from tests.conftest import ROOT

EXECUTORCH = importlib.metadata.version("executorch")
AVGPOOL_CASE = ROOT / "tests" / "data" / "conv-avgpool-conv.case.json"
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
    assert o.signature == "tosa-int-fp/compare/numerics-max-error@relu(nonfuseable,after-conv2d)"
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
    assert o.signature == "tosa-int/compare/numerics-max-error@relu(nonfuseable,after-conv2d)"


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


def test_numerics_verdict_names_culprit_propagation_or_unlocalized():
    ops = {"c": "conv2d", "r": "relu", "o": "conv2d"}
    bad = {"output": "o", "symptom": "max-error"}
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
