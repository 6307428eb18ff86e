"""Shared fixtures. Pipeline tests run the real executorch Arm lowering; nothing is mocked."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from fuzz.generate.case import Case

ROOT = Path(__file__).resolve().parent.parent
SEED_CASE = ROOT / "corpus" / "seed-000-rewriteconv" / "case.json"


@pytest.fixture
def seed_case() -> Case:
    return Case.load(SEED_CASE)


def sub_case(case: Case, keep: list[str], outputs: list[str], inputs: list[str]) -> Case:
    """A copy of ``case`` restricted to some nodes, outputs and inputs."""
    c = copy.deepcopy(case)
    c.nodes = [n for n in c.nodes if n.id in keep]
    c.outputs = outputs
    c.inputs = [t for t in c.inputs if t.name in inputs]
    c.calibration["inputs"] = {k: v for k, v in c.calibration["inputs"].items() if k in inputs}
    c.validate()
    return c


@pytest.fixture
def no_known_bugs(tmp_path, monkeypatch):
    """An empty known-bugs file: every bug is new, so lists are ordered by tier alone (known
    bugs follow the new ones; fuzz.triage.known)."""
    path = tmp_path / "no-known-bugs.json"
    path.write_text('{"schema": 1, "bugs": {}}\n')
    monkeypatch.setenv("ARMFUZZ_KNOWN_BUGS", str(path))
    return path
