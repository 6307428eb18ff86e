"""Statements of executorch/backends/arm a campaign reaches, per engine, and what measuring costs.

(Not named coverage.py: as the script run, its directory comes first on sys.path and it would
shadow coverage.py itself, which fuzz.execution.backend_coverage imports.)

    python bench/coverage_growth.py --engines random guided --minutes 10 20 30 --seeds 0 1 2 --targets all --workers 2

For each (engine, seed, minutes): one campaign with ``--coverage`` (statements and branches
reached, fuzz.execution.backend_coverage) and, with ``--cost``, the same campaign without it, for the
cost of coverage.py's tracer in results per second (the guided engine's own instrumentation,
fuzz.execution.edges, is on in both of its runs: bench/edges_cost.py measures it). A campaign resumes
where the last one stopped, so the 20- and 30-minute points continue the 10-minute one (one
30-minute run gives all three). Prints one row per point and a JSON line per point (for the
README and notes). Run it on an idle machine: the two cores are the campaign's.

    python bench/coverage_growth.py --summarize run-seed0.log run-seed12.log

reads those JSON lines back (runs of separate sessions, one seed each) and prints, per engine
and point, the mean over seeds with the lowest and highest: the README's table.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from fuzz.campaign import CampaignConfig, run_campaign
from fuzz.core.targets import TARGETS
from fuzz.execution.backend_coverage import CampaignCoverage


def campaign(root: Path, seed: int, targets: list[str], workers: int, seconds: float, coverage: bool, engine: str) -> dict:
    before = json.loads((root / "stats.json").read_text())["results"] if (root / "stats.json").exists() else 0
    state = run_campaign(CampaignConfig(root, seed, targets, budget=seconds, workers=workers, coverage=coverage, engine=engine))
    stats = json.loads((root / "stats.json").read_text())
    # this session's results over this session's time (start-up included, as a user sees it)
    out = {"results": len(state.done), "bugs": len(state.bugs()), "buckets": len(state.buckets),
           "rate": round((stats["results"] - before) / max(1.0, stats["elapsed_session"]), 3)}
    if coverage:
        totals = CampaignCoverage(root).report()["totals"]["total"]
        out.update(statements=totals["covered"], of=totals["statements"], branches=totals["covered_branches"])
    return out


def summarize(logs: list[Path]) -> None:
    """Mean, lowest and highest over seeds per (engine, minutes); a seed run twice counts once
    (its last line), so a rerun after a change replaces the old figure instead of averaging it in."""
    rows: dict[tuple, dict] = {}
    for log in logs:
        for line in log.read_text().splitlines():
            if line.startswith("{"):
                row = json.loads(line)
                rows[(row["engine"], row["minutes"], row["seed"])] = row
    points_of: dict[tuple, list[dict]] = {}
    for (engine, minutes, _), row in sorted(rows.items()):
        points_of.setdefault((engine, minutes), []).append(row)
    for (engine, minutes), points in points_of.items():
        parts = []
        for key in ("statements", "bugs", "results"):
            values = [r[key] for r in points]
            parts.append(f"{key} {sum(values) / len(values):,.0f} ({min(values):,}-{max(values):,})")
        seeds = ",".join(str(r["seed"]) for r in points)
        print(f"{engine:6s} {minutes:4.0f} min, seeds {seeds}: " + ", ".join(parts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, nargs="+", default=[10.0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--targets", default="all")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--engines", nargs="+", default=["random"], choices=["random", "guided"])
    ap.add_argument("--cost", action="store_true", help="also run each point without coverage (results/s cost)")
    ap.add_argument("--keep", type=Path, help="keep the campaigns under this directory (default: a temporary one)")
    ap.add_argument("--summarize", type=Path, nargs="+", metavar="LOG",
                    help="print the mean over seeds of these runs' JSON lines, run nothing")
    args = ap.parse_args()
    if args.summarize:
        return summarize(args.summarize)
    targets = list(TARGETS) if args.targets == "all" else args.targets.split(",")
    with tempfile.TemporaryDirectory(prefix="armfuzz-covbench-") as tmp:
        where = args.keep or Path(tmp)
        for engine, seed in ((e, s) for s in args.seeds for e in args.engines):
            done = 0.0
            for minutes in sorted(args.minutes):
                step = minutes * 60 - done
                done = minutes * 60
                row = {"engine": engine, "seed": seed, "minutes": minutes,
                       **campaign(where / f"{engine}-cov-{seed}", seed, targets, args.workers, step, True, engine)}
                if args.cost:
                    plain = campaign(where / f"{engine}-plain-{seed}", seed, targets, args.workers, step, False, engine)
                    row.update(plain_results=plain["results"], plain_rate=plain["rate"],
                               cost=round(plain["rate"] / row["rate"], 2) if row["rate"] else None)
                print(f"{engine:6s} seed {seed} {minutes:4.0f} min: {row['statements']}/{row['of']} statements, "
                      f"{row['branches']} branches, {row['results']} results ({row['rate']}/s), {row['bugs']} bugs"
                      + (f"; without coverage {row['plain_results']} results ({row['plain_rate']}/s), cost {row['cost']}x"
                         if args.cost else ""), flush=True)
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
