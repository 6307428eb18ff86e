"""What numerics localisation costs, and what it changes in the verdicts.

    python bench/localize.py [--seed 202] [--cases 40] [--targets tosa-int,tosa-int-fp,tosa-int16] [--overhead 8]

1. Runs the generated cases on warm workers (fork per case, as a campaign does) and prints,
   per target, the numerics verdicts and the seconds the ``localize`` stage took for each
   (reference-model re-run with ``dump_intermediates``, text parse, two interpreted runs of
   the quantized model), beside the lowering and execution it follows.
2. Prints how the verdicts split: culprit named, span named, ``numerics-propagated`` (not a
   bug), or unlocalised, and how many output-keyed buckets became how many culprit-keyed
   ones; then every ill-conditioned node judged against its noise floor (local error, floor,
   error beyond it), and how many the floor excused.
3. With ``--overhead N``: the price every case pays for the debug locations the
   localisation needs (``DebugMode.TOSA``). N cases that passed are lowered in this process
   with and without it, alternating which goes first; the ``lower`` stage times are summed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter, defaultdict
from pathlib import Path
from tempfile import TemporaryDirectory

from fuzz.core.quiet import quiet_backend
from fuzz.core.targets import parse_targets
from fuzz.execution.pool import WorkerPool, run_cases
from fuzz.generate.generator import generate
from fuzz.judge import compat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=202)
    ap.add_argument("--cases", type=int, default=40)
    ap.add_argument("--targets", default="tosa-int,tosa-int-fp,tosa-int16")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--overhead", type=int, default=8, help="passing cases to lower with and without debug locations")
    args = ap.parse_args()
    targets = parse_targets(args.targets)
    items = [((i, t), generate(args.seed, i, t)) for i in range(args.cases) for t in targets]
    t0 = time.monotonic()
    outcomes = {}
    with TemporaryDirectory() as tmp:
        pool = WorkerPool(args.workers, Path(tmp) / "workers.log", targets)
        try:
            for key, o in run_cases(pool, [(f"{i}/{t}", c) for (i, t), c in items]):
                outcomes[key] = o
        finally:
            pool.close()
    print(f"{len(outcomes)} results in {time.monotonic() - t0:.0f}s (seed {args.seed}, {args.cases} cases, {', '.join(targets)})\n")

    per_target: dict[str, list] = defaultdict(list)
    for o in outcomes.values():
        if "localize" in o.timings:
            per_target[o.target].append(o)
    print("target        numerics verdicts  localize s (median / max)  lower s (median)  execute s (median)")
    for t in targets:
        rows = per_target.get(t, [])
        if not rows:
            print(f"{t:13} {0:17}")
            continue
        loc = [o.timings["localize"] for o in rows]
        print(f"{t:13} {len(rows):17}  {statistics.median(loc):10.3f} / {max(loc):6.3f}        "
              f"{statistics.median(o.timings.get('lower', 0) for o in rows):10.2f}  "
              f"{statistics.median(o.timings.get('execute', 0) for o in rows):14.3f}")

    by_id = {c.case_id: c for _, c in items}
    kinds = Counter()
    floors = []  # (target, op, local max, noise floor max, beyond the floor, verdict) per ill-conditioned node
    before, after = set(), set()
    for o in outcomes.values():
        if "localize" not in o.timings:
            continue
        kinds["propagated" if o.status == "numerics-propagated" else "unlocalized" if "(unlocalized)" in o.signature
              else "span" if "(span)" in o.signature else "culprit"] += 1
        for r in o.localization.get("table", []):
            if r.get("noise_max"):
                floors.append((o.target, r["op"], r["local_max"], r["noise_max"], r.get("beyond_noise", 0.0), r["symptom"]))
        bad = next(r for r in o.numerics if r.get("symptom"))
        output_op = next(n.op for n in by_id[o.case_id].nodes if n.id == bad["output"])
        before.add(f"{o.target}/numerics-{bad['symptom']}@{output_op}")
        if o.status == "numerics":
            after.add(o.signature)
    print(f"\nverdicts: {dict(kinds)}")
    for o in outcomes.values():
        if "(unlocalized)" in o.signature or "(span)" in o.signature:
            print(f"  {o.case_id} {o.signature}")
    print(f"numerics buckets keyed by output op: {len(before)}; keyed by culprit (propagated ones are not bugs): {len(after)}")
    if floors:
        tol = {"tosa-int16": 2.0}
        excused = [f for f in floors if f[2] > tol.get(f[0], 1.0) and f[5] is None]
        print(f"\nill-conditioned nodes judged against a noise floor: {len(floors)}; over the tolerance but within "
              f"their floor (not wrong): {len(excused)}; wrong beyond it: {sum(f[5] is not None for f in floors)}")
        for t, op, local, floor, beyond, verdict in floors:
            print(f"  {t:13} {op:13} local max {local:5.0f}  floor {floor:5.0f}  beyond {beyond:5.0f}  {verdict or 'ok'}")

    if args.overhead:
        overhead([by_id[o.case_id] for o in outcomes.values() if o.status == "pass"][: args.overhead])


def overhead(cases) -> None:
    """Sum of ``lower`` seconds over the same cases with and without debug locations."""
    from fuzz.judge import pipeline

    quiet_backend()
    real = compat.record_debug_locations
    sums = {"with": 0.0, "without": 0.0}
    pipeline.run_case(cases[0])  # warm-up: first lowering pays imports and caches
    for i, case in enumerate(cases):
        order = ("with", "without") if i % 2 == 0 else ("without", "with")
        for side in order:
            compat.record_debug_locations = real if side == "with" else (lambda spec, artifacts: False)
            try:
                o = pipeline.run_case(case)
            finally:
                compat.record_debug_locations = real
            sums[side] += o.timings.get("lower", 0.0)
    ratio = sums["with"] / sums["without"] if sums["without"] else float("nan")
    print(f"\nlowering with debug locations: {sums['with']:.1f}s, without: {sums['without']:.1f}s "
          f"over {len(cases)} passing cases ({ratio:.3f}x)")


if __name__ == "__main__":
    main()
