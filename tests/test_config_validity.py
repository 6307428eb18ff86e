"""Only valid configurations: a case uses only the TOSA extensions its target's spec carries
(a8w4 gets int4, a16w8 only with int16), the hand-declared registry agrees with executorch's
own spec objects, and an error executorch documents as "configuration not supported" is a
rejected-config verdict, never a bug.

The pipeline tests run the real executorch lowering; nothing of executorch is mocked."""

from __future__ import annotations

import dataclasses

import pytest

from fuzz.core import targets
from fuzz.core.config_rules import rejected
from fuzz.core.errors import CaseError
from fuzz.core.targets import TARGETS
from fuzz.generate.case import Case, Node, QuantConfig, TensorSpec
from fuzz.generate.generator import generate
from fuzz.judge.outcome import FAILURES

CONV = {"out_channels": 4, "kernel_size": 3, "stride": 1, "padding": 1, "dilation": 1, "groups": 1, "bias": True,
        "padding_mode": "zeros"}
A8W4 = QuantConfig(weight_qmin=-7, weight_qmax=7)
#: Every quant config shape armfuzz samples: a8w8, a8w4, a16w8, and a16 with the a8w4 range
#: (which executorch ignores, so it needs no int4).
QUANTS = [QuantConfig(), A8W4, QuantConfig(activations="int16"), QuantConfig(activations="int16", weight_qmin=-7, weight_qmax=7)]


def _conv(target: str, quant: QuantConfig = A8W4) -> Case:
    return Case(inputs=[TensorSpec("x", [1, 2, 8, 8])], nodes=[Node("conv", "conv2d", ["x"], dict(CONV), "module")],
                outputs=["conv"], quant=dataclasses.replace(quant), target=target).with_target(target)


@pytest.fixture
def no_int4_tosa_int(monkeypatch):
    """The registry with a tosa-int that cannot carry int4: the case no real target is today."""
    monkeypatch.setitem(TARGETS, "tosa-int", dataclasses.replace(TARGETS["tosa-int"], extensions=()))


def test_four_bit_weights_follow_executorchs_rule():
    assert A8W4.four_bit_weights and A8W4.extensions == ("int4",)
    assert not QuantConfig(weight_qmin=-8, weight_qmax=7).four_bit_weights  # int8 storage, narrow range
    assert not QuantConfig().four_bit_weights and QuantConfig().extensions == ()
    # a16w8 ignores the weight range: int8 weights, no int4 needed.
    assert QuantConfig(activations="int16", weight_qmin=-7, weight_qmax=7).extensions == ("int16",)


def test_generated_cases_use_only_extensions_their_spec_carries():
    seen = {"int4": 0, "int16": 0}
    for target, t in TARGETS.items():
        for seed in range(3):
            for i in range(40):
                case = generate(seed, i, target, "config-a8w4" if i % 4 == 0 else None)
                for ext in case.quant.extensions:
                    seen[ext] += 1
                    assert ext in t.extensions, (target, seed, i, ext)
                spec = t.spec_for(case.quant.four_bit_weights)
                if spec is not None:  # TOSA / VGF: the spec string names what the case needs
                    assert ("+int4" in spec) == case.quant.four_bit_weights, (target, seed, i, spec)
                    assert ("+int16" in spec) == (case.quant.activations == "int16"), (target, seed, i, spec)
    assert all(seen.values()), f"the generator never sampled {seen}; this test would prove nothing"


def test_generator_applies_validity_after_the_draw(no_int4_tosa_int):
    """Without int4 on the target, the a8w4 draw falls back to 8-bit weights; the graph and
    data stay those of the same (seed, index) on a target with int4."""
    for i in range(30):
        here, there = generate(5, i, "tosa-int", "config-a8w4"), generate(5, i, "tosa-int-fp", "config-a8w4")
        assert not here.quant.four_bit_weights and there.quant.four_bit_weights
        assert (here.nodes, here.inputs, here.weights, here.calibration) == (there.nodes, there.inputs, there.weights, there.calibration)


@pytest.mark.parametrize(
    "target, quant, needle",
    [
        ("tosa-int", QuantConfig(activations="int16"), "set quant.activations (and quant.module_activations) to 'int8' or pick one of tosa-int16, ethos-u55-128"),
        ("vgf-int-fp", QuantConfig(activations="int16"), "int16 activations need a target with the int16 extension; vgf-int-fp has none"),
        ("tosa-int", A8W4, ("4-bit weights (weight range [-7, 7]) need a target with the int4 extension; tosa-int has none: "
                            "set quant.weight_qmin/weight_qmax to -127/127")),
    ],
)
def test_validate_rejects_what_the_spec_cannot_take_in_one_line(no_int4_tosa_int, target, quant, needle):
    case = Case(inputs=[TensorSpec("x", [1, 2, 8, 8])], nodes=[Node("conv", "conv2d", ["x"], dict(CONV), "module")],
                outputs=["conv"], quant=dataclasses.replace(quant), target=target)
    with pytest.raises(CaseError) as e:
        case.validate("bad.json")
    assert str(e.value).startswith("bad.json: ") and "\n" not in str(e.value)
    assert needle in str(e.value)


