"""The version matrix on a real old release: executorch 1.2.0, where the seed bug reproduces.

The first test run on a machine creates the 1.2.0 venv (``armfuzz env add 1.2.0``, about
2.5 minutes here; cached in $ARMFUZZ_ENVS or ~/.cache/armfuzz/envs afterwards).
"""

from __future__ import annotations

import pytest

from fuzz.execution import envs
from fuzz.generate.case import Case
from fuzz.replay import matrix
from fuzz.replay.corpus import load_corpus, replay
from reducer.repro import render, verify
from tests.conftest import ROOT, SEED_CASE

OLD = "1.2.0"
SEED_CRASH = "tosa-int-fp/lower/ValueError@RewriteConvPass: RewriteConvPass: No output quantization parameter found in node <node>"



@pytest.fixture(scope="module")
def old_release() -> str:
    envs.add(OLD)
    return OLD


def test_unknown_or_missing_release_is_a_one_line_error(monkeypatch, tmp_path):
    from fuzz.core.errors import CaseError

    with pytest.raises(CaseError, match="not in the version matrix; supported: 1.1.0"):
        envs.release("1.0.1")
    monkeypatch.setenv("ARMFUZZ_ENVS", str(tmp_path))  # no venv cached there
    with pytest.raises(CaseError, match="create it with: armfuzz env add 1.4.1"):
        envs.python_for("1.4.1")


@pytest.mark.pipeline
def test_env_has_no_armfuzz_installed(old_release):
    import subprocess

    proc = subprocess.run([envs.cached_python(old_release), "-I", "-c", "import fuzz"], capture_output=True, text=True, cwd="/")
    assert proc.returncode != 0 and "No module named 'fuzz'" in proc.stderr


@pytest.mark.pipeline
def test_bisect_finds_the_seed_bug_on_the_old_release_and_fixed_on_ours(old_release):
    here = envs.installed_version()
    b = matrix.bisect(Case.load(SEED_CASE), [old_release, here], SEED_CRASH)
    assert b.first_bad == old_release and b.first_fixed == here
    assert b.affected() == [old_release]
    assert "**affected**" in b.markdown()


@pytest.mark.pipeline
def test_corpus_seed_entry_replays_as_expected_on_the_old_release(old_release):
    entry = next(e for e in load_corpus(ROOT / "corpus") if e.id == "seed-000-rewriteconv")
    assert entry.expected[old_release] == SEED_CRASH
    row = replay([entry], old_release, 1)[0]
    assert row["verdict"] == "as-expected", row


@pytest.mark.pipeline
def test_seed_repro_verifies_in_the_old_release_venv_without_armfuzz(old_release):
    case = Case.load(SEED_CASE)
    v = verify(render(case, SEED_CRASH, old_release), case, SEED_CRASH, envs.cached_python(old_release), runs=1)
    assert v.verified, v.to_dict()


@pytest.mark.pipeline
def test_fuzz_on_an_old_release_records_it_and_finds_the_seed_crash(old_release, tmp_path):
    """`armfuzz fuzz --release 1.2.0`: the workers run in the cached venv (no armfuzz in it),
    every event records that release and interpreter, and the seed's RewriteConvPass crash
    is found: case 0 of seed 62, steered (conv -> relu -> cat -> conv, measured on 1.2.0)."""
    import json

    from typer.testing import CliRunner

    from fuzz.views.cli import app

    camp = tmp_path / "c"
    # Seed 62's case 0, steered as a fresh campaign steers it (cell steering: the core cell
    # act-nonfuseable@conv): a conv -> relu -> cat -> conv motif aimed at the non-fuseable relu,
    # the seed report's RewriteConvPass crash (seeds 62 and 133 both crash so on 1.2.0).
    res = CliRunner().invoke(app, ["fuzz", "--release", old_release, "--seed", "62", "--cases", "1",
                                   "--targets", "tosa-int-fp", "--campaign", str(camp), "--workers", "1", "--no-reduce", "--json"])
    assert res.exit_code in (0, 3), res.output
    events = [json.loads(x) for x in (camp / "events.jsonl").read_text().splitlines()]
    assert {e["release"] for e in events} == {old_release}
    assert {e["python"] for e in events} == {envs.cached_python(old_release)}
    assert SEED_CRASH in {e["signature"] for e in events}
    (bug,) = [b for b in json.loads((camp / "bugs.json").read_text()) if "RewriteConvPass" in b["key"]]
    assert bug["releases"] == [old_release]


def test_an_interpreter_without_torch_is_a_one_line_error(tmp_path):
    import subprocess
    import sys

    from typer.testing import CliRunner

    from fuzz.views.cli import app

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True)
    res = CliRunner().invoke(app, ["fuzz", "--python", str(tmp_path / "bare" / "bin" / "python"), "--cases", "1",
                                   "--targets", "tosa-int", "--campaign", str(tmp_path / "c"), "--workers", "1", "--no-reduce"])
    assert res.exit_code == 2
    assert "exited before it was ready" in res.output and "No module named" in res.output


