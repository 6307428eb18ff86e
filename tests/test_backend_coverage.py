"""Backend coverage as a campaign metric: measured in real workers and their forked children,
grown in stats.json, reported by coverage.py with the passes and visitors never entered."""

from __future__ import annotations

import json

import pytest

from fuzz.campaign import CampaignConfig, run_campaign
from fuzz.execution.backend_coverage import CampaignCoverage, key_of, subpackage, summarize


def test_paths_are_keyed_below_the_backend_whatever_the_venv():
    assert key_of("/a/venv/lib/python3.11/site-packages/executorch/backends/arm/_passes/x.py") == "_passes/x.py"
    assert key_of("/src/executorch/backends/arm/tosa/mapping.py") == "tosa/mapping.py"
    assert key_of("/a/executorch/backends/arm/test/ops/test_conv2d.py") is None  # upstream's tests are not the backend
    assert key_of("/a/torch/fx/graph.py") is None
    assert subpackage("_passes/x.py") == "_passes" and subpackage("vgf/backend.py") == "vgf"
    assert subpackage("constants.py") == "other" and subpackage("ethos/x.py") == "other"


def test_summary_totals_and_never_entered_passes(tmp_path):
    src = tmp_path / "executorch" / "backends" / "arm" / "_passes" / "p.py"
    src.parent.mkdir(parents=True)
    src.write_text("class A:\n    def call(self, gm):\n        return gm\nclass B:\n    def call(self, gm):\n        raise NotImplementedError\n")

    def fn(stmts, covered, missing):
        return {"summary": {"num_statements": stmts, "covered_lines": covered}, "missing_lines": missing}

    per_file = {str(src): {
        "summary": {"num_statements": 6, "covered_lines": 4, "num_branches": 2, "covered_branches": 1},
        "functions": {"A.call": fn(1, 0, [3]), "B.call": fn(1, 0, [6])},
    }}
    s = summarize(per_file)
    assert s["totals"]["total"] == {"statements": 6, "covered": 4, "branches": 2, "covered_branches": 1}
    assert s["totals"]["_passes"] == s["totals"]["total"]
    # A's call never ran; B is an abstract base, not a pass anyone could reach
    assert s["unreached"]["passes"] == ["_passes/p:A"]


@pytest.mark.pipeline
def test_campaign_measures_backend_coverage_in_its_case_children(tmp_path):
    root = tmp_path / "camp"
    cfg = CampaignConfig(root, seed=3, targets=["tosa-int"], cases=2, workers=1, steer=False, coverage=True)
    state = run_campaign(cfg)
    assert len(state.done) == 2
    cc = CampaignCoverage(root)
    growth = cc.growth()
    assert growth and growth[-1]["results"] == 2
    stats = json.loads((root / "stats.json").read_text())
    assert stats["coverage"]["statements"] == growth[-1]["statements"] > 0
    # every finished data file (two case children, one warm worker) was folded in
    assert not list((cc.dir / "raw").glob("*.done"))
    summary = cc.report(html_dir=None)
    total = summary["totals"]["total"]
    # the growth metric counts what coverage.py's own report counts
    assert total["covered"] == growth[-1]["statements"]
    assert 15000 < total["statements"] < 30000  # the backend without test/: 21,763 on 1.5.1
    assert {"_passes", "operators", "quantizer", "tosa"} <= set(summary["totals"])
    # the worker's warm-up lowers a conv on tosa-int: its rewrite pass and visitor ran
    assert "_passes/rewrite_conv_pass:RewriteConvPass" not in summary["unreached"]["passes"]
    assert "operators/op_tosa_conv2d:Conv2dVisitor" not in summary["unreached"]["visitors"]
    assert summary["unreached"]["passes"], "a two-case campaign cannot enter every pass"
    assert (cc.dir / "coverage.json").exists()
