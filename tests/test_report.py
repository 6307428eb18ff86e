"""What a report and an issue show: the failing pass's or tool's frames (reducer.traceback_tail),
only the regimes that bear on the failure (reducer.report.bearing_regimes), and the issue body
in executorch's bug form (reducer.issue). Stored outcomes are the corpus's, as workers wrote them."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import sys

import pytest
from typer.testing import CliRunner

from fuzz.generate.case import Case, Node, TensorSpec
from fuzz.generate.ops import get_op
from fuzz.judge.outcome import Outcome
from fuzz.views.cli import app
from reducer import traceback_tail
from reducer.issue import collect_env, render_issue
from reducer.report import MOVEMENT_OPS, Control, bearing_regimes, report_traceback
from tests.conftest import ROOT, SEED_CASE

CORPUS = ROOT / "corpus"


def _stored(entry: str) -> Outcome:
    return Outcome.from_dict(json.loads((CORPUS / entry / "reduced.outcome.json").read_text()))


def _frames(text: str) -> list[str]:
    return [ln.split('"')[1] + ":" + ln.rsplit(" in ", 1)[1] for ln in text.splitlines() if ln.startswith('  File "')]


def test_a_pass_crash_shows_the_pass_frames_not_the_harness_or_the_pass_manager():
    """1.2.0's RewriteConvPass crash, as the worker stored it: the chain's re-raised ValueError,
    from the pass's call to the raise."""
    shown = report_traceback(_stored("seed-000-rewriteconv"))
    assert _frames(shown) == ["executorch/backends/arm/_passes/rewrite_conv_pass.py:call",
                              "executorch/backends/arm/_passes/rewrite_conv_pass.py:insert_output_rescale",
                              "executorch/backends/arm/_passes/fold_qdq_with_annotated_qparams_pass.py:get_output_qparams"]
    assert shown.splitlines()[-2].startswith("ValueError: RewriteConvPass: No output quantization parameter")
    assert "During handling" not in shown and "^^^" not in shown and "site-packages" not in shown


def test_a_tool_failure_shows_executorchs_call_into_the_tool():
    frames = _frames(report_traceback(_stored("u55-int16-conv-after-hardtanh")))
    assert frames[0] == "executorch/backends/arm/ethosu/backend.py:preprocess"
    assert "executorch/backends/arm/arm_vela.py:vela_compile" in frames and frames[-1] == "ethosu/vela/vela.py:process_regor"


def test_a_stored_tail_that_lost_the_pass_frames_is_said_to_and_its_adapter_list_folded():
    """1.5.1's pass manager wraps the clamp crash in an Exception listing 138 adapters; the
    6000 characters a worker keeps hold nothing else."""
    stored = _stored("clamp-min-above-max")
    assert traceback_tail.failing_frames(stored.traceback, "TosaValueError", stored.message) is None
    shown = report_traceback(stored)
    assert shown.startswith("[the failing frames were cut") and "[... 138 pass names ...]" in shown
    assert "'_ExportedProgramGraphPassAdapter', '_ExportedProgramGraphPassAdapter'" not in shown


def test_without_a_pass_or_backend_dispatch_the_innermost_frames_are_shown():
    """A failure while the program runs (1.4.1's runner_utils one): no dispatcher to cut after."""
    frames = [f'  File "/venv/lib/python3.11/site-packages/executorch/runtime/f{i}.py", line {i}, in f{i}\n    f{i + 1}()'
              for i in range(14)]
    text = "Traceback (most recent call last):\n" + "\n".join(frames) + "\nRuntimeError: expected scalar type Long but found Int\n"
    shown = traceback_tail.failing_frames(text, "RuntimeError", "expected scalar type Long but found Int")
    assert _frames(shown) == [f"executorch/runtime/f{i}.py:f{i}" for i in range(14 - traceback_tail.INNERMOST, 14)]
    assert "4 outer frames left out: no pass or backend dispatch on the stack" in shown
    assert traceback_tail.failing_frames(text, "ValueError", "expected scalar type Long but found Int") is None


@pytest.mark.pipeline
@pytest.mark.skipif(importlib.metadata.version("executorch") != "1.5.1", reason="the corpus's clamp repro is recorded on 1.5.1")
def test_a_fresh_run_of_the_repro_gives_the_frames_the_stored_tail_lost():
    stored = _stored("clamp-min-above-max")
    fresh = traceback_tail.run_for_traceback((CORPUS / "clamp-min-above-max" / "repro.py").read_text(), sys.executable)
    shown = report_traceback(stored, fresh)
    frames = _frames(shown.split("TosaValueError:")[0])  # the message quotes frames of its own
    assert frames[0] == "executorch/backends/transforms/aten_to_dialect_pass.py:call"  # ExirToTosaPass.call, inherited
    assert frames[-1] == "executorch/backends/arm/tosa/dialect/ops/activation.py:CLAMP"
    assert "max_val must be greater than or equal to min_val" in shown and "_ExportedProgramGraphPassAdapter" not in shown
    assert 'File "repro.py", line' in shown  # the model line the graph node came from, without the scratch directory