@pytest.mark.pipeline
def test_old_release_workers_report_their_domains_and_outlive_a_case_drawn_for_a_newer_one(old_release, tmp_path, seed_case):
    """1.2.0 defines ArmPassPipelineConfig but its compile specs take none: its workers say so
    when ready, the cases a campaign draws from those domains carry no pass-pipeline option
    (drawn from 1.5.1's, some do), and a case drawn for 1.5.1 is a rejected-config verdict
    on 1.2.0 while the same warm worker goes on to the next case."""
    from fuzz.core.target_options import Domains, local_domains
    from fuzz.execution.pool import WorkerPool, run_all
    from fuzz.generate.generator import generate
    from tests.test_worker import ask

    pool = WorkerPool(1, tmp_path / "workers.log", ["tosa-int"], envs.cached_python(old_release))
    try:
        newer = {**seed_case.with_target("tosa-int").to_dict(), "options": {"leaky_relu": "TABLE"}}
        result = ask(pool, {"job": 1, "case": newer, "target": "tosa-int", "timeout": 300})
        assert result is not None, "the worker died"
        assert result["outcome"]["status"] == "rejected-config", result["outcome"]
        assert "not on this release" in result["outcome"]["signature"]
        domains = Domains.from_dict(pool.info["domains"])
        assert domains.pipeline == {"default": {}, "u55": {}}
        pid = pool.workers[0].proc.pid
        (outcome,) = run_all(pool, [seed_case.with_target("tosa-int")])
        assert outcome.status != "harness-error", outcome.message
        assert [w.proc.pid for w in pool.workers] == [pid]
    finally:
        pool.close()

    def pipeline_options(d):
        return [c.options for s in range(3) for i in range(60) for c in [generate(s, i, "tosa-int", None, d)]
                if {"softmax", "leaky_relu"} & set(c.options)]

    assert pipeline_options(local_domains()), "no case drew a pipeline option on this release: the check below proves nothing"
    assert pipeline_options(domains) == []


def test_a_message_respelled_by_a_later_release_is_still_the_bug():
    """1.4.1's RewriteConvPass stopped prefixing its own name; a conv1d -> relu -> cat crashed
    1.1.0 to 1.4.1 the same way, and bisection called 1.4.1 fixed on the changed string."""
    from fuzz.replay.matrix import Bisection, same_bug

    old = "tosa-int-fp/lower/ValueError@RewriteConvPass: RewriteConvPass: No output quantization parameter found in node <node>"
    new = "tosa-int-fp/lower/ValueError@RewriteConvPass: No output quantization parameter found in node <node>"
    assert same_bug(new, old) and same_bug(old, old)
    assert not same_bug("pass", old)
    assert not same_bug(new.replace("tosa-int-fp", "vgf-int-fp", 1), old)  # another target
    assert not same_bug("tosa-int-fp/lower/KeyError@RewriteConvPass: <n>", old)  # another crash of the pass
    # Two spellings of one in-place family are two findings, not one bug to bisect.
    assert not same_bug("tosa-int/lower/spelling-not-delegated@elu(elu_)", "tosa-int/lower/spelling-not-delegated@clamp(clamp_)")
    b = Bisection(old, [("1.3.1", old), ("1.4.1", new), ("1.5.1", "pass")], "1.3.1", "1.5.1")
    assert b.affected() == ["1.3.1", "1.4.1"]
    assert "| 1.4.1 |" in b.markdown() and b.markdown().count("**affected**") == 2


def test_bisection_finds_the_fix_past_a_respelled_message(monkeypatch):
    """The rows bisect() reads (what each release's run gave; no worker here: the release runs
    are what test_bisect_finds_the_seed_bug_on_the_old_release_and_fixed_on_ours covers)."""
    from types import SimpleNamespace

    import fuzz.replay.matrix as matrix

    old = "tosa-int-fp/lower/ValueError@RewriteConvPass: RewriteConvPass: No output quantization parameter found in node <node>"
    by_release = {"1.2.0": old, "1.3.1": old, "1.4.1": old.replace("RewriteConvPass: RewriteConvPass:", "RewriteConvPass:"), "1.5.1": None}
    monkeypatch.setattr(matrix, "run_on_release", lambda cases, release, timeout=300.0: [
        SimpleNamespace(status="crash" if by_release[release] else "pass", signature=by_release[release] or "")])
    b = matrix.bisect(None, list(by_release), old)
    assert (b.first_bad, b.first_fixed) == ("1.2.0", "1.5.1")
    assert b.affected() == ["1.2.0", "1.3.1", "1.4.1"]
