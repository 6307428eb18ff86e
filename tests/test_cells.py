"""Cells (a regime at an op family): observed on a real quantized graph, counted from the
event log, steered toward, aimed at by the generator, shown in the summary."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from rich.console import Console

from fuzz.campaign.engines import seeded
from fuzz.campaign.store import CampaignState
from fuzz.core.targets import TARGETS
from fuzz.generate.case import Case, Node, QuantConfig, TensorSpec
from fuzz.generate.cells import CORE_FAMILY, core_cells, family_at, reachable_cells, split
from fuzz.generate.codegen import build_model, calibration_data
from fuzz.generate.focus import REGIMES
from fuzz.generate.generator import generate
from fuzz.judge.regimes import Facts, classify
from fuzz.views.summary import cell_table, summary_dict

ROOT = Path(__file__).resolve().parent.parent
CONV = {"out_channels": 4, "kernel_size": 3, "stride": 1, "padding": 1, "dilation": 1, "groups": 1, "bias": True,
        "padding_mode": "zeros"}


@pytest.mark.pipeline
def test_cells_of_the_seed_bug_on_a_real_quantized_graph():
    """conv -> relu -> cat with a signed sibling, quantized by the real quantizer: the relu
    cannot fuse into its conv, and the cat's domain is the conv's and the input's."""
    from fuzz.judge.pipeline import run_case

    case = Case.load(ROOT / "corpus" / "seed-000-rewriteconv" / "reduced.case.json")
    outcome = run_case(case, "tosa-int", controls=False)
    assert {"act-nonfuseable@conv", "shared-domain-mismatch@conv", "shared-domain-mismatch@input"} <= set(outcome.cells)
    assert {split(c)[0] for c in outcome.cells} == set(outcome.regimes)
    assert set(outcome.cells) <= set(reachable_cells("tosa-int"))


def test_a_cell_names_the_family_that_computed_the_tensor():
    """A fuseable activation is its producer's (the lowering folds it in); a case-wide config
    names the computing nodes it governs, not movement ops nor a module given another dtype."""
    nodes = [Node("sig", "sigmoid", ["x"], {}, "torch"), Node("clamp", "clamp", ["sig"], {"min": 0.0, "max": 0.5}, "torch"),
             Node("flat", "flatten", ["clamp"], {"start_dim": 1, "end_dim": -1}, "torch"),
             Node("conv", "conv2d", ["x"], CONV, "module")]
    case = Case(inputs=[TensorSpec("x", [1, 4, 8, 8])], nodes=nodes, outputs=["flat", "conv"],
                quant=QuantConfig(act_qmin=-127, per_channel=False, module_activations={"conv": "int16"}))
    assert family_at({n.id: n for n in nodes}, "clamp") == "activation"
    assert family_at({n.id: n for n in nodes}, "x") == "input"
    qp = {"scale": 0.01, "zp": -100, "qmin": -127, "qmax": 127, "dtype": "int8"}
    _, _, cells = classify(case, Facts(tensors={"clamp": qp, "x": {**qp, "zp": 127}}))
    assert "act-nonfuseable@activation" in cells and "zp-at-qmax@input" in cells
    assert [c for c in cells if c.startswith("config-")] == ["config-act-qmin-127@activation"]


def _event(index: int, target: str = "tosa-int", focus: str | None = None, **extra) -> dict:
    return {"type": "result", "index": index, "target": target, "focus": focus, "status": "pass", "signature": "",
            "nodes": 2, "regimes": ["act-nonfuseable"], "t": 1.0, **extra}


def test_state_counts_cells_and_loads_events_without_them():
    state = CampaignState()
    state.add(_event(0))  # a log written before cells
    state.add(_event(1, focus="scale-huge@pad", cells=["act-nonfuseable@conv", "config-act-qmin-128@conv"]))
    state.add(_event(2, focus="act-nonfuseable@conv", cells=["act-nonfuseable@conv"]))
    assert state.coverage["tosa-int"]["act-nonfuseable"] == 3
    assert state.cells["tosa-int"] == {"act-nonfuseable@conv": 2, "config-act-qmin-128@conv": 1}
    assert state.misses["tosa-int"] == {"scale-huge@pad": 1}
    cov = state.cell_coverage("tosa-int")
    assert cov["reached"] == 2 and cov["reachable"] == len(reachable_cells("tosa-int"))
    assert cov["core"]["act-nonfuseable@conv"] == 2 and cov["core"]["clamp-inside-range@conv"] == 0


