"""Regime observer on hand-built quantized graphs and facts with known qparams."""

from __future__ import annotations

import pytest
import torch
import torch.ao.quantization.fx._decomposed  # noqa: F401  (registers quantized_decomposed ops)

from fuzz.generate.case import Case, Node, QuantConfig, TensorSpec
from fuzz.generate.codegen import MODEL_FILENAME
from fuzz.judge.regimes import Facts, classify, extract_facts

QD = torch.ops.quantized_decomposed
CONV = {"out_channels": 4, "kernel_size": 3, "stride": 1, "padding": 1, "dilation": 1, "groups": 1, "bias": True, "padding_mode": "zeros"}


def _case(nodes, inputs=(("x", [1, 4, 8, 8]),), quant=None, target="tosa-int") -> Case:
    c = Case(inputs=[TensorSpec(n, list(s)) for n, s in inputs], nodes=nodes, outputs=[nodes[-1].id],
             quant=quant or QuantConfig(), target=target)
    c.validate()
    return c


def _qp(scale, zp, qmin=-128, qmax=127, dtype="int8"):
    return {"scale": scale, "zp": zp, "qmin": qmin, "qmax": qmax, "dtype": dtype}


def test_relu_with_zp_away_from_qmin_is_nonfuseable_and_at_qmin_is_not():
    case = _case([Node("conv1", "conv2d", ["x"], CONV, "module"), Node("relu", "relu", ["conv1"], {}, "functional")],
                 quant=QuantConfig(act_qmin=-127))
    regimes, evidence, _ = classify(case, Facts(tensors={"relu": _qp(0.0039, -111, qmin=-127)}))
    assert "act-nonfuseable" in regimes
    assert any("zp=-111" in e and "qmin=-127" in e for e in evidence)
    regimes, _, _ = classify(case, Facts(tensors={"relu": _qp(0.0039, -127, qmin=-127)}))
    assert "act-nonfuseable" not in regimes and "config-act-qmin-127" in regimes


def test_clamp_bounds_inside_the_input_domain():
    case = _case([Node("c", "clamp", ["x"], {"min": -0.2, "max": 0.3}, "torch")])
    inside, _, _ = classify(case, Facts(tensors={"x": _qp(0.01, 0)}))  # domain [-1.28, 1.27]
    assert "clamp-inside-range" in inside
    outside, _, _ = classify(case, Facts(tensors={"x": _qp(0.001, 0)}))  # domain [-0.128, 0.127]
    assert "clamp-inside-range" not in outside


def test_bounds_inside_the_output_domain_a_cat_shares():
    """relu6 -> cat with a sibling on [0, 20]: the shared output domain reaches past 6, so
    fusing the relu6 into its conv at zp == qmin would lose the upper bound (1.4.1's bug)."""
    case = _case([Node("conv1", "conv2d", ["x"], CONV, "module"), Node("act", "relu6", ["conv1"], {}, "module")])
    shared, evidence, _ = classify(case, Facts(tensors={"act": _qp(20 / 255, -128)}))  # [0, 20]
    assert "clamp-inside-range" in shared and any("inside output domain" in e for e in evidence)
    own, _, _ = classify(case, Facts(tensors={"act": _qp(6 / 255, -128)}))  # [0, 6]: its own range
    assert "clamp-inside-range" not in own


def test_cat_of_mismatched_natural_ranges():
    case = _case([Node("m", "cat", ["x", "y"], {"dim": 1}, "torch")], inputs=(("x", [1, 2, 4, 4]), ("y", [1, 2, 4, 4])))
    seedlike, _, _ = classify(case, Facts(float_ranges={"x": (0.0, 0.86), "y": (-0.064, 0.93)}))
    assert "shared-domain-mismatch" in seedlike  # one input one-sided, the other signed
    wide, _, _ = classify(case, Facts(float_ranges={"x": (-0.1, 0.1), "y": (-1.0, 1.0)}))
    assert "shared-domain-mismatch" in wide  # 10x width ratio
    same, _, _ = classify(case, Facts(float_ranges={"x": (0.0, 1.0), "y": (0.0, 0.9)}))
    assert "shared-domain-mismatch" not in same


