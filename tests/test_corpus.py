"""Corpus replay: one test per corpus case on the pinned executorch, plus the classifier."""

from __future__ import annotations

import copy
import importlib.metadata
import json

import pytest
from typer.testing import CliRunner

from fuzz.judge.outcome import Outcome
from fuzz.judge.pipeline import run_case
from fuzz.replay.corpus import FAILING, classify, load_corpus
from fuzz.views.cli import app
from tests.conftest import ROOT, sub_case

RELEASE = importlib.metadata.version("executorch")
ENTRIES = load_corpus(ROOT / "corpus")


@pytest.mark.pipeline
@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_corpus_case_behaves_as_recorded(entry):
    expected = entry.expected.get(RELEASE)
    assert expected is not None, f"{entry.path}/expected.json has no entry for executorch {RELEASE}; run: armfuzz replay corpus --record"
    o = run_case(entry.case)
    verdict = classify(expected, o)
    if verdict == "fixed":
        pytest.skip(f"FIXED on {RELEASE}: was {expected}; update {entry.path}/expected.json")
    assert verdict not in FAILING, f"{verdict}: expected {expected!r}, observed {o.signature or o.status!r}"


def _o(status: str, signature: str = "") -> Outcome:
    return Outcome("id", "tosa-int", status, signature=signature)


def test_classifier_verdicts():
    sig = "tosa-int/lower/ValueError@RewriteConvPass: x"
    assert classify(sig, _o("crash", sig)) == "as-expected"
    assert classify(sig, _o("pass")) == "fixed"
    assert classify("pass", _o("crash", sig)) == "regressed"
    assert classify(sig, _o("numerics", "tosa-int/compare/numerics-max-error@conv2d")) == "changed"
    assert classify(sig, _o("harness-error", "harness/x")) == "errored"
    assert classify(None, _o("pass")) == "unrecorded"
    assert classify("pass", _o("not-delegated")) == "as-expected"


@pytest.mark.pipeline
def test_replay_reports_fixed_and_fails_on_a_changed_signature(tmp_path, seed_case):
    """Real replay on warm workers: an expected failure that now passes is 'fixed'; a case
    that fails differently from its record is 'changed' and fails the run."""
    clean = sub_case(seed_case, ["conv1"], ["conv1"], ["x"])
    clean.quant.act_qmin = -128
    clean.target = "tosa-int"
    clean.save(tmp_path / "a-clean" / "case.json")
    (tmp_path / "a-clean" / "expected.json").write_text(json.dumps({RELEASE: "tosa-int/lower/ValueError@RewriteConvPass: old bug"}))
    relu = copy.deepcopy(sub_case(seed_case, ["conv1", "relu"], ["relu"], ["x"]))
    relu.target = "tosa-int"
    relu.save(tmp_path / "b-relu" / "case.json")
    (tmp_path / "b-relu" / "expected.json").write_text(json.dumps({RELEASE: "tosa-int/lower/SomethingElse@Pass: not this"}))
    res = CliRunner().invoke(app, ["replay", str(tmp_path), "--workers", "2", "--json"])
    report = json.loads(res.stdout[res.stdout.index("{"):])
    verdicts = {c["id"]: c["verdict"] for c in report["cases"]}
    assert verdicts == {"a-clean": "fixed", "b-relu": "changed"}
    assert res.exit_code == 1


def test_corpus_add_carries_the_bucket_and_its_reduction_products(tmp_path):
    from fuzz.generate.case import Case
    from fuzz.replay.corpus import REDUCTION_PRODUCTS, add_from_bucket

    bucket = tmp_path / "buckets" / "abc"
    bucket.mkdir(parents=True)
    case = Case.load(ROOT / "corpus" / "seed-000-rewriteconv" / "case.json")
    case.save(bucket / "smallest.case.json")
    (bucket / "signature.txt").write_text("tosa-int-fp/lower/E@P: m\n")
    (bucket / "repro.py").write_text("print('repro')\n")
    (bucket / "report.md").write_text("# report\n")
    dest = add_from_bucket(bucket, tmp_path / "corpus", "1.5.1")
    assert Case.load(dest / "case.json") == case
    assert json.loads((dest / "expected.json").read_text()) == {"1.5.1": "tosa-int-fp/lower/E@P: m"}
    assert (dest / "repro.py").read_text() == "print('repro')\n" and (dest / "report.md").exists()
    assert not (dest / "verification.json").exists() and "verification.json" in REDUCTION_PRODUCTS
