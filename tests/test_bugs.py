"""Bugs above buckets: keys on real signatures, the one-case-several-symptoms rule, the
representative, and the campaign files (rebuilt from events.jsonl)."""

from __future__ import annotations

import importlib.metadata
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fuzz.campaign import Bucket, CampaignDir, CampaignError, list_bugs
from fuzz.campaign.loop import _record
from fuzz.core.targets import TARGETS
from fuzz.generate.generator import generate
from fuzz.triage.bugs import bug_id, bug_key, bug_title, bug_variant, group
from fuzz.views.cli import app
from reducer.workflow import pending_bugs
from tests.conftest import ROOT

CLAMP = "{t}/lower/TosaValueError@ExirToTosaPass: max_val must be greater than or equal to min_val"
INT4 = ("{t}/lower/ValueError@mapping.__init__: TOSA-<n>+INT doesn't support tensor TosaArg(name='{w}', dtype=INT4, "
        "shape=(<n>, <n>, <n>, <n>))")


def test_the_clamp_crash_on_seven_targets_is_one_bug_even_where_vela_refines_the_stage():
    sigs = [CLAMP.format(t=t) for t in TARGETS]
    sigs[3] = sigs[3].replace("/lower/", "/compile/")  # an Ethos-U target with vela on the stack
    assert len({bug_key(s) for s in sigs}) == 1


def test_tensor_names_and_profile_strings_do_not_split_a_bug():
    keys = {bug_key(INT4.format(t=t, w=w)) for t in ("tosa-int", "vgf-int") for w in ("ohwi", "hwicm", "view_copy_default_4_fused_const")}
    keys.add(bug_key(INT4.format(t="tosa-int-fp", w="ohwi").replace("TOSA-<n>+INT", "TOSA-1.0+INT+FP")))
    keys.add(bug_key(INT4.format(t="tosa-int16", w="ohwi").replace("TOSA-<n>+INT", "TOSA-1.0+INT+int16")))
    assert len(keys) == 1
    dtype = ("{t}/lower/ValueError@operator_validation_utils.validate_valid_dtype: Expected tensor {w} in tosa.CONV2D.default "
             "to have one of the following dtypes: ['DType.INT48'], got: DType.INT32")
    assert len({bug_key(dtype.format(t=t, w=w)) for t in ("ethos-u55-128", "tosa-int16") for w in ("<param>", "p_conv2d_1_weight", "hwicm")}) == 1
    # the same wrong operand on a depthwise conv is the same bug (one pass prepares both), its
    # kind the variant; executorch 1.1.0 made both from tosa-int16 table -> conv campaigns
    plain, depthwise = dtype.format(t="tosa-int16", w="<param>"), dtype.format(t="tosa-int16", w="<param>").replace(
        "tosa.CONV2D", "tosa.DEPTHWISE_CONV2D")
    assert bug_key(depthwise) == bug_key(plain) and "tosa.CONV2D.default" in bug_key(plain)
    assert (bug_variant(plain), bug_variant(depthwise)) == ("CONV2D", "DEPTHWISE_CONV2D")
    assert bug_key(plain.replace("CONV2D", "TRANSPOSE_CONV2D")) != bug_key(plain)
    # English after "tensor" is not a name: these stay two bugs
    rank = "tosa-int/lower/RuntimeError@MmToBmmPass: Input tensor {w} rank <n>, must be <n>"
    assert bug_key(rank.format(w="has")) != bug_key(rank.format(w="had"))


def test_different_passes_tools_and_culprits_stay_different_bugs():
    sigs = [
        "tosa-int-fp/lower/ValueError@RewriteConvPass: RewriteConvPass: No output quantization parameter found in node <node>",
        CLAMP.format(t="tosa-int-fp"),
        "ethos-u55-128/compile/RuntimeError@vela:process_regor: Non-passthrough operation (Conv2D) could not run on NPU",
        "tosa-int/compare/numerics-out-of-range@relu(nonfuseable,after-conv2d)",
        "tosa-int/compare/numerics-out-of-range@relu(fuseable,after-conv2d)",
        "tosa-int/native-crash/SIGSEGV@execute",
    ]
    assert len({bug_key(s) for s in sigs}) == len(sigs)
    assert bug_key("tosa-int/compare/numerics-out-of-range@relu(nonfuseable,after-conv2d)") == bug_key(
        "tosa-int-fp/compare/numerics-out-of-range@relu(nonfuseable,after-conv2d)")
    assert bug_key("harness/localize/RuntimeError: boom") is None
    # A tool's own failure keeps its stage; an executorch pass's does not.
    assert bug_key("ethos-u55-128/compile/RuntimeError@vela:process_regor: x").startswith("compile/RuntimeError@vela:")
    assert bug_key("tosa-int/timeout@lower") != bug_key("tosa-int/timeout@execute")


