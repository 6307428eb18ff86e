"""Would packing K cases into one lowering pay? Measured before it is built (issue 23).

    python bench/packing.py [--targets tosa-int ethos-u85-256 vgf-int-fp] [--cases 16]
                            [--packs 2 4 8] [--seed 202] [--events CAMPAIGN/events.jsonl] [--out FILE]

Packing (issue 23, item 4) lowers K independent cases as one module with K disjoint subgraphs,
and splits a pack that fails as a whole by bisection until the failing case runs alone. It pays
only if (a) one lowering of K cases is much cheaper than K lowerings, and (b) few packs fail as
a whole, since each failing pack is lowered again, half by half.

For each target this script draws ``--cases`` plain cases (``generate(seed, i, target)``), gives
every member of a pack its leader's quantizer config and no compile-spec options (one lowering
has one quantizer and one compile spec: packing could only ever group such cases), and runs
each case alone and each pack of K as one union case (the members' node and input names
prefixed ``p<k>_``), every run in a fresh fork of one warm process, like a campaign's worker,
delegation controls off (they are a second lowering per CPU op, the same with or without
packing). The rounds alternate the order (alone first, then packs first) against the host's
drift. It prints, per target and K:

* s per member alone and packed, and the raw ratio (what packing saves before any failure);
* the share of packs that fail as a whole (a crash-like status: crash, invalid-tosa,
  invalid-program, native-crash, timeout, oom) -- and how many of them fail although every
  member passes alone (packing *made* a failure), or pass although a member fails alone
  (packing *hid* one);
* the expected speed-up once failing packs are bisected, at the crash-like rate of
  ``--events`` (a campaign's event log: the rate armfuzz's steered generator really has) or of
  the alone runs here. A failing pack of K is lowered again as two halves, then the failing
  half's two halves, down to single cases: cost(K) + sum_j 2 cost(K / 2^j).

Numerics and delegation findings are judged per output and per node, so a pack could in
principle keep them; the estimate counts only crash-like failures as needing bisection, which
favours packing.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: Statuses a pack cannot split by output: the whole lowering ended in them.
CRASH_LIKE = ("crash", "invalid-tosa", "invalid-program", "native-crash", "timeout", "oom", "harness-error")


def union(members):
    """One case holding ``members`` as disjoint subgraphs: names prefixed ``p<k>_``, the
    leader's quantizer config and target."""
    from fuzz.generate.case import Case, Node, TensorSpec

    inputs, nodes, outputs, weights, calib = [], [], [], {}, {}
    for k, c in enumerate(members):
        p = f"p{k}_"
        inputs += [TensorSpec(p + t.name, list(t.shape)) for t in c.inputs]
        nodes += [Node(p + n.id, n.op, [p + i for i in n.inputs], copy.deepcopy(n.params), n.spelling) for n in c.nodes]
        outputs += [p + o for o in c.outputs]
        weights.update({p + k2: v for k2, v in c.weights.get("nodes", {}).items()})
        calib.update({p + k2: v for k2, v in c.calibration.get("inputs", {}).items()})
    lead = members[0]
    samples = max(c.calibration.get("samples", 1) for c in members)
    return Case(inputs, nodes, outputs, {"default": lead.weights["default"], "nodes": weights},
                {"samples": samples, "inputs": calib}, lead.quant, lead.target, lead.seed)