def test_tensor_scale_and_zero_point_corners():
    case = _case([Node("r", "relu", ["x"], {}, "functional")])
    regimes, _, _ = classify(case, Facts(tensors={"x": _qp(2.0**-16, 0), "r": _qp(1.0, -128)}))
    assert "scale-at-min" in regimes and "scale-huge" in regimes
    regimes, _, _ = classify(case, Facts(tensors={"x": _qp(0.01, 127)}))
    assert "zp-at-qmax" in regimes and "zp-at-qmin-nonact" not in regimes
    regimes, _, _ = classify(case, Facts(tensors={"x": _qp(0.01, -128)}))
    assert "zp-at-qmin-nonact" in regimes and "scale-at-min" not in regimes


def test_per_channel_weight_corners():
    case = _case([Node("conv1", "conv2d", ["x"], CONV, "module")])
    regimes, evidence, _ = classify(case, Facts(weight_scales={"conv1": [0.01, 2.0**-16, 0.012, 0.009]}))
    assert "weight-zero-channel" in regimes and any("[1]" in e for e in evidence)
    regimes, _, _ = classify(case, Facts(weight_scales={"conv1": [1e-4, 0.05, 0.1, 0.02]}))
    assert "weight-channel-spread" in regimes
    regimes, _, _ = classify(case, Facts(weight_scales={"conv1": [0.01, 0.02, 0.015, 0.01]}))
    assert not {"weight-zero-channel", "weight-channel-spread"} & set(regimes)


def test_int16_bias_and_config_regimes():
    case = _case([Node("conv1", "conv2d", ["x"], CONV, "module")], quant=QuantConfig(activations="int16", per_channel=False),
                 target="tosa-int16")
    regimes, _, _ = classify(case, Facts())
    assert {"int16-int48-bias", "config-a16w8", "config-per-tensor-weights"} <= set(regimes)
    a8w4 = _case([Node("conv1", "conv2d", ["x"], CONV, "module")], quant=QuantConfig(weight_qmin=-7, weight_qmax=7))
    assert "config-a8w4" in classify(a8w4, Facts())[0]


def _traced(line: int) -> str:
    return f'File "{MODEL_FILENAME}", line {line}, in forward\n    x = y\n'


def test_extract_facts_from_a_hand_built_quantized_graph():
    """placeholder x -> Q/DQ -> conv (per-channel DQ weights) -> relu -> Q(zp -111)."""
    root = torch.nn.Module()
    root.w = torch.zeros(4, 4, 3, 3, dtype=torch.int8)
    root.w_scales = torch.tensor([0.01, 2.0**-16, 0.02, 0.01])
    root.w_zps = torch.zeros(4, dtype=torch.int64)
    g = torch.fx.Graph()
    x = g.placeholder("x")
    qx = g.call_function(QD.quantize_per_tensor.default, (x, 0.01, -128, -128, 127, torch.int8))
    dqx = g.call_function(QD.dequantize_per_tensor.default, (qx, 0.01, -128, -128, 127, torch.int8))
    w = g.get_attr("w")
    dqw = g.call_function(QD.dequantize_per_channel.default, (w, g.get_attr("w_scales"), g.get_attr("w_zps"), 0, -127, 127, torch.int8))
    conv = g.call_function(torch.ops.aten.conv2d.default, (dqx, dqw))
    conv.meta["stack_trace"] = _traced(8)
    relu = g.call_function(torch.ops.aten.relu.default, (conv,))
    relu.meta["stack_trace"] = _traced(9)
    qr = g.call_function(QD.quantize_per_tensor.default, (relu, 0.0039, -111, -127, 127, torch.int8))
    g.output(g.call_function(QD.dequantize_per_tensor.default, (qr, 0.0039, -111, -127, 127, torch.int8)))
    gm = torch.fx.GraphModule(root, g)
    facts = extract_facts(gm, {8: "conv1", 9: "relu"})
    assert facts.tensors["x"]["zp"] == -128
    assert facts.tensors["relu"] == {"scale": 0.0039, "zp": -111, "qmin": -127, "qmax": 127, "dtype": "int8"}
    assert facts.weight_scales["conv1"] == pytest.approx([0.01, 2.0**-16, 0.02, 0.01])
    case = _case([Node("conv1", "conv2d", ["x"], CONV, "module"), Node("relu", "relu", ["conv1"], {}, "functional")],
                 quant=QuantConfig(act_qmin=-127))
    regimes, _, _ = classify(case, facts)
    assert {"act-nonfuseable", "weight-zero-channel"} <= set(regimes)
