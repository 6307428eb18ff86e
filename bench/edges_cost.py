"""What the guided engine's instrumentation (fuzz.execution.edges) costs a case, paired on the same cases.

    python bench/edges_cost.py --cases 12 --targets tosa-int ethos-u55-128

Two warm processes set up like a worker (imports, warm-up lowering per target family, frozen
heap): this one, and a fork of it that instruments the backend. They take turns forking a
child per case, case by case, the plain one first on even cases and second on odd ones, so
host drift falls on both sides alike. Prints the sums, their ratio, the instrumentation's
one-off time and the blocks it made. Run it alone on an idle machine."""

from __future__ import annotations

import argparse
import json
import os
import time

from fuzz.core.quiet import quiet_backend


def forked(case) -> float:
    """Wall seconds of ``case`` run in a child forked from this process (its blocks counted)."""
    from fuzz.execution import edges
    from fuzz.judge.pipeline import run_case

    r, w = os.pipe()
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        edges.reset()
        run_case(case)
        os.write(w, str(len(edges._hits)).encode())
        os._exit(0)
    os.close(w)
    os.read(r, 64)
    os.close(r)
    os.waitpid(pid, 0)
    return time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=12)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--targets", nargs="+", default=["tosa-int", "ethos-u55-128"])
    args = ap.parse_args()
    quiet_backend()
    import gc

    import torch

    torch.set_num_threads(1)
    from fuzz.execution import edges
    from fuzz.execution.worker import warm_up
    from fuzz.generate.generator import generate
    from fuzz.judge import compat

    compat.arm()
    warm_up(args.targets)
    cases = [generate(args.seed, i, args.targets[i % len(args.targets)]) for i in range(args.cases)]
    gc.collect()
    # A second warm process that is instrumented; this one stays plain. They take turns.
    to_inst, from_main = os.pipe()
    to_main, from_inst = os.pipe()
    pid = os.fork()
    if pid == 0:
        t0 = time.monotonic()
        layout = edges.instrument()
        gc.collect()
        gc.freeze()
        os.write(from_inst, (json.dumps({"layout": layout.to_dict(), "seconds": time.monotonic() - t0}) + "\n").encode())
        for i in range(len(cases)):
            os.read(to_inst, 1)
            os.write(from_inst, f"{forked(cases[i]):.4f}\n".encode())
        os._exit(0)
    gc.freeze()
    reader = os.fdopen(to_main, "r")
    info = json.loads(reader.readline())
    plain = inst = 0.0
    for i in range(len(cases)):
        first_plain = i % 2 == 0
        if first_plain:
            plain += forked(cases[i])
        os.write(from_main, b"x")
        inst += float(reader.readline())
        if not first_plain:
            plain += forked(cases[i])
    os.waitpid(pid, 0)
    print(f"{len(cases)} cases on {', '.join(args.targets)}: plain {plain:.1f} s, instrumented {inst:.1f} s, "
          f"cost {inst / plain:.3f}x; instrumenting took {info['seconds']:.1f} s once "
          f"({info['layout']['blocks']} blocks in {info['layout']['functions']} functions)")
    print(json.dumps({"cases": len(cases), "plain": round(plain, 2), "instrumented": round(inst, 2),
                      "cost": round(inst / plain, 3), **info}))


if __name__ == "__main__":
    main()
