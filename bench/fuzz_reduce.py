"""The campaign's fuzz : reduce time ratio, with reduction once per bug.

    python bench/fuzz_reduce.py --seed 202 --budget 30m [--targets all] [--workers 2]
                                [--reduce-evals 60] [--reduce-seconds 600] [--campaign DIR]

Runs (or resumes) a campaign for the budget with auto-reduction off, then reduces every bug
as ``armfuzz fuzz`` does afterwards (representative on its cheapest target, verified repro,
report) and prints: results, buckets, bugs, fuzz seconds, reduce seconds per bug and in all,
the ratio, and how many repros verified. For comparison it prints what reducing every
bucket would cost at this run's mean seconds per reduction: an estimate, labelled as one
(running it would take hours on two cores).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from fuzz.campaign import CampaignConfig, list_bugs, parse_budget, run_campaign
from fuzz.core.targets import parse_targets
from reducer.shrink import Budget
from reducer.workflow import reduce_pending_bugs

#: What reducing a bug writes into its directory (reducer.workflow.process_bucket).
_REDUCTION_PRODUCTS = ("reduction.json", "reduced.case.json", "reduced.outcome.json", "repro.py", "verification.json",
                       "report.md")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=202)
    ap.add_argument("--budget", default="30m")
    ap.add_argument("--targets", default="all")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--reduce-evals", type=int, default=60)
    ap.add_argument("--reduce-seconds", type=float, default=600.0)
    ap.add_argument("--campaign", type=Path, default=None)
    ap.add_argument("--reduce-only", action="store_true",
                    help="measure reduction again on a finished campaign: its bugs' reduction products are removed "
                         "first, and the fuzzing time is the one the campaign recorded (stats.json elapsed_session)")
    args = ap.parse_args()
    root = args.campaign or Path("campaigns") / f"bench-fuzz-reduce-{args.seed}"
    if args.reduce_only:
        stats = json.loads((root / "stats.json").read_text())
        fuzz_s, results, buckets = stats["elapsed_session"], stats["results"], stats["buckets"]
        for bug in (root / "bugs").iterdir():
            for name in _REDUCTION_PRODUCTS:
                (bug / name).unlink(missing_ok=True)
    else:
        cfg = CampaignConfig(root, args.seed, parse_targets(args.targets), budget=parse_budget(args.budget), workers=args.workers)
        t0 = time.monotonic()
        state = run_campaign(cfg)
        fuzz_s, results, buckets = time.monotonic() - t0, len(state.done), len(state.buckets)
    bugs = list_bugs(root)
    print(f"campaign {root}: {results} results, {buckets} buckets, {len(bugs)} bugs in {fuzz_s:.0f}s of fuzzing")

    t1 = time.monotonic()
    lines = []
    for line in reduce_pending_bugs(root, args.workers, Budget(args.reduce_evals, args.reduce_seconds)):
        lines.append(line)
        status = line["error"] or f"{line['nodes_before']} -> {line['nodes_after']} nodes, {'verified' if line['verified'] else 'NOT verified'}"
        print(f"  bug {line['bug']}: {line['seconds']:.0f}s, {status}", flush=True)
    reduce_s = time.monotonic() - t1
    verified = sum(1 for x in lines if x["verified"])
    print(f"\nreduced {len(lines)} bugs in {reduce_s:.0f}s; {verified}/{len(lines)} repros verified")
    print(f"fuzz : reduce = {fuzz_s:.0f}s : {reduce_s:.0f}s = 1 : {reduce_s / fuzz_s:.2f}")
    if lines:
        mean = reduce_s / len(lines)
        print(f"per-bucket estimate: {buckets} buckets x {mean:.0f}s mean = {buckets * mean:.0f}s "
              f"(1 : {buckets * mean / fuzz_s:.2f}), an estimate from this run's mean, not a measurement")


if __name__ == "__main__":
    main()
