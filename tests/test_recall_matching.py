"""The historical-bug benchmark's matcher (bench/recall.py ``matches``): a campaign result
counts as rediscovering a bug exactly when its signature is that bug."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def recall():
    spec = importlib.util.spec_from_file_location("bench_recall", ROOT / "bench" / "recall.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_bug_matches_its_own_check_on_its_last_buggy_release_and_not_after(recall):
    """What each check expects on last_buggy is, by definition, a sighting of the bug. A key the
    matcher cannot reach (a spelling bug keyed by its spelling while bug keys name its family)
    made leaky-relu-inplace look missed by a campaign that had found it."""
    for bug in recall.load_bugs():
        check = bug.get("check")
        if not check:
            continue
        assert recall.matches(bug, check["expect"][bug["last_buggy"]]), bug["id"]
        fixed = check["expect"].get(bug["fixed_in"], "pass")
        assert fixed == "pass" or not recall.matches(bug, fixed), bug["id"]


def test_a_spelling_bug_is_matched_by_its_spelling_not_by_its_family(recall):
    bug = next(b for b in recall.load_bugs() if b["id"] == "leaky-relu-inplace")
    assert recall.matches(bug, "tosa-int/lower/spelling-not-delegated@leaky_relu(leaky_relu_)")
    assert not recall.matches(bug, "tosa-int/lower/spelling-not-delegated@elu(elu_)")
