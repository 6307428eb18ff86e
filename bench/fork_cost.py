"""What a fork per case costs, and what the worker's GC settings buy back.

    python bench/fork_cost.py --mode fork --cases 16
    python bench/fork_cost.py --mode inproc --cases 16
    python bench/fork_cost.py --mode gc --cases 16

``fork`` runs each case in a child forked from a warm process set up exactly like a worker
(fuzz.execution.worker: warm-up lowering, frozen heap, the child's GC threshold); ``inproc`` runs the
cases in the warm process itself, like a bare loop, so later cases inherit the caches the
earlier ones filled. Run the two as separate commands and compare the printed sums; the
host's speed drifts by up to 20% over minutes, so for a fair pair run them at the same time,
one per core (``taskset -c 0 ... & taskset -c 1 ...``), then swap cores.

``gc`` is paired within one process: every case is forked four times from the same warm
parent (heap not frozen, frozen, frozen + the child threshold, frozen + GC off), in an order
that alternates per case, and the sums and the largest child peak RSS are printed per variant.
The child's GC threshold matters when two cases run at once (memory traffic is what two
workers share), so also run two at once, one per core, with different case ranges:
``taskset -c 0 python bench/fork_cost.py --mode gc & taskset -c 1 python bench/fork_cost.py
--mode gc --first 16``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import time

from fuzz.core.quiet import quiet_backend

#: variant -> the child's GC setting (the parent's heap is frozen in all but the first)
VARIANTS = {"not-frozen": None, "frozen": None, "frozen+threshold": "threshold", "frozen+gc-off": "off"}


def forked(case, child_gc: str | None = None) -> tuple[float, float, dict]:
    """(wall s, peak RSS MB, child rusage figures) of ``case`` run in a forked child."""
    from fuzz.execution.worker import CHILD_GC_THRESHOLD
    from fuzz.judge.pipeline import run_case

    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        if child_gc == "threshold":
            gc.set_threshold(CHILD_GC_THRESHOLD)
        elif child_gc == "off":
            gc.disable()
        run_case(case)
        os._exit(0)
    _, _, ru = os.wait4(pid, 0)
    return time.monotonic() - t0, ru.ru_maxrss / 1024, {"minflt": ru.ru_minflt, "user": ru.ru_utime, "sys": ru.ru_stime}


def in_process(case) -> tuple[float, dict]:
    from fuzz.judge.pipeline import run_case

    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    run_case(case)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return time.monotonic() - t0, {"minflt": r1.ru_minflt - r0.ru_minflt, "user": r1.ru_utime - r0.ru_utime,
                                   "sys": r1.ru_stime - r0.ru_stime}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("fork", "inproc", "gc"), required=True)
    ap.add_argument("--cases", type=int, default=16)
    ap.add_argument("--first", type=int, default=0, help="index of the first generated case")
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--target", default="tosa-int")
    args = ap.parse_args()
    quiet_backend()
    import torch

    torch.set_num_threads(1)
    from fuzz.execution.worker import freeze_heap, warm_up
    from fuzz.generate.generator import generate
    from fuzz.judge import compat

    compat.arm()
    warm_up([args.target])
    cases = [generate(args.seed, args.first + i, args.target) for i in range(args.cases)]
    if args.mode == "gc":
        wall = {v: 0.0 for v in VARIANTS}
        rss = {v: 0.0 for v in VARIANTS}
        for i, case in enumerate(cases):
            for v in list(VARIANTS) if i % 2 == 0 else reversed(VARIANTS):
                if v == "not-frozen":
                    gc.unfreeze()
                    gc.collect()
                else:
                    freeze_heap()  # the worker's own call
                t, r, _ = forked(case, VARIANTS[v])
                wall[v] += t
                rss[v] = max(rss[v], r)
        print(json.dumps({"mode": "gc", "cases": args.cases, "sum_s": {v: round(t, 1) for v, t in wall.items()},
                          "peak_rss_mb": {v: round(r) for v, r in rss.items()}}))
        return
    if args.mode == "fork":
        freeze_heap()
    times, usage = [], []
    for case in cases:
        if args.mode == "fork":
            t, _, u = forked(case, "threshold")
        else:
            t, u = in_process(case)
        times.append(round(t, 2))
        usage.append(u)
    total = {k: round(sum(u[k] for u in usage), 1) for k in ("user", "sys", "minflt")}
    print(json.dumps({"mode": args.mode, "per_case_s": times, "sum_s": round(sum(times), 1), **total}))


if __name__ == "__main__":
    main()
