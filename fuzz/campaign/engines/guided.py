"""The coverage-guided engine: libFuzzer chooses the inputs, the campaign's workers run them.

    armfuzz fuzz --engine guided --budget 30m

Three parts, each where it is cheapest and safest:

- the workers (fuzz.execution.worker) instrument the backend once warm (fuzz.execution.edges) and send, with
  every result, the basic blocks of ``executorch/backends/arm`` its forked child ran;
- one libFuzzer per worker (fuzz.campaign.engines.guided_driver, atheris's build) keeps and mutates byte
  inputs; it never runs executorch, so a crash, hang or OOM of a case ends a forked child in
  a worker as in the random engine, never the fuzzer;
- this module, in the controller, turns each input into a case on the target its first
  byte names (fuzz.generate.bytecase), queues it on the pool and answers the input's driver with the
  blocks it ran.

Everything else is the campaign's: the event log (an ``input`` event carries the bytes before
their results, so every case regenerates from the log), buckets, bugs, auto-reduction,
``--coverage``, resume. An input that reached blocks no earlier input reached is kept as
``guided/corpus/<sha1>.case.json`` (``armfuzz run`` replays it) with ``<sha1>.input.json`` (its bytes and blocks). A resumed campaign starts its drivers on
``guided/inputs`` and ``guided/libfuzzer``; known inputs answer from the kept blocks
without running again.

Why libFuzzer in its own process rather than in the worker (atheris's usual set-up): a case
must run in a forked child of a warm worker (fuzz.execution.worker), and libFuzzer's in-process loop
would both share one interpreter across cases and die with the first native crash; its fork
mode re-imports executorch (~12 s) for every job. Why one driver per worker: libFuzzer tests
one input at a time, so each worker needs a driver of its own to stay busy. The drivers share their corpus through
libFuzzer's own ``-reload`` of the output directory.
"""

from __future__ import annotations

import json
import random
import select
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fuzz.campaign.config import CampaignConfig
from fuzz.campaign.engines.base import JobSource
from fuzz.campaign.engines.guided_driver import SEED_LEN
from fuzz.campaign.store import CampaignDir, CampaignError, CampaignState
from fuzz.core.fsutil import atomic_write
from fuzz.core.target_options import Domains
from fuzz.execution import edges
from fuzz.generate.bytecase import decode, input_id, target_of
from fuzz.generate.case import Case
from fuzz.generate.recipes import derive_seed

#: Longest input libFuzzer makes. A generated case reads 50-200 bytes (200 random inputs:
#: median ~110, 90th percentile ~170); retries after an invalid draw read more.
MAX_LEN = 512
#: Random inputs a new guided campaign starts from (their length is SEED_LEN).
RANDOM_SEEDS = 8
#: libFuzzer's per-input limit: far beyond any input (its case times out in its worker
#: first, at --timeout).
DRIVER_TIMEOUT = 7 * 24 * 3600
#: Seconds a driver may take to hand over its next input (libFuzzer starts in about a second
#: and mutates in microseconds; loading a large corpus takes longer).
DRIVER_WAIT = 120.0


@dataclass
class _Input:
    index: int
    data: bytes
    #: the case the bytes decode to on their target (decoded once: the job, a retry, the corpus)
    case: Case
    #: the drivers waiting on this input (two drivers may make the same one, libFuzzer's
    #: "\n" first input among them)
    drivers: list["_Driver"] = field(default_factory=list)


