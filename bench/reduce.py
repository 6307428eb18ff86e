"""Reduction figures: lowerings, seconds and nodes before/after, on real executorch bugs.

    python bench/reduce.py [--workers 2] [--max-evals 400]

Scenarios (each runs only where its release is runnable, see ``armfuzz env list``):

* ``seed-grown@1.2.0``: tests/data/seed-grown.case.json, the seed 000 pattern (conv -> relu ->
  cat with a shifted sibling, act_qmin -127) inside a 12-node graph; RewriteConvPass crash.
* ``clamp-grown@installed``: a 7-node graph around clamp(min > max); ExirToTosaPass crash on 1.5.1.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fuzz.core.errors import CaseError
from fuzz.core.quiet import quiet_backend
from fuzz.execution import envs
from fuzz.execution.pool import ReleasePool
from fuzz.generate.case import Case, Node, TensorSpec
from fuzz.replay.corpus import observed
from reducer.shrink import Budget, Reducer

ROOT = Path(__file__).resolve().parent.parent


def clamp_grown() -> Case:
    conv = {"out_channels": 4, "kernel_size": 3, "stride": 1, "padding": 1, "dilation": 1, "groups": 1, "bias": True,
            "padding_mode": "zeros"}
    return Case(
        inputs=[TensorSpec("x", [1, 4, 8, 8]), TensorSpec("y", [1, 4, 8, 8])],
        nodes=[Node("conv1", "conv2d", ["x"], conv, "module"), Node("act", "relu", ["conv1"], {}, "functional"),
               Node("side", "sigmoid", ["y"], {}, "torch"), Node("merged", "cat", ["act", "side"], {"dim": 1}, "torch"),
               Node("bad", "clamp", ["merged"], {"min": 0.5, "max": 0.25}, "torch"), Node("conv2", "conv2d", ["bad"], conv, "module"),
               Node("out", "add", ["conv2", "conv1"], {}, "operator")],
        outputs=["out"], target="tosa-int")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-evals", type=int, default=400)
    args = ap.parse_args()
    quiet_backend()
    scenarios = [("seed-grown", "1.2.0", Case.load(ROOT / "tests" / "data" / "seed-grown.case.json")),
                 ("clamp-grown", envs.installed_version(), clamp_grown())]
    rows = []
    for name, release, case in scenarios:
        try:
            envs.python_for(release)
        except CaseError as e:
            print(f"{name}@{release}: skipped ({e})")
            continue
        with ReleasePool(release, args.workers, sorted({case.target})) as s:
            signature = observed(s.evaluate([case])[0])
            r = Reducer(s.evaluate, width=args.workers, budget=Budget(args.max_evals, 3600), allow_target_change=False).run(case, signature)
        row = {"scenario": f"{name}@{release}", **{k: v for k, v in r.summary().items() if k != "steps"}}
        rows.append(row)
        print(f"{row['scenario']}: {row['nodes_before']} -> {row['nodes_after']} nodes ({' '.join(row['ops_after'])}), "
              f"{row['evaluations']} lowerings ({row['cache_hits']} cache hits), {row['seconds']} s, "
              f"fixed point {row['fixed_point']}, confirmed {row['confirmed']}; {signature}")
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
