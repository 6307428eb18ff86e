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

    python bench/recall.py run --minutes 10 --seeds 0 1 2 [--bugs id,...] [--commit SHA]

runs campaigns and measures recall: for every (last_buggy release, check target) the bugs
share, one campaign per seed on that release and target alone, stopped when all of its bugs
were seen or the budget ran out; a bug is rediscovered at the first result that
:func:`matches` it, and its time is counted from the campaign's creation (the workers'
start-up included, as a user waits for it). ``--commit`` runs another armfuzz (a detached
worktree of that commit: the 16-op registry is 298583d) on the same bugs, for the
comparison at equal time. Results go to ``bench/results/recall-<label>.jsonl``, one line per
(bug, seed), and the table prints per bug the seeds that found it and the minutes.

    python bench/recall.py rescore --keep DIR --label LABEL [--bugs id,...]

matches the campaigns a ``run --keep DIR`` kept again, with the matching of this checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fuzz.execution.pool import ReleasePool
from fuzz.generate.case import Case
from fuzz.judge.outcome import Outcome
from fuzz.judge.signature import CULPRIT_LABEL
from fuzz.triage.bugs import bug_key, bug_variant
from fuzz.triage.families import spelling_variant

ROOT = Path(__file__).resolve().parent.parent
BUGS_JSON = ROOT / "bench" / "recall" / "bugs.json"


def load_bugs(path: Path = BUGS_JSON) -> list[dict[str, Any]]:
    """The kept bugs of the benchmark, in file order."""
    return json.loads(path.read_text())["bugs"]


def matches(bug: dict[str, Any], signature: str) -> bool:
    """Whether a result's signature is this bug: its bug key is the bug's key, where a numerics
    key is compared by symptom and culprit op without the culprit's context.

    The context in parentheses (``alone``, ``after-conv2d``, ``unlocalized`` for a lone node)
    says where the culprit sat in the graph that showed it; a check's case is a lone op, a
    campaign's is not, and the same wrong table of a sigmoid is the same bug in either. The
    campaign runner counts a bug as rediscovered at the first result for which this holds.
    Keys do not name a release: where two bugs share one (``collisions``), a runner should
    count only the bugs whose ``last_buggy`` it is running."""
    if not signature:
        return False
    want = bug["check"]["key"]
    if spelling_variant(want):
        # A spelling bug is one spelling of a family (fuzz.triage.families): the campaign's
        # family key would match every in-place or alias spelling, so it is matched by its
        # spelling. (Matched by the family key, leaky_relu_ on 1.1.0 was counted missed while
        # the campaign had found it.)
        return bug_variant(signature) == spelling_variant(want)[0]
    key = bug_key(signature)
    return key is not None and _without_context(key) == _without_context(want)


def _without_context(key: str) -> str:
    """``compare/numerics-max-error@sigmoid(unlocalized)`` -> ``compare/numerics-max-error@sigmoid``."""
    m = CULPRIT_LABEL.match(key)
    return m["head"] + m["op"] if m else key


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
    bugs = _selected(args.bugs)
    if bugs is None:
        return 2
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


# -- campaigns: time to rediscover ----------------------------------------------------------

#: How often the runner reads a campaign's event log for sightings (seconds).
POLL = 5.0


def checkout_of(commit: str | None, keep: Path) -> Path:
    """This checkout, or a detached worktree of ``commit`` (the 16-op registry's, say)."""
    if commit is None:
        return ROOT
    tree = keep / f"checkout-{commit[:12]}"
    if not tree.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), commit], check=True,
                       capture_output=True)
    return tree


def campaign_command(checkout: Path) -> list[str]:
    """A checkout's CLI: ``fuzz.views.cli`` since the layering, ``fuzz.cli`` before it."""
    module = "fuzz.views.cli" if (checkout / "fuzz" / "views" / "cli").is_dir() else "fuzz.cli"
    return [sys.executable, "-m", module, "fuzz"]