class _Driver:
    """One libFuzzer process and the input it is waiting on."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.log = open(log, "a")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     bufsize=1)
        self.current: _Input | None = None
        self.finished = False
        self.log_path = log

    def read(self) -> bytes | None:
        """libFuzzer's next input, or None when the driver has ended normally (``-runs``)."""
        ready, _, _ = select.select([self.proc.stdout], [], [], DRIVER_WAIT)
        if not ready:
            self.close()
            raise CampaignError(f"a libFuzzer driver gave no input in {DRIVER_WAIT:.0f} s; see {self.log_path}")
        line = self.proc.stdout.readline()
        if not line:
            self.finished = True
            if self.proc.wait() != 0:
                raise CampaignError(f"a libFuzzer driver exited with code {self.proc.returncode}; see {self.log_path}")
            return None
        return bytes.fromhex(json.loads(line)["input"])

    def answer(self, blocks: str) -> None:
        try:
            self.proc.stdin.write(json.dumps({"edges": blocks}) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.finished = True

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if not self.log.closed:
            self.log.close()


class GuidedJobs(JobSource):
    """The guided engine's source of cases: inputs from the drivers, their blocks back."""

    def __init__(self, cfg: CampaignConfig, cdir: CampaignDir, state: CampaignState) -> None:
        try:
            import atheris  # noqa: F401
        except ImportError:
            raise CampaignError("--engine guided needs atheris: pip install 'atheris==3.0.0'") from None
        if cfg.ray is not None:
            raise CampaignError("--engine guided runs on local workers; drop --ray")
        self.cfg = cfg
        self.cdir = cdir
        self.dir = cfg.root / "guided"
        self.corpus = self.dir / "corpus"
        self.inputs_dir = self.dir / "inputs"
        for d in (self.corpus, self.inputs_dir, self.dir / "libfuzzer"):
            d.mkdir(parents=True, exist_ok=True)
        for seed_dir in cfg.seed_corpus:
            if not seed_dir.is_dir():
                raise CampaignError(f"--seed-corpus {seed_dir}: not a directory of inputs or a guided campaign")
        self.next_index = max([*state.inputs, *(i for i, _ in state.done)], default=-1) + 1
        self.drivers: list[_Driver] = []
        self.queue: list[tuple[int, str, str | None, Case]] = []
        self.inflight: dict[int, _Input] = {}
        self.layout: dict[str, Any] | None = None
        #: input sha1 -> the blocks it ran (this session's inputs and the kept corpus)
        self.known: dict[str, str] = {}
        self.seen: set[int] = set()
        self.evaluated = 0
        self.replayed = 0
        self.kept = 0
        self.growth: list[dict[str, Any]] = []
        self.t0 = time.monotonic()

    def worker_env(self) -> dict[str, str]:
        return {edges.ENV: "1"}

    # -- starting ---------------------------------------------------------------------------

    def _start(self, layout: dict[str, Any]) -> None:
        """Load the kept corpus's blocks (same instrumentation only) and start the drivers."""
        self.layout = layout
        for meta_path in sorted(self.corpus.glob("*.input.json")):
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, json.JSONDecodeError):
                continue  # a torn file: that input runs again
            if meta.get("layout") == layout["digest"]:
                self.known[meta["id"]] = meta["blocks"]
                self.seen |= edges.decode(meta["blocks"])
                self.kept += 1
        seeds = [str(self.inputs_dir), str(self._random_seeds())]
        for d in self.cfg.seed_corpus:
            seeds += [str(p) for p in (d / "guided" / "inputs", d / "guided" / "libfuzzer") if p.is_dir()] or [str(d)]
        for k in range(self.cfg.workers):
            argv = [sys.executable, "-m", "fuzz.campaign.engines.guided_driver", str(layout["blocks"]),
                    f"-seed={self.cfg.seed * 1000 + k + 1}", f"-max_len={MAX_LEN}", "-len_control=0", "-rss_limit_mb=0",
                    # cases time out in the workers; atheris's -timeout=0 would mean zero seconds
                    f"-timeout={DRIVER_TIMEOUT}", f"-artifact_prefix={self.dir}/", "-print_final_stats=0", str(self.dir / "libfuzzer"), *seeds]
            self.drivers.append(_Driver(argv, self.dir / f"driver-{k}.log"))

    def _random_seeds(self) -> Path:
        """A few random inputs (from the campaign seed) for libFuzzer to start from: spread-out
        cases like the random engine's first ones, instead of growing from the empty input
        (one at a time, at seconds per input, that is slow)."""
        d = self.dir / "seeds"
        if not d.is_dir():
            rng = random.Random(derive_seed(self.cfg.seed, "guided-seeds"))
            for _ in range(RANDOM_SEEDS):
                data = rng.randbytes(SEED_LEN)
                atomic_write(d / input_id(data), data)
        return d

    # -- the job source ---------------------------------------------------------------------

    def next_job(self, state: CampaignState, pool: Any) -> tuple[int, str, str | None, Case] | None:
        if not self.drivers:
            if not (pool.info or {}).get("edges"):
                return None  # no worker ready yet: the block layout is not known
            self._start(pool.info["edges"])
        if not self.queue:
            self._pull(state, self.domains(pool))
        return self.queue.pop(0) if self.queue else None

    def _pull(self, state: CampaignState, domains: Domains | None) -> None:
        """Take the next input from an idle driver; inputs whose blocks are known are
        answered at once (libFuzzer re-reading its corpus), the first new one is queued."""
        for d in self.drivers:
            while not d.finished and d.current is None and not self._input_limit_reached():
                data = d.read()
                if data is None:
                    break
                known = self.known.get(input_id(data))
                if known is not None:
                    self.replayed += 1
                    d.answer(known)
                    continue
                twin = next((inp for inp in self.inflight.values() if inp.data == data), None)
                if twin is not None:  # answered with its twin's blocks
                    twin.drivers.append(d)
                    d.current = twin
                    continue
                self._queue(d, data, state, domains)
                return
        if all(d.finished for d in self.drivers) or (self._input_limit_reached() and not self.inflight):
            self.exhausted = True

    def _input_limit_reached(self) -> bool:
        return self.cfg.cases is not None and self.evaluated >= self.cfg.cases

    def _queue(self, d: _Driver, data: bytes, state: CampaignState, domains: Domains | None) -> None:
        index = self.next_index
        self.next_index += 1
        self.evaluated += 1
        # Logged before any of its results: every later event of this index decodes from it.
        self.cdir.append({"type": "input", "index": index, "id": input_id(data), "data": data.hex(), "t": time.time()})
        state.inputs[index] = data
        target = target_of(data, self.cfg.targets)
        inp = _Input(index, data, decode(data, target, domains), drivers=[d])
        d.current = inp
        self.inflight[index] = inp
        self.queue.append((index, target, None, inp.case))

    def retry(self, index: int, target: str, focus: str | None) -> None:
        self.queue.insert(0, (index, target, None, self.inflight[index].case))

    def done(self, index: int, target: str, result: dict[str, Any]) -> None:
        if index not in self.inflight:
            return
        inp = self.inflight.pop(index)
        blocks = result.get("edges") or edges.encode(set())  # none from a killed child
        ran = edges.decode(blocks)
        self.known[input_id(inp.data)] = blocks
        new = ran - self.seen
        if new:
            self.seen |= new
            self._keep(inp, blocks, len(new))
        for waiter in inp.drivers:
            waiter.current = None
            waiter.answer(blocks)

    def _keep(self, inp: _Input, blocks: str, new: int) -> None:
        """Save an input that reached new blocks: its bytes (libFuzzer's seed on resume), its
        blocks, and its case as JSON for ``armfuzz run``."""
        sha = input_id(inp.data)
        atomic_write(self.inputs_dir / sha, inp.data)
        atomic_write(self.corpus / f"{sha}.case.json", inp.case.to_json())
        meta = {"id": sha, "index": inp.index, "target": inp.case.target, "data": inp.data.hex(), "new_blocks": new, "blocks": blocks,
                "layout": self.layout["digest"] if self.layout else None, "t": time.time()}
        atomic_write(self.corpus / f"{sha}.input.json", json.dumps(meta) + "\n")
        self.kept += 1
        self.growth.append({"t": round(time.monotonic() - self.t0, 1), "inputs": self.evaluated, "blocks": len(self.seen)})

    def stats(self) -> dict[str, Any]:
        return {"guided": {"inputs": self.evaluated, "replayed": self.replayed, "corpus": self.kept,
                           "blocks": len(self.seen), "of": (self.layout or {}).get("blocks"),
                           "layout": (self.layout or {}).get("digest"), "growth": self.growth}}

    def close(self) -> None:
        for d in self.drivers:
            d.close()
