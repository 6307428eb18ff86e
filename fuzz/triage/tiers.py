"""Severity tiers: what a maintainer reads first.

Every bug is in one of three tiers, most severe first:

* ``crash``: the program is never made or is unusable: a lowering crash, invalid TOSA, a
  tool's failure (vela, model-converter), an invalid program (an integer leaving a delegate
  into a CPU op), an execute error, a native crash, a timeout or an out-of-memory;
* ``numerics``: the program runs and computes wrong numbers;
* ``delegation``: the program is right but slower than it should be: an op left on the CPU
  or in float (``partially-delegated``, ``spelling-not-delegated``). Performance, not
  correctness.

The tier is read from the bug's key (fuzz.triage.bugs.bug_key): the key keeps the verdict's
shape, so an old ``bugs.json`` without a ``tier`` field gets the same tier.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Iterable

#: Most severe first: the order bug lists are sorted in.
TIERS = ("crash", "numerics", "delegation")

#: Each failing verdict (fuzz.judge.outcome.FAILURES) and its tier.
TIER_OF_STATUS = {
    "crash": "crash",
    "invalid-tosa": "crash",
    "invalid-program": "crash",
    "timeout": "crash",
    "oom": "crash",
    "native-crash": "crash",
    "numerics": "numerics",
    "partially-delegated": "delegation",
    "spelling-not-delegated": "delegation",
}

#: The verdict a key was made from (its shapes are fuzz.judge.pipeline's and
#: fuzz.judge.delegation's signatures without the target); anything else is a crash: an
#: exception's ``Exc@where: message``, with its stage when a tool raised it.
_STATUS_OF_KEY = (
    (re.compile(r"^compare/numerics-"), "numerics"),
    (re.compile(r"^lower/spelling-not-delegated\b"), "spelling-not-delegated"),
    (re.compile(r"^lower/partially-delegated@"), "partially-delegated"),
    (re.compile(r"^(invalid-tosa@|InvalidTosa@reference-model: )"), "invalid-tosa"),
    (re.compile(r"^[\w-]+/invalid-program: "), "invalid-program"),
    (re.compile(r"^timeout@"), "timeout"),
    (re.compile(r"^oom@"), "oom"),
    (re.compile(r"^native-crash/"), "native-crash"),
)


def status_of(key: str) -> str:
    """The verdict behind a bug key."""
    return next((status for pattern, status in _STATUS_OF_KEY if pattern.match(key)), "crash")


def tier(key: str) -> str:
    return TIER_OF_STATUS[status_of(key)]


def tier_of(row: dict[str, Any]) -> str:
    """A ``bugs.json`` row's tier; rows written before tiers existed get it from their key."""
    return row.get("tier") or tier(row["key"])


def by_tier(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bug rows, most severe tier first; within a tier in their given order (first seen first)."""
    return sorted(rows, key=lambda r: TIERS.index(tier_of(r)))


def tier_counts(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Bugs per tier, every tier named (0 when none), most severe first."""
    counts = Counter(tier_of(r) for r in rows)
    return {t: counts.get(t, 0) for t in TIERS}


def tier_line(rows: Iterable[dict[str, Any]]) -> str:
    """``3 crash, 2 numerics, 1 delegation``: the counts as one line for tables and titles."""
    return ", ".join(f"{n} {t}" for t, n in tier_counts(rows).items())