def _steered(target: str) -> list[int]:
    """Indices whose focus draw is steered but above the core floor."""
    import random

    from fuzz.generate.recipes import derive_seed

    return [i for i in range(400) if seeded.core_floor(target) <= random.Random(derive_seed(5, "focus", i, target)).random() < seeded.STEER_SHARE]


def test_pick_focus_aims_at_the_least_reached_cell_and_gives_up_on_a_missed_one():
    target = "tosa-int"
    state = CampaignState()
    cells = reachable_cells(target)
    lonely, other = "zp-at-qmax@reduce", "scale-huge@pad"
    state.cells[target].update({c: 3 for c in cells if c not in (lonely, other)})
    state.cells[target][other] = 1
    picks = {seeded.pick_focus(state, 5, i, target) for i in _steered(target)}
    assert picks == {lonely}
    state.misses[target][lonely] = 2 * seeded.GIVE_UP  # aimed at often, never reached: ranks as reached twice
    assert {seeded.pick_focus(state, 5, i, target) for i in _steered(target)} == {other}


def test_pick_focus_keeps_the_core_floor_however_well_the_core_is_covered():
    target = "tosa-int-fp"
    state = CampaignState()
    state.cells[target].update({c: 1000 for c in core_cells(target)})
    picks = [seeded.pick_focus(state, 5, i, target) for i in range(400)]
    core = sum(p in core_cells(target) for p in picks) / len(picks)
    assert abs(core - seeded.CORE_FLOOR) < 0.06
    assert abs(sum(p is None for p in picks) / len(picks) - (1 - seeded.STEER_SHARE)) < 0.06


def test_the_floor_aims_at_each_core_cell_however_often_it_was_reached():
    """On an int16 target the int48-bias cell joins the core. Every int16 conv with bias
    reaches it, so the floor must aim at it whatever coverage says: about a quarter of the
    floor each, the floor one CORE_CELL_SHARE per cell."""
    target = "tosa-int16"
    core = core_cells(target)
    assert "int16-int48-bias@conv" in core and len(core) == 4 and "int16-int48-bias@conv" not in core_cells("tosa-int")
    state = CampaignState()
    state.cells[target].update({c: 0 for c in core})
    state.cells[target]["int16-int48-bias@conv"] = 1000
    picks = [seeded.pick_focus(state, 5, i, target) for i in range(2000)]
    aimed = {c: sum(p == c for p in picks) / len(picks) for c in core}
    assert all(abs(share - seeded.CORE_CELL_SHARE) < 0.02 for share in aimed.values()), aimed


def test_the_int48_bias_cell_feeds_a_biased_conv_from_every_family():
    """int16-int48-bias@conv: each case has an int16 conv or linear with bias, and what feeds
    it is drawn family by family (a TABLE op before the conv was executorch 1.1.0's INT32-bias
    crash), so 40 cases see most families, the activations' TABLE ops among them."""
    producers = set()
    for index in range(40):
        case = generate(3, index, "tosa-int16", "int16-int48-bias@conv")
        nodes = {n.id: n for n in case.nodes}
        biased = [n for n in case.nodes if n.op in ("conv2d", "linear") and n.params.get("bias")]
        assert biased and case.quant.activations == "int16", case.to_dict()
        producers |= {family_at(nodes, n.inputs[0]) for n in biased}
    assert len(producers) >= 7 and {"activation", "input", "pointwise"} <= producers, producers