def test_every_target_has_a_cost_rank():
    from fuzz.triage.bugs import TARGET_COST_ORDER

    assert sorted(TARGET_COST_ORDER) == sorted(TARGETS)


def test_titles_read_as_sentences():
    assert bug_title(bug_key(CLAMP.format(t="tosa-int"))) == (
        "ExirToTosaPass raises TosaValueError: max_val must be greater than or equal to min_val")
    assert bug_title(bug_key("tosa-int/compare/numerics-out-of-range@relu(nonfuseable,after-conv2d)")) == (
        "wrong numerics (out-of-range) at relu(nonfuseable,after-conv2d)")
    assert bug_title(bug_key("tosa-int/invalid-tosa@CONV2D: weight/input channels")) == "invalid TOSA: CONV2D: weight/input channels"
    assert bug_title(bug_key("tosa-int/native-crash/SIGSEGV@execute")) == "native-crash SIGSEGV at execute"
    assert bug_title(bug_key("ethos-u55-128/compile/RuntimeError@vela:process_regor: Compilation failed")) == (
        "vela:process_regor fails at compile with RuntimeError: Compilation failed")


def test_narrow_range_is_one_bug_whatever_the_op_but_out_of_range_is_not():
    ops = ["conv2d(alone)", "relu(fuseable,after-conv2d)", "add(alone)", "linear(alone)"]
    assert len({bug_key(f"tosa-int/compare/numerics-narrow-range@{op}") for op in ops}) == 1
    assert len({bug_key(f"tosa-int/compare/numerics-out-of-range@{op}") for op in ops}) == len(ops)


#: The spelling findings of issue 22's 30-minute campaign (seed 202, executorch 1.5.1, all
#: targets) as the delegation oracle names them, ``op(aten ops the spelling exported to)``,
#: by the reason executorch's quantizer does not annotate them (fuzz.triage.families).
SPELLINGS = {
    "alias": ["minimum(min)", "transpose(swapdims)", "transpose(swapaxes)", "transpose(mT)", "transpose(mH)",
              "transpose(adjoint)", "neg(negative)", "clamp(clip)", "expand(broadcast_to)", "abs(absolute)",
              "log_softmax(special_log_softmax)", "where(greater+where)", "sub(subtract)", "relu6(relu6)"],
    "inplace": ["elu(elu_)", "hardsigmoid(hardsigmoid_)", "clamp(clamp_)", "relu6(relu6_)", "neg(neg_)"],
    "unlisted-op": ["split(split_with_sizes_copy)", "sub(rsub)"],
}


def test_spelling_findings_are_three_families_by_the_reason_executorch_gives():
    for family, variants in SPELLINGS.items():
        sigs = [f"{t}/lower/spelling-not-delegated@{v}" for v in variants for t in ("tosa-int", "ethos-u55-128", "vgf-int")]
        assert {bug_key(s) for s in sigs} == {f"lower/spelling-not-delegated:{family}"}, family
        assert {bug_variant(s) for s in sigs} == set(variants)
    # where's own op is where.self, which the quantizer lists: the op beside it decides
    assert bug_key("tosa-int/lower/spelling-not-delegated@where(rsub+where)") == "lower/spelling-not-delegated:unlisted-op"
    assert bug_title("lower/spelling-not-delegated:inplace").startswith("missed quantization (inplace): ")
    # A context finding is not a spelling: it stays its op's own bug.
    assert bug_key("tosa-int/lower/partially-delegated@conv2d(convolution)") == "lower/partially-delegated@conv2d(convolution)"
    assert bug_variant("tosa-int/lower/partially-delegated@conv2d(convolution)") is None


def test_a_family_lists_its_members_with_their_targets():
    found = [("tosa-int", "neg(negative)"), ("vgf-int", "neg(negative)"), ("tosa-int", "transpose(swapdims)"),
             ("ethos-u55-128", "elu(elu_)")]
    buckets = [_bucket(f"{t}/lower/spelling-not-delegated@{v}", k, k, 3, count=2) for k, (t, v) in enumerate(found)]
    alias, inplace = group(buckets, {})
    meta = alias.meta()
    assert meta["family"] == "alias" and meta["tier"] == "delegation" and meta["title"] == alias.title
    assert meta["members"] == [{"member": "neg(negative)", "targets": ["tosa-int", "vgf-int"], "count": 4},
                               {"member": "transpose(swapdims)", "targets": ["tosa-int"], "count": 2}]
    assert inplace.meta()["members"] == [{"member": "elu(elu_)", "targets": ["ethos-u55-128"], "count": 2}]
    # each spelling's bug before families is a member: a resumed campaign's old directory merges
    assert bug_id("lower/spelling-not-delegated@neg(negative)") in {bug_id(k) for k in alias.members}
    # a bug that groups nothing beyond targets lists no members
    assert group([_bucket(CLAMP.format(t="tosa-int"), 1, 1, 2)], {})[0].meta()["members"] == []


