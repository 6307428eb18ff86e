"""The real Arm lowering: executorch 1.5.1, the TOSA reference model, vela, model-converter.

No executorch part is mocked. Each lowering takes seconds; these are the slow tests.
"""

from __future__ import annotations

import copy
import importlib.metadata

import pytest

from fuzz.core.targets import TARGETS
from fuzz.generate.case import Case, Node, TensorSpec
from fuzz.judge.pipeline import run_case
from tests.conftest import sub_case

pytestmark = pytest.mark.pipeline
EXECUTORCH = importlib.metadata.version("executorch")


@pytest.mark.parametrize("target", list(TARGETS))
def test_seed_model_lowers_without_crash_and_reports_the_nonfuseable_relu(seed_case, target):
    o = run_case(seed_case, target)
    # 1.5.1 fixed the seed's RewriteConvPass crash: the case must lower on every target.
    assert o.status in ("pass", "numerics"), (o.status, o.signature, o.traceback[-1500:])
    assert o.delegation["delegated_ops"] > 0
    if TARGETS[target].forced_activations is None:
        # The seed's calibration drives the relu's output zero-point to -111, away from qmin -127.
        assert o.qparams["relu"]["zp"] == -111 and o.qparams["relu"]["qmin"] == -127
        assert any("zp=-111" in e and "not fuseable" in e for e in o.evidence)
        # The regime observer classifies the seed as the non-fuseable relu regime, reached
        # through the cat's shared domain.
        assert {"act-nonfuseable", "shared-domain-mismatch", "config-act-qmin-127"} <= set(o.regimes)
    # Every target's program runs: Ethos-U and VGF with the TOSA graph their compiler got.
    assert o.executed == ("delegate" if TARGETS[target].executes else "compiler-input")
    (report,) = o.numerics
    assert report["quantized"] and report["elements"] == 4 * 16 * 16
    assert report["max_lsb"] >= 0 and report["scale"] > 0


@pytest.mark.skipif(EXECUTORCH != "1.5.1", reason="positive control measured on executorch 1.5.1")
@pytest.mark.parametrize("target", ["ethos-u55-128", "vgf-int"])
def test_compile_only_targets_run_the_graph_their_compiler_got_and_name_the_same_culprit(target):
    """vela's and model-converter's output needs an FVP or a Vulkan device; the TOSA graph
    executorch handed them runs on the reference model instead, so the fused relu that clamps
    at -128 instead of qmin -127 is found there too, named at the same op as on tosa-int."""
    from pathlib import Path

    case = Case.load(Path(__file__).parent.parent / "corpus" / "relu-qmin127-fused" / "reduced.case.json")
    o = run_case(case, target)
    assert o.executed == "compiler-input" and o.status == "numerics", (o.status, o.signature)
    assert o.signature == f"{target}/compare/numerics-narrow-range@relu(fuseable,after-conv2d)"
    assert TARGETS[target].compiler in o.message


@pytest.mark.parametrize("target", ["ethos-u55-128", "vgf-int"])
def test_a_program_cut_into_two_delegates_runs_each_with_the_graph_its_compiler_got(target):
    """A module left in float cuts conv -> relu -> conv into two delegates around a CPU relu.
    Each delegate's TOSA is the one its tool compiled into that delegate's bytes (the dumped
    files' partition tags did not match the delegates' in such graphs: a harness error)."""
    conv = {"out_channels": 4, "kernel_size": 3, "stride": 1, "padding": 1, "dilation": 1, "groups": 1, "bias": True,
            "padding_mode": "zeros"}
    case = Case(
        inputs=[TensorSpec("x", [1, 4, 8, 8])],
        nodes=[Node("conv1", "conv2d", ["x"], dict(conv), "module"), Node("act", "relu", ["conv1"], {}, "module"),
               Node("conv2", "conv2d", ["act"], dict(conv), "module")],
        outputs=["conv2"],
        target=target,
    )
    case.quant.module_activations = {"act": "float"}
    case.validate()
    o = run_case(case)
    assert o.delegation["delegates"] == 2 and o.delegation["cpu_ops"] == ["relu"], o.delegation
    assert o.executed == "compiler-input" and o.status in ("pass", "numerics"), (o.status, o.signature)
    (report,) = o.numerics
    assert report["quantized"] and report["elements"] == 4 * 8 * 8


def test_clean_single_conv_passes_the_oracle(seed_case):
    """Negative control: one conv, default qmin -128, in-distribution data."""
    c = sub_case(seed_case, ["conv1"], ["conv1"], ["x"])
    c.quant.act_qmin = -128
    o = run_case(c, "tosa-int")
    assert o.status == "pass", o.message
    (r,) = o.numerics
    assert r["max_lsb"] <= 1.0 and r["out_of_range"] == 0


@pytest.mark.skipif(EXECUTORCH != "1.5.1", reason="positive control measured on executorch 1.5.1")
def test_range_oracle_catches_negative_relu_output(seed_case):
    """Positive control on the real pipeline: with act_qmin=-127, executorch 1.5.1's fused
    conv+relu clamps at the int8 minimum -128 instead of qmin, so the 'relu' emits -1 LSB."""
    c = sub_case(seed_case, ["conv1", "relu"], ["relu"], ["x"])
    o = run_case(c, "tosa-int")
    assert o.status == "numerics"
    assert o.signature == "tosa-int/compare/numerics-narrow-range@relu(fuseable,after-conv2d)"
    (r,) = o.numerics
    assert r["out_of_range"] > 0 and r["narrow_range"] and r["max_lsb"] == 1


