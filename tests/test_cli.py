"""The CLI on the real pipeline: `armfuzz run` and `armfuzz fuzz`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from fuzz.views.cli import app
from tests.conftest import SEED_CASE

runner = CliRunner()


@pytest.mark.pipeline
def test_run_prints_json_outcome_with_evidence():
    res = runner.invoke(app, ["run", str(SEED_CASE), "--target", "tosa-int-fp", "--json"])
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, res.stdout
    o = json.loads(lines[0])
    assert o["target"] == "tosa-int-fp"
    assert o["status"] in ("pass", "numerics")
    assert any("zp=-111" in e for e in o["evidence"])
    assert res.exit_code == (1 if o["status"] == "numerics" else 0)


@pytest.mark.pipeline
def test_run_survives_a_native_crash_and_prints_its_verdict():
    """The case runs in a forked child: a SIGSEGV during lowering (injected where vela or the
    reference model would crash) is a verdict with its stage, in JSON, exit code 1."""
    res = runner.invoke(app, ["run", str(SEED_CASE), "--target", "tosa-int", "--json", "--inject", "segfault"])
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, res.stdout
    o = json.loads(lines[0])
    assert (o["status"], o["signature"]) == ("native-crash", "tosa-int/native-crash/SIGSEGV@lower")
    assert res.exit_code == 1


@pytest.mark.pipeline
def test_fuzz_runs_a_campaign_and_buckets_lists_it(tmp_path):
    camp = tmp_path / "c"
    res = runner.invoke(app, ["fuzz", "--seed", "3", "--cases", "2", "--targets", "tosa-int", "--campaign", str(camp), "--workers", "1"])
    assert res.exit_code == 0, res.stdout
    assert f"campaign {camp}" in res.stdout and "tosa-int" in res.stdout
    events = [json.loads(x) for x in (camp / "events.jsonl").read_text().splitlines()]
    assert sorted((e["index"], e["target"]) for e in events) == [(0, "tosa-int"), (1, "tosa-int")]
    stats = json.loads((camp / "stats.json").read_text())
    assert stats["results"] == 2
    listed = runner.invoke(app, ["buckets", str(camp)])
    assert listed.exit_code == 0
    for b in (camp / "buckets").glob("*"):
        assert b.name in listed.stdout


@pytest.mark.pipeline
def test_fuzz_reduces_new_bugs_and_says_when_one_does_not_reproduce(tmp_path):
    """Auto-reduction runs after the campaign, once per bug, in the bug's directory. An
    injected segfault (a test seam tied to the campaign's case index) cannot reproduce on its
    own, so its bug gets a one-line explanation and no report -- never a repro that was not
    verified."""
    camp = tmp_path / "c"
    res = runner.invoke(app, ["fuzz", "--seed", "3", "--cases", "1", "--targets", "tosa-int", "--campaign", str(camp),
                              "--workers", "1", "--inject", "0=segfault", "--reduce-evals", "5"])
    assert res.exit_code == 0, res.output
    (bucket,) = list((camp / "buckets").glob("*"))
    (bug,) = list((camp / "bugs").glob("*"))
    assert json.loads((bucket / "meta.json").read_text())["bug"] == bug.name
    assert "the case does not fail with tosa-int/native-crash/SIGSEGV@lower" in res.output
    assert json.loads((bug / "reduction.json").read_text())["reproduced"] is False
    assert not (bug / "repro.py").exists() and not (bug / "report.md").exists()


def test_fuzz_needs_a_stopping_rule():
    res = runner.invoke(app, ["fuzz", "--seed", "1"])
    assert res.exit_code == 2 and "--cases" in res.output


@pytest.mark.parametrize("args, needle", [
    (["--engine", "bogus"], "--engine 'bogus': use random or guided"),
    (["--seed-corpus", "."], "--seed-corpus is for --engine guided"),
])
def test_engine_options_misused_are_one_line_errors(args, needle):
    res = runner.invoke(app, ["fuzz", "--cases", "1", *args])
    assert res.exit_code == 2 and needle in res.output


def test_unknown_target_is_a_one_line_error():
    res = runner.invoke(app, ["run", str(SEED_CASE), "--target", "tosa-int,npu9"])
    assert res.exit_code == 2
    assert "unknown target 'npu9'" in res.output


def test_corrupt_case_file_is_a_one_line_error(tmp_path):
    bad = tmp_path / "c.json"
    bad.write_text('{"schema": 1, "nodes": [}')
    res = runner.invoke(app, ["run", str(bad)])
    assert res.exit_code == 2
    assert f"{bad}: not valid JSON" in res.output


def test_reduce_refuses_a_corrupt_case_with_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = CliRunner().invoke(app, ["reduce", str(bad)])
    assert result.exit_code == 2
    assert "bad.json: not valid JSON" in result.output


@pytest.mark.pipeline
def test_reduce_end_to_end_writes_a_verified_repro_and_a_report(tmp_path):
    """armfuzz reduce on a live 1.5.1 crash: reduced case, verified repro.py, report.md, issue.md."""
    case = {"schema": 1, "seed": 0, "target": "tosa-int", "inputs": [{"name": "x", "shape": [1, 4, 8, 8]}],
            "nodes": [{"id": "act", "op": "sigmoid", "inputs": ["x"], "spelling": "torch", "params": {}},
                      {"id": "bad", "op": "clamp", "inputs": ["act"], "spelling": "torch", "params": {"min": 0.5, "max": 0.25}}],
            "outputs": ["bad"]}
    src = tmp_path / "clamp.case.json"
    src.write_text(json.dumps(case))
    result = CliRunner().invoke(app, ["reduce", str(src), "--workers", "1", "--confirm-runs", "1"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "clamp.reduced"
    reduced = json.loads((out / "reduced.case.json").read_text())
    assert [n["op"] for n in reduced["nodes"]] == ["clamp"]
    assert json.loads((out / "verification.json").read_text())["verified"]
    report = (out / "report.md").read_text()
    assert "ExirToTosaPass" in report and "## Control cases" in report and "```mermaid" in report
    # The worker stores the innermost cause's frames (fuzz.judge.pipeline.failing_frames), not
    # the tail of 1.5.1's chain (its pass manager's list of adapters): the report shows the
    # pass's own frames with no extra fresh run of the repro (traceback.txt is for the tails
    # that lost them).
    assert 'aten_to_dialect_pass.py", line' in report and not (out / "traceback.txt").exists()
    assert "_ExportedProgramGraphPassAdapter" not in report and len(json.loads((out / "controls.json").read_text())) > 5
    issue = (out / "issue.md").read_text()
    assert issue.startswith("# Arm backend: ExirToTosaPass: max_val must be greater than or equal to min_val (clamp, ")
    assert "### 🐛 Describe the bug" in issue and "### Versions" in issue and "PyTorch version: " in issue
    assert (out / "repro.py").read_text().rstrip("\n") in issue and 'aten_to_dialect_pass.py", line' in issue


def _tiered_campaign(root) -> None:
    """A campaign log whose bugs come in the opposite of severity order: a spelling family
    first (two spellings), then a narrow-range bug, then a crash."""
    from fuzz.core.targets import TARGETS

    rows = [(0, "tosa-int", "spelling-not-delegated", "tosa-int/lower/spelling-not-delegated@neg(negative)"),
            (1, "vgf-int", "spelling-not-delegated", "vgf-int/lower/spelling-not-delegated@transpose(swapdims)"),
            (2, "tosa-int", "numerics", "tosa-int/compare/numerics-narrow-range@conv2d(alone)"),
            (3, "tosa-int", "crash", "tosa-int/lower/TosaValueError@ExirToTosaPass: max_val must be greater than or equal to min_val")]
    root.mkdir(parents=True)
    (root / "campaign.json").write_text(json.dumps({"schema": 1, "seed": 3, "targets": list(TARGETS)}))
    (root / "events.jsonl").write_text("".join(
        json.dumps({"type": "result", "seed": 3, "index": i, "target": t, "focus": None, "status": st, "signature": sig,
                    "nodes": 3, "release": "1.5.1", "t": 100.0 + i}) + "\n" for i, t, st, sig in rows))


def test_bugs_lists_the_most_severe_tier_first_with_the_count_per_tier(tmp_path, no_known_bugs):
    camp = tmp_path / "c"
    _tiered_campaign(camp)
    table = runner.invoke(app, ["bugs", str(camp)])
    assert table.exit_code == 0, table.output
    assert "1 crash, 1 numerics, 1 delegation" in table.output
    rows = [ln for ln in table.output.splitlines() if ln.lstrip("│ ").split(" ")[0] in ("crash", "numerics", "delegation")]
    assert [r.lstrip("│ ").split(" ")[0] for r in rows] == ["crash", "numerics", "delegation"], table.output
    assert "members:" in table.output  # each member with its targets: in the JSON below (the table folds them)
    listed = runner.invoke(app, ["bugs", str(camp), "--json"])
    bugs = json.loads(listed.output)
    assert [(b["tier"], b["first_seen"]) for b in bugs] == [("crash", 103.0), ("numerics", 102.0), ("delegation", 100.0)]
    assert [(m["member"], m["targets"]) for m in bugs[2]["members"]] == [("neg(negative)", ["tosa-int"]),
                                                                          ("transpose(swapdims)", ["vgf-int"])]