def test_the_narrow_range_rule_is_one_bug_listing_the_ops_it_showed_at():
    sigs = ["tosa-int/compare/numerics-narrow-range@conv2d(alone)", "vgf-int/compare/numerics-narrow-range@relu(fuseable,after-conv2d)",
            "tosa-int-fp/compare/numerics-narrow-range@conv2d(alone)",
            "tosa-int/compare/numerics-activation-floor@relu(nonfuseable,after-conv2d)"]
    narrow, relu = group([_bucket(s, k, k, 3) for k, s in enumerate(sigs)], {})
    assert narrow.key == "compare/numerics-narrow-range" and narrow.tier == "numerics"
    assert [(m["member"], m["targets"]) for m in narrow.meta()["members"]] == [
        ("conv2d(alone)", ["tosa-int", "tosa-int-fp"]), ("relu(fuseable,after-conv2d)", ["vgf-int"])]
    assert relu.key == "compare/numerics-activation-floor" and relu.tier == "numerics"
    assert [(m["member"], m["targets"]) for m in relu.meta()["members"]] == [("relu(nonfuseable,after-conv2d)", ["tosa-int"])]


def test_the_activation_floor_rule_is_one_bug_for_relu_and_relu6():
    """Seed 202 on 1.5.1: relu after a conv (33 results) and relu6 after a conv (7) both leave
    codes below the zero-point FuseQuantizedActivationPass made their qmin: one rule."""
    sigs = ["ethos-u85-256/compare/numerics-activation-floor@relu6(nonfuseable,after-conv2d)",
            "tosa-int/compare/numerics-activation-floor@relu(nonfuseable,after-conv2d)",
            "tosa-int16/compare/numerics-max-error@relu(nonfuseable)"]
    floor, other = group([_bucket(s, k, k, 3) for k, s in enumerate(sigs)], {})
    assert floor.key == "compare/numerics-activation-floor" and sorted(m["member"] for m in floor.meta()["members"]) == [
        "relu(nonfuseable,after-conv2d)", "relu6(nonfuseable,after-conv2d)"]
    assert bug_title(floor.key).startswith("wrong numerics (activation-floor)") and other.key.endswith("@relu(nonfuseable)")


def test_a_pass_that_gets_shapes_wrong_is_one_bug_with_the_crashes_it_raises_about_shapes():
    """Seed 202 on 1.5.1: ConvertMinMaxPass reads amin/amax over all dims (dim=[]) as no
    reduction: a wrong output size at amin and at amax, and a cat's size check failing while the
    pass retraces. RewritePadPass ignores a negative reflect pad and refuses a negative constant
    one. One bug per pass, a crash; another pass's crash about shapes is its own bug, and a
    crash of the pass about anything else stays apart."""
    sigs = ["tosa-int-fp/compare/numerics-shape@amin(ConvertMinMaxPass)",
            "ethos-u85-256/compare/numerics-shape@amax(ConvertMinMaxPass)",
            "tosa-int16/lower/RuntimeError@ConvertMinMaxPass: Sizes of tensors must match except in dimension 1. Expected <n> in "
            "dimension <n> but got <n> for tensor number <n> in the list",
            "vgf-int/compare/numerics-shape@pad(RewritePadPass)",
            "vgf-int-fp/lower/TosaValueError@RewritePadPass: Expected padding values to be non-negative, got <n> and <n>",
            "tosa-int/compare/numerics-shape@conv_transpose2d(delegate-output)",
            "tosa-int/lower/ValueError@ConvertMinMaxPass: Unexpected arg size <n> in <node>"]
    minmax, pad, unnamed, other = group([_bucket(s, k, k, 3) for k, s in enumerate(sigs)], {})
    assert minmax.key == "wrong-shape@ConvertMinMaxPass" and minmax.tier == "crash"
    members = [m["member"] for m in minmax.meta()["members"]]
    assert members[:2] == ["amin: wrong output size", "amax: wrong output size"] and len(members) == 3
    assert members[2].startswith("RuntimeError: Sizes of tensors must match except in dimension 1.")
    assert pad.key == "wrong-shape@RewritePadPass" and len(pad.buckets) == 2
    assert bug_title(pad.key).startswith("RewritePadPass gets shapes wrong")
    assert unnamed.key == "compare/numerics-shape@conv_transpose2d(delegate-output)" and unnamed.tier == "numerics"
    assert other.key == "ValueError@ConvertMinMaxPass: Unexpected arg size <n> in <node>"


