"""Campaign throughput and memory, measured in one run on the same generated cases.

    python bench/campaign.py --cases 24 --trials 4 --target tosa-int

Prints:
  (a) campaign with 1 worker vs a bare warm loop calling run_case in-process (goal >= 0.95x)
  (b) campaign with 2 workers vs 1 worker (goal >= 1.8x)
  (c) campaign with 2 workers vs one `armfuzz run` subprocess per case (goal >= 3x)
  (d) peak RSS of a forked case child (goal <= 1 GB)
Throughput is given two ways. "whole run" is results per second from the start, worker
start-up (the ~12 s import and the warm-up lowering) included. "saturated" is what an
hours-long campaign sees: results per second while every worker had work, i.e. between the
first result and the one that emptied the queue (result n - workers + 1); the bare loop gets
the same estimator with one "worker". It leaves out start-up and the tail where one worker
finishes the last case alone. (a) and (b) are repeated ``--trials`` times (odd trials run
the bare loop first) and the median ratio is printed; one lowering varies by up to +-30% and
the host's speed drifts over minutes, so few cases and one trial resolve ~10% at best. Run
it on an idle machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from fuzz.campaign import CampaignConfig, run_campaign
from fuzz.core.quiet import quiet_backend
from fuzz.generate.generator import generate


def saturated_rate(stamps: list[float], workers: int) -> float:
    """Results/s between the first result and the last one that found the queue non-empty.

    The last case is handed out when result n - workers arrives, so until result
    n - workers + 1 every worker is busy.
    """
    last = len(stamps) - workers
    if last < 1:
        raise SystemExit(f"--cases must be more than {workers} to measure a saturated rate")
    return last / (stamps[last] - stamps[0])


def bare_loop(seed: int, n: int, target: str) -> tuple[float, float]:
    """(whole-run wall, saturated rate) of an in-process loop over the cases, import included."""
    t0 = time.monotonic()
    import torch

    torch.set_num_threads(1)
    from fuzz.judge import compat
    from fuzz.judge.pipeline import run_case

    compat.arm()
    stamps = []
    for i in range(n):
        run_case(generate(seed, i, target))
        stamps.append(time.monotonic())
    return stamps[-1] - t0, saturated_rate(stamps, 1)


def bare_loop_fresh(seed: int, n: int, target: str) -> tuple[float, float]:
    """bare_loop in a new interpreter, so every trial pays the import like a worker does."""
    import json

    proc = subprocess.run([sys.executable, __file__, "--bare", "--cases", str(n), "--seed", str(seed), "--target", target],
                          capture_output=True, text=True, check=True)
    return tuple(json.loads(proc.stdout.strip().splitlines()[-1]))


def campaign(seed: int, n: int, target: str, workers: int) -> tuple[float, float, float]:
    """(whole-run wall, saturated rate, max child peak RSS in MB)."""
    with tempfile.TemporaryDirectory() as d:
        stamps: list[float] = []
        rss: list[float] = []
        t0 = time.monotonic()
        run_campaign(
            # steer=False: coverage steering would aim cases at regimes and so change them; the
            # bare loop and the subprocess baseline run generate(seed, i, target) unsteered.
            CampaignConfig(Path(d) / "c", seed, [target], cases=n, workers=workers, steer=False),
            lambda ev, st: (stamps.append(time.monotonic()), rss.append(ev.get("peak_rss_mb") or 0.0)),
        )
        wall = time.monotonic() - t0
    return wall, saturated_rate(stamps, workers), max(rss)


def subprocess_per_case(seed: int, n: int, target: str) -> float:
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for i in range(n):
            p = Path(d) / f"{i}.json"
            generate(seed, i, target).save(p)
            paths.append(p)
        t0 = time.monotonic()
        for p in paths:
            subprocess.run([sys.executable, "-m", "fuzz.views.cli", "run", str(p), "--target", target], capture_output=True)
        return time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=12)
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--target", default="tosa-int")
    ap.add_argument("--trials", type=int, default=1)
    ap.add_argument("--skip-subprocess", action="store_true", help="leave out (c), the slowest baseline")
    ap.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    quiet_backend()
    n, seed, target = args.cases, args.seed, args.target
    if args.bare:
        import json

        print(json.dumps(bare_loop(seed, n, target)))
        return

    ratios_a, ratios_a_sat, ratios_b, ratios_b_sat = [], [], [], []
    for trial in range(args.trials):
        # The host's speed drifts over minutes (the same 20 cases took 80 s and 98 s in two
        # runs), so odd trials run the bare loop first to spread that drift over both sides.
        if trial % 2:
            bare_wall, bare_sat = bare_loop_fresh(seed, n, target)
        c1_wall, c1_sat, rss1 = campaign(seed, n, target, 1)
        c2_wall, c2_sat, rss2 = campaign(seed, n, target, 2)
        if not trial % 2:
            bare_wall, bare_sat = bare_loop_fresh(seed, n, target)
        ratios_a.append(bare_wall / c1_wall)
        ratios_a_sat.append(c1_sat / bare_sat)
        ratios_b.append(c1_wall / c2_wall)
        ratios_b_sat.append(c2_sat / c1_sat)
        print(f"trial {trial + 1}: (a) {ratios_a[-1]:.2f}x (saturated {ratios_a_sat[-1]:.2f}x), "
              f"(b) {ratios_b[-1]:.2f}x (saturated {ratios_b_sat[-1]:.2f}x)", flush=True)

    def rate(wall: float) -> float:
        return n / wall

    print(f"{n} cases of seed {seed} on {target}; results/s (wall s) of the last trial")
    print(f"  bare warm loop     : whole run {rate(bare_wall):.3f}/s ({bare_wall:.1f}s)   saturated {bare_sat:.3f}/s")
    print(f"  campaign 1 worker  : whole run {rate(c1_wall):.3f}/s ({c1_wall:.1f}s)   saturated {c1_sat:.3f}/s")
    print(f"  campaign 2 workers : whole run {rate(c2_wall):.3f}/s ({c2_wall:.1f}s)   saturated {c2_sat:.3f}/s")
    print(f"(a) campaign(1) / bare loop      : median {median(ratios_a):.2f}x whole run, {median(ratios_a_sat):.2f}x saturated "
          f"over {args.trials} trial(s)  (goal >= 0.95)")
    print(f"(b) campaign(2) / campaign(1)    : median {median(ratios_b):.2f}x whole run, {median(ratios_b_sat):.2f}x saturated  "
          "(goal >= 1.8)")
    if not args.skip_subprocess:
        sp_wall = subprocess_per_case(seed, n, target)
        print(f"  subprocess per case: {rate(sp_wall):.3f}/s ({sp_wall:.1f}s)")
        print(f"(c) campaign(2) / subprocess/case: {sp_wall / c2_wall:.2f}x whole run  (goal >= 3)")
    print(f"(d) peak RSS of a case child     : {max(rss1, rss2):.0f} MB  (goal <= 1024)")


if __name__ == "__main__":
    main()