def test_with_target_adapts_the_quant_config(no_int4_tosa_int):
    moved = _conv("tosa-int-fp").with_target("tosa-int")
    assert not moved.quant.four_bit_weights and (moved.quant.weight_qmin, moved.quant.weight_qmax) == (-127, 127)
    moved.validate()
    a16 = _conv("tosa-int16", QuantConfig()).with_target("vgf-int")
    assert a16.quant.activations == "int8"
    a16.validate()
    # A target that takes int4 keeps the 4-bit weights.
    assert _conv("tosa-int-fp").with_target("ethos-u55-128").quant.four_bit_weights


def test_config_rule_is_narrow():
    msg = "TOSA-1.0+INT doesn't support tensor TosaArg(name='w', dtype=INT4, shape=(4, 3, 3, 2))"
    assert rejected("ValueError", "mapping.__init__", msg).name == "dtype-needs-extension"
    # A float tensor on an INT-only spec is a partitioning bug, not a configuration error.
    assert rejected("ValueError", "mapping.__init__", msg.replace("INT4", "FP32")) is None
    assert rejected("ValueError", "RewriteConvPass", msg) is None


@pytest.mark.pipeline
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_registry_mirrors_executorchs_spec_objects(target):
    """Target.extensions / spec_for are hand-declared so the registry imports without torch;
    executorch's TosaSpecification of each compile spec must agree, both ways."""
    from fuzz.judge import compat

    t = TARGETS[target]
    base = compat.compile_spec(t, QuantConfig()).tosa_spec
    for ext in ("int16", "int4"):
        if base.support_extension(ext):
            assert ext in t.extensions, (target, ext, str(base))
    for q in QUANTS:
        mirror_ok = all(e in t.extensions for e in q.extensions)
        assert mirror_ok == (compat.missing_extensions(t, q) == []), (target, q, str(compat.compile_spec(t, q).tosa_spec))
        if t.spec_for(q.four_bit_weights) is not None:
            assert str(compat.compile_spec(t, q).tosa_spec) == t.spec_for(q.four_bit_weights)


@pytest.mark.pipeline
@pytest.mark.parametrize("target", ["tosa-int", "vgf-int", "ethos-u55-128"])
def test_a8w4_conv_lowers_on_a_spec_with_int4(target):
    from fuzz.judge.pipeline import run_case

    o = run_case(_conv(target))
    assert "+int4" in o.spec and "dtype=INT4" not in o.message, (o.status, o.spec, o.signature)
    assert o.status in ("pass", "numerics", "numerics-propagated"), (o.status, o.signature, o.message[:300])


@pytest.mark.pipeline
def test_a16w8_ignores_the_a8w4_weight_range():
    """Why four_bit_weights needs int8 activations: with a16w8 executorch keeps 8-bit
    weights, so the spec without int4 lowers (INT4 tensors would be refused there)."""
    from fuzz.judge.pipeline import run_case

    o = run_case(_conv("tosa-int16", QuantConfig(activations="int16", weight_qmin=-7, weight_qmax=7)))
    assert o.spec == "TOSA-1.0+INT+int16", o.spec
    assert o.status in ("pass", "numerics", "numerics-propagated"), (o.status, o.signature, o.message[:300])


@pytest.mark.pipeline
def test_a8w4_without_int4_is_rejected_config_not_a_bug(monkeypatch):
    """What earlier armfuzz did (a8w4 on TOSA-1.0+INT): executorch refuses INT4 tensors there.
    The spec is forced back to the target's own; the lowering is real."""
    from fuzz.judge.pipeline import run_case

    monkeypatch.setattr(targets.Target, "spec_for", lambda self, four_bit: self.tosa_spec)
    o = run_case(_conv("tosa-int"))
    assert o.status == "rejected-config" and o.status not in FAILURES and not o.failed, (o.status, o.signature)
    assert o.spec == "TOSA-1.0+INT"
    assert o.signature.startswith("tosa-int/rejected-config: TOSA-<n>+INT doesn't support tensor "), o.signature
    assert "dtype=INT4" in o.signature and "dtype-needs-extension" in o.message


@pytest.mark.pipeline
def test_run_shows_rejected_config_and_exits_0(monkeypatch, tmp_path):
    """`armfuzz run` (the case in a forked child, which inherits the forced spec) names the
    spec and the verdict, and a rejected configuration is not a failure exit."""
    import json

    from typer.testing import CliRunner

    from fuzz.views.cli import app

    monkeypatch.setattr(targets.Target, "spec_for", lambda self, four_bit: self.tosa_spec)
    path = tmp_path / "a8w4.case.json"
    _conv("tosa-int").save(path)
    res = CliRunner().invoke(app, ["run", str(path), "--json"])
    [o] = [json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith("{")]
    assert (o["status"], o["spec"], res.exit_code) == ("rejected-config", "TOSA-1.0+INT", 0), (o["signature"], res.stdout[-500:])


def test_steering_never_aims_at_a_regime_the_target_cannot_reach():
    """tosa-int16 runs a16w8, whose config ignores the weight range: a8w4 can never be hit
    there, and a least-covered steering would aim at it forever."""
    from fuzz.core.targets import TARGETS
    from fuzz.generate.focus import applicable_regimes

    assert "config-a8w4" not in applicable_regimes("tosa-int16")
    for name, t in TARGETS.items():
        assert ("config-a8w4" in applicable_regimes(name)) == ("int4" in t.extensions and t.forced_activations != "int16")
