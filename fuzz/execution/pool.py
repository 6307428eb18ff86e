"""A pool of warm workers (``python -m fuzz.execution.worker``) and a way to run a list of cases on it.

Campaigns, the reducer, corpus replay and bisection all run cases here, so each gets the
same isolation (fork per case, timeouts, memory limits) and the same parallelism. The
interpreter is a parameter: a pool on another executorch release's venv (fuzz.execution.envs) speaks
the same protocol.
"""

from __future__ import annotations

import itertools
import json
import os
import selectors
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from fuzz.execution import envs
from fuzz.execution.envs import worker_env
from fuzz.execution.worker import remove_scratch_of
from fuzz.generate.case import Case
from fuzz.judge.outcome import Outcome


@dataclass
class _Worker:
    proc: subprocess.Popen
    ready: bool = False
    job: dict[str, Any] | None = None


class WorkerStartError(RuntimeError):
    """A worker died before it was ready: the interpreter cannot run armfuzz's worker."""


class WorkerPool:
    """N ``python -m fuzz.execution.worker`` processes; they die with us (PR_SET_PDEATHSIG)."""

    def __init__(self, n: int, log_path: Path, warm_targets: list[str], python: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.warm_targets = warm_targets
        #: Extra environment for the workers (the campaign's coverage directory).
        self.env = env or {}
        #: The interpreter of the executorch release to run on (fuzz.execution.envs); ours by default.
        self.python = python or sys.executable
        #: What the workers said when ready: their interpreter and package versions (the
        #: release a result ran on comes from here, not from a guess).
        self.info: dict[str, Any] = {}
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.sel = selectors.DefaultSelector()
        self.workers: list[_Worker] = []
        for _ in range(n):
            self._spawn()

    def _spawn(self) -> _Worker:
        proc = subprocess.Popen(
            [self.python, "-m", "fuzz.execution.worker", *self.warm_targets],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            bufsize=1,
            env=self._environ(),
        )
        w = _Worker(proc)
        self.workers.append(w)
        self.sel.register(proc.stdout, selectors.EVENT_READ, w)
        return w

    def _environ(self) -> dict[str, str] | None:
        base = None if self.python == sys.executable else worker_env()
        if not self.env:
            return base
        return {**(base or os.environ), **self.env}

    def _tmpdir(self) -> str | None:
        """The temp dir the workers make their scratch roots in (None: the default)."""
        return (self._environ() or os.environ).get("TMPDIR") or None

    def idle(self) -> list[_Worker]:
        return [w for w in self.workers if w.ready and w.job is None]

    def busy(self) -> int:
        return sum(1 for w in self.workers if w.job is not None)

    def send(self, w: _Worker, job: dict[str, Any]) -> None:
        w.job = job
        w.proc.stdin.write(json.dumps(job) + "\n")
        w.proc.stdin.flush()

    def poll(self, timeout: float) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
        """Yield (job, result) for finished jobs; result None when a worker itself died."""
        for key, _ in self.sel.select(timeout):
            w: _Worker = key.data
            line = w.proc.stdout.readline()
            if not line:  # the worker died: replace it, hand its job back
                self.sel.unregister(w.proc.stdout)
                self.workers.remove(w)
                w.proc.wait()
                remove_scratch_of(w.proc.pid, self._tmpdir())
                if not w.ready:
                    self.log.flush()
                    tail = self.log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
                    raise WorkerStartError(f"a worker on {self.python} exited before it was ready ({tail[0][:300]}); "
                                           f"see {self.log_path}")
                self._spawn()
                if w.job is not None:
                    yield w.job, None
                continue
            msg = json.loads(line)
            if msg.get("ready"):
                w.ready = True
                self.info = self.info or {"python": msg.get("python", self.python), "versions": msg.get("versions", {}),
                                         "domains": msg.get("domains")}
                if msg.get("edges"):
                    self._check_layout(msg["edges"])
                continue
            job, w.job = w.job, None
            yield job, msg

    def _check_layout(self, layout: dict[str, Any]) -> None:
        """Workers of one guided campaign must number the backend's blocks alike (fuzz.execution.edges)."""
        have = self.info.setdefault("edges", layout)
        if have["digest"] != layout["digest"]:
            raise WorkerStartError(f"workers instrumented different code (block layouts {have['digest']} and "
                                   f"{layout['digest']}): their warm-up imported different modules; see {self.log_path}")

    def close(self) -> None:
        for w in self.workers:
            try:
                w.proc.stdin.close()
            except OSError:
                pass
        for w in self.workers:
            try:
                w.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()
            # A worker killed mid-case could not remove its scratch root (fuzz.execution.worker).
            remove_scratch_of(w.proc.pid, self._tmpdir())
        self.log.close()


def run_cases(
    pool: WorkerPool, items: Iterable[tuple[str | int, Case]], timeout: float = 300.0, memory_mb: int | None = None
) -> Iterator[tuple[str | int, Outcome]]:
    """Run (key, case) items on the pool as workers free up; yield (key, outcome) as they end.

    Keys travel through the JSON protocol, so they are strings or ints.

    A worker that dies mid-case (not the case's forked child: the worker itself) gives a
    ``harness-error`` outcome for that case; the pool has already replaced the worker.
    """
    todo = list(items)
    todo.reverse()
    sent: dict[int, Case] = {}  # job number -> case, for a worker that dies mid-case
    numbers = itertools.count()
    while todo or pool.busy():
        for w in pool.idle():
            if not todo:
                break
            key, case = todo.pop()
            number = next(numbers)
            sent[number] = case
            pool.send(w, {"job": [key, number], "case": case.to_dict(), "target": case.target, "timeout": timeout,
                          "memory_mb": memory_mb})
        for job, result in pool.poll(0.5):
            key, number = job["job"]
            case = sent.pop(number)
            yield key, (Outcome.worker_died(case.case_id, case.target) if result is None else Outcome.from_dict(result["outcome"]))


def run_all(pool: WorkerPool, cases: list[Case], timeout: float = 300.0) -> list[Outcome]:
    """Outcomes of ``cases`` in order (duplicates allowed: each runs)."""
    got = dict(run_cases(pool, list(enumerate(cases)), timeout))
    return [got[i] for i in range(len(cases))]


class ReleasePool:
    """A warm pool on one executorch release, with its own log directory; a context manager.

    The reducer, control cases and bisection each need "run these cases on release X".
    """

    def __init__(self, release: str, workers: int, targets: list[str], timeout: float = 300.0, python: str | None = None) -> None:
        self.release = release
        self.timeout = timeout
        #: ``python`` names an interpreter outside the version matrix (a source build, a
        #: nightly); it then also verifies the repros.
        self.python = python or envs.python_for(release)
        self.verify_python = python or envs.verification_python(release)
        self.width = workers
        self._tmp = tempfile.TemporaryDirectory()
        self.pool = WorkerPool(workers, Path(self._tmp.name) / "workers.log", targets, self.python)

    def evaluate(self, cases: list[Case]) -> list[Outcome]:
        return run_all(self.pool, cases, self.timeout)

    def versions(self) -> dict[str, str]:
        """The stack the workers run: as they reported it once ready, else the matrix's record."""
        return self.pool.info.get("versions") or envs.versions_for(self.release)

    def close(self) -> None:
        self.pool.close()
        self._tmp.cleanup()

    def __enter__(self) -> "ReleasePool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
