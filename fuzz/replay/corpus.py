"""The corpus: known cases with their expected outcome per executorch release, replayed in CI.

Layout: ``corpus/<id>/case.json`` and ``corpus/<id>/expected.json`` (plus, once reduced, the
verified ``repro.py`` and ``report.md`` with the reduced case they render); expected.json maps an
executorch release to ``"pass"`` or the failure signature seen there, e.g.
``{"1.5.1": "tosa-int-fp/compare/numerics-max-error@conv2d"}``. Replay classifies every
entry like ClusterFuzz's fixed-testing: as expected, fixed (was failing, now passes),
regressed (was passing, now fails), changed (fails differently), errored (armfuzz's own
fault), or unrecorded (no expectation for this release yet).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fuzz.core.errors import CaseError
from fuzz.core.fsutil import atomic_write
from fuzz.generate.case import Case
from fuzz.judge.outcome import Outcome

#: Files a reduced bucket carries into its corpus entry (see reducer.workflow).
REDUCTION_PRODUCTS = ("reduced.case.json", "reduced.outcome.json", "reduction.json", "repro.py", "verification.json", "report.md")
#: Classifications that fail a replay (CI must notice them).
FAILING = ("regressed", "changed", "errored")
PASSING_STATUSES = ("pass", "not-delegated")


@dataclass
class Entry:
    id: str
    path: Path
    case: Case
    expected: dict[str, str]


def load_corpus(root: Path) -> list[Entry]:
    """Every entry under ``root``; a corrupt file is a one-line error naming it."""
    entries = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        case_file = d / "case.json"
        if not case_file.exists():
            continue
        case = Case.load(case_file)
        exp_file = d / "expected.json"
        expected: dict[str, str] = {}
        if exp_file.exists():
            try:
                expected = json.loads(exp_file.read_text())
            except json.JSONDecodeError as e:
                raise CaseError(f"{exp_file}: not valid JSON ({e.msg} at line {e.lineno}); fix it or delete it to re-record") from None
            if not isinstance(expected, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in expected.items()):
                raise CaseError(f"{exp_file}: must map executorch release -> 'pass' or a signature")
        entries.append(Entry(d.name, d, case, expected))
    return entries


def observed(outcome: Outcome) -> str:
    """What a run of a corpus case is recorded as: 'pass' or its signature."""
    return "pass" if outcome.status in PASSING_STATUSES else outcome.signature


def classify(expected: str | None, outcome: Outcome) -> str:
    if outcome.status == "harness-error":
        return "errored"
    got = observed(outcome)
    if expected is None:
        return "unrecorded"
    if got == expected:
        return "as-expected"
    if got == "pass":
        return "fixed"
    if expected == "pass":
        return "regressed"
    return "changed"


def record(entry: Entry, release: str, outcome: Outcome) -> None:
    """Write what this release does into the entry's expected.json (atomic)."""
    entry.expected[release] = observed(outcome)
    atomic_write(entry.path / "expected.json", json.dumps(dict(sorted(entry.expected.items())), indent=2) + "\n")


def add_from_bucket(bucket: Path, corpus: Path, release: str, outcome: dict[str, Any] | None = None) -> Path:
    """Promote a campaign bucket's smallest case into the corpus, keyed by its case id."""
    src = bucket / "smallest.case.json"
    if not src.exists():
        src = bucket / "first.case.json"
    if not src.exists():
        raise CaseError(f"{bucket}: no smallest.case.json or first.case.json; is this a campaign bucket directory?")
    case = Case.load(src)
    dest = corpus / case.case_id
    case.save(dest / "case.json")
    sig = (bucket / "signature.txt").read_text().strip() if (bucket / "signature.txt").exists() else None
    if sig:
        atomic_write(dest / "expected.json", json.dumps({release: sig}, indent=2) + "\n")
    for product in REDUCTION_PRODUCTS:  # what `armfuzz reduce` left in the bucket, if anything
        if (bucket / product).exists():
            atomic_write(dest / product, (bucket / product).read_text())
    return dest


def markdown_summary(rows: list[dict[str, Any]], release: str) -> str:
    lines = [f"# Corpus replay on executorch {release}", "", "| case | target | expected | observed | verdict |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['id']} | {r['target']} | `{r['expected']}` | `{r['observed']}` | **{r['verdict']}** |")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    lines += ["", ", ".join(f"{v}: {n}" for v, n in sorted(counts.items()))]
    return "\n".join(lines) + "\n"


def replay(entries: list[Entry], release: str, workers: int, timeout: float = 300.0) -> list[dict[str, Any]]:
    """Run every entry on warm workers of ``release`` (in parallel) and classify it."""
    from fuzz.execution.pool import ReleasePool, run_cases

    by_id = {e.id: e for e in entries}
    rows: dict[str, dict[str, Any]] = {}
    targets = sorted({e.case.target for e in entries})
    with ReleasePool(release, max(1, min(workers, len(entries))), targets, timeout) as pool:
        for key, o in run_cases(pool.pool, [(e.id, e.case) for e in entries], timeout):
            e = by_id[key]
            exp = e.expected.get(release)
            rows[e.id] = {"id": e.id, "target": e.case.target, "expected": exp, "observed": observed(o),
                          "verdict": classify(exp, o), "outcome": o}
    return [rows[e.id] for e in entries]
