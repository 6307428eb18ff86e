"""The reducer: passes, the search loop, and a real reduction of a live executorch bug."""

from __future__ import annotations

import copy

import pytest

from fuzz.generate.case import Case, Node, TensorSpec
from fuzz.judge.outcome import Outcome
from reducer.passes import PASSES, cost, prune
from reducer.shrink import Budget, Reducer, same_bug
from tests.conftest import ROOT

GROWN = ROOT / "tests" / "data" / "seed-grown.case.json"


def test_prune_drops_dead_nodes_inputs_and_recipes():
    case = Case.load(GROWN)
    c = copy.deepcopy(case)
    c.outputs = ["conv2"]
    p = prune(c)
    assert [n.id for n in p.nodes] == ["conv1", "relu", "merged", "conv2"]
    assert [t.name for t in p.inputs] == ["x", "y"]
    assert p.weights["nodes"] == {}  # 'head' is gone, so is its recipe
    p.validate()


def test_every_pass_proposes_only_strictly_smaller_or_rejected_candidates():
    case = Case.load(GROWN)
    size = cost(case)
    proposed = 0
    for _, proposer in PASSES:
        for _, cand in proposer(case):
            proposed += 1
            try:
                cand.validate()
            except Exception:
                continue
            # The reducer only accepts cost(cand) < cost(case); a pass may propose others,
            # but the graph-cutting passes must always cut.
            assert cand.case_id != case.case_id
    assert proposed > 30
    assert size[0] == 12


def _has_relu_into_cat(case: Case) -> bool:
    ids = {n.id: n for n in case.nodes}
    return any(n.op == "cat" and any(ids.get(i) is not None and ids[i].op == "relu" for i in n.inputs) for n in case.nodes)


def _synthetic(case_list):
    """A stand-in oracle for the *search* only (no lowering): 'fails' while relu feeds a cat.
    The real-pipeline reduction is test_reduces_a_live_executorch_crash below."""
    return [Outcome(c.case_id, c.target, "crash", signature=f"{c.target}/lower/X@P: m") if _has_relu_into_cat(c)
            else Outcome(c.case_id, c.target, "pass") for c in case_list]


def test_search_reaches_a_fixed_point_and_keeps_the_pattern():
    case = Case.load(GROWN)
    r = Reducer(_synthetic, width=2, budget=Budget(evaluations=2000, seconds=120)).run(case, "tosa-int-fp/lower/X@P: m")
    assert r.reproduced and r.fixed_point
    assert _has_relu_into_cat(r.reduced)
    assert [n.op for n in r.reduced.nodes] == ["relu", "cat"]  # conv1 became a graph input
    assert r.reduced.target == "tosa-int"  # the synthetic bug shows on the simplest target
    assert r.confirm == (3, 3) and not r.flaky
    assert r.cache_hits >= 0 and r.evaluations > 0
    assert cost(r.reduced) < cost(case)


def test_search_respects_its_evaluation_budget():
    case = Case.load(GROWN)
    r = Reducer(_synthetic, width=1, budget=Budget(evaluations=5, seconds=60), confirm_runs=0).run(case, "tosa-int-fp/lower/X@P: m")
    assert r.evaluations <= 6 and not r.fixed_point


def test_flaky_signature_is_reported():
    flips = iter(range(10_000))

    def flaky(cases):
        return [Outcome(c.case_id, c.target, "crash", signature="tosa-int/lower/X@P: m") if next(flips) % 2 == 0
                else Outcome(c.case_id, c.target, "pass") for c in cases]

    case = Case(inputs=[TensorSpec("x", [1, 2, 4, 4])], nodes=[Node("r", "relu", ["x"], {}, "functional")], outputs=["r"])
    r = Reducer(flaky, confirm_runs=4, budget=Budget(evaluations=50)).run(case, "tosa-int/lower/X@P: m")
    assert r.reproduced and r.flaky and r.confirm[1] == 4 and r.confirm[0] < 4


