"""The delegation oracle on real lowerings: an op on the CPU is a finding only when a control
(the node alone, or alone in its canonical spelling) shows the backend takes it."""

from __future__ import annotations

import importlib.metadata
import sys

import pytest

from fuzz.generate.case import Case, Node, TensorSpec
from fuzz.judge.delegation import canonical_spelling, control_case, respelled_case

CONV = {"out_channels": 4, "kernel_size": 1, "stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True,
        "padding_mode": "zeros"}
#: executorch 1.5.1's quantizer annotates aten.sub but not its alias aten.subtract, which
#: torch.export keeps: ``torch.subtract(x, y)`` stays in float (on the CPU) on an INT target
#: where ``x - y`` is quantized and delegated (quantizer/quantization_annotator.py lists no alias).
SUB_SPELLED_SUBTRACT = "tosa-int/lower/spelling-not-delegated@sub(subtract)"  # named by the exported aten op


def _case(nodes: list[Node], outputs: list[str]) -> Case:
    c = Case(inputs=[TensorSpec("a", [1, 4, 8, 8]), TensorSpec("b", [1, 4, 8, 8])], nodes=nodes, outputs=outputs)
    used = {i for n in nodes for i in n.inputs}
    c.inputs = [t for t in c.inputs if t.name in used]
    c.calibration = {"samples": 1, "inputs": {t.name: {"kind": "uniform", "low": -1.0, "high": 1.0} for t in c.inputs}}
    c.validate()
    return c


def _conv_sub_relu(spelling: str) -> Case:
    return _case([Node("c", "conv2d", ["a"], CONV, "module"), Node("n", "sub", ["c", "b"], {}, spelling),
                  Node("r", "relu", ["n"], {}, "functional")], ["r"])


def test_controls_change_one_thing_each():
    case = _conv_sub_relu("subtract")
    case.weights["nodes"] = {"c": {**case.weights["default"], "negative": True}}
    case.quant.per_channel = False
    # context control: the node alone, its shapes, params, spelling, weights and quantization
    alone = control_case(case, "n")
    assert [n.op for n in alone.nodes] == ["sub"] and alone.nodes[0].spelling == "subtract"
    assert {t.name: t.shape for t in alone.inputs} == {"c": [1, 4, 8, 8], "b": [1, 4, 8, 8]}
    assert alone.quant == case.quant and alone.target == case.target and alone.seed == case.seed
    assert alone.calibration["inputs"]["b"] == case.calibration["inputs"]["b"]
    assert control_case(case, "c").weights["nodes"] == case.weights["nodes"]  # same recipe, same weights
    # spelling control: the same graph with only that node respelled canonically
    respelled = respelled_case(case, "n")
    assert [(n.id, n.spelling) for n in respelled.nodes] == [("c", "module"), ("n", "operator"), ("r", "functional")]
    assert respelled.weights == case.weights and respelled.calibration == case.calibration
    assert canonical_spelling(case, "n") == "operator" and respelled_case(_conv_sub_relu("operator"), "n") is None
    # an in-place node cannot stand alone (it would modify a graph input): only its spelling is controlled
    inplace = _case([Node("c", "conv2d", ["a"], CONV, "module"), Node("e", "elu", ["c"], {"alpha": 1.0}, "functional_inplace")], ["e"])
    with pytest.raises(ValueError, match="in place"):
        control_case(inplace, "e")
    assert respelled_case(inplace, "e").nodes[1].spelling not in ("functional_inplace",)


@pytest.mark.pipeline
def test_an_alias_spelling_left_on_the_cpu_is_a_finding_and_the_canonical_one_passes():
    from fuzz.judge.pipeline import run_case

    got = run_case(_conv_sub_relu("subtract"), "tosa-int")
    assert got.status == "spelling-not-delegated" and got.signature == SUB_SPELLED_SUBTRACT, got.message
    assert got.delegation["cpu_ops"] == ["sub"] and got.delegation["control"]["delegation"]["cpu_ops"] == []
    assert [n["spelling"] for n in got.delegation["control"]["case"]["nodes"]] == ["module", "operator", "functional"]
    plain = run_case(_conv_sub_relu("operator"), "tosa-int")
    assert plain.status == "pass" and plain.delegation["cpu_ops"] == [], plain.message
    # INT+FP takes the float subtract itself: nothing is left on the CPU, nothing to report
    fp = run_case(_conv_sub_relu("subtract"), "tosa-int-fp")
    assert fp.status == "pass" and fp.delegation["cpu_ops"] == [], fp.message


@pytest.mark.pipeline
def test_an_op_the_backend_never_takes_is_not_a_finding():
    """conv_transpose2d with dilation 2 is outside executorch's support check
    (operator_support/convolution_support.py): on the CPU alone too, so by design."""
    from fuzz.judge.pipeline import run_case

    params = {"out_channels": 4, "kernel_size": 3, "stride": 1, "padding": 0, "output_padding": 0, "groups": 1,
              "dilation": 2, "bias": True}
    case = _case([Node("c", "conv2d", ["a"], CONV, "module"), Node("t", "conv_transpose2d", ["c"], params, "module")], ["t"])
    got = run_case(case, "tosa-int")
    assert "conv_transpose2d" not in got.signature and got.status in ("pass", "not-delegated"), got.message
    assert got.delegation["cpu_nodes"], "the transposed conv should have stayed on the CPU"


