"""Op registry: every op's every spelling builds, runs in eager torch, and means the same thing."""

from __future__ import annotations

import pytest
import torch

from fuzz.generate.case import Case, Node, TensorSpec
from fuzz.generate.codegen import build_model, calibration_data
from fuzz.generate.ops import all_ops
from fuzz.views.surface import single_op_case

OPS = sorted(all_ops())


@pytest.mark.parametrize("op_name", OPS)
def test_all_spellings_of_an_op_compute_the_same_thing(op_name):
    op = all_ops()[op_name]
    for seed in range(6):
        case = single_op_case(op_name, seed)
        results = {}
        for spelling in op.spellings:
            if not op.spelling_ok(spelling, case.nodes[0].params) or spelling in op.inplace_spellings:
                continue
            case.nodes[0].spelling = spelling
            model, _ = build_model(case)
            with torch.no_grad():
                results[spelling] = model(*calibration_data(case)[0])
        first = next(iter(results.values()))
        for spelling, out in results.items():
            torch.testing.assert_close(out, first, msg=f"{op_name}: spelling {spelling} differs")


@pytest.mark.parametrize("op_name", OPS)
def test_declared_shape_matches_eager_shape(op_name):
    for seed in range(10):
        case = single_op_case(op_name, seed)
        shapes = case.validate()
        model, _ = build_model(case)
        with torch.no_grad():
            out = model(*calibration_data(case)[0])
        assert tuple(out.shape) == shapes["n"], f"{op_name} params {case.nodes[0].params}"


def test_inplace_spellings_run_on_an_intermediate():
    for op in all_ops().values():
        for spelling in op.inplace_spellings:
            params = {"min": -0.5, "max": 0.5} if op.name == "clamp" else {}
            if op.name == "hardtanh":
                params = {"min_val": -0.5, "max_val": 0.5}
            arity_inputs = ["t", "a"] if op.arity == 2 else ["t"]
            case = Case(
                inputs=[TensorSpec("a", [1, 4, 4, 4])],
                nodes=[Node("t", "mul", ["a", "a"], {}, "operator"), Node("n", op.name, arity_inputs, params, spelling)],
                outputs=["n"],
            )
            case.validate()
            model, _ = build_model(case)
            with torch.no_grad():
                model(*calibration_data(case)[0])


def test_weights_are_per_node_stable(seed_case):
    """Removing a node must not change any other node's weights (the reducer relies on it)."""
    model, _ = build_model(seed_case)
    from tests.conftest import sub_case

    smaller = sub_case(seed_case, ["conv1"], ["conv1"], ["x"])
    small_model, _ = build_model(smaller)
    assert torch.equal(model.conv1.weight, small_model.conv1.weight)
    assert torch.equal(calibration_data(seed_case)[0][0], calibration_data(smaller)[0][0])
