"""Only valid configurations: a8w4 gets the int4 extension it needs, and an error executorch
documents as "configuration not supported" is a rejected-config verdict, never a bug.

The pipeline tests run the real executorch lowering; nothing of executorch is mocked."""

from __future__ import annotations

import pytest

from fuzz.case import Case, Node, QuantConfig, TensorSpec
from fuzz.config_rules import rejected
from fuzz.generator import generate
from fuzz.outcome import FAILURES
from fuzz.targets import TARGETS

CONV = {"out_channels": 4, "kernel_size": 3, "stride": 1, "padding": 1, "dilation": 1, "groups": 1, "bias": True,
        "padding_mode": "zeros"}


def _a8w4_conv(target: str) -> Case:
    return Case(inputs=[TensorSpec("x", [1, 2, 8, 8])], nodes=[Node("conv", "conv2d", ["x"], dict(CONV), "module")],
                outputs=["conv"], quant=QuantConfig(weight_qmin=-7, weight_qmax=7), target=target).with_target(target)


def test_four_bit_weights_follow_executorchs_rule():
    assert QuantConfig(weight_qmin=-7, weight_qmax=7).four_bit_weights
    assert not QuantConfig(weight_qmin=-8, weight_qmax=7).four_bit_weights  # int8 storage, narrow range
    assert not QuantConfig().four_bit_weights


def test_every_generated_a8w4_case_runs_on_a_spec_with_int4():
    seen = 0
    for target, t in TARGETS.items():
        for i in range(60):
            case = generate(7, i, target)
            spec = t.spec_for(case.quant.four_bit_weights)
            if case.quant.four_bit_weights:
                seen += 1
                # TOSA / VGF specs gain int4; Ethos-U's own spec carries it (spec None here).
                assert spec is None or "+int4" in spec, (target, i, spec)
            if case.quant.activations == "int16":
                assert t.int16
    assert seen > 0, "the generator never sampled a8w4; this test would prove nothing"


def test_config_rule_is_narrow():
    msg = "TOSA-1.0+INT doesn't support tensor TosaArg(name='w', dtype=INT4, shape=(4, 3, 3, 2))"
    assert rejected("ValueError", "mapping.__init__", msg).name == "dtype-needs-extension"
    # A float tensor on an INT-only spec is a partitioning bug, not a configuration error.
    assert rejected("ValueError", "mapping.__init__", msg.replace("INT4", "FP32")) is None
    assert rejected("ValueError", "RewriteConvPass", msg) is None


@pytest.mark.pipeline
@pytest.mark.parametrize("target", ["tosa-int", "vgf-int"])
def test_a8w4_conv_lowers_on_a_spec_with_int4(target):
    from fuzz.pipeline import run_case

    o = run_case(_a8w4_conv(target))
    assert o.spec.endswith("+int4") and "dtype=INT4" not in o.message, (o.status, o.signature)
    assert o.status in ("pass", "numerics", "numerics-propagated"), (o.status, o.signature, o.message[:300])


@pytest.mark.pipeline
def test_a8w4_without_int4_is_rejected_config_not_a_bug(monkeypatch):
    """What earlier armfuzz did (a8w4 on TOSA-1.0+INT): executorch refuses INT4 tensors there.
    The spec is forced back to the target's own; the lowering is real."""
    from fuzz import targets
    from fuzz.pipeline import run_case

    monkeypatch.setattr(targets.Target, "spec_for", lambda self, four_bit: self.tosa_spec)
    o = run_case(_a8w4_conv("tosa-int"))
    assert o.status == "rejected-config" and o.status not in FAILURES, (o.status, o.signature)
    assert o.spec == "TOSA-1.0+INT"
    assert o.signature.startswith("tosa-int/rejected-config/dtype-needs-extension: ")