def _case(ops: list[str]) -> Case:
    """A chain of unary ops on x: (1, 4, 8, 8)."""
    nodes, prev = [], "x"
    for i, op in enumerate(ops):
        params = {"start": 0, "end": 2, "dim": 1, "step": 1} if op == "slice" else {}
        nodes.append(Node(f"n{i}", op, [prev], params=params, spelling=get_op(op).spellings[0]))
        prev = f"n{i}"
    case = Case(inputs=[TensorSpec("x", [1, 4, 8, 8])], nodes=nodes, outputs=[prev], seed=1)
    case.validate()
    return case


def _regimes(case: Case, status: str, evidence: list[str], controls=(), localization=None) -> list[str]:
    names = [line[1:line.index("]")] for line in evidence]
    outcome = Outcome(case.case_id, case.target, status, regimes=names, regime_evidence=evidence, localization=localization or {})
    return [r for r, _, _ in bearing_regimes(case, outcome, list(controls))]


EVIDENCE = ["[scale-at-min] n0 scale=1.53e-05 (range 0.00389)", "[zp-at-qmin-nonact] x zp=-128 == qmin",
            "[config-act-qmin-127] act range [-127, 127]"]


def test_a_slice_crash_lists_no_regimes_a_sigmoid_crash_lists_its_own():
    """The regimes the observer saw on a lone slice (its output and the input's) cannot
    explain a slice crash; on a sigmoid, which computes with its qparams, its own can."""
    assert _regimes(_case(["slice"]), "crash", EVIDENCE) == []
    assert _regimes(_case(["sigmoid"]), "crash", EVIDENCE) == ["scale-at-min"]


def test_a_config_regime_bears_only_when_its_control_no_longer_fails():
    case = _case(["sigmoid"])
    same = Control("act_qmin -127 -> -128", case, "tosa-int/lower/X@Y: z", True)
    passes = Control("act_qmin -127 -> -128", case, "pass", False)
    assert "config-act-qmin-127" not in _regimes(case, "crash", EVIDENCE, [same])
    assert "config-act-qmin-127" in _regimes(case, "crash", EVIDENCE, [passes])


def test_numerics_count_the_culprits_tensors_and_a_spelling_counts_none():
    case = _case(["sigmoid", "tanh"])
    evidence = ["[scale-at-min] n0 scale=1.53e-05 (range 0.00389)", "[scale-huge] n1 scale=0.5 covers a range of 127"]
    at_tanh = {"culprit": "n1", "table": [{"node": "n1", "fused": []}]}
    assert _regimes(case, "numerics", evidence, localization=at_tanh) == ["scale-at-min", "scale-huge"]  # n0 feeds n1
    at_sigmoid = {"culprit": "n0", "table": [{"node": "n0", "fused": []}]}
    assert _regimes(case, "numerics", evidence, localization=at_sigmoid) == ["scale-at-min"]
    assert _regimes(case, "spelling-not-delegated", evidence) == []


def test_the_movement_ops_are_registry_ops():
    from fuzz.generate.ops import all_ops

    assert MOVEMENT_OPS <= set(all_ops())


def _issue(bug=None, script="print('repro')\n") -> str:
    case = Case.load(SEED_CASE)
    stored = _stored("seed-000-rewriteconv")
    outcome = Outcome(case.case_id, case.target, "crash", spec="TOSA-1.0+INT+FP", stage="lower", signature=stored.signature,
                      where="RewriteConvPass", message=stored.message, traceback=stored.traceback,
                      regimes=["act-nonfuseable"], regime_evidence=["[act-nonfuseable] relu (relu) output zp=-111, qmin=-127, scale=0.0039"])
    controls = [Control("target tosa-int", case.with_target("tosa-int"), "pass", False),
                Control("target vgf-int-fp", case.with_target("vgf-int-fp"), stored.signature.replace("tosa-int-fp", "vgf-int-fp"), True)]
    verification = {"verified": True, "runs": 3, "reproduced": 3, "python": sys.executable}
    return render_issue(case, outcome, script, verification, controls, "1.2.0",
                        ("PyTorch version: 2.13.0+cpu", ("tosa-tools==2026.2.0",)), bug)


