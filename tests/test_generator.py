"""Generator properties: every case validates, round-trips, builds and runs in eager torch."""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fuzz.core.targets import TARGETS
from fuzz.generate.case import Case
from fuzz.generate.codegen import build_model, calibration_data
from fuzz.generate.focus import REGIMES
from fuzz.generate.generator import generate


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    index=st.integers(0, 10_000),
    target=st.sampled_from(sorted(TARGETS)),
    focus=st.sampled_from([None, *REGIMES]),
)
@example(seed=20218, index=3267, target="ethos-u55-128", focus="clamp-inside-range")  # .view of a transpose
def test_every_generated_case_is_valid_and_runs_in_eager(seed, index, target, focus):
    case = generate(seed, index, target, focus)
    again = Case.from_json(case.to_json())
    assert again == case
    model, _ = build_model(case)
    for sample in calibration_data(case):
        with torch.no_grad():
            out = model(*sample)
        outs = out if isinstance(out, tuple) else (out,)
        assert all(torch.isfinite(o).all() for o in outs)


def test_generation_is_deterministic():
    a = [generate(7, i, "tosa-int").to_json() for i in range(20)]
    b = [generate(7, i, "tosa-int").to_json() for i in range(20)]
    assert a == b
    assert len(set(a)) == 20


def test_the_layout_motif_puts_a_rank5_reshape_between_two_permutes():
    """high-rank-permute-reshape (bench/recall/bugs.json) needs an NHWC permute, a reshape to
    rank 5 with a singleton dim, then a permute; the reshape sampler made ranks 2 and 4 only.
    The motif draws the chain, and each case it makes is valid and runs in eager."""
    import random

    from fuzz.generate.patterns import GraphBuilder, layout_round_trip

    rank5 = 0
    for i in range(40):
        b = GraphBuilder(random.Random(i))
        layout_round_trip(b)
        ops = [n.op for n in b.nodes]
        if ops[-3:] != ["permute", "reshape", "permute"]:
            continue
        reshape = b.nodes[-2]
        assert b.nodes[-3].params["dims"] == [0, 2, 3, 1]
        if len(reshape.params["shape"]) == 5:
            rank5 += 1
            assert reshape.params["shape"][1] == 1
    assert rank5 >= 4
    hits = 0
    for index in range(400):
        case = generate(5, index, "ethos-u85-256")
        nodes = {n.id: n for n in case.nodes}
        if any(n.op == "reshape" and len(n.params["shape"]) == 5 and nodes.get(n.inputs[0]) is not None
               and nodes[n.inputs[0]].op == "permute" for n in case.nodes):
            hits += 1
            model, _ = build_model(case)
            with torch.no_grad():
                model(*calibration_data(case)[0])
    assert hits >= 2