@pytest.mark.pipeline
def test_the_repro_of_a_delegation_finding_reproduces_it_in_a_fresh_process():
    from reducer.repro import render, verify

    case = _conv_sub_relu("subtract")
    script = render(case, SUB_SPELLED_SUBTRACT, "1.5.1")
    assert "class Control" in script and "ARMFUZZ-DELEGATION" in script
    v = verify(script, case, SUB_SPELLED_SUBTRACT, sys.executable)
    assert v.verified, v.observed


def _between_convs(node: Node) -> Case:
    """conv -> node -> conv: the node's input and output are quantized tensors of the graph."""
    return _case([Node("c", "conv2d", ["a"], CONV, "module"), node, Node("r", "conv2d", [node.id], CONV, "module")], ["r"])


#: One spelling per family (fuzz.triage.families), the overload it exports to, and the overload
#: its canonical spelling exports to, which the quantizer annotates.
FAMILY_EXAMPLES = {
    "inplace": (Node("n", "relu6", ["c"], {}, "inplace"), "relu6_.default", "hardtanh.default"),
    "alias": (Node("n", "clamp", ["c"], {"min": -0.5, "max": 0.5}, "clip"), "clip.default", "clamp.default"),
    "unlisted-op": (Node("n", "sub", ["c", "b"], {}, "rsub"), "rsub.Tensor", "sub.Tensor"),
}


@pytest.mark.pipeline
@pytest.mark.skipif(importlib.metadata.version("executorch") != "1.5.1", reason="the quantizer's lists of executorch 1.5.1")
@pytest.mark.parametrize("family", FAMILY_EXAMPLES)
def test_each_spelling_family_is_a_real_finding_for_the_reason_executorch_gives(family):
    """Each family's example is a real spelling finding on tosa-int, keyed by its family, and
    the reason is in executorch's code: the quantizer's lists (the pattern matcher's support
    dict and the shared-qparams ops) name the canonical overload and not the spelling's; the
    in-place one is not among those RewriteInplaceArithmeticPass makes functional; the alias
    is a composite torch keeps whole through export."""
    import torch
    from executorch.backends.arm._passes.rewrite_inplace_arithmetic_pass import OP_MAP
    from executorch.backends.arm.quantizer.arm_quantizer_utils import SharedQspecQuantizer
    from executorch.backends.arm.quantizer.quantizer_support import TOSA_QUANTIZER_SUPPORT_DICT

    from fuzz.judge.pipeline import run_case
    from fuzz.triage.bugs import bug_key

    node, spelled, canonical = FAMILY_EXAMPLES[family]
    got = run_case(_between_convs(node), "tosa-int")
    assert got.status == "spelling-not-delegated", got.message
    assert bug_key(got.signature) == f"lower/spelling-not-delegated:{family}", got.signature

    spelled, canonical = (getattr(getattr(torch.ops.aten, p), o) for p, o in (n.split(".") for n in (spelled, canonical)))
    listed = {pattern[0] for pattern in TOSA_QUANTIZER_SUPPORT_DICT} | set(SharedQspecQuantizer.SHARED_QSPEC_OPS_DEFAULT)
    assert spelled not in listed and canonical in listed
    if family == "inplace":
        assert spelled not in OP_MAP  # relu6_ is composite too: the in-place form is what the quantizer saw
    else:
        assert spelled.has_kernel_for_dispatch_key(torch._C.DispatchKey.CompositeImplicitAutograd) == (family == "alias")


#: executorch 1.5.1's quantizer annotates conv -> hardtanh(min 0) as one fused pair, and
#: CheckProperQuantization refuses both unless FuseQuantizedActivationPass will fuse them, which
#: it does for a hardtanh only when its max quantizes to qmax. A cat sharing [0, 20] with the
#: hardtanh(0, 0.5) puts the max far below qmax: conv and hardtanh stay on the CPU, the conv
#: alone is delegated.
@pytest.mark.pipeline
@pytest.mark.skipif(importlib.metadata.version("executorch") != "1.5.1", reason="executorch 1.5.1's hardtanh fusion rule")
def test_a_conv_left_on_the_cpu_with_its_fused_activation_is_named_by_the_pair_and_its_repro_says_so():
    from fuzz.judge.pipeline import run_case
    from fuzz.triage.bugs import bug_key
    from reducer.repro import render, verify

    case = Case(inputs=[TensorSpec("a", [1, 4, 8, 8]), TensorSpec("b", [1, 4, 8, 8])],
                nodes=[Node("c", "conv2d", ["a"], CONV, "module"),
                       Node("h", "hardtanh", ["c"], {"min_val": 0.0, "max_val": 0.5}, "module"),
                       Node("m", "cat", ["h", "b"], {"dim": 1}, "torch")],
                outputs=["m"], target="tosa-int")
    case.calibration = {"samples": 1, "inputs": {"a": {"kind": "uniform", "low": 0.0, "high": 2.0},
                                                 "b": {"kind": "uniform", "low": 0.0, "high": 20.0}}}
    case.validate()
    expected = "tosa-int/lower/partially-delegated@conv2d+hardtanh(convolution)"
    assert run_case(case).signature == expected
    assert bug_key(expected) == bug_key(expected.replace("conv2d+", "linear+").replace("(convolution)", "(linear)"))
    v = verify(render(case, expected, "1.5.1"), case, expected, sys.executable)
    assert v.verified, v.observed
