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
