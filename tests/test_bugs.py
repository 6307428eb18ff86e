"""Bugs above buckets: keys on real signatures, the one-case-several-symptoms rule, the
representative, and the campaign files (rebuilt from events.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fuzz.bugs import bug_key, group
from fuzz.campaign import Bucket, CampaignDir, CampaignError, list_bugs
from fuzz.cli import app
from fuzz.targets import TARGETS
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
    assert len(keys) == 1


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


def test_narrow_range_is_one_bug_whatever_the_op_but_out_of_range_is_not():
    ops = ["conv2d(alone)", "relu(fuseable,after-conv2d)", "add(alone)", "linear(alone)"]
    assert len({bug_key(f"tosa-int/compare/numerics-narrow-range@{op}") for op in ops}) == 1
    assert len({bug_key(f"tosa-int/compare/numerics-out-of-range@{op}") for op in ops}) == len(ops)


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
    # Without the shared case, the vela failure stays a bug of its own.
    assert len(group(buckets, {9: failures[9]})) == 4


def test_representative_is_the_smallest_case_on_the_cheapest_target_and_moves_only_when_strictly_smaller():
    a = _bucket(CLAMP.format(t="ethos-u55-128"), 1, 1, 3)
    b = _bucket(CLAMP.format(t="tosa-int"), 2, 1, 3)
    (bug,) = group([a, b], {})
    assert bug.representative[:2] == (1, "tosa-int") and bug.count == 2
    c = _bucket(CLAMP.format(t="vgf-int"), 3, 7, 3)  # same size, dearer target: stays
    assert group([a, b, c], {})[0].representative[:2] == (1, "tosa-int")
    d = _bucket(CLAMP.format(t="ethos-u85-256"), 4, 8, 1)  # strictly smaller: replaces
    assert group([a, b, c, d], {})[0].representative[:2] == (8, "ethos-u85-256")


def _events(root: Path, rows: list[tuple[int, str, str, str, int]]) -> None:
    root.mkdir(parents=True)
    (root / "campaign.json").write_text(json.dumps({"schema": 1, "seed": 3, "targets": list(TARGETS)}))
    lines = [json.dumps({"type": "result", "seed": 3, "index": i, "target": t, "focus": None, "status": st, "signature": sig,
                         "nodes": n, "release": "1.5.1", "t": 100.0 + k}) for k, (i, t, st, sig, n) in enumerate(rows)]
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


def test_bugs_cli_errors_in_one_line_on_a_non_campaign(tmp_path):
    res = CliRunner().invoke(app, ["bugs", str(tmp_path)])
    assert res.exit_code == 2 and "no events.jsonl" in res.output
    with pytest.raises(CampaignError):
        CampaignDir(tmp_path).open_existing()


@pytest.mark.pipeline
def test_a_real_campaign_lists_fewer_bugs_than_buckets(tmp_path):
    """Seed 1's case 0, unsteered (conv2d -> clamp(min 0.741 > max 0.441) -> flatten):
    ExirToTosaPass refuses the clamp on every target, one bucket per target and one bug."""
    camp = tmp_path / "c"
    res = CliRunner().invoke(app, ["fuzz", "--seed", "1", "--cases", "1", "--targets", "tosa-int,tosa-int-fp,vgf-int",
                                   "--campaign", str(camp), "--workers", "2", "--no-reduce", "--no-steer"])
    assert res.exit_code == 0, res.output
    assert res.output.index("bugs (one per root cause)") < res.output.index(f"campaign {camp}")  # the summary leads with bugs
    listed = CliRunner().invoke(app, ["bugs", str(camp), "--json"])
    rows = json.loads(listed.output)
    buckets = list((camp / "buckets").glob("*/meta.json"))
    assert rows and len(rows) < len(buckets)
    (clamp,) = [r for r in rows if "ExirToTosaPass" in r["key"]]
    assert set(clamp["targets"]) == {"tosa-int", "tosa-int-fp", "vgf-int"} and clamp["representative"]["target"] == "tosa-int"