def test_the_clamp_cell_cats_a_bounded_activation_with_a_wider_non_negative_sibling():
    """clamp-inside-range@conv: a clamp/hardtanh/relu6 whose output a cat shares with a sibling
    calibrated on [0, 8 or more], past relu6's 6 with the zp still at qmin. That is where
    executorch 1.4.1 fused the activation and lost its upper bound; the `positive` recipe
    tops out at 4. The sibling misses its recipe only when later growth adds an input after
    it (the focused recipe goes on the last input): 52 of these 60 have it. Half the
    activations floor at 0 (relu6, hardtanh(0, m), clamp(0, m)): only those fuse."""
    def wide_sibling(case):
        cal = case.calibration["inputs"]
        for cat in (n for n in case.nodes if n.op == "cat"):
            bounded = any(n.id in cat.inputs and n.op in ("clamp", "hardtanh", "relu6") for n in case.nodes)
            wide = any(isinstance(cal.get(i), dict) and cal[i]["kind"] == "uniform" and cal[i]["low"] == 0.0
                       and cal[i]["high"] >= 8.0 for i in cat.inputs)
            if bounded and wide:
                return True
        return False

    def floored(case):  # the kind that fuses into its producer at zp == qmin
        return any(n.op == "relu6" or (n.op in ("hardtanh", "clamp") and 0.0 in (n.params.get("min_val"), n.params.get("min")))
                   for n in case.nodes)

    cases = [generate(3, index, "tosa-int", "clamp-inside-range@conv") for index in range(60)]
    assert sum(map(wide_sibling, cases)) >= 45
    assert sum(map(floored, cases)) >= 36  # half floored by choice, a third of the rest by draw
    # every input is wide, the producer's too: its values must reach past the bounds
    wide = lambda r: isinstance(r, dict) and r["kind"] == "uniform" and r["low"] == 0.0 and r["high"] >= 8.0  # noqa: E731
    assert sum(all(map(wide, c.calibration["inputs"].values())) for c in cases) >= 45
    assert not any(map(wide_sibling, (generate(3, index, "tosa-int", "clamp-inside-range") for index in range(20))))


def test_plain_regime_foci_regenerate_the_cases_they_made_before_cells():
    """Campaigns resume by regenerating logged cases: every focus that existed before cells
    (None and each plain regime) must make byte-identical cases within a GENERATOR_VERSION.
    The hash was taken on main before cells (43dcdb9) and kept through version 5; version 6
    changed plain draws on purpose (the layout_round_trip motif, rank-5 reshapes, one dilated
    max_pool2d in two), so it was retaken then, with the same installed packages (the option
    domains are this interpreter's). Version 8 moved only a transposed conv's dilation
    threshold, which none of these cases crosses: the hash stands."""
    h = hashlib.sha256()
    for target in sorted(TARGETS):
        for focus in [None, *REGIMES]:
            for index in range(3):
                h.update(json.dumps(generate(11, index, target, focus).to_dict(), sort_keys=True).encode())
    assert h.hexdigest() == "46e2f988e2b843926cb235d3097a81c73563c85eb28a1f5deeae0ba8c1450014"


@pytest.mark.parametrize("family", ["conv", "pointwise", "reduce", "norm", "movement"])
def test_a_cell_focus_draws_its_family_next_to_its_regime(family):
    """act-nonfuseable@F: an op of F feeds a fuseable activation in most cases, and every case
    is valid and runs."""
    fed = 0
    for index in range(12):
        case = generate(2, index, "tosa-int", f"act-nonfuseable@{family}")
        nodes = {n.id: n for n in case.nodes}
        fed += any(n.op in ("relu", "relu6", "hardtanh", "clamp") and family_at(nodes, n.id) == family for n in case.nodes)
        model, _ = build_model(case)
        with torch.no_grad():
            model(*calibration_data(case)[0])
    assert fed >= 9


def test_summary_shows_cell_coverage_per_target():
    state = CampaignState()
    state.add(_event(0, cells=["act-nonfuseable@conv", "scale-huge@pad"]))
    state.add(_event(1, cells=["act-nonfuseable@conv"]))
    console = Console(width=250, record=True)
    console.print(cell_table(state))
    text = console.export_text()
    row = next(line for line in text.splitlines() if "tosa-int" in line)
    assert f"2/{len(reachable_cells('tosa-int'))}" in row and "2" in row.split("│")[3]
    assert all(c in text for c in core_cells("tosa-int")) and CORE_FAMILY == "conv"
    assert summary_dict(state)["cell_coverage"]["tosa-int"]["core"]["act-nonfuseable@conv"] == 2