def run_forked(case) -> dict:
    """Run ``case`` in a fresh fork (controls off); its wall seconds and status."""
    from fuzz.judge.pipeline import run_case

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        t0 = time.perf_counter()
        try:
            o = run_case(case, controls=False)
            msg = {"s": time.perf_counter() - t0, "status": o.status, "signature": o.signature}
        except BaseException as e:  # noqa: BLE001 - reported, never raised in a fork
            msg = {"s": time.perf_counter() - t0, "status": "harness-error", "signature": repr(e)[:200]}
        os.write(w, json.dumps(msg).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    return json.loads(data) if data else {"s": 0.0, "status": "native-crash", "signature": f"wait status {status}"}


def draw(target: str, n: int, seed: int, k: int):
    """``n`` plain cases; each pack of ``k`` takes its leader's quantizer config, no options."""
    from fuzz.generate.generator import generate

    cases = [generate(seed, i, target) for i in range(n)]
    out = []
    for j in range(0, n, k):
        lead = replace(cases[j].quant, module_activations={})
        out += [replace(c, quant=copy.deepcopy(lead), options={}) for c in cases[j:j + k]]
    return out


def measure(target: str, n: int, seed: int, k: int) -> dict:
    cases = draw(target, n, seed, k)
    packs = [cases[j:j + k] for j in range(0, n, k)]
    alone: list[dict] = [{}] * n
    packed: list[dict] = [{}] * len(packs)
    for rnd in range(2):  # alternate the order against the host's drift; keep round 0's verdicts
        def run_alone():
            for i, c in enumerate(cases):
                r = run_forked(c)
                alone[i] = {**r, "s": r["s"] + alone[i].get("s", 0.0)}
        def run_packs():
            for i, p in enumerate(packs):
                r = run_forked(union(p))
                packed[i] = {**r, "s": r["s"] + packed[i].get("s", 0.0)}
        (run_alone, run_packs)[rnd]()
        (run_packs, run_alone)[rnd]()
    alone_s = sum(r["s"] for r in alone) / 2
    packed_s = sum(r["s"] for r in packed) / 2
    made = hidden = failing = 0
    for p, r in zip(range(len(packs)), packed):
        members = alone[p * k:(p + 1) * k]
        member_fails = any(m["status"] in CRASH_LIKE for m in members)
        pack_fails = r["status"] in CRASH_LIKE
        failing += pack_fails
        made += pack_fails and not member_fails
        hidden += member_fails and not pack_fails
    return {"target": target, "k": k, "cases": n, "nodes": sum(len(c.nodes) for c in cases),
            "alone_s_per_member": round(alone_s / n, 3), "packed_s_per_member": round(packed_s / n, 3),
            "raw_speedup": round(alone_s / packed_s, 3) if packed_s else None,
            "packs": len(packs), "packs_failing": failing, "failures_made_by_packing": made,
            "failures_hidden_by_packing": hidden,
            "alone_crash_like": sum(r["status"] in CRASH_LIKE for r in alone),
            "alone_statuses": [r["status"] for r in alone], "pack_statuses": [r["status"] for r in packed]}


def campaign_crash_rate(events: Path) -> float:
    rows = [json.loads(line) for line in events.read_text().splitlines() if line.strip()]
    results = [e for e in rows if e.get("type", "result") == "result"]
    return sum(e.get("status") in CRASH_LIKE for e in results) / max(1, len(results))


def expected_speedup(cost: dict[int, float], k: int, rate: float) -> float:
    """Alone cost over packed cost per member when a share ``rate`` of cases fail as a whole
    and each failing pack is bisected to its failing case (one failing member assumed)."""
    p_fail = 1 - (1 - rate) ** k
    bisect = sum(2 * cost[k >> j] for j in range(1, int(math.log2(k)) + 1))
    return cost[1] / ((cost[k] + p_fail * bisect) / k)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", nargs="+", default=["tosa-int", "ethos-u85-256", "vgf-int-fp"])
    ap.add_argument("--cases", type=int, default=16)
    ap.add_argument("--packs", type=int, nargs="+", default=[2, 4, 8])
    ap.add_argument("--seed", type=int, default=202)
    ap.add_argument("--events", type=Path, help="a campaign's events.jsonl: its crash-like rate")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if any(k & (k - 1) for k in args.packs):
        sys.exit(f"--packs: K must be a power of two (bisection halves a pack), got {args.packs}")

    from fuzz.generate.generator import generate
    from fuzz.judge.pipeline import run_case

    run_case(generate(args.seed, 0, args.targets[0]), controls=False)  # warm, as a worker is
    rows = []
    for target in args.targets:
        for k in args.packs:
            row = measure(target, args.cases, args.seed, k)
            rows.append(row)
            print(json.dumps({key: v for key, v in row.items() if not key.endswith("statuses")}), flush=True)
    rate_note = "alone runs here"
    rate = sum(r["alone_crash_like"] for r in rows) / max(1, sum(r["cases"] for r in rows))
    if args.events:
        rate, rate_note = campaign_crash_rate(args.events), str(args.events)
    print(f"\ncrash-like share per case: {rate:.3f} ({rate_note})")
    print("| target | K | s/member alone | s/member packed | raw speed-up | packs failing (made / hidden) | expected with bisection |")
    print("|---|---|---|---|---|---|---|")
    for target in args.targets:
        mine = [r for r in rows if r["target"] == target]
        cost = {1: sum(r["alone_s_per_member"] for r in mine) / len(mine)}
        cost.update({r["k"]: r["packed_s_per_member"] * r["k"] for r in mine})
        for r in mine:
            levels = [r["k"] >> j for j in range(int(math.log2(r["k"])) + 1)]
            exp = expected_speedup(cost, r["k"], rate) if all(x in cost for x in levels) else float("nan")
            print(f"| {target} | {r['k']} | {r['alone_s_per_member']:.2f} | {r['packed_s_per_member']:.2f} | "
                  f"{r['raw_speedup']:.2f}x | {r['packs_failing']}/{r['packs']} ({r['failures_made_by_packing']} / "
                  f"{r['failures_hidden_by_packing']}) | {exp:.2f}x |")
    if args.out:
        args.out.write_text(json.dumps({"rate": rate, "rate_from": rate_note, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