@pytest.mark.skipif(EXECUTORCH != "1.5.1", reason="measured on executorch 1.5.1")
def test_max_error_oracle_catches_the_unclamped_nonfuseable_relu(seed_case):
    """The seed graph on 1.5.1: the non-fuseable relu (zp -111) lets negative values through,
    which shows at conv2 as a multi-LSB error with a systematic positive bias. Its codes end at
    -128, past act_qmin -127, but enforcing the narrow range leaves 16 LSB: a max-error, the
    name the same relu has with act_qmin -128 (fuzz.judge.oracle.judge)."""
    c = copy.deepcopy(seed_case)
    c.outputs = ["relu", "conv2"]
    o = run_case(c, "tosa-int")
    assert o.status == "numerics"
    relu, conv2 = o.numerics
    assert relu["symptom"] == "max-error" and relu["max_lsb"] > 10 and relu["out_of_range"] and relu["narrow_range"]
    assert relu["clamped_max_lsb"] > 10
    assert o.signature == "tosa-int/compare/numerics-activation-floor@relu(nonfuseable,after-conv2d)"
    assert conv2["max_lsb"] > 1.0 and conv2["mean_lsb"] > 0.25


def test_int16_target_runs_a16w8(seed_case):
    o = run_case(seed_case, "tosa-int16")
    assert o.qparams["conv2"]["dtype"] == "int16"


def test_invalid_case_is_a_harness_error_naming_the_node(seed_case):
    """A broken case is our problem: reported as harness-error, never as an executorch bucket."""
    c = copy.deepcopy(seed_case)
    c.nodes[2].inputs = ["relu", "nope"]
    o = run_case(c, "tosa-int")
    assert o.status == "harness-error" and not o.failed
    assert "node 'merged': input 'nope' is not defined" in o.message


def test_linear_after_flatten_is_delegated():
    case = Case(
        inputs=[TensorSpec("x", [1, 2, 4, 4])],
        nodes=[
            Node("conv", "conv2d", ["x"], {"out_channels": 4, "kernel_size": 3, "stride": 1, "padding": 1, "dilation": 1, "groups": 1, "bias": True, "padding_mode": "zeros"}, "module"),
            Node("flat", "flatten", ["conv"], {"start_dim": 1}, "torch"),
            Node("fc", "linear", ["flat"], {"out_features": 8, "bias": True}, "module"),
        ],
        outputs=["fc"],
        quant=copy.deepcopy(Case(inputs=[], nodes=[], outputs=[]).quant),
    )
    o = run_case(case, "tosa-int")
    assert o.status in ("pass", "numerics"), o.signature
    assert o.delegation["delegated_ops"] >= 3


def test_overrunning_case_is_a_timeout_and_leaves_the_process_that_ran_it_sound(seed_case):
    """The deadline is the forked child's kill, so nothing of the overrun case can leak into
    the process that goes on (an in-process alarm once left torch half-imported)."""
    from fuzz.execution.worker import run_job
    from fuzz.judge.outcome import Outcome

    first = run_case(seed_case, "tosa-int")
    result = run_job({"case": seed_case.to_dict(), "target": "tosa-int", "timeout": 0.3})
    o = Outcome.from_dict(result["outcome"])
    assert o.status == "timeout" and o.failed, (o.status, o.signature)
    assert o.signature == f"tosa-int/timeout@{o.stage or 'start'}"
    assert run_case(seed_case, "tosa-int").signature == first.signature


@pytest.mark.pipeline
def test_an_operand_validator_is_where_a_dialect_op_refused_its_node_on_every_profile():
    """tanh -> adaptive_avg_pool2d of a 1x1 input gives AVG_POOL2D a float input. Its dtype
    validator refuses it in RewriteAvgPool2dPass on INT and, with another message, in
    ComputeConstantOpsAOTPass on INT+FP (seed 202 filed them as two bugs). Both are named by
    the op and its validator, and group as one bug, the message its variant."""
    from fuzz.triage.bugs import bug_key, bug_variant

    case = Case(inputs=[TensorSpec("x", [1, 4, 1, 1])],
                nodes=[Node("t", "tanh", ["x"], {}, "torch"),
                       Node("pool", "adaptive_avg_pool2d", ["t"], {"output_size": 1}, "functional")],
                outputs=["pool"], target="tosa-int")
    where = "TosaValueError@tosa.AVG_POOL2D.validate_avg_pool2d_dtype: "
    sigs = [run_case(case, target).signature for target in ("tosa-int", "tosa-int-fp")]
    assert all(where in s for s in sigs) and sigs[0].split(": ", 1)[1] != sigs[1].split(": ", 1)[1], sigs
    assert bug_key(sigs[0]) == bug_key(sigs[1]) == where.removesuffix(": ")
    assert "float32" in bug_variant(sigs[0]) and "float32" in bug_variant(sigs[1])


@pytest.mark.pipeline
def test_a_pass_crash_keeps_the_frames_where_it_raised():
    """executorch re-raises a pass failure with a list of ~138 pass adapter names; the outcome's
    traceback must be the innermost cause's frames (the CLAMP check that raised), not that list."""
    case = Case(inputs=[TensorSpec("x", [1, 2, 4, 4])], nodes=[Node("bad", "clamp", ["x"], {"min": 0.5, "max": 0.25}, "torch")],
                outputs=["bad"], target="tosa-int")
    o = run_case(case)
    assert o.signature == "tosa-int/lower/TosaValueError@ExirToTosaPass: max_val must be greater than or equal to min_val"
    assert "executorch/backends/arm/tosa/dialect/ops/activation.py" in o.traceback
    assert "_ExportedProgramGraphPassAdapter" not in o.traceback and "passes run before)" in o.traceback
