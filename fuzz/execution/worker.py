"""Warm worker: import executorch once, then run every case in a forked child.

Run as ``python -m fuzz.execution.worker [TARGET ...]`` (targets to warm up); it speaks JSON lines. Each request line is
``{"job": ID, "case": {...}, "target": T, "timeout": S, "memory_mb": M}``. The worker first
answers ``{"ready": true, "pid": P}``, then one ``{"job": ID, "outcome": {...}, "wall": s,
"peak_rss_mb": m}`` per request.

A fork per case keeps the ~12 s Arm backend import warm and still isolates the case. A
Python exception, a native crash (SIGSEGV or SIGABRT from vela, model-converter or the
reference model), a hang (killed at the deadline) or a memory blow-up (RLIMIT_AS) ends only
the child, and becomes an Outcome with its own signature. The child reports each stage as
it starts, so even a killed child's signature names its stage. PR_SET_PDEATHSIG ties every
process to its parent: when the campaign dies, its workers and their children die too.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import gc
import json
import os
import resource
import select
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from fuzz.core.quiet import quiet_backend

#: Default per-case address-space limit. A forked child of a warm worker maps about 3 GB of
#: virtual memory before it allocates anything (torch + executorch + vela libraries).
DEFAULT_MEMORY_MB = 8192
#: Default per-case wall-clock limit; a normal lowering of a generated case takes 1-6 s.
DEFAULT_TIMEOUT = 300.0
#: Generation-0 threshold of the cyclic GC in a case child (CPython's default is 700). A
#: child lives for one lowering and its memory goes back at exit; fewer young collections
#: mean less memory traffic, which is what two workers on two cores compete for. Measured
#: with two forking loops at once, one per core, each alternating per case between this and
#: the default (heap frozen in both; the pairing of bench/fork_cost.py --mode gc), 12 cases
#: each, two rounds with the cores swapped:
#: 49.7 vs 54.3 s, 44.7 vs 48.2 s, 45.0 vs 45.5 s, 37.8 vs 40.0 s. The campaign bench
#: without it: (b) 1.73x saturated over 3 trials, against 1.88x over 4 with it.
#: Alone on an idle core the effect is within noise (63.0 vs 65.7 s, 59.0 vs 56.7 s on 16).
#: Child peak RSS: 376 vs 373 MB.
CHILD_GC_THRESHOLD = 20000
_PR_SET_PDEATHSIG = 1
#: Every case's scratch directory lives under one root per worker process, named with its
#: pid, so a worker that dies without cleaning up (SIGKILLed by the pool's close, or by
#: PR_SET_PDEATHSIG when the campaign is killed) leaves a root the next worker can prove is
#: an orphan. Before, per-case directories went straight into /tmp: 224 ``armfuzz-case-*``
#: directories had piled up here after two days of tests, campaigns and benchmarks.
SCRATCH_PREFIX = "armfuzz-worker-"
_scratch_root: str | None = None


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent exits (Linux only)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:  # not Linux: orphans are possible, nothing else changes
        pass


def warm_up(targets: list[str]) -> None:
    """Lower one small case per target family in the worker itself before forking.

    The first lowering in a process pays for lazy imports and first-call caches in export,
    the pass pipeline, vela and the reference model. Done once here, every forked child
    inherits them; otherwise each child pays again (measured: 10-15% per case).
    """
    from fuzz.core.targets import TARGETS
    from fuzz.generate.case import Case, Node, TensorSpec
    from fuzz.judge.pipeline import run_case

    conv = {"out_channels": 4, "kernel_size": 3, "stride": 1, "padding": 1, "dilation": 1, "groups": 1, "bias": True,
            "padding_mode": "zeros"}
    case = Case(
        inputs=[TensorSpec("x", [1, 2, 8, 8])],
        nodes=[Node("conv", "conv2d", ["x"], conv, "module"), Node("act", "relu", ["conv"], {}, "functional")],
        outputs=["act"],
    )
    families: dict[str, str] = {}
    for t in targets:
        families.setdefault(TARGETS[t].family, t)
    # In the scratch root, like every case: a worker SIGKILLed mid-warm-up (its campaign was
    # killed during start-up) leaves its lowering's artifacts where the next sweep finds them.
    with scratch_tempdir(scratch_root()):
        for t in families.values():
            try:
                run_case(case, t)
            except Exception:  # noqa: BLE001 - warming is an optimisation, never a failure
                pass


def main() -> None:
    die_with_parent()
    # Keep fd 1 for the protocol only: vela and the reference model print to stdout.
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    quiet_backend()
    from fuzz.execution import backend_coverage, edges

    tracer = backend_coverage.start_in_worker()  # before the imports it measures
    import torch

    torch.set_num_threads(1)
    from fuzz.judge import compat

    compat.arm()  # the expensive import, paid once per worker
    warm_up([t for t in sys.argv[1:] if t])
    backend_coverage.save_worker(tracer)
    layout = None
    if os.environ.get(edges.ENV):  # the guided engine's feedback (fuzz.execution.edges)
        layout = edges.instrument().to_dict()
    freeze_heap()
    # Who this worker is: the controller records the release and interpreter of every result
    # from here, whichever venv or build it was started in.
    # Its domains: the options this release can express, which the controller draws cases from.
    from fuzz.core.target_options import local_domains

    proto.write(json.dumps({"ready": True, "pid": os.getpid(), "python": sys.executable, "versions": compat.versions(),
                            "edges": layout, "domains": local_domains().to_dict()}) + "\n")
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            proto.write(json.dumps(answer(json.loads(line))) + "\n")
    finally:
        remove_scratch_root()


def answer(job: dict[str, Any]) -> dict[str, Any]:
    """:func:`run_job`, and a verdict for anything it raises outside the forked child: a case
    this worker cannot load or run is one result, never the end of the warm worker (whose
    replacement would pay the ~12 s import again, and whose death lost the reason)."""
    try:
        return run_job(job)
    except Exception as e:  # noqa: BLE001 - everything outside the child becomes a verdict
        return {"job": job.get("job"), "outcome": unrunnable(job, e).to_dict(), "wall": 0.0, "peak_rss_mb": 0.0}


def unrunnable(job: dict[str, Any], error: Exception) -> Any:
    """The verdict on a job the worker could not start: ``rejected-config`` when the case asks
    for what this release cannot express (options drawn for another release: no verdict on
    executorch is possible here), else a ``harness-error`` (armfuzz's bug) naming the error."""
    import hashlib

    from fuzz.core.errors import NotOnThisRelease
    from fuzz.judge.outcome import Outcome
    from fuzz.judge.signature import not_on_this_release_signature

    case = job.get("case") if isinstance(job.get("case"), dict) else {}
    target = str(job.get("target") or case.get("target") or "?")
    case_id = "unloaded-" + hashlib.sha256(json.dumps(case, sort_keys=True, default=str).encode()).hexdigest()[:12]
    message = f"{type(error).__name__}: {error}"
    if isinstance(error, NotOnThisRelease):
        return Outcome(case_id, target, "rejected-config", stage="load", message=message,
                       signature=not_on_this_release_signature(target, str(error)))
    return Outcome(case_id, target, "harness-error", stage="load", message=message,
                   signature=f"harness/load/{type(error).__name__}: {str(error)[:200]}")


def freeze_heap() -> None:
    """Move every object the worker holds into the GC's permanent generation before forking.

    A child's collections then never traverse (and so never write to, and copy) the ~500k
    objects it inherits: the copy-on-write faults halve (~42k to ~20k per case) and each case
    runs faster. ``python bench/fork_cost.py --mode gc --cases 16`` forks the same cases from
    one warm process: frozen 56.7 s vs not 63.3 s (an earlier run: 65.7 vs 71.2 s).
    """
    gc.collect()
    gc.freeze()


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Fork a child for one case and turn however it ends into an outcome."""
    from fuzz.generate.case import Case

    timeout = float(job.get("timeout") or DEFAULT_TIMEOUT)
    memory_mb = int(job.get("memory_mb") or DEFAULT_MEMORY_MB)
    case = Case.from_dict(job["case"])
    case = case.with_target(job["target"]) if job.get("target") else case
    t0 = time.monotonic()
    scratch = tempfile.mkdtemp(prefix="armfuzz-case-", dir=scratch_root())
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        use_scratch(scratch)
        _child(case, job, w, memory_mb)  # never returns
    os.close(w)
    try:
        return _await_child(pid, r, case, job, timeout, t0)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def scratch_root() -> str:
    """This process's scratch root, made on first use; orphaned roots are swept first."""
    global _scratch_root
    if _scratch_root is None or not os.path.isdir(_scratch_root):
        sweep_orphaned_scratch()
        _scratch_root = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")
        atexit.register(remove_scratch_root)  # a process that runs jobs without main()'s loop
    return _scratch_root


def remove_scratch_root() -> None:
    """Remove this process's scratch root (a worker's normal end)."""
    global _scratch_root
    if _scratch_root is not None:
        shutil.rmtree(_scratch_root, ignore_errors=True)
        _scratch_root = None


def remove_scratch_of(pid: int, tmp: str | None = None) -> None:
    """Remove the scratch root of worker ``pid``, which has ended (its pool knows it has)."""
    for owner, path in _scratch_roots(tmp):
        if owner == pid:
            shutil.rmtree(path, ignore_errors=True)


def sweep_orphaned_scratch(tmp: str | None = None) -> list[str]:
    """Remove the scratch roots of worker processes that no longer exist; the removed paths.

    A root whose pid is alive is kept, even when the pid was reused by another process: the
    cost of that is one directory left until a later sweep, never a live worker's files lost.
    """
    removed = []
    for owner, path in _scratch_roots(tmp):
        if not _alive(owner):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _scratch_roots(tmp: str | None) -> list[tuple[int, str]]:
    """(owning pid, path) of every worker scratch root in ``tmp`` (default: the temp dir)."""
    tmp = tmp or tempfile.gettempdir()
    roots = []
    for name in os.listdir(tmp):
        pid = name[len(SCRATCH_PREFIX):].split("-", 1)[0] if name.startswith(SCRATCH_PREFIX) else ""
        if pid.isdigit():
            roots.append((int(pid), os.path.join(tmp, name)))
    return roots


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def use_scratch(scratch: str) -> None:
    """Point every temporary file of this child (armfuzz's, executorch's, and those of the
    tools it starts: vela, model-converter) into ``scratch``, which the parent removes once
    the child has ended. A child killed at its deadline or by a native crash cannot clean up
    after itself: before this, a 30-minute campaign left ~100 ``armfuzz-lower-*`` directories
    in /tmp."""
    os.environ["TMPDIR"] = scratch
    tempfile.tempdir = scratch


@contextlib.contextmanager
def scratch_tempdir(scratch: str) -> Iterator[None]:
    """Temporary files of this process go to ``scratch`` for the block, as in :func:`use_scratch`."""
    before_env, before = os.environ.get("TMPDIR"), tempfile.tempdir
    use_scratch(scratch)
    try:
        yield
    finally:
        tempfile.tempdir = before
        if before_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = before_env


def _await_child(pid: int, r: int, case: Any, job: dict[str, Any], timeout: float, t0: float) -> dict[str, Any]:
    """Read the child's stage and outcome lines until it ends or its deadline passes."""
    from fuzz.judge.outcome import Outcome
    from fuzz.judge.pipeline import mark_abnormal

    stage, outcome, killed, blocks = "", None, False, None
    buf = b""
    deadline = t0 + timeout
    with os.fdopen(r, "rb", buffering=0) as pipe:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                killed = True
                break
            ready, _, _ = select.select([pipe], [], [], left)
            if not ready:
                continue
            chunk = pipe.read(65536)
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                msg = json.loads(raw)
                if "stage" in msg:
                    stage = msg["stage"]
                elif "outcome" in msg:
                    outcome = Outcome.from_dict(msg["outcome"])
                    blocks = msg.get("edges")
    _, status, usage = os.wait4(pid, 0)
    if outcome is None:
        outcome = Outcome(case_id=case.case_id, target=case.target, status="native-crash")
        if killed:
            mark_abnormal(outcome, "timeout", stage, f"killed after {timeout:g}s")
        elif os.WIFSIGNALED(status):
            sig = signal.Signals(os.WTERMSIG(status)).name
            mark_abnormal(outcome, "native-crash", stage, f"process died on {sig}", sig)
        else:
            code = os.WEXITSTATUS(status)
            mark_abnormal(outcome, "native-crash", stage, f"process exited with code {code} and no outcome", f"exit-{code}")
    return {
        "job": job.get("job"),
        "outcome": outcome.to_dict(),
        "wall": round(time.monotonic() - t0, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        **({"edges": blocks} if blocks is not None else {}),
    }


def _child(case: Any, job: dict[str, Any], fd: int, memory_mb: int) -> None:
    """Run the case and write stage lines and the outcome to ``fd``; always ``_exit``."""
    code = 0
    try:
        die_with_parent()
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        gc.set_threshold(CHILD_GC_THRESHOLD)
        from fuzz.execution import backend_coverage, edges

        guided = bool(os.environ.get(edges.ENV))
        edges.reset()
        tracer = backend_coverage.start_in_child()
        import torch

        torch.set_num_threads(1)
        from fuzz.judge.pipeline import run_case

        out = os.fdopen(fd, "w", buffering=1)
        inject = job.get("inject")

        def on_stage(name: str) -> None:
            out.write(json.dumps({"stage": name}) + "\n")
            if inject and name == "lower":
                inject_fault(inject)

        o = run_case(case, on_stage=on_stage)
        backend_coverage.save_child(tracer)
        out.write(json.dumps({"outcome": o.to_dict(), **({"edges": edges.collected()} if guided else {})}) + "\n")
        out.flush()
    except BaseException:  # noqa: BLE001 - the parent reports a missing outcome
        code = 70
    finally:
        os._exit(code)


def inject_fault(kind: str) -> None:
    """Test seam: make this child fail the ways executorch's native tools can.

    Used by the campaign tests (``--inject INDEX=KIND``), never by a normal run.
    """
    if kind == "segfault":
        ctypes.string_at(0)
    elif kind == "hang":
        while True:
            time.sleep(1)
    elif kind == "oom":
        hog = []
        while True:
            hog.append(bytearray(64 * 1024 * 1024))
    elif kind == "abort":
        os.abort()
    else:
        raise ValueError(f"unknown fault {kind!r}")


if __name__ == "__main__":
    main()
