"""TOSA graph validation: the real emitted graphs of executorch 1.5.1, checked against the
TOSA 1.0 specification's ERROR_IF rules before any tool runs them."""

from __future__ import annotations

import importlib.metadata

import pytest

from fuzz.case import Case
from fuzz.outcome import FAILURES
from fuzz.targets import TARGETS
from fuzz.tosa_check import tosa_violations, violation_kind
from tests.conftest import ROOT

CAT_CASE = ROOT / "tests" / "data" / "cat-same-tensor-conv.case.json"
on_1_5_1 = pytest.mark.skipif(importlib.metadata.version("executorch") != "1.5.1", reason="bug measured on 1.5.1")


@pytest.mark.parametrize("data", [b"", b"\x00" * 64, bytes(range(256)) * 3, b"TOSA" * 3])
def test_hostile_bytes_are_one_clear_violation_not_a_crash(data):
    (v,) = tosa_violations(data)
    assert v.startswith("not a TOSA flatbuffer")


@pytest.mark.pipeline
@on_1_5_1
@pytest.mark.parametrize("target", list(TARGETS))
def test_cat_of_the_same_tensor_into_a_conv_is_one_invalid_tosa_verdict_on_every_target(target):
    """torch.cat([x, x], dim=-3) -> 1x1 conv, x of shape (1, 1, 1, 2): executorch 1.5.1 emits a
    RESHAPE where the CONCAT was, so the conv's weight has 2 input channels and its input 1.
    The reference model would segfault, vela reports ERROR_IF(shapeCheck(weight, input)),
    model-converter fails: every target gets the same invalid-tosa verdict instead."""
    from fuzz.pipeline import run_case

    o = run_case(Case.load(CAT_CASE), target)
    assert o.status == "invalid-tosa" and o.status in FAILURES, (o.status, o.signature, o.message[:300])
    assert o.signature == f"{target}/invalid-tosa@CONV2D: weight/input channels"
    assert "weight IC 2 != input C 1" in o.message
    if TARGETS[target].compiler:
        assert f"{TARGETS[target].compiler} on this graph:" in o.message  # the tool's reaction, as evidence


@pytest.mark.pipeline
def test_valid_graphs_have_no_violations(seed_case):
    """The negative control: the seed graph and a conv -> avg_pool -> conv graph lower to
    graphs the checker accepts (a false alarm here would bury real findings)."""
    from fuzz.pipeline import run_case

    for case, target in ((seed_case, "tosa-int"), (Case.load(ROOT / "tests" / "data" / "conv-avgpool-conv.case.json"), "ethos-u85-256")):
        o = run_case(case, target)
        assert o.status != "invalid-tosa", o.message


def test_violation_kind_is_the_stable_part():
    assert violation_kind("CONV2D: weight/input channels (weight IC 2 != input C 1)") == "CONV2D: weight/input channels"
