"""The historical-bug benchmark: known executorch Arm-backend bugs, and a check for each.

A campaign's bug count mixes real bugs, families of one bug and noise, so it cannot say
whether a change to armfuzz raised or lowered its recall. Magma and FuzzBench measure a
fuzzer the other way round: take bugs that are known to exist in a given version, and
measure whether (and how fast) the fuzzer rediscovers them. This module holds that ground
truth for armfuzz.

``bench/recall/bugs.json`` lists Arm-backend bugs fixed in executorch between 1.1.0 and
1.5.1, each with its fixing commit, the release that first contains the fix (``fixed_in``)
and the one before it (``last_buggy``), and a check: a case in armfuzz's own format
(``bench/recall/cases/<id>.case.json``, so the generator can in principle make it) and the
verdict expected on both releases. The bug's identity is the bug key
(``fuzz.triage.bugs.bug_key``) of its signature on ``last_buggy``; a campaign rediscovers the
bug when one of its results has that key (:func:`matches`). Candidates that could not be
reproduced, or that armfuzz cannot express, are listed under ``rejected`` with the reason.

    python bench/recall.py check [--bugs id,...] [--workers 1]

runs every bug's case on its ``last_buggy`` and ``fixed_in`` releases (one warm pool per
release, all of that release's cases in it), prints bug, release, expected, observed and
whether they agree, and exits non-zero if any check fails: the buggy release must show the
bug's key, and the fixed one must show the verdict recorded for it, which never has that key.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fuzz.execution.pool import ReleasePool
from fuzz.generate.case import Case
from fuzz.judge.outcome import Outcome
from fuzz.triage.bugs import bug_key

ROOT = Path(__file__).resolve().parent.parent
BUGS_JSON = ROOT / "bench" / "recall" / "bugs.json"


def load_bugs(path: Path = BUGS_JSON) -> list[dict[str, Any]]:
    """The kept bugs of the benchmark, in file order."""
    return json.loads(path.read_text())["bugs"]


def matches(bug: dict[str, Any], signature: str) -> bool:
    """Whether a result's signature is this bug: its bug key is the bug's key.

    The campaign runner counts a bug as rediscovered at the first result for which this holds.
    Keys do not name a release: where two bugs share one (``collisions``), a runner should
    count only the bugs whose ``last_buggy`` it is running."""
    return bool(signature) and bug_key(signature) == bug["check"]["key"]


def verdict(outcome: Outcome) -> str:
    """What a check records for an outcome: its signature, or its status when it has none
    (``pass``, ``not-delegated``)."""
    return outcome.signature or outcome.status


def agrees(expected: str, observed: str) -> bool:
    """The same verdict up to the bug key (which drops what varies between runs and
    targets); verdicts without a signature compare as they are."""
    key = bug_key(expected)
    return observed == expected if key is None else bug_key(observed) == key


def collisions(bugs: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Bug keys that more than one bug has: a result with such a key matches all of them."""
    by_key: dict[str, list[str]] = defaultdict(list)
    for bug in bugs:
        by_key[bug["check"]["key"]].append(bug["id"])
    return {k: ids for k, ids in by_key.items() if len(ids) > 1}


@dataclass
class Row:
    bug: str
    release: str
    expected: str
    observed: str
    ok: bool


def check_rows(bugs: list[dict[str, Any]], workers: int) -> list[Row]:
    """Run every bug's case on its buggy and its fixed release; one pool per release."""
    jobs: dict[str, list[tuple[dict[str, Any], Case]]] = defaultdict(list)
    for bug in bugs:
        chk = bug["check"]
        case = Case.load(ROOT / chk["case"]).with_target(chk["target"])
        for release in (bug["last_buggy"], bug["fixed_in"]):
            jobs[release].append((bug, case))
    observed: dict[tuple[str, str], str] = {}
    for release in sorted(jobs, key=_release_order):
        items = jobs[release]
        targets = sorted({case.target for _, case in items})
        start = time.monotonic()
        with ReleasePool(release, workers, targets) as pool:
            outcomes = pool.evaluate([case for _, case in items])
        print(f"# executorch {release}: {len(items)} case(s) in {time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)
        for (bug, _), outcome in zip(items, outcomes):
            observed[bug["id"], release] = verdict(outcome)
    rows = []
    for bug in bugs:
        expect = bug["check"]["expect"]
        for release in (bug["last_buggy"], bug["fixed_in"]):
            got = observed[bug["id"], release]
            ok = agrees(expect[release], got)
            if release == bug["fixed_in"]:
                ok = ok and not matches(bug, got)
            rows.append(Row(bug["id"], release, expect[release], got, ok))
    return rows


def _release_order(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def _short(verdict_text: str, width: int = 60) -> str:
    """A verdict as the table shows it: its bug key (target-free), cut to width."""
    text = bug_key(verdict_text) or verdict_text
    return text if len(text) <= width else text[: width - 1] + "…"


def print_table(rows: list[Row]) -> None:
    w_bug = max(len(r.bug) for r in rows)
    print(f"{'bug':<{w_bug}}  {'release':<7}  {'expected':<60}  {'observed':<60}  ok")
    for r in rows:
        print(f"{r.bug:<{w_bug}}  {r.release:<7}  {_short(r.expected):<60}  {_short(r.observed):<60}  "
              f"{'yes' if r.ok else 'NO'}")


def cmd_check(args: argparse.Namespace) -> int:
    bugs = load_bugs()
    if args.bugs:
        wanted = args.bugs.split(",")
        unknown = sorted(set(wanted) - {b["id"] for b in bugs})
        if unknown:
            print(f"unknown bug id(s): {', '.join(unknown)}", file=sys.stderr)
            return 2
        bugs = [b for b in bugs if b["id"] in wanted]
    rows = check_rows(bugs, args.workers)
    print_table(rows)
    failed = sorted({r.bug for r in rows if not r.ok})
    print(f"\n{len(bugs) - len(failed)}/{len(bugs)} bugs check out "
          f"({sum(r.ok for r in rows)}/{len(rows)} release checks)")
    for key, ids in collisions(bugs).items():
        print(f"shared key ({', '.join(ids)}): {key}")
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="reproduce every bug on its last buggy release and not on its fixed one")
    check.add_argument("--bugs", default="", help="comma-separated bug ids (default: all)")
    check.add_argument("--workers", type=int, default=1, help="workers per release pool")
    check.set_defaults(run=cmd_check)
    args = ap.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
