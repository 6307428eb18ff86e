"""Soak: a long campaign with injected faults and a controller SIGKILLed and resumed (issue 23).

    python bench/soak.py --dir SOAK [--cases 1500] [--minutes 60] [--kill-every 8 15]
                         [--fault-every 150] [--seed 202] [--timeout 60] [--report]

One campaign (``--cases`` case indices x all 7 targets, 2 workers, ``--no-reduce``) runs in
``SOAK/campaign`` with its temporary files in ``SOAK/tmp``. Every ``--fault-every``-th case index
gets a fault in its children, in turn a segfault, a hang (killed at ``--timeout``) and an OOM
(``--memory-mb`` RLIMIT_AS). The controller is SIGKILLed at a random point every
``--kill-every`` minutes and started again, so the campaign resumes. The invocation's last run
gets the time left as its ``--budget`` and ends normally, with nothing in flight, after
``--minutes`` in all; the soak is resumable, so a 10,000-result soak can span
several invocations. When the campaign has run every case, a last run ends it normally.

Every 10 s a sampler records the results so far, the RSS of the controller and of each warm
worker, and the ``armfuzz-*`` entries in ``SOAK/tmp``, to ``SOAK/samples.jsonl``. ``--report``
(also printed at the end of each invocation) gives:

* results, duplicated (index, target) pairs (goal 0), and pairs missing below the highest
  index reached (goal 0 once the campaign is complete; at most the in-flight jobs of a kill
  before the next resume);
* faults injected against faults recorded with their signature;
* controller and worker RSS at the start and the end, and the highest (goal: flat);
* temp entries left in ``SOAK/tmp`` (goal 0 when no run is alive);
* throughput per 10-minute window of running time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from fuzz.core.targets import TARGETS  # noqa: E402  (the registry ``--targets all`` runs)
FAULTS = ("segfault", "hang", "oom")


def faults(cases: int, every: int) -> dict[int, str]:
    """Case index -> fault: every ``every``-th index, segfault, hang and OOM in turn."""
    return {i: FAULTS[(i // every - 1) % len(FAULTS)] for i in range(every, cases, every)}


def command(args: argparse.Namespace) -> list[str]:
    cmd = [sys.executable, "-m", "fuzz.views.cli", "fuzz", "--seed", str(args.seed), "--cases", str(args.cases),
           "--targets", "all", "--campaign", str(args.dir / "campaign"), "--workers", str(args.workers),
           "--timeout", str(args.timeout), "--memory-mb", str(args.memory_mb), "--no-reduce", "--json"]
    for i, kind in faults(args.cases, args.fault_every).items():
        cmd += ["--inject", f"{i}={kind}"]
    return cmd


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def events(soak: Path) -> list[dict]:
    p = soak / "campaign" / "events.jsonl"
    if not p.exists():
        return []
    rows = []
    for line in p.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # a torn last line, dropped by the campaign on resume too
            pass
    return [e for e in rows if e.get("type", "result") == "result"]


def temp_entries(soak: Path) -> list[str]:
    tmp = soak / "tmp"
    return sorted(p.name for p in tmp.iterdir() if p.name.startswith("armfuzz")) if tmp.exists() else []


def sample(soak: Path, proc: subprocess.Popen, run: int, stop: threading.Event) -> None:
    """Every 10 s: results, RSS of the controller and its workers, temp entries."""
    with open(soak / "samples.jsonl", "a") as out:
        while not stop.wait(10.0):
            workers = _children(proc.pid)
            row = {"t": time.time(), "run": run, "results": len(events(soak)), "controller_mb": _rss_mb(proc.pid),
                   "workers_mb": [m for m in (_rss_mb(w) for w in workers) if m is not None],
                   "temp_entries": len(temp_entries(soak))}
            out.write(json.dumps(row) + "\n")
            out.flush()


def run(args: argparse.Namespace) -> None:
    soak: Path = args.dir
    (soak / "tmp").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TMPDIR": str(soak / "tmp"), "PYTHONPATH": str(ROOT)}
    rng = random.Random(time.time_ns())
    end = time.time() + args.minutes * 60
    with open(soak / "runs.jsonl", "a") as log, open(soak / "controller.log", "a") as controller_log:
        while time.time() < end:
            if complete(soak, args):
                break
            kill_at = time.time() + rng.uniform(*args.kill_every) * 60
            cmd = command(args)
            if kill_at >= end:  # the invocation's last run ends on its budget, normally: nothing in flight
                cmd += ["--budget", f"{max(1, int(end - time.time()))}s"]
                kill_at = float("inf")
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=controller_log)
            stop = threading.Event()
            sampler = threading.Thread(target=sample, args=(soak, proc, _runs(soak), stop), daemon=True)
            sampler.start()
            t0 = time.time()
            before = len(events(soak))
            while proc.poll() is None and time.time() < kill_at:
                time.sleep(1.0)
            killed = proc.poll() is None
            if killed:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            stop.set()
            sampler.join()
            time.sleep(2.0)  # PR_SET_PDEATHSIG: the workers die with the controller
            log.write(json.dumps({"start": t0, "end": time.time(), "killed": killed, "rc": proc.returncode,
                                  "results_before": before, "results_after": len(events(soak))}) + "\n")
            log.flush()
    report(args)


def _runs(soak: Path) -> int:
    p = soak / "runs.jsonl"
    return len(p.read_text().splitlines()) if p.exists() else 0


def complete(soak: Path, args: argparse.Namespace) -> bool:
    return len({(e["index"], e["target"]) for e in events(soak)}) >= args.cases * len(TARGETS)


def report(args: argparse.Namespace) -> dict:
    soak: Path = args.dir
    evs = events(soak)
    pairs = Counter((e["index"], e["target"]) for e in evs)
    top = max((i for i, _ in pairs), default=-1)
    missing = [(i, t) for i in range(top) for t in TARGETS if (i, t) not in pairs]
    injected = {i: k for i, k in faults(args.cases, args.fault_every).items() if i <= top}
    expected_sig = {"segfault": "native-crash/SIGSEGV@lower", "hang": "timeout@lower", "oom": "oom@lower"}
    fault_rows = [e for e in evs if e["index"] in injected]
    recorded = sum(e["signature"].endswith(expected_sig[injected[e["index"]]]) for e in fault_rows)
    samples = [json.loads(x) for x in (soak / "samples.jsonl").read_text().splitlines()] if (soak / "samples.jsonl").exists() else []
    runs = [json.loads(x) for x in (soak / "runs.jsonl").read_text().splitlines()] if (soak / "runs.jsonl").exists() else []
    ctl = [s["controller_mb"] for s in samples if s.get("controller_mb")]
    wrk = [max(s["workers_mb"]) for s in samples if s.get("workers_mb")]
    running = sum(r["end"] - r["start"] for r in runs)
    windows = _windows(runs, evs)
    out = {
        "results": len(evs), "duplicated_pairs": sum(c - 1 for c in pairs.values() if c > 1),
        "missing_below_top": len(missing), "top_index": top, "complete": complete(soak, args),
        "runs": len(runs), "controller_kills": sum(r["killed"] for r in runs), "running_minutes": round(running / 60, 1),
        "results_per_s": round(len(evs) / running, 3) if running else None,
        "faults_injected": len(injected) * len(TARGETS), "faults_recorded": recorded,
        "statuses": dict(Counter(e["status"] for e in evs)),
        "controller_mb_first_last_max": [round(ctl[0]), round(ctl[-1]), round(max(ctl))] if ctl else None,
        "worker_mb_first_last_max": [round(wrk[0]), round(wrk[-1]), round(max(wrk))] if wrk else None,
        "temp_entries_now": temp_entries(soak), "results_per_s_by_10min": windows,
    }
    print(json.dumps(out, indent=1))
    (soak / "report.json").write_text(json.dumps(out, indent=1) + "\n")
    return out


def _windows(runs: list[dict], evs: list[dict]) -> list[float]:
    """Results/s per 10 minutes of running time (the gaps between runs left out)."""
    times = sorted(e["t"] for e in evs)
    out, acc, count = [], 0.0, 0
    for r in runs:
        t = r["start"]
        while t < r["end"]:
            step = min(r["end"], t + 600 - acc) - t
            n = sum(1 for x in times if t <= x < t + step)
            count, acc, t = count + n, acc + step, t + step
            if acc >= 600 - 1e-6:
                out.append(round(count / acc, 3))
                acc, count = 0.0, 0
    if acc > 60:
        out.append(round(count / acc, 3))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, required=True)
    ap.add_argument("--cases", type=int, default=1500, help="case indices; x7 targets = results (1500: 10,500)")
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--kill-every", type=float, nargs=2, default=[8.0, 15.0], metavar=("MIN", "MAX"))
    ap.add_argument("--fault-every", type=int, default=150, help="every N-th case index faults (x7 targets)")
    ap.add_argument("--seed", type=int, default=202)
    ap.add_argument("--workers", type=int, default=2)
    # 120 s: what an injected hang costs one worker; a generated case lowers in 1-30 s.
    ap.add_argument("--timeout", type=float, default=120.0, help="per case; what an injected hang costs")
    ap.add_argument("--memory-mb", type=int, default=6144)
    ap.add_argument("--report", action="store_true", help="only print the report of SOAK")
    args = ap.parse_args()
    args.dir = args.dir.resolve()
    if args.report:
        report(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