def test_the_issue_body_is_executorchs_bug_form_with_the_repro_inline():
    text = _issue()
    title, _, body = text.partition("\n\n")
    assert title.startswith("# Arm backend: RewriteConvPass: No output quantization parameter") and "TOSA-1.0+INT+FP" in title
    assert body.index("### 🐛 Describe the bug") < body.index("```python\nprint('repro')\n```") < body.index("### Versions")
    assert "`TOSAQuantizer` (PT2E)" in body and "raises ValueError in RewriteConvPass (executorch 1.2.0)" in body
    assert "**Expected:** `to_edge_transform_and_lower` lowers the graph" in body
    assert "**Actual:**" in body and 'File "executorch/backends/arm/_passes/rewrite_conv_pass.py", line 350, in call' in body
    assert "no failure with: target tosa-int" in body and "the same failure with: target vgf-int-fp" in body
    assert "relu (relu) output zp=-111" in body and "in 3 of 3 run(s)" in body
    assert "PyTorch version: 2.13.0+cpu" in body and "tosa-tools==2026.2.0" in body
    assert "regression" not in body.lower()


def test_an_issue_says_when_it_is_a_regression_and_never_exceeds_githubs_limit():
    bug = {"known": {"status": "fixed", "fixed_in": "1.3.1", "upstream": "https://github.com/pytorch/executorch/issues/18491"},
           "regression": True, "regressed_on": ["1.5.1"]}
    assert ("**This is a regression.** It was fixed in executorch 1.3.1 (https://github.com/pytorch/executorch/issues/18491) "
            "and fails again on 1.5.1.") in _issue(bug)
    long = _issue(script="x = 1\n" * 20000)
    assert len(long) < 65536 and "too long for an issue body" in long and "x = 1\nx = 1" not in long


def test_collect_env_is_pytorchs_run_with_the_given_interpreter():
    text, tools = collect_env(sys.executable)
    assert "PyTorch version:" in text and "executorch==" in text
    assert [t.split("==")[0] for t in tools] == ["tosa-tools", "ethos-u-vela", "ai_ml_sdk_model_converter"]


def test_the_issue_command_prints_a_verified_bug_and_refuses_an_unverified_one(tmp_path):
    """On a copy of a corpus entry (its recorded interpreter is another machine's: --python)."""
    entry = tmp_path / "u55"
    shutil.copytree(CORPUS / "u55-int16-conv-after-hardtanh", entry)
    res = CliRunner().invoke(app, ["issue", str(entry), "--python", sys.executable, "--out", str(tmp_path / "issue.md")])
    assert res.exit_code == 0, res.output
    text = (tmp_path / "issue.md").read_text()
    assert text.startswith("# Arm backend: vela:process_regor: Non-passthrough operation (Conv2D) could not run on NPU")
    assert "**Expected:** vela compiles the graph executorch hands it" in text and "ethosu/vela/vela.py" in text
    gone = CliRunner().invoke(app, ["issue", str(entry)])
    assert gone.exit_code == 2 and "not here any more; give --python" in gone.output
    verification = json.loads((entry / "verification.json").read_text())
    (entry / "verification.json").write_text(json.dumps({**verification, "verified": False}))
    res = CliRunner().invoke(app, ["issue", str(entry), "--python", sys.executable])
    assert res.exit_code == 2 and "repro.py is not verified" in res.output


def test_a_report_says_when_its_bug_is_known_upstream_or_a_regression():
    from reducer.report import render_report

    case = Case.load(SEED_CASE)
    outcome = _stored("seed-000-rewriteconv")
    reduction = {"nodes_before": 4, "nodes_after": 3, "target_before": "tosa-int-fp", "target_after": "tosa-int-fp", "evaluations": 9,
                 "cache_hits": 0, "seconds": 1, "confirmed": "1/1", "flaky": False}
    bug = {"id": "abc", "title": "t", "buckets": [outcome.signature], "count": 1, "targets": ["tosa-int-fp"], "releases": ["1.5.1"],
           "links": [], "known": {"status": "open", "fixed_in": None, "upstream": None, "note": ""}, "regression": False}
    text = render_report(case, outcome, "print('repro')\n", None, [], reduction, {"executorch": "1.5.1"}, "", bug)
    assert "Known upstream: open, not filed yet." in text and "**Regression**" not in text
    bug.update(known={"status": "fixed", "fixed_in": "1.3.1", "upstream": "https://github.com/pytorch/executorch/issues/18491", "note": ""},
               regression=True, regressed_on=["1.5.1"])
    text = render_report(case, outcome, "print('repro')\n", None, [], reduction, {"executorch": "1.5.1"}, "", bug)
    assert ("**Regression**: the known-bugs file lists this bug as fixed in executorch 1.3.1 "
            "(https://github.com/pytorch/executorch/issues/18491); the campaign saw it on 1.5.1.") in text
