"""Ethos-U compile-spec options: read from vela, sampled like ops, carried by the case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fuzz.core import target_options
from fuzz.core.errors import CaseError
from fuzz.generate.case import Case
from fuzz.generate.generator import generate
from reducer.passes import cost, default_options

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"accelerator": "ethos-u55-32", "system_config": "Ethos_U55_Deep_Embedded", "memory_mode": "Sram_Only",
         "optimise": "Size"}


def test_the_domain_is_vela_s_own():
    """Every MAC configuration vela knows; the memory modes vela's checks accept per system:
    Dedicated_Sram puts the arena on the second AXI port, which is flash on the U55 systems
    and on the U85 flash systems, so vela refuses it there."""
    d = target_options.ethos_u_domain()
    assert d["u55"]["accelerator"] == ["ethos-u55-32", "ethos-u55-64", "ethos-u55-128", "ethos-u55-256"]
    assert d["u85"]["accelerator"] == ["ethos-u85-128", "ethos-u85-256", "ethos-u85-512", "ethos-u85-1024", "ethos-u85-2048"]
    assert not any(mode.startswith("Dedicated") for _, mode in d["u55"]["pairs"])
    assert ("Ethos_U85_SYS_DRAM_Mid", "Dedicated_Sram_384KB") in d["u85"]["pairs"]
    assert ("Ethos_U85_SYS_Flash_Low", "Dedicated_Sram") not in d["u85"]["pairs"]
    # executorch's defaults (EthosUCompileSpec) are in the domain.
    assert ("Ethos_U55_High_End_Embedded", "Shared_Sram") in d["u55"]["pairs"]
    assert ("Ethos_U85_SYS_DRAM_Mid", "Sram_Only") in d["u85"]["pairs"]
    assert set(d["u55"]["optimise"]) == {"Size", "Performance"}


def test_generated_ethos_u_cases_carry_valid_options_and_tosa_cases_none():
    ethos = [generate(3, i, t) for i in range(30) for t in ("ethos-u55-128", "ethos-u85-256")]
    with_options = [c for c in ethos if c.options]
    assert 10 <= len(with_options) <= 50, len(with_options)  # about half keep the defaults
    for c in with_options:
        Case.from_json(c.to_json()).validate()  # round-trips and validates against vela's domain
        assert c.options["accelerator"].startswith(c.target.rsplit("-", 1)[0])
    # A TOSA INT case carries no Ethos-U option; a pass-pipeline option only for an op it holds
    # (softmax's decomposition, for a softmax or log_softmax).
    for c in (generate(3, i, "tosa-int") for i in range(40)):
        assert not set(c.options) & set(target_options.ETHOS_U_KEYS)
        ops = {n.op for n in c.nodes}
        assert all(ops & target_options.PIPELINE_OPS[k] for k in c.options if k in target_options.PIPELINE_OPS)


def test_a_case_without_options_keeps_its_id():
    """Options are left out of the JSON when empty: corpus cases keep the ids they were filed under."""
    text = (ROOT / "corpus" / "relu-qmin127-fused" / "reduced.case.json").read_text()
    assert "options" not in json.loads(text)
    case = Case.from_json(text)
    assert "options" not in case.to_dict()
    with_options = Case.from_dict({**case.with_target("ethos-u55-128").to_dict(), "options": SMALL})
    assert with_options.case_id != case.with_target("ethos-u55-128").case_id
    assert with_options.with_target("tosa-int").options == {}


@pytest.mark.parametrize("options, needle", [
    ({"macs": "32"}, "unknown option(s) ['macs']"),
    ({"accelerator": "ethos-u85-256"}, "not an u55 configuration"),
    ({"system_config": "Ethos_U55_Deep_Embedded"}, "go together"),
    ({"system_config": "Ethos_U55_Deep_Embedded", "memory_mode": "Dedicated_Sram"}, "vela refuses"),
    ({"optimise": "Speed"}, "optimise must be one of"),
])
def test_bad_options_are_one_line_errors_naming_the_option(options, needle):
    d = Case.load(ROOT / "corpus" / "relu-qmin127-fused" / "reduced.case.json").with_target("ethos-u55-128").to_dict()
    with pytest.raises(CaseError) as e:
        Case.from_dict({**d, "options": options}, source="my.case.json")
    assert needle in str(e.value) and str(e.value).startswith("my.case.json: ") and "\n" not in str(e.value)


def test_options_on_a_tosa_target_are_refused():
    d = Case.load(ROOT / "corpus" / "relu-qmin127-fused" / "reduced.case.json").to_dict()
    with pytest.raises(CaseError, match="target takes none"):
        Case.from_dict({**d, "options": {"optimise": "Size"}})


def test_the_reducer_returns_options_to_the_defaults():
    case = Case.from_dict({**Case.load(ROOT / "corpus" / "relu-qmin127-fused" / "reduced.case.json")
                          .with_target("ethos-u55-128").to_dict(), "options": SMALL})
    proposals = dict(default_options(case))
    assert set(proposals) == {"options accelerator -> default", "options system_config/memory_mode -> default",
                              "options optimise -> default"}
    for cand in proposals.values():
        cand.validate()
        assert cost(cand) < cost(case)


@pytest.mark.pipeline
def test_options_reach_vela_and_the_outcome_names_the_configuration():
    from fuzz.core.targets import TARGETS
    from fuzz.judge import compat
    from fuzz.judge.pipeline import run_case

    base = Case.load(ROOT / "corpus" / "relu-nonfuseable-unclamped" / "reduced.case.json").with_target("ethos-u55-128")
    case = Case.from_dict({**base.to_dict(), "options": SMALL})
    flags = compat.compile_spec(TARGETS["ethos-u55-128"], case.quant, case.options).compiler_flags
    assert {"--accelerator-config=ethos-u55-32", "--system-config=Ethos_U55_Deep_Embedded",
            "--memory-mode=Sram_Only", "--optimise=Size"} <= set(flags), flags
    o = run_case(case)
    assert o.config == "ethos-u55-32 system_config=Ethos_U55_Deep_Embedded memory_mode=Sram_Only --optimise=Size"
    assert o.status not in ("harness-error", "rejected-config"), o.signature


def test_pass_pipeline_modes_are_executorch_s_and_u55_keeps_its_softmax():
    assert target_options.pipeline_domain(False) == {"softmax": ["MASKED", "STABLE"], "leaky_relu": ["TABLE", "DECOMPOSE"]}
    assert target_options.pipeline_domain(True)["softmax"] == ["STABLE"]


def test_pipeline_modes_are_drawn_only_for_cases_holding_an_op_they_change():
    drawn = [(c, set(c.options) & set(target_options.PIPELINE_OPS))
             for i in range(300) for c in [generate(11, i, "tosa-int")]]
    assert any(keys for _, keys in drawn)
    for c, keys in drawn:
        ops = {n.op for n in c.nodes}
        assert all(target_options.PIPELINE_OPS[k] & ops for k in keys), (keys, ops)


def test_pipeline_options_reach_the_compile_spec_on_the_target_s_defaults_and_the_repro():
    from fuzz.core.targets import TARGETS
    from fuzz.judge import compat
    from reducer.repro import render

    case = Case.load(ROOT / "corpus" / "relu-qmin127-fused" / "reduced.case.json")
    config = compat.compile_spec(TARGETS["tosa-int"], case.quant, {"softmax": "STABLE", "leaky_relu": "TABLE"})._get_pass_pipeline_config()
    assert (config.softmax.name, config.leaky_relu.name) == ("STABLE", "TABLE")
    u55 = compat.compile_spec(TARGETS["ethos-u55-128"], case.quant, {"leaky_relu": "TABLE"})._get_pass_pipeline_config()
    assert u55.softmax.name == "STABLE"  # executorch's U55 default stays
    with_options = Case.from_dict({**case.to_dict(), "options": {"leaky_relu": "TABLE"}})
    assert "'leaky_relu': 'TABLE'" in render(with_options, "tosa-int/compare/numerics@relu", "1.5.1")
    with pytest.raises(CaseError, match="option softmax must be one of MASKED, STABLE"):
        Case.from_dict({**case.to_dict(), "options": {"softmax": "UNSTABLE"}})


def test_bf16_is_an_fp_profile_extension_the_spec_and_the_repro_carry():
    from fuzz.core.targets import TARGETS
    from fuzz.judge import compat
    from reducer.repro import render

    assert target_options.fp_extensions() == ["bf16"]
    case = Case.load(ROOT / "corpus" / "relu-qmin127-fused" / "reduced.case.json").with_target("vgf-int-fp")
    bf16 = Case.from_dict({**case.to_dict(), "options": {"extension": "bf16"}})
    assert str(compat.compile_spec(TARGETS["vgf-int-fp"], bf16.quant, bf16.options).tosa_spec) == "TOSA-1.0+INT+FP+bf16"
    assert "VgfCompileSpec('TOSA-1.0+INT+FP+bf16')" in render(bf16, "vgf-int-fp/compare/numerics@relu", "1.5.1")
    with pytest.raises(CaseError, match="needs a TOSA spec with the FP profile; TOSA-1.0\\+INT has none"):
        Case.from_dict({**case.with_target("tosa-int").to_dict(), "options": {"extension": "bf16"}})
    with pytest.raises(CaseError, match="extension must be one of bf16"):
        Case.from_dict({**case.to_dict(), "options": {"extension": "fp8e4m3"}})