def test_a_case_that_does_not_fail_is_not_reduced():
    case = Case.load(GROWN)
    r = Reducer(lambda cs: [Outcome(c.case_id, c.target, "pass") for c in cs]).run(case, "tosa-int/lower/X@P: m")
    assert not r.reproduced and r.reduced is case and r.evaluations == 1


def test_same_bug_across_targets_only_when_allowed():
    assert same_bug("vgf-int-fp/lower/E@P: m", "tosa-int-fp/lower/E@P: m", True)
    assert not same_bug("vgf-int-fp/lower/E@P: m", "tosa-int-fp/lower/E@P: m", False)
    assert not same_bug("vgf-int-fp/lower/E@P: m", "tosa-int-fp/lower/E@Q: m", True)


@pytest.mark.pipeline
def test_reduces_a_live_executorch_crash():
    """Real lowering on the installed executorch: clamp(min > max) crashes ExirToTosaPass on
    1.5.1. Grown to 7 nodes around it, the reducer must get back to the clamp alone."""
    from fuzz.judge.pipeline import run_case

    conv = {"out_channels": 4, "kernel_size": 3, "stride": 1, "padding": 1, "dilation": 1, "groups": 1, "bias": True,
            "padding_mode": "zeros"}
    case = Case(
        inputs=[TensorSpec("x", [1, 4, 8, 8]), TensorSpec("y", [1, 4, 8, 8])],
        nodes=[
            Node("conv1", "conv2d", ["x"], conv, "module"),
            Node("act", "relu", ["conv1"], {}, "functional"),
            Node("side", "sigmoid", ["y"], {}, "torch"),
            Node("merged", "cat", ["act", "side"], {"dim": 1}, "torch"),
            Node("bad", "clamp", ["merged"], {"min": 0.5, "max": 0.25}, "torch"),
            Node("conv2", "conv2d", ["bad"], conv, "module"),
            Node("out", "add", ["conv2", "conv1"], {}, "operator"),
        ],
        outputs=["out"],
        target="tosa-int",
    )
    first = run_case(case)
    assert first.signature.startswith("tosa-int/lower/TosaValueError@"), first.signature
    r = Reducer(lambda cs: [run_case(c) for c in cs], budget=Budget(evaluations=120, seconds=900), confirm_runs=1).run(case, first.signature)
    assert r.reproduced and r.confirm == (1, 1)
    assert [n.op for n in r.reduced.nodes] == ["clamp"], r.summary()
    assert r.outcome.signature == first.signature
    assert r.reduced.inputs[0].shape != [1, 8, 8, 8]  # shapes shrank too


def _span_oracle(case_list):
    """A stand-in oracle for the search only, shaped like int16 sin (tests/data/int16-two-sins-span.case.json
    is the real one): a sin is wrong; two sins of one input cannot be told apart in the
    lowered graph, so the verdict is their span; one sin alone is named."""
    out = []
    for c in case_list:
        sins = [n for n in c.nodes if n.op == "sin"]
        if not sins:
            out.append(Outcome(c.case_id, c.target, "pass"))
            continue
        shared = len({tuple(n.inputs) for n in sins}) < len(sins)
        where = "sin(span)" if shared else "sin(alone)"
        out.append(Outcome(c.case_id, c.target, "numerics", signature=f"{c.target}/compare/numerics-max-error@{where}"))
    return out


def test_a_span_verdict_is_reduced_to_the_node_it_narrows_to():
    """The reducer keeps a candidate whose verdict names fewer of the span's ops, then holds
    it to that: the two-sin span ends as one sin, named on its own."""
    case = Case.load(ROOT / "tests" / "data" / "int16-two-sins-span.case.json")
    want = "tosa-int16/compare/numerics-max-error@sin(span)"
    r = Reducer(_span_oracle, budget=Budget(evaluations=500, seconds=60)).run(case, want)
    assert r.reproduced and r.fixed_point and r.confirm == (3, 3)
    assert [n.op for n in r.reduced.nodes] == ["sin"]
    assert r.outcome.signature.endswith("/compare/numerics-max-error@sin(alone)")