def test_a_span_joins_the_one_op_of_it_that_shows_the_same_symptom_alone():
    """Seed 202 on 1.5.1: the bilinear RESIZE that ignores scale_factor, as a lone interpolate
    on INT and as a span with a float interpolate on INT+FP. A span whose symptom shows at
    two of its ops, or at none, or only with another symptom, stays its own bug."""
    sigs = ["tosa-int/compare/numerics-max-error@interpolate(alone)",
            "vgf-int-fp/compare/numerics-max-error@interpolate+relu6(span)",
            "tosa-int16/compare/numerics-max-error@conv2d+sigmoid(span)",
            "tosa-int16/compare/numerics-max-error@conv2d(alone)",
            "tosa-int16/compare/numerics-max-error@sigmoid(after-add)",
            "tosa-int/compare/numerics-bias@add+mean(span)",
            "tosa-int/compare/numerics-max-error@mean(alone)",
            "tosa-int/compare/numerics-max-error@sin(span)"]
    bugs = {b.key: b for b in group([_bucket(s, k, k, 3) for k, s in enumerate(sigs)], {})}
    resize = bugs["compare/numerics-max-error@interpolate(alone)"]
    assert resize.buckets == sigs[:2] and resize.targets == {"tosa-int", "vgf-int-fp"}
    assert resize.representative[4] == sigs[0]  # the span is evidence, not what is reduced
    assert set(bugs) == {bug_key(s) for s in sigs} - {bug_key(sigs[1])}


UNKNOWN_OP = ("{t}/lower/RuntimeError@process_node.process_call_function: Unknown operator <EdgeOpOverload: aten.{op}.default>: "
              "schema = aten::{op}(Tensor self) -> Tensor for TOSA : TOSA-1.0+INT+FP")


def test_an_op_no_visitor_lowers_is_one_bug_whatever_the_op():
    """Seed 202 on 1.5.1: INT+FP hardswish and hardsigmoid both stay whole through the
    partitioner's quantized-op filter and reach process_node without a visitor (one rule)."""
    sigs = [UNKNOWN_OP.format(t="tosa-int-fp", op="hardswish"), UNKNOWN_OP.format(t="vgf-int-fp", op="hardsigmoid"),
            UNKNOWN_OP.format(t="tosa-int-fp", op="hardsigmoid")]
    (bug,) = group([_bucket(s, k, k, 3) for k, s in enumerate(sigs)], {})
    assert bug.key == "RuntimeError@process_node.process_call_function: Unknown operator <op> for TOSA : <tosa-spec>"
    assert [(m["member"], m["targets"]) for m in bug.meta()["members"]] == [
        ("hardswish", ["tosa-int-fp"]), ("hardsigmoid", ["tosa-int-fp", "vgf-int-fp"])]
    assert bug.tier == "crash" and bug_variant(sigs[0]) == "hardswish"


@pytest.mark.pipeline
@pytest.mark.skipif(importlib.metadata.version("executorch") != "1.5.1", reason="measured on executorch 1.5.1")
def test_act_qmin_127_at_the_storage_bound_is_one_bug_and_the_fused_nonfuseable_relu_another():
    """Real lowerings with act_qmin -127: a lone conv and a fused relu whose lowered codes sit
    at -128 are one bug, the narrow range not enforced. The relu executorch fuses into its
    conv with zp -111 also ends at -128, but is 16 LSB off once the range is enforced, and
    exactly as wrong with act_qmin -128: its own bug (its floor, the zero-point, is not
    applied), named the same on both ranges."""
    from fuzz.generate.case import Case
    from fuzz.judge.pipeline import run_case

    conv = run_case(Case.load(ROOT / "tests" / "data" / "conv-maxpool-conv-qmin127.case.json"), "tosa-int")
    fused = run_case(Case.load(ROOT / "corpus" / "relu-qmin127-fused" / "reduced.case.json"), "tosa-int")
    # Its 1x1 stride-1 max_pool2d is an identity executorch drops, so it matches no lowered
    # tensor and the localisation names the span (fuzz.judge.localize); the key has no op.
    assert conv.signature == "tosa-int/compare/numerics-narrow-range@conv2d+max_pool2d(span)"
    assert fused.signature == "tosa-int/compare/numerics-narrow-range@relu(fuseable,after-conv2d)"
    assert bug_key(conv.signature) == bug_key(fused.signature) == "compare/numerics-narrow-range"
    relu = Case.load(ROOT / "corpus" / "relu-nonfuseable-unclamped" / "reduced.case.json")
    narrow = run_case(relu, "tosa-int")
    relu.quant.act_qmin = -128
    full = run_case(relu, "tosa-int")
    out = narrow.numerics[0]
    assert out["narrow_range"] and out["out_of_range"] and out["clamped_max_lsb"] > 10  # at -128, and wrong besides
    assert narrow.signature == full.signature == "tosa-int/compare/numerics-activation-floor@relu(nonfuseable,after-conv2d)"
    assert bug_key(narrow.signature) != bug_key(conv.signature)


