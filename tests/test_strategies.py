"""fuzz.generate.strategies: Hypothesis strategies over valid Cases, with filters, and shrinking that
works on the graph (not on a seed)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings

from fuzz.core.targets import TARGETS
from fuzz.generate.case import Case
from fuzz.generate.focus import applicable_regimes
from fuzz.generate.generator import OP_WEIGHTS
from fuzz.strategies import cases  # the public path (a re-export)

QUICK = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow])


@QUICK
@given(cases())
def test_every_drawn_case_is_valid_and_round_trips(case):
    case.validate()
    again = Case.from_dict(case.to_dict())
    assert again.to_json() == case.to_json()
    t = TARGETS[case.target]
    assert all(ext in t.extensions for ext in case.quant.extensions), (case.target, case.quant)


@pytest.mark.parametrize("op", sorted(OP_WEIGHTS))
def test_it_reaches_every_op_alone(op):
    # No shrinking: the filter already keeps other ops out, and shrinking a conv1d case took
    # 100 s of CI (test_the_shrinker_minimises_the_graph tests the shrinker).
    case = find(cases(ops=[op]), lambda c: any(n.op == op for n in c.nodes), settings=settings(QUICK, phases=[Phase.generate]))
    assert {n.op for n in case.nodes} == {op}


def test_the_shrinker_minimises_the_graph():
    """Hypothesis shrinks the draws; a case that needs a cat shrinks to a lone cat."""
    case = find(cases(targets=["tosa-int"]), lambda c: any(n.op == "cat" for n in c.nodes),
                settings=settings(QUICK, max_examples=500))
    assert [n.op for n in case.nodes] == ["cat"], [(n.op, n.inputs) for n in case.nodes]


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_it_reaches_every_regime_the_target_can(target):
    """Each applicable regime can be aimed at (the generator's focus); the configuration
    regimes are visible in the case itself and must be hit. (The data-dependent ones are
    confirmed only after quantization: campaigns measure them as regime coverage.)"""
    static = {"config-a16w8": lambda q: q.activations == "int16", "config-a8w4": lambda q: q.four_bit_weights,
              "config-per-tensor-weights": lambda q: not q.per_channel,
              "config-act-qmin-127": lambda q: q.activations == "int8" and q.act_qmin == -127,
              "config-act-qmin-128": lambda q: q.activations == "int8" and q.act_qmin == -128}
    for regime in applicable_regimes(target):
        hit = static.get(regime, lambda q: True)
        # No shrinking: any example that hits will do.
        case = find(cases(targets=[target], regimes=[regime]), lambda c: hit(c.quant),
                    settings=settings(QUICK, phases=[Phase.generate]))
        case.validate()


@QUICK
@given(cases(ops=["conv2d", "relu"], targets=["tosa-int", "ethos-u85-256"], activations="int8", per_channel=False,
             four_bit_weights=True))
def test_filters_are_honoured(case):
    assert {n.op for n in case.nodes} <= {"conv2d", "relu"}
    assert case.target in ("tosa-int", "ethos-u85-256")
    assert case.quant.activations == "int8" and not case.quant.per_channel and case.quant.four_bit_weights


@pytest.mark.parametrize("kwargs, needle", [
    ({"ops": ["no_such_op"]}, "unknown op 'no_such_op'"),
    ({"targets": ["tosa-int"], "activations": "int16"}, "no target among ['tosa-int'] takes activations='int16'"),
    ({"targets": ["tosa-int16"], "four_bit_weights": True}, "4-bit weights need int4 and int8 activations"),
    ({"regimes": ["no-such-regime"]}, "unknown regime 'no-such-regime'"),
    ({"targets": ["tosa-int"], "regimes": ["config-a16w8"]}, "can reach regimes"),
    ({"activations": "int4"}, "activations must be 'int8' or 'int16'"),
])
def test_impossible_filters_are_one_clear_error(kwargs, needle):
    with pytest.raises(ValueError, match=None) as e:
        cases(**kwargs)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_generate_is_unchanged_by_the_hook():
    """generate(seed, index, ...) must stay what campaigns recorded: a change of these values
    needs a GENERATOR_VERSION bump (a campaign refuses to resume under another version)."""
    from fuzz.generate.generator import GENERATOR_VERSION, generate

    # version 1 (16 ops) made c9ad0a7666ba906d and clamp -> linear; version 2 the same TOSA
    # cases as version 3, whose Ethos-U cases add compile-spec options after every other draw;
    # version 4 changed only the int16-int48-bias@conv cell and version 5 only the
    # clamp-inside-range cells, so version 5's plain cases were version 3's; version 6 added
    # the layout_round_trip motif, rank-5 reshapes, one dilated max_pool2d in two and a
    # max_pool2d weight of 2, which changes every random growth draw; version 8 (7 was reverted)
    # only moved a transposed conv's dilation threshold, so these three, which draw none, stay.
    assert GENERATOR_VERSION == 8
    assert generate(0, 0, "tosa-int").case_id == "e926e2f9749e1e25"
    assert [n.op for n in generate(202, 0, "tosa-int").nodes] == ["log_softmax", "minimum"]
    assert generate(0, 1, "ethos-u55-128").options == {
        "accelerator": "ethos-u55-256", "system_config": "Ethos_U55_Deep_Embedded", "memory_mode": "Shared_Sram",
        "optimise": "Size"}


@pytest.mark.pipeline
@settings(max_examples=3, deadline=None, derandomize=True, database=None)
@given(cases(ops=["conv2d", "relu"], targets=["tosa-int"]))
def test_readme_example_lowers_generated_cases(case):
    """The README's example: each drawn case goes through the real lowering and gets a
    verdict; a harness-error would be armfuzz's own bug."""
    from fuzz.judge.pipeline import run_case

    outcome = run_case(case)
    assert outcome.status != "harness-error", outcome.message
