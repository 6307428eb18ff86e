"""Where a result's time goes: warm forked children profiled per target family.

armfuzz's throughput is set by what one (case, target) costs inside a warm worker's forked
child, so that is what this profiles, the way a campaign runs it: executorch's Arm backend is
imported once (and warmed with one throwaway case), then every case runs in a fresh fork under
pyinstrument and sends its figures back.

pyinstrument rather than py-spy: it runs inside the child (no ptrace permission, no external
process to attach per fork), and its Python API hands back the call tree, which is what the
attribution below walks. What its sampling costs is measured, not assumed: ``--no-profile``
runs the same cases in the same forks without it.

Each sample's time goes to a *category* read off its stack (an Arm pass, vela, the reference
model, torchao's PT2E, armfuzz ...; the rules are at ``_CATEGORIES``). Once the delegation
oracle's controls start (a second lowering for a CPU op), everything under them is the
control's: that is the avoidable-work question.

    pip install -e ".[bench]"
    python bench/time_profile.py --seed 202 --cases 8 --targets tosa-int,tosa-int-fp,tosa-int16,ethos-u55-128,vgf-int

prints, per target, the stages' wall time (the outcome's own ``timings``), the categories'
share, and the most expensive Arm passes; ``--out`` keeps the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: (category, pattern on the frame's file path, function or None), most specific first. A
#: *strong* category (a pass, a tool, the quantizer) owns all the work below it, torch's
#: included: the fx retracing an Arm pass asks for is the pass's time. A *weak* one (torch.export,
#: torchao, the rest of executorch, armfuzz) applies only where no strong one is on the stack:
#: torch.export called by armfuzz's export stage is torch.export's, called by a pass it is the pass's.
_CATEGORIES: tuple[tuple[str, re.Pattern[str], str | None, bool], ...] = tuple(
    (name, re.compile(pattern), func, strong) for name, pattern, func, strong in (
        ("delegation control", r"fuzz/judge/delegation\.py$", "judge", True),
        ("reference model", r"fuzz/judge/compat\.py$", "_run_delegate", True),
        ("model-converter", r"executorch/backends/arm/vgf/", None, True),
        ("vela", r"/ethosu/", None, True),
        ("arm pass", r"executorch/backends/arm/_passes/", None, True),
        ("exir pass", r"executorch/exir/passes/", None, True),
        ("arm partitioner", r"executorch/backends/arm/(tosa/partitioner|operator_support)", None, True),
        ("arm TOSA serialisation", r"executorch/backends/arm/(tosa|operators)/", None, True),
        ("arm quantizer", r"executorch/backends/arm/quantizer/", None, True),
        ("executorch (other)", r"/executorch/", None, False),
        ("torchao PT2E", r"/torchao/", None, False),
        ("torch.export", r"/torch/(export|_export|_dynamo|_functorch)/", None, False),
        ("armfuzz", r"/(fuzz|reducer)/", None, False),
    ))
#: Decorator and dispatch frames that stand between armfuzz and the library call it made.
_GENERIC = {"wrapper", "inner", "_fn", "decorate_context", "__call__", "_wrapped_call_impl", "_call_impl", "forward"}
_OURS = re.compile(r"/(fuzz|reducer|bench)/")
_STRONG = {name for name, _, _, strong in _CATEGORIES if strong}
#: Categories that keep everything below them (their work is one question, whatever it calls).
_STICKY = {"delegation control"}
_PASS = re.compile(r"executorch/(?:backends/arm/_passes|exir/passes)/(\w+)\.py$")
#: Files of the pass infrastructure, not passes: time there stays with the pass that called it.
_PASS_INFRA = {"__init__", "arm_pass", "arm_pass_manager", "arm_pass_utils", "quant_args"}


def _category(frame: Any, current: str) -> str:
    """The category a frame's samples go to, given the one of its caller."""
    if current in _STICKY:
        return current
    path = frame.file_path or ""
    for name, pattern, func, strong in _CATEGORIES:
        if pattern.search(path) and (func is None or frame.function == func):
            return name if strong or current not in _STRONG else current
    return current


