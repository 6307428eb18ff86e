"""What a fork per case costs: the same cases, each in a forked child vs in the warm process.

    python bench/fork_cost.py --mode fork --cases 10
    python bench/fork_cost.py --mode inproc --cases 10
    python bench/fork_cost.py --mode fork --cases 10 --extra-warmup 4

Run the modes as separate commands (each a fresh interpreter with the worker's warm-up) and
compare the printed sums. In ``inproc`` every case also inherits the caches the earlier cases
filled; a forked child throws its caches away. ``--extra-warmup`` lowers that many other
generated cases before forking, to see whether a broader warm-up buys the difference back.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from fuzz import quiet_backend


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("fork", "inproc"), required=True)
    ap.add_argument("--cases", type=int, default=10)
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--target", default="tosa-int")
    ap.add_argument("--extra-warmup", type=int, default=0)
    args = ap.parse_args()
    quiet_backend()
    import torch

    torch.set_num_threads(1)
    from fuzz import compat
    from fuzz.generator import generate
    from fuzz.pipeline import run_case
    from fuzz.worker import warm_up

    compat.arm()
    warm_up([args.target])
    for i in range(args.extra_warmup):
        run_case(generate(0, i, args.target))
    times = []
    for i in range(args.cases):
        case = generate(args.seed, i, args.target)
        t0 = time.monotonic()
        if args.mode == "fork":
            pid = os.fork()
            if pid == 0:
                run_case(case)
                os._exit(0)
            os.waitpid(pid, 0)
        else:
            run_case(case)
        times.append(round(time.monotonic() - t0, 2))
    print(json.dumps({"mode": args.mode, "extra_warmup": args.extra_warmup, "per_case_s": times, "sum_s": round(sum(times), 1)}))


if __name__ == "__main__":
    main()
