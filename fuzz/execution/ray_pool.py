"""Ray scale-out: a campaign's warm workers as Ray actors, one per CPU slot of a cluster.

A campaign is bounded by the cores of one box; fuzzing jobs run on fleets. Rather than a
distributed engine of our own, the workers become actors of an existing one (Ray), and the
campaign loop does not change: ``RayPool`` has ``WorkerPool``'s interface (idle, busy,
send, poll, close, info), so the controller stays the only writer of the campaign directory
and results stream back to it as they finish.

Each actor owns one local ``python -m fuzz.execution.worker`` process, the same warm worker a local
campaign runs: executorch imported once, every case in its own forked child. Forking a Ray
actor itself would fork a process full of Ray's threads; the worker subprocess is a clean
single-threaded parent. When an actor dies with its node, its in-flight case comes back as
``None`` (the campaign's "worker died" path: re-queued once, never logged twice) and a
replacement actor is requested, which Ray places wherever a CPU is free.

Ray is optional (``pip install armfuzz[ray]``); nothing imports this module without ``--ray``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from fuzz.core.paths import PROJECT_ROOT

#: What the cluster needs from this checkout: the code and the model templates.
RUNTIME_EXCLUDES = [".git", ".venv", "campaigns", "corpus", "tests", "bench", "*.egg-info"]


class _FuzzActor:
    """One CPU slot: a warm local worker process, fed one job at a time."""

    def __init__(self, targets: list[str]) -> None:
        from fuzz.execution.pool import WorkerPool

        # The actor runs in Ray's unpacked copy of the checkout (runtime_env working_dir),
        # inside the cluster's temp dir: the worker log lives and goes with the cluster.
        self.pool = WorkerPool(1, Path.cwd() / f"armfuzz-worker-{os.getpid()}.log", targets)

    def ready(self) -> dict[str, Any]:
        """Block until the worker has imported executorch; who and where it is."""
        import socket

        while not self.pool.info:
            for _ in self.pool.poll(1.0):
                pass
        return {**self.pool.info, "node": socket.gethostname(), "pid": os.getpid()}

    def run(self, job: dict[str, Any]) -> dict[str, Any] | None:
        """The job's result; None if the worker process died under it."""
        worker = next(w for w in self.pool.workers if w.ready)
        self.pool.send(worker, job)
        while True:
            for _, result in self.pool.poll(1.0):
                return result


@dataclass
class _Slot:
    actor: Any
    ready_ref: Any = None
    ready: bool = False
    job: dict[str, Any] | None = None
    ref: Any = None
    info: dict[str, Any] = field(default_factory=dict)


class RayPool:
    """``WorkerPool``'s interface over Ray actors (see the module docstring)."""

    def __init__(self, address: str, warm_targets: list[str], slots: int | None = None) -> None:
        import ray

        self.ray = ray
        if not ray.is_initialized():
            ray.init(address=address, log_to_driver=False,
                     runtime_env={"working_dir": str(PROJECT_ROOT), "excludes": RUNTIME_EXCLUDES})
        self.actor_class = ray.remote(num_cpus=1, max_restarts=0)(_FuzzActor)
        self.warm_targets = warm_targets
        self.size = slots or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.slots: list[_Slot] = [self._start() for _ in range(self.size)]
        self.info: dict[str, Any] = {}

    def _start(self) -> _Slot:
        actor = self.actor_class.remote(self.warm_targets)
        return _Slot(actor, ready_ref=actor.ready.remote())

    def idle(self) -> list[_Slot]:
        return [s for s in self.slots if s.ready and s.job is None]

    def busy(self) -> int:
        return sum(1 for s in self.slots if s.job is not None)

    def send(self, slot: _Slot, job: dict[str, Any]) -> None:
        slot.job = job
        slot.ref = slot.actor.run.remote(job)

    def poll(self, timeout: float) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
        """Yield (job, result) as actors finish; result None when an actor died mid-case."""
        ray = self.ray
        waiting = {s.ref if s.job is not None else s.ready_ref: s for s in self.slots if s.job is not None or not s.ready}
        if not waiting:
            return
        done, _ = ray.wait(list(waiting), num_returns=1, timeout=timeout)
        if done:
            rest = [r for r in waiting if r not in done]
            more, _ = ray.wait(rest, num_returns=len(rest), timeout=0) if rest else ([], [])
            done = done + more
        for ref in done:
            slot = waiting[ref]
            try:
                value = ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                    ray.exceptions.ObjectLostError):
                value = None
                died = True
            else:
                died = False
            if not slot.ready:
                if died:  # never came up: try again elsewhere
                    self.slots[self.slots.index(slot)] = self._start()
                    continue
                slot.ready, slot.info = True, value
                self.info = self.info or {"python": value.get("python"), "versions": value.get("versions", {}),
                                             "domains": value.get("domains")}
                continue
            job, slot.job, slot.ref = slot.job, None, None
            if died:
                # The actor (or its node) is gone: hand the job back and ask for a new slot.
                self.slots[self.slots.index(slot)] = self._start()
            yield job, value  # None: the campaign re-queues it (never logged twice)

    def close(self) -> None:
        for s in self.slots:
            try:
                self.ray.kill(s.actor)
            except Exception:  # noqa: BLE001 - an actor already gone is what we want
                pass