def test_a_campaign_resumed_after_families_points_its_old_spelling_bugs_at_their_family(tmp_path):
    root = tmp_path / "camp"
    sigs = ["tosa-int/lower/spelling-not-delegated@neg(negative)", "tosa-int/lower/spelling-not-delegated@clamp(clip)"]
    _events(root, [(k, "tosa-int", "spelling-not-delegated", s, 3) for k, s in enumerate(sigs)])
    old = root / "bugs" / bug_id("lower/spelling-not-delegated@neg(negative)")
    old.mkdir(parents=True)
    (old / "meta.json").write_text(json.dumps({"id": old.name, "key": "lower/spelling-not-delegated@neg(negative)"}))
    (row,) = list_bugs(root)
    assert row["key"] == "lower/spelling-not-delegated:alias" and row["tier"] == "delegation" and row["family"] == "alias"
    assert [m["member"] for m in row["members"]] == ["neg(negative)", "clamp(clip)"]
    assert json.loads((old / "meta.json").read_text())["merged_into"] == row["id"]


def test_a_spec_dependent_dtype_list_does_not_split_a_bug():
    msg = "{t}/lower/TosaValueError@RewriteAvgPool2dPass: Unsupported input dtype torch.float32, supported types are ({d})"
    assert bug_key(msg.format(t="tosa-int", d="torch.int8,")) == bug_key(msg.format(t="tosa-int16", d="torch.int8, torch.int16"))


def test_corpus_signatures_of_one_entry_across_releases_key_consistently():
    for expected in sorted((ROOT / "corpus").glob("*/expected.json")):
        for sig in json.loads(expected.read_text()).values():
            assert sig == "pass" or bug_key(sig), (expected, sig)


def _bucket(sig: str, t: float, index: int, nodes: int, count: int = 1) -> Bucket:
    target = sig.split("/", 1)[0]
    return Bucket(sig, count=count, first_seen=t, last_seen=t, first=(index, target, None), smallest=(index, target, None),
                  smallest_nodes=nodes)


def test_one_case_invalid_on_tosa_and_refused_by_vela_is_one_bug_named_by_the_graph():
    invalid = "tosa-int/invalid-tosa@CONV2D: weight/input channels"
    vela = "ethos-u55-128/compile/RuntimeError@vela:process_regor: Compilation failed: Validation error:"
    segv = "tosa-int-fp/native-crash/SIGSEGV@execute"
    other = CLAMP.format(t="tosa-int")
    buckets = [_bucket(invalid, 1, 4, 2), _bucket(vela, 2, 4, 2), _bucket(segv, 3, 4, 2), _bucket(other, 4, 9, 3)]
    failures = {4: [("tosa-int", "invalid-tosa", invalid), ("ethos-u55-128", "crash", vela), ("tosa-int-fp", "native-crash", segv)],
                9: [("tosa-int", "crash", other)]}
    bugs = group(buckets, failures)
    assert len(bugs) == 2
    assert bugs[0].key == bug_key(invalid) and sorted(bugs[0].buckets) == sorted([invalid, vela, segv])
    assert bugs[0].targets == {"tosa-int", "ethos-u55-128", "tosa-int-fp"}
    assert [link["index"] for link in bugs[0].links] == [4] and bugs[0].links[0]["symptoms"]["ethos-u55-128"] == vela
    # Without the shared case, the vela failure stays a bug of its own.
    assert len(group(buckets, {9: failures[9]})) == 4


def test_an_executorch_pass_crash_on_a_vela_target_is_not_joined_to_an_invalid_graph():
    """Stage compile only says vela was on the stack; the pass that raised is its own bug."""
    invalid = "tosa-int/invalid-tosa@CONV2D: weight/input channels"
    clamp = CLAMP.format(t="ethos-u55-128").replace("/lower/", "/compile/")
    bugs = group([_bucket(invalid, 1, 4, 2), _bucket(clamp, 2, 4, 2)],
                 {4: [("tosa-int", "invalid-tosa", invalid), ("ethos-u55-128", "crash", clamp)]})
    assert len(bugs) == 2 and all(not b.links for b in bugs)


