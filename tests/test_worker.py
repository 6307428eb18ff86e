"""A warm worker outlives any case: what it cannot load or start is a verdict, not its death.

Each test runs a real warm worker (executorch imported, forked children); only the case is
made bad. The release-specific half (a case drawn for another release) is in test_matrix.py,
on a real 1.2.0 worker.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from fuzz.core.errors import NotOnThisRelease
from fuzz.execution.pool import WorkerPool, run_all
from fuzz.execution.worker import unrunnable

pytestmark = pytest.mark.pipeline


def ask(pool: WorkerPool, job: dict[str, Any], seconds: float = 600) -> dict[str, Any] | None:
    """Send one raw job to the first idle worker and wait for its answer (None: the worker died)."""
    deadline = time.monotonic() + seconds
    while not pool.idle():
        assert time.monotonic() < deadline, "no worker became ready"
        list(pool.poll(0.5))
    pool.send(pool.idle()[0], job)
    while time.monotonic() < deadline:
        for _, result in pool.poll(0.5):
            return result
    raise AssertionError("no answer")


def test_a_case_the_worker_cannot_load_is_a_verdict_and_the_worker_lives_on(tmp_path, seed_case):
    pool = WorkerPool(1, tmp_path / "workers.log", ["tosa-int"])
    try:
        bad = seed_case.to_dict()
        bad["nodes"][0]["op"] = "no_such_op"
        result = ask(pool, {"job": 1, "case": bad, "target": "tosa-int", "timeout": 300})
        assert result is not None, "the worker died"
        o = result["outcome"]
        assert o["status"] == "harness-error" and o["stage"] == "load"
        assert o["signature"].startswith("harness/load/CaseError: ") and "no_such_op" in o["signature"]
        pid = pool.workers[0].proc.pid
        # The same warm worker, not a replacement, runs the next case.
        (outcome,) = run_all(pool, [seed_case.with_target("tosa-int")])
        assert outcome.status not in ("harness-error",), outcome.message
        assert [w.proc.pid for w in pool.workers] == [pid]
    finally:
        pool.close()


def test_a_case_for_another_release_is_a_rejected_configuration_not_a_harness_error():
    """What a worker answers for a case whose options its release lacks (raised by
    target_options.validate there; the real one on 1.2.0 is in test_matrix.py)."""
    job = {"job": 7, "case": {"target": "tosa-int"}, "target": "tosa-int"}
    o = unrunnable(job, NotOnThisRelease("case: option leaky_relu: this executorch's compile specs take no pass-pipeline "
                                          "leaky_relu mode (the case was drawn for another release)"))
    assert o.status == "rejected-config" and o.stage == "load"
    assert o.signature.startswith("tosa-int/rejected-config: not on this release: ")
    assert not o.failed


def test_scratch_roots_of_dead_workers_are_swept_and_live_ones_kept(tmp_path):
    """A worker SIGKILLed mid-case leaves its scratch root behind; the next worker removes it,
    never the root of a process that is still alive."""
    import os
    import subprocess
    import sys

    from fuzz.execution.worker import SCRATCH_PREFIX, sweep_orphaned_scratch

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    dead = tmp_path / f"{SCRATCH_PREFIX}{ended.pid}-abc"
    (dead / "armfuzz-case-x" / "armfuzz-lower-y").mkdir(parents=True)
    live = tmp_path / f"{SCRATCH_PREFIX}{os.getpid()}-def"
    live.mkdir()
    other = tmp_path / "someone-elses-dir"
    other.mkdir()
    assert sweep_orphaned_scratch(str(tmp_path)) == [str(dead)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name])


def test_a_worker_killed_during_its_warm_up_leaves_nothing_outside_its_scratch_root(tmp_path):
    """The warm-up lowers in the worker itself, before any fork; a campaign SIGKILLed during
    start-up used to leave that lowering's ``armfuzz-lower-*`` directory in the temp dir."""
    import os
    import signal
    import subprocess
    import sys

    from fuzz.execution.worker import SCRATCH_PREFIX, sweep_orphaned_scratch

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    worker = subprocess.Popen([sys.executable, "-m", "fuzz.execution.worker", "tosa-int"], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    lowering = []
    while not lowering and worker.poll() is None and time.monotonic() < deadline:
        lowering = list(tmp_path.rglob("armfuzz-lower-*"))
        time.sleep(0.02)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    assert lowering, "the worker's warm-up never lowered anything"
    escaped = [p.name for p in tmp_path.iterdir() if not p.name.startswith((SCRATCH_PREFIX, "torchinductor_"))]
    assert escaped == []
    sweep_orphaned_scratch(str(tmp_path))
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith("torchinductor_")] == []
