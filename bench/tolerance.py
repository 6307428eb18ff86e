"""Evidence for the numerics tolerances in fuzz/judge/oracle.py.

Runs generated cases on the executing TOSA targets and prints, per case, the max and mean
error in output LSB, then the distribution. Re-run after changing the generator or
executorch, and update the comment on MAX_ERROR_LSB / BIAS_LSB with what it prints.

    python bench/tolerance.py --cases 40 --seed 11
"""

from __future__ import annotations

import argparse
from collections import Counter

from fuzz.core.quiet import quiet_backend
from fuzz.generate.generator import generate
from fuzz.judge.pipeline import run_case


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=40)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--targets", default="tosa-int,tosa-int-fp,tosa-int16")
    args = ap.parse_args()
    quiet_backend()
    max_hist: Counter = Counter()
    rows = []
    for i in range(args.cases):
        case = generate(args.seed, i, "tosa-int")
        ops = ",".join(n.op for n in case.nodes)
        for t in args.targets.split(","):
            o = run_case(case, t)
            for r in o.numerics:
                if not r.get("quantized"):
                    continue
                bucket = min(int(r["max_lsb"] + 0.5), 8)
                max_hist[(t, bucket)] += 1
                rows.append((t, i, r["output"], r["max_lsb"], r["mean_lsb"], r["elements"], r.get("symptom"), ops))
            if o.status not in ("pass", "numerics"):
                rows.append((t, i, "-", float("nan"), float("nan"), 0, o.status, ops))
    print(f"{'target':12s} {'case':>4s} {'output':14s} {'max':>6s} {'mean':>7s} {'n':>6s} {'symptom':14s} ops")
    for t, i, out, mx, mean, n, sym, ops in rows:
        print(f"{t:12s} {i:4d} {out:14s} {mx:6.2f} {mean:+7.3f} {n:6d} {str(sym):14s} {ops}")
    print("\nmax error (rounded LSB, 8 = 8 or more) per target:")
    for t in args.targets.split(","):
        print(f"  {t:12s}", "  ".join(f"{b}:{max_hist[(t, b)]}" for b in range(9)))


if __name__ == "__main__":
    main()
