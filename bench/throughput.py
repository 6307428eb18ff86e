"""Throughput, old engine against new, at equal wall time (issue 23).

    python bench/throughput.py [--base 3265723] [--minutes 10] [--seed 202] [--out FILE]

Runs the armfuzz of ``--base`` (a detached worktree; 3265723 is the tree issue 23 measured at
0.25 results/s) and this checkout, each as its own campaign of the same seed, budget, targets
(all) and workers (2) on the installed executorch, and prints for each:

* results and results/s over the whole budget (start-up included, as a user waits for it);
* mean nodes per result and node-lowerings/s (a result of a bigger graph is more work);
* distinct bugs, by each engine's own ``bugs --json`` (its own grouping rules), per tier when
  the engine has tiers.

The two campaigns take turns: the budget is cut into ``--slices`` (default 4), each slice
resumes its engine's campaign, and the order flips every round (old, new, new, old, ...).
Run back to back instead, the host's drift decided the result: the first run of this script
ran the old engine for 10 minutes, then the new one, and the new one's 277 cases took 1.4x
longer in *every* stage than the same 277 cases (same case ids) had in an earlier campaign
of the same tree, export and compare included, which no armfuzz change touches. Each slice
pays a worker start-up (about 15 s), the same for both. Run it on an idle machine (the 2
cores are the budget); one lowering varies by up to +-30% (bench/campaign.py), so read
differences under ~10% as noise. The figures go to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recall import ROOT, campaign_command, checkout_of  # noqa: E402  (bench/recall.py: worktrees, CLIs)

#: The tree issue 23 measured (2026-11-26, 60-op registry): 449 results in 30 min, 0.25 results/s.
BASE = "3265723"


def run_slice(checkout: Path, camp: Path, seed: int, minutes: float, workers: int) -> float:
    """Run (or resume) ``checkout``'s campaign for ``minutes``; the wall seconds it took."""
    cmd = [*campaign_command(checkout), "--seed", str(seed), "--budget", f"{minutes:g}m", "--targets", "all",
           "--campaign", str(camp), "--workers", str(workers), "--no-reduce", "--json"]
    start = time.time()
    with open(camp.with_suffix(".log"), "a") as log:
        subprocess.run(cmd, cwd=checkout, env={**os.environ, "PYTHONPATH": str(checkout)}, stdout=log,
                       stderr=subprocess.STDOUT, check=False)
    return time.time() - start


def figures(checkout: Path, camp: Path, wall: float) -> dict[str, Any]:
    """A campaign's figures over ``wall`` seconds of running."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    events = [json.loads(line) for line in (camp / "events.jsonl").read_text().splitlines()] if (camp / "events.jsonl").exists() else []
    results = [e for e in events if e.get("type", "result") == "result"]
    nodes = sum(e.get("nodes", 0) or 0 for e in results)
    bugs = _bugs(checkout, camp, env)
    return {
        "commit": _commit(checkout),
        "wall_s": round(wall, 1),
        "results": len(results),
        "results_per_s": round(len(results) / wall, 3) if wall else 0.0,
        "mean_nodes": round(nodes / len(results), 2) if results else 0.0,
        "node_lowerings_per_s": round(nodes / wall, 3) if wall else 0.0,
        "bugs": len(bugs),
        "bugs_by_tier": dict(Counter(b.get("tier", "?") for b in bugs)),
        "statuses": dict(Counter(e.get("status") for e in results)),
    }


def _bugs(checkout: Path, camp: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    """The campaign's bugs as its own engine groups them (``bugs --json``)."""
    cmd = [*campaign_command(checkout)[:-1], "bugs", str(camp), "--json"]
    out = subprocess.run(cmd, cwd=checkout, env=env, capture_output=True, text=True, check=False)
    try:
        data = json.loads(out.stdout)
    except json.JSONDecodeError:
        sys.exit(f"{checkout}: 'bugs --json' printed no JSON ({out.stderr.strip()[-300:]}); fix: run it by hand on {camp}")
    return data["bugs"] if isinstance(data, dict) else data


def _commit(checkout: Path) -> str:
    return subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default=BASE, help="the old engine's commit")
    ap.add_argument("--minutes", type=float, default=10.0, help="budget of each campaign")
    ap.add_argument("--seed", type=int, default=202)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--slices", type=int, default=4, help="turns each engine takes (drift cancels between them)")
    ap.add_argument("--keep", default=None, help="where the campaigns and worktree go (default: a temp dir)")
    ap.add_argument("--out", default=None, help="write the figures here as JSON")
    args = ap.parse_args()
    keep = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="armfuzz-throughput-"))
    keep.mkdir(parents=True, exist_ok=True)
    engines = {"old": checkout_of(args.base, keep), "new": ROOT}
    camps = {name: keep / f"campaign-{name}" for name in engines}
    for camp in camps.values():
        if camp.exists():
            shutil.rmtree(camp)
    wall = {name: 0.0 for name in engines}
    for i in range(args.slices):
        order = list(engines) if i % 2 == 0 else list(engines)[::-1]
        for name in order:
            print(f"# slice {i + 1}/{args.slices}, {name}: {engines[name]} ({args.minutes / args.slices:g} min, seed {args.seed}, "
                  f"all targets, {args.workers} workers)", flush=True)
            wall[name] += run_slice(engines[name], camps[name], args.seed, args.minutes / args.slices, args.workers)
    rows = {name: figures(engines[name], camps[name], wall[name]) for name in engines}
    print(f"{'engine':6} {'commit':9} {'results':>7} {'results/s':>9} {'mean nodes':>10} {'node-lowerings/s':>16} {'bugs':>5}  by tier")
    for name, r in rows.items():
        print(f"{name:6} {r['commit']:9} {r['results']:7d} {r['results_per_s']:9.3f} {r['mean_nodes']:10.2f} "
              f"{r['node_lowerings_per_s']:16.3f} {r['bugs']:5d}  {r['bugs_by_tier']}")
    if rows["old"]["results_per_s"]:
        print(f"new/old: {rows['new']['results_per_s'] / rows['old']['results_per_s']:.2f}x results/s, "
              f"{rows['new']['node_lowerings_per_s'] / max(rows['old']['node_lowerings_per_s'], 1e-9):.2f}x node-lowerings/s "
              f"(goal 4x results/s, >= 1.0 results/s)")
    if args.out:
        Path(args.out).write_text(json.dumps({"minutes": args.minutes, "seed": args.seed, "workers": args.workers, "slices": args.slices,
                                              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), **rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