def attribute(root: Any) -> tuple[Counter, Counter]:
    """(seconds per category, seconds per pass) of one pyinstrument call tree. A weak category
    is named with the library call armfuzz made to get there (``torch.export via
    to_edge_transform_and_lower``): the same torch machinery is one cost in the export stage and
    another in executorch's edge decompositions."""
    cats: Counter = Counter()
    passes: Counter = Counter()
    stack = [(root, "other", None, None, True)]
    while stack:
        frame, cat, pass_name, entry, caller_is_ours = stack.pop()
        cat = _category(frame, cat)
        ours = bool(_OURS.search(frame.file_path or ""))
        if caller_is_ours and not ours:
            entry = "?"
        if entry == "?" and not ours and frame.function not in _GENERIC:
            entry = frame.function
        m = _PASS.search(frame.file_path or "")
        if m and m.group(1) not in _PASS_INFRA and cat not in _STICKY:
            pass_name = m.group(1)
        self_time = frame.total_self_time
        cats[cat if cat in _STRONG or cat in ("armfuzz", "other") else f"{cat} via {entry}"] += self_time
        if cat in ("arm pass", "exir pass"):
            passes[pass_name or "(pass infrastructure)"] += self_time
        # a synthetic child (pyinstrument's self-time leaf) is already in total_self_time
        stack.extend((child, cat, pass_name, entry, ours) for child in frame.children if not child.is_synthetic)
    return cats, passes


def _profile_child(case: Any, write_fd: int, sample: bool) -> None:
    from pyinstrument import Profiler

    from fuzz.judge.pipeline import run_case

    profiler = Profiler(interval=0.001, async_mode="disabled")
    t0 = time.perf_counter()
    if sample:
        profiler.start()
    outcome = run_case(case)
    wall = time.perf_counter() - t0
    cats, passes = attribute(profiler.stop().root_frame()) if sample else (Counter(), Counter())
    payload = {"wall": wall, "status": outcome.status, "timings": outcome.timings, "nodes": len(case.nodes),
               "categories": dict(cats), "passes": dict(passes)}
    with os.fdopen(write_fd, "w") as f:
        json.dump(payload, f)


def profile_case(case: Any, sample: bool = True) -> dict[str, Any]:
    """One case in a fresh fork of this warm process (profiled if ``sample``); its figures."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        code = 0
        try:
            _profile_child(case, write_fd, sample)
        except BaseException:  # noqa: BLE001 - the parent reports a child that sent nothing
            code = 1
        os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        text = f.read()
    os.waitpid(pid, 0)
    return json.loads(text) if text else {"error": "the child sent nothing (it crashed)"}


def _table(rows: list[tuple[str, float]], total: float, title: str, top: int | None = None) -> None:
    print(f"  {title}")
    for name, secs in rows[:top]:
        print(f"    {name:<52} {secs:8.2f} s  {100 * secs / total:5.1f} %")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=202)
    ap.add_argument("--cases", type=int, default=8, help="cases per target")
    ap.add_argument("--targets", default="tosa-int,tosa-int-fp,tosa-int16,ethos-u55-128,vgf-int")
    ap.add_argument("--out", default="", help="write the figures here as JSON")
    ap.add_argument("--no-profile", action="store_true", help="the same forks without the sampler (its overhead)")
    args = ap.parse_args(argv)

    from fuzz.core.quiet import quiet_backend
    from fuzz.generate.generator import generate
    from fuzz.judge.pipeline import run_case

    quiet_backend()
    import torch

    torch.set_num_threads(1)  # as the warm worker does: one core per worker, and no pool to fork
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    t0 = time.perf_counter()
    run_case(generate(args.seed, 0, targets[0]))  # the warm worker's import and first-case caches
    print(f"warm-up (import and one case): {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    figures: dict[str, Any] = {}
    for target in targets:
        rows = [profile_case(generate(args.seed, i, target), not args.no_profile) for i in range(args.cases)]
        ok = [r for r in rows if "error" not in r]
        wall = sum(r["wall"] for r in ok)
        stages: Counter = Counter()
        cats: Counter = Counter()
        passes: Counter = Counter()
        for r in ok:
            stages.update(r["timings"])
            cats.update(r["categories"])
            passes.update(r["passes"])
        figures[target] = {"cases": len(rows), "crashed_children": len(rows) - len(ok), "wall": wall,
                           "mean_nodes": sum(r["nodes"] for r in ok) / max(1, len(ok)),
                           "statuses": dict(Counter(r["status"] for r in ok)), "stages": dict(stages),
                           "categories": dict(cats), "passes": dict(passes)}
        print(f"\n{target}: {len(ok)} cases, {wall:.1f} s in the children ({wall / max(1, len(ok)):.2f} s per case), "
              f"statuses {dict(Counter(r['status'] for r in ok))}")
        _table(stages.most_common(), wall, "stages (wall time, the outcome's timings)")
        sampled = sum(cats.values())
        if not sampled:
            continue
        _table(cats.most_common(), sampled, "categories (sampled; see _CATEGORIES)", top=14)
        _table(passes.most_common(), sampled, "most expensive passes", top=10)
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