def test_a_generic_tool_failure_never_chains_two_invalid_graphs_into_one_bug():
    """vela says "Validation error" for any invalid graph: it joins the first graph it was
    seen with, and stays evidence of the second."""
    conv = "tosa-int/invalid-tosa@CONV2D: weight/input channels"
    clamp = "tosa-int/invalid-tosa@CLAMP: min greater than max"
    vela = "ethos-u85-256/compile/RuntimeError@vela:process_regor: Compilation failed: Validation error:"
    buckets = [_bucket(conv, 1, 4, 2), _bucket(vela, 2, 7, 1), _bucket(clamp, 3, 6, 1)]  # vela's smallest: case 7
    failures = {4: [("tosa-int", "invalid-tosa", conv), ("ethos-u85-256", "crash", vela)],
                6: [("tosa-int", "invalid-tosa", clamp), ("ethos-u85-256", "crash", vela)]}
    by_key = {b.key: b for b in group(buckets, failures)}
    assert set(by_key) == {bug_key(conv), bug_key(clamp)}
    assert sorted(by_key[bug_key(conv)].buckets) == sorted([conv, vela]) and by_key[bug_key(clamp)].buckets == [clamp]
    assert by_key[bug_key(clamp)].targets == {"tosa-int", "ethos-u85-256"}  # the evidence says where it was seen
    # The joined tool bucket is evidence, never the representative (the bug is the graph).
    assert by_key[bug_key(conv)].representative[4] == conv


def test_representative_is_the_smallest_case_on_the_cheapest_target_and_moves_only_when_strictly_smaller():
    a = _bucket(CLAMP.format(t="ethos-u55-128"), 1, 1, 3)
    b = _bucket(CLAMP.format(t="tosa-int"), 2, 1, 3)
    (bug,) = group([a, b], {})
    assert bug.representative[:2] == (1, "tosa-int") and bug.count == 2
    c = _bucket(CLAMP.format(t="vgf-int"), 3, 7, 3)  # same size, dearer target: stays
    assert group([a, b, c], {})[0].representative[:2] == (1, "tosa-int")
    d = _bucket(CLAMP.format(t="ethos-u85-256"), 4, 8, 1)  # strictly smaller: replaces
    assert group([a, b, c, d], {})[0].representative[:2] == (8, "ethos-u85-256")


def _events(root: Path, rows: list[tuple[int, str, str, str, int]], release: str = "1.5.1") -> None:
    root.mkdir(parents=True)
    (root / "campaign.json").write_text(json.dumps({"schema": 1, "seed": 3, "targets": list(TARGETS)}))
    lines = [json.dumps({"type": "result", "seed": 3, "index": i, "target": t, "focus": None, "status": st, "signature": sig,
                         "nodes": n, "release": release, "t": 100.0 + k}) for k, (i, t, st, sig, n) in enumerate(rows)]
    (root / "events.jsonl").write_text("\n".join(lines) + "\n")


def test_bug_files_are_rebuilt_from_the_log_and_a_torn_index_is_healed(tmp_path):
    root = tmp_path / "camp"
    _events(root, [(i % 3, t, "crash", CLAMP.format(t=t), 2) for i, t in enumerate(TARGETS)])
    rows = list_bugs(root)  # no bugs.json yet: derived from the log
    assert len(rows) == 1 and len(rows[0]["buckets"]) == len(TARGETS) and rows[0]["releases"] == ["1.5.1"]
    bug_dir = root / "bugs" / rows[0]["id"]
    assert (bug_dir / "smallest.case.json").exists() and (bug_dir / "signature.txt").read_text().startswith("tosa-int/")
    (root / "bugs.json").write_text("[{")  # torn by a kill
    assert list_bugs(root)[0]["id"] == rows[0]["id"]
    metas = [json.loads(p.read_text()) for p in (root / "buckets").glob("*/meta.json")]
    assert {m["bug"] for m in metas} == {rows[0]["id"]}
    assert {m["bug_report"] for m in metas} == {f"../../bugs/{rows[0]['id']}/report.md"}
    (root / "bugs.json").write_text('{"not": "a list"}')
    assert list_bugs(root)[0]["title"].startswith("ExirToTosaPass raises")
    # Nothing to rebuild from: one line naming the file
    (root / "bugs.json").write_text("[{")
    (root / "campaign.json").write_text("{")
    res = CliRunner().invoke(app, ["bugs", str(root)])
    assert res.exit_code == 2 and f"{root / 'campaign.json'}: missing or corrupt" in res.output and len(res.output.splitlines()) == 1


