"""Campaign throughput and memory, measured in one run on the same generated cases.

    python bench/campaign.py --cases 30 --trials 2 --target tosa-int

Prints:
  (a) campaign with 1 worker vs a bare warm loop calling run_case in-process (goal >= 0.95x)
  (b) campaign with 2 workers vs 1 worker (goal >= 1.8x)
  (c) campaign with 2 workers vs one `armfuzz run` subprocess per case (goal >= 3x)
  (d) peak RSS of a forked case child (goal <= 1 GB)
Throughput is results per second over the whole run, worker start-up (the ~12 s import and
the warm-up lowering) included, and also with start-up excluded. (a) and (b) are repeated
``--trials`` times and the median ratio is printed; one lowering varies by up to +-30% from
run to run, so few cases and one trial resolve ~10% at best. Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from fuzz import quiet_backend
from fuzz.campaign import CampaignConfig, run_campaign
from fuzz.generator import generate


def bare_loop(seed: int, n: int, target: str) -> tuple[float, float]:
    """(wall incl. import, wall excl. import) of an in-process loop over the cases."""
    t0 = time.monotonic()
    import torch

    torch.set_num_threads(1)
    from fuzz import compat
    from fuzz.pipeline import run_case

    compat.arm()
    t_ready = time.monotonic()
    for i in range(n):
        run_case(generate(seed, i, target))
    end = time.monotonic()
    return end - t0, end - t_ready


def bare_loop_fresh(seed: int, n: int, target: str) -> tuple[float, float]:
    """bare_loop in a new interpreter, so every trial pays the import like a worker does."""
    import json

    proc = subprocess.run([sys.executable, __file__, "--bare", "--cases", str(n), "--seed", str(seed), "--target", target],
                          capture_output=True, text=True, check=True)
    return tuple(json.loads(proc.stdout.strip().splitlines()[-1]))


def campaign(seed: int, n: int, target: str, workers: int) -> tuple[float, float, float]:
    """(wall, wall after the first result minus one case, max child peak RSS in MB)."""
    with tempfile.TemporaryDirectory() as d:
        stamps: list[float] = []
        rss: list[float] = []
        t0 = time.monotonic()
        run_campaign(
            CampaignConfig(Path(d) / "c", seed, [target], cases=n, workers=workers),
            lambda ev, st: (stamps.append(time.monotonic()), rss.append(ev.get("peak_rss_mb") or 0.0)),
        )
        wall = time.monotonic() - t0
    # Start-up excluded: from the moment the first worker delivered its first result,
    # extrapolated back by one mean case time.
    steady = (stamps[-1] - stamps[0]) * n / max(1, n - 1) if len(stamps) > 1 else wall
    return wall, steady, max(rss)


def subprocess_per_case(seed: int, n: int, target: str) -> float:
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for i in range(n):
            p = Path(d) / f"{i}.json"
            generate(seed, i, target).save(p)
            paths.append(p)
        t0 = time.monotonic()
        for p in paths:
            subprocess.run([sys.executable, "-m", "fuzz.cli", "run", str(p), "--target", target], capture_output=True)
        return time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=12)
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--target", default="tosa-int")
    ap.add_argument("--trials", type=int, default=1)
    ap.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    quiet_backend()
    n, seed, target = args.cases, args.seed, args.target
    if args.bare:
        import json

        print(json.dumps(bare_loop(seed, n, target)))
        return

    ratios_a, ratios_a_steady, ratios_b, ratios_b_steady = [], [], [], []
    for trial in range(args.trials):
        c1_wall, c1_steady, rss1 = campaign(seed, n, target, 1)
        c2_wall, c2_steady, rss2 = campaign(seed, n, target, 2)
        bare_wall, bare_steady = bare_loop_fresh(seed, n, target)
        ratios_a.append(bare_wall / c1_wall)
        ratios_a_steady.append(bare_steady / c1_steady)
        ratios_b.append(c1_wall / c2_wall)
        ratios_b_steady.append(c1_steady / c2_steady)
        print(f"trial {trial + 1}: (a) {ratios_a[-1]:.2f}x (excl. start-up {ratios_a_steady[-1]:.2f}x), "
              f"(b) {ratios_b[-1]:.2f}x (excl. start-up {ratios_b_steady[-1]:.2f}x)", flush=True)
    sp_wall = subprocess_per_case(seed, n, target)

    def rate(wall: float) -> float:
        return n / wall

    print(f"{n} cases of seed {seed} on {target}; results/s (wall s) of the last trial")
    print(f"  bare warm loop     : {rate(bare_wall):.3f}/s ({bare_wall:.1f}s)   excl. import {rate(bare_steady):.3f}/s")
    print(f"  campaign 1 worker  : {rate(c1_wall):.3f}/s ({c1_wall:.1f}s)   excl. start-up {rate(c1_steady):.3f}/s")
    print(f"  campaign 2 workers : {rate(c2_wall):.3f}/s ({c2_wall:.1f}s)   excl. start-up {rate(c2_steady):.3f}/s")
    print(f"  subprocess per case: {rate(sp_wall):.3f}/s ({sp_wall:.1f}s)")
    print(f"(a) campaign(1) / bare loop      : median {median(ratios_a):.2f}x  (excl. start-up {median(ratios_a_steady):.2f}x; goal >= 0.95) over {args.trials} trial(s)")
    print(f"(b) campaign(2) / campaign(1)    : median {median(ratios_b):.2f}x  (excl. start-up {median(ratios_b_steady):.2f}x; goal >= 1.8)")
    print(f"(c) campaign(2) / subprocess/case: {sp_wall / c2_wall:.2f}x  (goal >= 3)")
    print(f"(d) peak RSS of a case child     : {max(rss1, rss2):.0f} MB  (goal <= 1024)")


if __name__ == "__main__":
    main()