def sightings(campaign: Path, bugs: list[dict[str, Any]]) -> dict[str, float]:
    """Bug id -> seconds from the campaign's creation to its first result that :func:`matches`
    the bug (matched by the bug's own check, not by a hand-written pattern)."""
    events, config = campaign / "events.jsonl", campaign / "campaign.json"
    if not events.exists() or not config.exists():
        return {}
    created = json.loads(config.read_text())["created"]
    found: dict[str, float] = {}
    for line in events.read_text().splitlines():
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            continue  # the line being written
        if ev.get("type") != "result":
            continue
        for bug in bugs:
            if bug["id"] not in found and matches(bug, ev.get("signature", "")):
                found[bug["id"]] = ev["t"] - created
    return found


def event_count(campaign: Path) -> int:
    """Lines of a campaign's event log (0 before it has one): the results column."""
    events = campaign / "events.jsonl"
    return sum(1 for _ in events.open()) if events.exists() else 0


def run_campaign(checkout: Path, release: str, target: str, bugs: list[dict[str, Any]], seed: int, minutes: float,
                 workers: int, keep: Path) -> tuple[dict[str, float], int]:
    """One campaign on ``release`` and ``target`` until every one of ``bugs`` was seen or the
    budget is spent; returns the sightings and the number of results."""
    camp = keep / f"{checkout.name}-{release}-{target}-seed{seed}"
    if camp.exists():
        shutil.rmtree(camp)
    cmd = [*campaign_command(checkout), "--release", release, "--seed", str(seed), "--budget", f"{minutes:g}m",
           "--targets", target, "--campaign", str(camp), "--workers", str(workers), "--no-reduce", "--json"]
    with open(keep / f"{camp.name}.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=checkout, env={**os.environ, "PYTHONPATH": str(checkout)}, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            while proc.poll() is None:
                time.sleep(POLL)
                if len(sightings(camp, bugs)) == len(bugs):
                    break  # all seen: the rest of the budget would measure nothing
        finally:
            if proc.poll() is None:
                proc.terminate()  # a campaign may be stopped at any instant; its workers die with it
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
    results = event_count(camp)
    return sightings(camp, bugs), results


def groups(bugs: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Bugs by (last_buggy release, check target): one campaign serves each group. Bugs the
    generator cannot draw are left out (they are counted as missed in the table)."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for bug in bugs:
        if bug.get("expressible", True) and bug.get("generator_draws", True):
            out[bug["last_buggy"], bug["check"]["target"]].append(bug)
    return dict(sorted(out.items(), key=lambda kv: (_release_order(kv[0][0]), kv[0][1])))


def cmd_run(args: argparse.Namespace) -> int:
    bugs = _selected(args.bugs)
    if bugs is None:
        return 2
    keep = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="armfuzz-recall-"))
    keep.mkdir(parents=True, exist_ok=True)
    checkout = checkout_of(args.commit, keep)
    label = args.label or (f"commit-{args.commit[:12]}" if args.commit else "head")
    out = ROOT / "bench" / "results" / f"recall-{label}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    found: dict[str, list[float | None]] = defaultdict(list)
    with out.open("a") as sink:
        for (release, target), members in groups(bugs).items():
            for seed in args.seeds:
                start = time.monotonic()
                seen, results = run_campaign(checkout, release, target, members, seed, args.minutes, args.workers, keep)
                print(f"# {release} {target} seed {seed}: {len(seen)}/{len(members)} bugs, {results} results, "
                      f"{time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)
                _record(sink, found, {"label": label, "commit": args.commit, "release": release, "target": target,
                                      "seed": seed, "budget_min": args.minutes, "results": results}, members, seen)
    print_recall(bugs, found, args.minutes, label)
    return 0


def cmd_rescore(args: argparse.Namespace) -> int:
    """Match the kept campaigns of an earlier ``run`` again, with today's matching (a bug key
    that now groups more, say): what ``run`` would have printed, without running anything. A
    campaign ``run`` stopped once its bugs were all seen can only show those sightings or
    earlier ones."""
    bugs = _selected(args.bugs)
    if bugs is None:
        return 2
    keep = Path(args.keep)
    out = ROOT / "bench" / "results" / f"recall-{args.label}.jsonl"
    found: dict[str, list[float | None]] = defaultdict(list)
    with out.open("a") as sink:
        for (release, target), members in groups(bugs).items():
            for camp in sorted(keep.glob(f"*-{release}-{target}-seed*")):
                seed = camp.name.rsplit("-seed", 1)[1]
                if not camp.is_dir() or not seed.isdigit():
                    continue
                results = event_count(camp)
                _record(sink, found, {"label": args.label, "commit": None, "release": release, "target": target,
                                      "seed": int(seed), "budget_min": args.minutes, "results": results,
                                      "rescored": str(camp)}, members, sightings(camp, members))
    print_recall(bugs, found, args.minutes, args.label)
    return 0


def _record(sink: Any, found: dict[str, list[float | None]], row: dict[str, Any], members: list[dict[str, Any]],
            seen: dict[str, float]) -> None:
    """One results line per bug of a campaign (``row`` says which), and its minutes in ``found``."""
    for bug in members:
        t = seen.get(bug["id"])
        found[bug["id"]].append(None if t is None else t / 60)
        sink.write(json.dumps({**row, "bug": bug["id"], "found": t is not None,
                               "minutes": None if t is None else round(t / 60, 2)}) + "\n")
        sink.flush()


def print_recall(bugs: list[dict[str, Any]], found: dict[str, list[float | None]], minutes: float, label: str) -> None:
    """Per bug: seeds that found it and the minutes of each; then rediscovered / total and the
    median minutes to first sight over the runs that found their bug."""
    w = max(len(b["id"]) for b in bugs)
    print(f"{'bug':<{w}}  {'release':<7}  {'target':<14}  found  minutes (per seed)")
    times = []
    for bug in bugs:
        runs = found.get(bug["id"], [])
        hits = [m for m in runs if m is not None]
        times += hits
        per_seed = " ".join("-" if m is None else f"{m:.1f}" for m in runs) or "not drawn by the generator"
        print(f"{bug['id']:<{w}}  {bug['last_buggy']:<7}  {bug['check']['target']:<14}  {len(hits)}/{len(runs)}    {per_seed}")
    rediscovered = sum(1 for b in bugs if any(m is not None for m in found.get(b["id"], [])))
    median = f"{statistics.median(times):.1f} min" if times else "-"
    print(f"\n{label}: {rediscovered}/{len(bugs)} bugs rediscovered within {minutes:g} min "
          f"({len(times)}/{sum(len(v) for v in found.values())} runs), median time to first sight {median}")


def _selected(ids: str) -> list[dict[str, Any]] | None:
    """The bugs named by ``--bugs`` (all when empty); None after a one-line error."""
    bugs = load_bugs()
    if not ids:
        return bugs
    wanted = ids.split(",")
    unknown = sorted(set(wanted) - {b["id"] for b in bugs})
    if unknown:
        print(f"unknown bug id(s): {', '.join(unknown)}; known: {', '.join(b['id'] for b in bugs)}", file=sys.stderr)
        return None
    return [b for b in bugs if b["id"] in wanted]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="reproduce every bug on its last buggy release and not on its fixed one")
    check.add_argument("--bugs", default="", help="comma-separated bug ids (default: all)")
    check.add_argument("--workers", type=int, default=1, help="workers per release pool")
    check.set_defaults(run=cmd_check)
    run = sub.add_parser("run", help="campaigns on each bug's last buggy release: rediscovered or not, minutes to first sight")
    run.add_argument("--bugs", default="", help="comma-separated bug ids (default: all)")
    run.add_argument("--minutes", type=float, default=10.0, help="budget of one campaign")
    run.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    run.add_argument("--workers", type=int, default=2)
    run.add_argument("--commit", default=None, help="run the armfuzz of this commit (e.g. 298583d, the 16-op registry)")
    run.add_argument("--label", default="", help="name of the results file (default: head or commit-<sha>)")
    run.add_argument("--keep", default="", help="directory for the campaigns and their logs (default: a temp dir)")
    run.set_defaults(run=cmd_run)
    rescore = sub.add_parser("rescore", help="match the kept campaigns of an earlier run again, with today's matching")
    rescore.add_argument("--keep", required=True, help="the --keep directory of that run")
    rescore.add_argument("--label", required=True, help="name of the results file")
    rescore.add_argument("--bugs", default="", help="comma-separated bug ids (default: all)")
    rescore.add_argument("--minutes", type=float, default=10.0, help="the run's budget, for the table's heading")
    rescore.set_defaults(run=cmd_rescore)
    args = ap.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
