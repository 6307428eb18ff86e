"""Severity tiers: every failing verdict has one, each key shape reads its own, and bug lists
sort most severe first (old bugs.json rows included)."""

from __future__ import annotations

from fuzz.judge.outcome import FAILURES
from fuzz.triage.bugs import bug_key
from fuzz.triage.tiers import TIER_OF_STATUS, TIERS, by_tier, status_of, tier, tier_counts, tier_line

#: One real signature shape per failing verdict (fuzz.judge.pipeline, fuzz.judge.delegation).
SIGNATURES = {
    "tosa-int/lower/TosaValueError@ExirToTosaPass: max_val must be greater than or equal to min_val": ("crash", "crash"),
    "ethos-u55-128/compile/RuntimeError@vela:process_regor: Compilation failed": ("crash", "crash"),
    "vgf-int/compile/RuntimeError@vgf_backend.vgf_compile: model-converter failed": ("crash", "crash"),
    "tosa-int/execute/RuntimeError@runner_utils.__torch_function__: expected scalar type Long but found Int": ("crash", "crash"),
    "tosa-int/invalid-tosa@CONV2D: weight/input channels": ("invalid-tosa", "crash"),
    "tosa-int/execute/InvalidTosa@reference-model: graph rejected": ("invalid-tosa", "crash"),
    "tosa-int/lower/invalid-program: int8 delegate output feeds a CPU op": ("invalid-program", "crash"),
    "tosa-int/timeout@lower": ("timeout", "crash"),
    "tosa-int/oom@lower": ("oom", "crash"),
    "tosa-int/native-crash/SIGSEGV@execute": ("native-crash", "crash"),
    "tosa-int/compare/numerics-narrow-range@conv2d(alone)": ("numerics", "numerics"),
    "tosa-int/compare/numerics-activation-floor@relu(nonfuseable,after-conv2d)": ("numerics", "numerics"),
    "tosa-int/lower/partially-delegated@conv2d(convolution)": ("partially-delegated", "delegation"),
    "tosa-int/lower/spelling-not-delegated@neg(negative)": ("spelling-not-delegated", "delegation"),
}


def test_every_failing_verdict_has_a_tier_and_every_key_shape_reads_its_verdict():
    assert set(TIER_OF_STATUS) == set(FAILURES) and set(TIER_OF_STATUS.values()) == set(TIERS)
    assert {status for status, _ in SIGNATURES.values()} == set(FAILURES)
    for sig, (status, expected) in SIGNATURES.items():
        key = bug_key(sig)
        assert (status_of(key), tier(key)) == (status, expected), sig


def test_bug_lists_sort_most_severe_first_and_count_every_tier():
    rows = [{"id": "s", "key": bug_key("tosa-int/lower/spelling-not-delegated@neg(negative)"), "tier": "delegation"},
            {"id": "n", "key": bug_key("tosa-int/compare/numerics-narrow-range@conv2d(alone)"), "tier": "numerics"},
            {"id": "c", "key": bug_key("tosa-int/timeout@lower")},  # a bugs.json written before tiers
            {"id": "c2", "key": bug_key("tosa-int/native-crash/SIGSEGV@execute"), "tier": "crash"}]
    assert [r["id"] for r in by_tier(rows)] == ["c", "c2", "n", "s"]  # stable within a tier
    assert tier_counts(rows) == {"crash": 2, "numerics": 1, "delegation": 1}
    assert tier_counts([]) == {"crash": 0, "numerics": 0, "delegation": 0}
    assert tier_line(rows) == "2 crash, 1 numerics, 1 delegation"
