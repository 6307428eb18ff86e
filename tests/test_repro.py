"""Repro scripts and reports: golden templates, injection safety, fresh-process verification.

Golden files live in tests/golden/; after an intended template change, regenerate them with
``ARMFUZZ_UPDATE_GOLDEN=1 pytest tests/test_repro.py`` and review the diff.
"""

from __future__ import annotations

import ast
import copy
import importlib.metadata
import json
import os
import sys

import pytest

from fuzz.core.errors import CaseError
from fuzz.generate.case import Case, Node, TensorSpec
from fuzz.judge.outcome import Outcome
from reducer.report import Control, render_report
from reducer.repro import render, signature_from_run, user_environment, verify
from tests.conftest import ROOT, SEED_CASE

GOLDEN = ROOT / "tests" / "golden"
SEED_CRASH = "tosa-int-fp/lower/ValueError@RewriteConvPass: RewriteConvPass: No output quantization parameter found in node <node>"


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("ARMFUZZ_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"missing golden {path}; create it with ARMFUZZ_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{name} changed; if intended, regenerate with ARMFUZZ_UPDATE_GOLDEN=1 and review"


def test_golden_repro_numerics_on_installed_release():
    _golden("seed-000.repro-1.5.1.py", render(Case.load(SEED_CASE), "tosa-int-fp/compare/numerics-activation-floor@relu(nonfuseable,after-conv2d)", "1.5.1"))


def test_golden_repro_crash_on_old_release_carries_the_placeholder():
    script = render(Case.load(SEED_CASE), SEED_CRASH, "1.2.0")
    assert "torch.ops.aten.transpose.Dimname = object()" in script and "NOT part of the bug" in script
    assert "to_executorch" not in script  # a crash repro stops at the lowering
    _golden("seed-000.repro-1.2.0.py", script)


def test_golden_report():
    """The seed crash as the worker recorded it on 1.2.0 (corpus/seed-000-rewriteconv): its
    stored traceback, regime evidence and controls."""
    case = Case.load(SEED_CASE)
    stored = Outcome.from_dict(json.loads((ROOT / "corpus" / "seed-000-rewriteconv" / "reduced.outcome.json").read_text()))
    outcome = Outcome(case.case_id, case.target, "crash", stage="lower", signature=SEED_CRASH, where="RewriteConvPass",
                      message=stored.message, traceback=stored.traceback,
                      evidence=["relu (relu) output qparams: scale=0.0039334, zp=-111; qmin=-127 -> not fuseable (zp != qmin)"],
                      regimes=["act-nonfuseable", "shared-domain-mismatch", "zp-at-qmin-nonact", "config-act-qmin-127"],
                      regime_evidence=["[act-nonfuseable] relu (relu) output zp=-111, qmin=-127, scale=0.0039334",
                                       "[shared-domain-mismatch] merged inputs ['relu', 'y'] have ranges [(0.0, 0.068), (-0.064, 0.9381)]",
                                       "[zp-at-qmin-nonact] x zp=-127 == qmin", "[config-act-qmin-127] act range [-127, 127]"])
    controls = [Control("target tosa-int", case.with_target("tosa-int"), "pass", False),
                Control("target vgf-int-fp", case.with_target("vgf-int-fp"), SEED_CRASH.replace("tosa-int-fp", "vgf-int-fp"), True),
                Control("act_qmin -127 -> -128", case, SEED_CRASH, True)]
    reduction = {"nodes_before": 12, "nodes_after": 4, "target_before": "tosa-int-fp", "target_after": "tosa-int-fp",
                 "evaluations": 50, "cache_hits": 3, "seconds": 120.0, "confirmed": "3/3", "flaky": False}
    verification = {"verified": True, "runs": 1, "reproduced": 1, "observed": [SEED_CRASH]}
    text = render_report(case, outcome, "print('repro')\n", verification, controls, reduction,
                         {"torch": "2.13.0+cpu", "executorch": "1.2.0"}, "| executorch | outcome | this bug |\n")
    assert "```mermaid" in text and "flowchart LR" in text and "conv1 --> relu" in text
    _golden("seed-000.report.md", text)


HOSTILE = 'x\nimport os; os.system("touch /tmp/armfuzz-pwned")  # """ \'\'\' \x00'


def _calls(script: str) -> set[str]:
    return {ast.unparse(n.func) for n in ast.walk(ast.parse(script)) if isinstance(n, ast.Call)}


def test_hostile_strings_never_reach_the_script_as_code():
    case = Case.load(SEED_CASE)
    script = render(case, HOSTILE, "1.5.1", title=HOSTILE)
    assert "os.system" not in _calls(script)
    for line in script.splitlines():
        if "os.system" in line:
            assert line.lstrip().startswith("#"), line
    compile(script, "repro.py", "exec")


@pytest.mark.parametrize("mutate", [
    lambda d: d["nodes"][0].update(id="conv1; import os"),
    lambda d: d["nodes"][0]["params"].update(padding_mode="zeros'); import os; ('"),
    lambda d: d["calibration"]["inputs"]["x"].update(low="__import__('os')"),
    lambda d: d["weights"]["default"].update(kind="uniform\nimport os"),
    lambda d: d["inputs"][0].update(name="__import__"),
])
def test_hostile_case_values_are_refused_before_rendering(mutate):
    d = json.loads(Case.load(SEED_CASE).to_json())
    mutate(d)
    with pytest.raises(CaseError):
        render(Case.from_dict(d), "sig", "1.5.1")


def test_hostile_release_is_refused():
    with pytest.raises(CaseError):
        render(Case.load(SEED_CASE), "sig", "1.5.1\nimport os")


def test_report_escapes_quoted_messages():
    case = Case.load(SEED_CASE)
    outcome = Outcome(case.case_id, case.target, "crash", stage="lower", signature="t/lower/E@P: ```",
                      where="P</details><script>", message="</details><script>alert(1)</script>\n```\n# heading", traceback="```\nboom")
    text = render_report(case, outcome, "x = '```'\n", None, [], {"nodes_before": 1, "nodes_after": 1, "target_before": "a",
                         "target_after": "a", "evaluations": 1, "cache_hits": 0, "seconds": 1, "confirmed": "1/1", "flaky": False}, {})
    # every fence the report opens is closed by one of its own, never by quoted text
    assert text.count("```") % 2 == 0
    outside_fences = "".join(text.split("```")[0::2])
    assert "<script>" not in outside_fences and "&lt;script&gt;" in outside_fences


def test_signature_from_a_native_crash_names_the_last_stage():
    case = Case.load(SEED_CASE)
    assert signature_from_run(case, -11, "[repro] quantize\n[repro] lower\n") == "tosa-int-fp/native-crash/SIGSEGV@lower"
    assert signature_from_run(case, 0, "[repro] lower\n") == "pass"


def _clamp_case() -> Case:
    return Case(inputs=[TensorSpec("x", [1, 2, 4, 4])], nodes=[Node("bad", "clamp", ["x"], {"min": 0.5, "max": 0.25}, "torch")],
                outputs=["bad"], target="tosa-int")


@pytest.mark.pipeline
def test_repro_of_a_live_crash_verifies_in_a_fresh_process():
    from fuzz.judge.pipeline import run_case

    case = _clamp_case()
    o = run_case(case)
    assert o.status == "crash"
    v = verify(render(case, o.signature, "1.5.1"), case, o.signature, sys.executable, runs=1)
    assert v.verified, v.to_dict()


@pytest.mark.pipeline
def test_repro_that_does_not_fail_is_not_verified():
    """The control: a valid clamp lowers fine, so its repro must not count as verified."""
    case = copy.deepcopy(_clamp_case())
    case.nodes[0].params = {"min": 0.25, "max": 0.5}
    sig = "tosa-int/lower/TosaValueError@ExirToTosaPass: max_val must be greater than or equal to min_val"
    v = verify(render(case, sig, "1.5.1"), case, sig, sys.executable, runs=1)
    assert not v.verified and v.observed == ["pass"]


@pytest.mark.pipeline
@pytest.mark.skipif(importlib.metadata.version("executorch") != "1.5.1", reason="numerics bug measured on 1.5.1")
def test_numerics_repro_localises_in_a_fresh_process_and_names_the_same_culprit():
    """The repro carries the localisation (fuzz.judge.localize as source): run alone, it prints the
    per-node table and the verifier recovers the culprit-named signature from it."""
    from fuzz.judge.pipeline import run_case

    case = Case.load(ROOT / "corpus" / "relu-nonfuseable-unclamped" / "reduced.case.json")
    o = run_case(case)
    assert o.signature.endswith("@relu(nonfuseable,after-conv2d)")
    script = render(case, o.signature, "1.5.1")
    assert "import fuzz" not in script and "from fuzz" not in script
    v = verify(script, case, o.signature, sys.executable, runs=1)
    assert v.verified, v.to_dict()


@pytest.mark.pipeline
@pytest.mark.skipif(importlib.metadata.version("executorch") != "1.5.1", reason="numerics bug measured on 1.5.1")
def test_ethos_u_numerics_repro_runs_the_graph_vela_got_in_a_fresh_process():
    """On Ethos-U the repro cannot run vela's output either: it runs the TOSA graph executorch
    dumped for vela, found by the delegate's tag, and shows the same culprit. The case's
    compile-spec options are in the script's compile spec."""
    from fuzz.judge.pipeline import run_case

    base = Case.load(ROOT / "corpus" / "relu-qmin127-fused" / "reduced.case.json").with_target("ethos-u55-128")
    case = Case.from_dict({**base.to_dict(), "options": {"accelerator": "ethos-u55-64", "optimise": "Size"}})
    o = run_case(case)
    assert o.signature == "ethos-u55-128/compare/numerics-narrow-range@relu(fuseable,after-conv2d)", o.signature
    script = render(case, o.signature, "1.5.1")
    assert "COMPILER_INPUT" in script and "EthosUPartitioner" in script
    assert "EthosUCompileSpec('ethos-u55-64', extra_flags=['--optimise=Size'])" in script
    v = verify(script, case, o.signature, sys.executable, runs=1)
    assert v.verified, v.to_dict()


@pytest.mark.pipeline
@pytest.mark.skipif(importlib.metadata.version("executorch") != "1.5.1", reason="numerics bug measured on 1.5.1")
def test_vgf_repro_finds_model_converter_without_an_activated_venv():
    """The README runs ``.venv/bin/python repro.py`` with no venv activated, so the venv's bin/,
    where pip put model-converter, is not on PATH: the VGF repro puts it there itself, and
    verification runs it the user's way (without that directory on PATH)."""
    from fuzz.judge.pipeline import run_case

    case = Case.load(ROOT / "corpus" / "relu-qmin127-fused" / "reduced.case.json").with_target("vgf-int")
    o = run_case(case)
    assert o.status == "numerics", o.signature
    assert os.path.dirname(sys.executable) not in user_environment(sys.executable)["PATH"].split(os.pathsep)
    script = render(case, o.signature, "1.5.1")
    assert "os.path.dirname(sys.executable)" in script
    v = verify(script, case, o.signature, sys.executable, runs=1)
    assert v.verified, v.to_dict()


@pytest.mark.pipeline
@pytest.mark.skipif(importlib.metadata.version("executorch") != "1.5.1", reason="invalid graph measured on 1.5.1")
def test_invalid_tosa_repro_carries_the_validator_and_verifies_on_tosa_and_ethos_u():
    """An invalid-tosa verdict comes from armfuzz's static check, not from an exception, so the
    script must carry the check (fuzz.judge.tosa.validator as source) to show it: on a TOSA target from
    the delegate's graph, on Ethos-U from the graph executorch dumped before vela ran."""
    from fuzz.judge.pipeline import run_case

    base = Case.load(ROOT / "tests" / "data" / "cat-same-tensor-conv.case.json")
    for target in ("tosa-int", "ethos-u85-256"):
        case = base.with_target(target)
        o = run_case(case)
        assert o.status == "invalid-tosa", (target, o.status, o.signature)
        script = render(case, o.signature, "1.5.1")
        assert "import fuzz" not in script and "from fuzz" not in script
        v = verify(script, case, o.signature, sys.executable, runs=1)
        assert v.verified, v.to_dict()


def test_a_repro_of_a_failure_while_the_program_runs_executes_the_program():
    """Failures at serialize/execute need the program run, as numerics verdicts do; a lowering
    crash must not (running it would only add a reference-model run)."""
    case = _clamp_case()
    runs = render(case, "tosa-int/execute/RuntimeError@runner_utils.__torch_function__: expected scalar type Char but found Float", "1.5.1")
    lowers = render(case, "tosa-int/lower/TosaValueError@ExirToTosaPass: max_val must be greater than or equal to min_val", "1.5.1")
    assert 'step("execute")' in runs and 'step("execute")' not in lowers
    assert "tosa_violations" not in runs and "tosa_violations" in render(case, "tosa-int/invalid-tosa@CONV2D: weight/input channels", "1.5.1")


def _amin_all_dims(target: str) -> Case:
    """amin(dim=()) reduces over every dim; 1.5.1 lowers it to a graph that returns its input."""
    return Case.from_dict({
        "schema": 1, "seed": 1, "target": target, "inputs": [{"name": "x", "shape": [1, 1, 1, 2]}],
        "nodes": [{"id": "amin_0", "op": "amin", "inputs": ["x"], "params": {"dim": None, "keepdim": True}, "spelling": "torch"}],
        "outputs": ["amin_0"], "calibration": {"samples": 1, "inputs": {}},
        "quant": {"per_channel": False, "activations": "int8", "act_qmin": -128, "act_qmax": 127, "weight_qmin": -127, "weight_qmax": 127}})


@pytest.mark.pipeline
@pytest.mark.skipif(importlib.metadata.version("executorch") != "1.5.1", reason="wrong output shape measured on 1.5.1")
@pytest.mark.parametrize("target", ["tosa-int", "vgf-int"])
def test_a_delegate_output_of_the_wrong_shape_is_named_at_its_op_in_the_worker_and_the_repro(target):
    """Upstream's runner would fail to reshape the output (a crash in numpy_to_torch_tensor, one
    bucket per rank); the worker and the repro both call it a wrong output of the amin, made by
    ConvertMinMaxPass (the pass that changed the output's size)."""
    from fuzz.judge.pipeline import run_case

    case = _amin_all_dims(target)
    o = run_case(case)
    assert (o.status, o.signature) == ("numerics", f"{target}/compare/numerics-shape@amin(ConvertMinMaxPass)"), o.message
    assert o.message == ("amin_0 (amin): delegate output 0: the TOSA graph returns shape [1, 1, 1, 2], the program expects "
                         "[1, 1, 1, 1] (ConvertMinMaxPass changed the size of a graph output from 1 to 2 elements)")
    v = verify(render(case, o.signature, "1.5.1"), case, o.signature, sys.executable, runs=1)
    assert v.verified, v.to_dict()


@pytest.mark.pipeline
@pytest.mark.skipif(importlib.metadata.version("executorch") != "1.5.1", reason="wrong output shape measured on 1.5.1")
def test_a_wrong_shape_is_named_at_the_node_whose_value_took_it_not_the_op_that_returns_it():
    """Seed 202: reflect pad with a negative amount (a crop) -> relu6 -> abs. RewritePadPass
    ignores the negative amount, so the abs returns the pad's uncropped rows; the first node
    whose lowered value has the wrong element count is the pad, in the worker and the repro."""
    from fuzz.judge.pipeline import run_case

    case = Case.load(ROOT / "tests" / "data" / "negative-pad-relu6-abs.case.json")
    o = run_case(case, "tosa-int-fp")
    assert o.signature == "tosa-int-fp/compare/numerics-shape@pad(RewritePadPass)", o.message
    assert o.message.startswith("pad_0 (pad): delegate output 0: the TOSA graph returns shape [2, 8, 11]")
    v = verify(render(case, o.signature, "1.5.1"), case, o.signature, sys.executable, runs=1)
    assert v.verified, v.to_dict()
