"""The CLI on the real pipeline: `armfuzz run` and `armfuzz fuzz`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from fuzz.cli import app
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
def test_fuzz_tallies_and_saves_findings(tmp_path):
    res = runner.invoke(app, ["fuzz", "--seed", "3", "--cases", "2", "--targets", "tosa-int", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.stdout
    assert "armfuzz tally" in res.stdout and "tosa-int" in res.stdout
    for bucket in tmp_path.iterdir():
        assert (bucket / "signature.txt").read_text().startswith("tosa-int/")


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