def test_an_older_log_without_releases_takes_the_campaigns(tmp_path):
    root = tmp_path / "camp"
    _events(root, [(0, "tosa-int", "crash", CLAMP.format(t="tosa-int"), 2)])
    lines = [json.loads(x) for x in (root / "events.jsonl").read_text().splitlines()]
    (root / "events.jsonl").write_text("".join(json.dumps({k: v for k, v in e.items() if k != "release"}) + "\n" for e in lines))
    assert list_bugs(root)[0]["releases"] == []
    (root / "bugs.json").unlink()
    (root / "campaign.json").write_text(json.dumps({"schema": 1, "seed": 3, "targets": list(TARGETS), "release": "1.4.1"}))
    assert list_bugs(root)[0]["releases"] == ["1.4.1"]


def test_a_bug_a_later_case_merges_keeps_its_files_and_is_no_longer_pending(tmp_path):
    """The vela failure is a bug of its own until a later result shows the same case's graph
    is invalid TOSA: then its bucket points at the graph's bug, and its old bug directory
    says where it went and is not reduced."""
    root = tmp_path / "camp"
    vela = "ethos-u55-128/compile/RuntimeError@vela:process_regor: Compilation failed: Validation error:"
    invalid = "tosa-int/invalid-tosa@CONV2D: weight/input channels"
    _events(root, [(0, "ethos-u55-128", "crash", vela, 4)])
    (old,) = list_bugs(root)
    assert [p.name for p in pending_bugs(root)] == [old["id"]]
    cdir = CampaignDir(root)
    state = cdir.load()
    case = generate(3, 0, "tosa-int")
    result = {"outcome": {"case_id": case.case_id, "status": "invalid-tosa", "signature": invalid, "stage": "lower"}}
    ev = _record(cdir, state, case, 3, 0, "tosa-int", None, result, {}, "1.5.1")
    assert ev["release"] == "1.5.1"  # the workers did not say: the caller's release is recorded
    (new,) = list_bugs(root)
    assert new["id"] == bug_id(bug_key(invalid)) != old["id"] and new["links"][0]["index"] == 0
    assert {m["bug"] for m in (json.loads(p.read_text()) for p in (root / "buckets").glob("*/meta.json"))} == {new["id"]}
    assert json.loads((root / "bugs" / old["id"] / "meta.json").read_text())["merged_into"] == new["id"]
    assert [p.name for p in pending_bugs(root)] == [new["id"]]
    res = CliRunner().invoke(app, ["reduce", str(root / "bugs" / old["id"])])
    assert res.exit_code == 2 and f"now part of bug {new['id']}" in res.output


def test_bugs_cli_errors_in_one_line_on_a_non_campaign(tmp_path):
    res = CliRunner().invoke(app, ["bugs", str(tmp_path)])
    assert res.exit_code == 2 and "no events.jsonl" in res.output
    with pytest.raises(CampaignError):
        CampaignDir(tmp_path).open_existing()


@pytest.mark.pipeline
def test_a_real_campaign_lists_fewer_bugs_than_buckets(tmp_path):
    """Seed 278's case 0, unsteered (generator version 2: conv2d -> clamp(min > max) -> cat ->
    conv2d -> neg): ExirToTosaPass refuses the clamp on every target, one bucket per target
    and one bug."""
    camp = tmp_path / "c"
    res = CliRunner().invoke(app, ["fuzz", "--seed", "278", "--cases", "1", "--targets", "tosa-int-fp,tosa-int",
                                   "--campaign", str(camp), "--workers", "2", "--no-reduce", "--no-steer"])
    assert res.exit_code == 0, res.output
    assert res.output.index("bugs (one per root cause)") < res.output.index(f"campaign {camp}")  # the summary leads with bugs
    assert re.search(r"bugs \(one per root cause\): [1-9]\d* crash, \d+ numerics, \d+ delegation", res.output)  # per tier
    assert "executorch==1.5.1" in res.output and "ethos-u-vela==" in res.output  # the stack
    listed = CliRunner().invoke(app, ["bugs", str(camp), "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    buckets = [json.loads(p.read_text()) for p in (camp / "buckets").glob("*/meta.json")]
    assert rows and len(rows) < len(buckets)
    (clamp,) = [r for r in rows if "ExirToTosaPass" in r["key"]]
    assert clamp["id"] == bug_id(clamp["key"]) and clamp["title"].startswith("ExirToTosaPass raises TosaValueError")
    assert clamp["targets"] == ["tosa-int", "tosa-int-fp"] and clamp["releases"] == ["1.5.1"] and clamp["report"] is None
    assert clamp["count"] == 2 and clamp["first_seen"] <= clamp["last_seen"]
    assert clamp["representative"]["target"] == "tosa-int" and clamp["representative"]["index"] == 0
    assert {b["bug"] for b in buckets if "ExirToTosaPass" in b["signature"]} == {clamp["id"]}
    bug_dir = camp / "bugs" / clamp["id"]
    assert (bug_dir / "signature.txt").read_text().strip() == clamp["representative"]["signature"]
    assert json.loads((bug_dir / "smallest.case.json").read_text())["target"] == "tosa-int"
    assert json.loads((bug_dir / "smallest.outcome.json").read_text())["signature"] == clamp["representative"]["signature"]
    stack = json.loads((camp / "campaign.json").read_text())["stacks"][-1]
    assert stack["versions"]["executorch"] == "1.5.1" and "tosa-tools" in stack["versions"]
    assert json.loads((camp / "stats.json").read_text())["stack"] == stack


def test_a_bug_report_marks_the_campaign_targets_and_lists_buckets_and_linked_cases():
    """Rendering only: the outcomes are what the control runs printed, the bug its meta.json."""
    from fuzz.generate.case import Case
    from fuzz.judge.outcome import Outcome
    from reducer.report import control_cases, judge_controls, render_report
    from tests.conftest import SEED_CASE

    case = Case.load(SEED_CASE).with_target("tosa-int")
    graph = "tosa-int/invalid-tosa@CONV2D: weight/input channels"
    vela = "ethos-u85-256/compile/RuntimeError@vela:process_regor: Compilation failed: Validation error:"
    bug = {"id": bug_id(bug_key(graph)), "title": bug_title(bug_key(graph)), "buckets": [graph, vela], "count": 3,
           "targets": ["tosa-int", "ethos-u85-256"], "releases": ["1.5.1"], "campaign_targets": ["tosa-int", "tosa-int-fp", "ethos-u85-256"],
           "links": [{"index": 4, "symptoms": {"tosa-int": graph, "ethos-u85-256": vela}}]}
    controls = control_cases(case)
    outcomes = [Outcome(case.case_id, c.case.target, "invalid-tosa", signature=graph.replace("tosa-int/", c.case.target + "/"))
                for c in controls]
    judge_controls(controls, outcomes, graph, bug)
    seen = {c.case.target: c.campaign for c in controls if c.variant.startswith("target ")}
    assert seen == {"tosa-int-fp": "not seen", "tosa-int16": "not fuzzed", "ethos-u55-128": "not fuzzed",
                    "ethos-u85-256": "affected", "vgf-int": "not fuzzed", "vgf-int-fp": "not fuzzed"}
    outcome = Outcome(case.case_id, "tosa-int", "invalid-tosa", stage="lower", signature=graph, message="weight/input channels")
    reduction = {"nodes_before": 4, "nodes_after": 4, "target_before": "tosa-int", "target_after": "tosa-int", "evaluations": 1,
                 "cache_hits": 0, "seconds": 1, "confirmed": "1/1", "flaky": False}
    text = render_report(case, outcome, "print('repro')\n", None, controls, reduction, {"executorch": "1.5.1"}, "", bug)
    assert "| seen by the campaign |" in text and "| **yes** | affected |" in text and "| not fuzzed |" in text
    assert f"Bug `{bug['id']}`, invalid TOSA: CONV2D: weight/input channels" in text
    assert f"- `{vela}`" in text and f"| 4 | ethos-u85-256 | `{vela}` |" in text


def test_a_relu6_culprit_is_the_hardtanh_it_exports_to():
    """torch.export makes F.relu6 an aten.hardtanh(x, 0, 6): a numerics culprit relu6 and a
    hardtanh in the same context and symptom are one bug (executorch 1.4.1's fused hardtanh
    lost its max for both), the case's op the variant. Other contexts, symptoms and ops stay
    apart."""
    relu6 = "tosa-int/compare/numerics-max-error@relu6(fuseable,after-conv2d)"
    hardtanh = "tosa-int16/compare/numerics-max-error@hardtanh(fuseable,after-conv2d)"
    assert bug_key(relu6) == bug_key(hardtanh) == "compare/numerics-max-error@hardtanh(fuseable,after-conv2d)"
    assert (bug_variant(relu6), bug_variant(hardtanh)) == ("relu6", "hardtanh")
    assert bug_key(relu6.replace("fuseable,", "nonfuseable,")) != bug_key(relu6)
    assert bug_key(relu6.replace("max-error", "bias")) != bug_key(relu6)
    assert bug_key(relu6.replace("@relu6", "@relu")) != bug_key(relu6)
    (bug,) = group([_bucket(relu6, 0.0, 0, 3), _bucket(hardtanh, 1.0, 1, 3)], {})
    assert set(bug.variants) == {"relu6", "hardtanh"}
