"""Campaigns: a directory that is the whole state of a fuzzing run, driven by warm workers.

Layout of a campaign directory::

    campaign.json          seed, targets, limits (written once; a resume must agree)
    events.jsonl           append-only log, one line per finished (case index, target)
    buckets/<sig-hash>/    signature.txt, meta.json, first.case.json / .outcome.json,
                           smallest.case.json / .outcome.json
    bugs.json, bugs/<id>/  bugs above the buckets (fuzz.bugs): meta.json, the representative
                           case (signature.txt, smallest.case.json), later its reduction and report
    stats.json             derived summary, rewritten after every result
    workers.log            the workers' stderr for this session (vela chatter, tracebacks)

The log is the source of truth. A result is appended and fsynced *before* its bucket files
are written, and bucket state is rebuilt from the log on every start. A campaign killed at
any instant therefore resumes with every logged finding intact; its missing files are
regenerated from ``(seed, index, target)`` because generation is deterministic. In-flight
cases were never logged, so they run again.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from fuzz import envs
from fuzz.backend_coverage import CampaignCoverage
from fuzz.bugs import Bug, bug_id, group
from fuzz.case import Case
from fuzz.fsutil import atomic_write
from fuzz.generator import GENERATOR_VERSION, generate
from fuzz.outcome import FAILURES, Outcome
from fuzz.pool import WorkerPool
from fuzz.recipes import derive_seed
from fuzz.regimes import REGIMES
from fuzz.targets import TARGETS

SCHEMA = 1


class CampaignError(RuntimeError):
    """A campaign directory cannot be used as asked (message names the file and the fix)."""


def bucket_id(signature: str) -> str:
    return hashlib.sha256(signature.encode()).hexdigest()[:12]


@dataclass
class Bucket:
    signature: str
    count: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0
    #: (case index, target, focus) -- enough to regenerate the case
    first: tuple[int, str, str | None] = (0, "", None)
    smallest: tuple[int, str, str | None] = (0, "", None)
    smallest_nodes: int = 1 << 30
    new: bool = False  # first seen in this session
    #: executorch releases this signature was seen on
    releases: set[str] = field(default_factory=set)
    #: id of the bug this bucket belongs to (fuzz.bugs), once known
    bug: str | None = None

    def meta(self) -> dict[str, Any]:
        return {
            "signature": self.signature,
            "bug": self.bug,
            "bug_report": f"../../bugs/{self.bug}/report.md" if self.bug else None,
            "releases": sorted(self.releases),
            "count": self.count,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "first": {"index": self.first[0], "target": self.first[1], "focus": self.first[2]},
            "smallest": {"index": self.smallest[0], "target": self.smallest[1], "focus": self.smallest[2], "nodes": self.smallest_nodes},
        }


@dataclass
class CampaignState:
    """Everything derived from the event log."""

    done: set[tuple[int, str]] = field(default_factory=set)
    tally: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    delegated: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    buckets: dict[str, Bucket] = field(default_factory=dict)
    #: target -> regime -> number of results that reached it
    coverage: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    #: case index -> its failures (target, status, signature): one case, several symptoms
    case_failures: dict[int, list[tuple[str, str, str]]] = field(default_factory=lambda: defaultdict(list))
    #: what this session's workers reported: their interpreter and package versions
    stack: dict[str, Any] = field(default_factory=dict)
    #: failures folded in so far: bugs are regrouped only when it moves
    revision: int = 0
    #: guided campaigns: case index -> the input bytes its cases decode from (fuzz.bytecase)
    inputs: dict[int, bytes] = field(default_factory=dict)
    _bugs: tuple[int, list[Bug]] = (-1, [])

    def bugs(self) -> list[Bug]:
        """Bugs over the buckets (fuzz.bugs), first seen first; tags each bucket with its bug.
        Grouping is not incremental, so it is cached until the next failure."""
        if self._bugs[0] != self.revision:
            found = group(list(self.buckets.values()), self.case_failures)
            for bug in found:
                for sig in bug.buckets:
                    self.buckets[sig].bug = bug.id
            self._bugs = (self.revision, found)
        return self._bugs[1]

    def case_for(self, seed: int, index: int, target: str, focus: str | None) -> Case:
        """Regenerate a logged case: from its input's bytes in a guided campaign, else from
        the seed (generation is deterministic either way)."""
        if index in self.inputs:
            from fuzz.bytecase import decode

            return decode(self.inputs[index], target)
        return generate(seed, index, target, focus)

    def add(self, ev: dict[str, Any], new: bool = False) -> tuple[Bucket | None, bool, bool]:
        """Fold one result event in; returns (bucket, is_first, is_smallest)."""
        key = (ev["index"], ev["target"])
        self.done.add(key)
        if ev.get("release"):  # until this session's workers report, the log says what ran
            self.stack = self.stack or {"python": ev.get("python"), "versions": {"executorch": ev["release"]}}
        self.tally[ev["target"]][ev["status"]] += 1
        if ev.get("delegated_fraction") is not None:
            self.delegated[ev["target"]].append(ev["delegated_fraction"])
        self.coverage[ev["target"]].update(ev.get("regimes", []))
        if ev["status"] not in FAILURES and ev["status"] != "harness-error":
            return None, False, False
        self.revision += 1
        ref = (ev["index"], ev["target"], ev.get("focus"))
        b = self.buckets.get(ev["signature"])
        first = b is None
        if first:
            b = self.buckets[ev["signature"]] = Bucket(ev["signature"], first_seen=ev["t"], first=ref, new=new)
        b.count += 1
        b.last_seen = ev["t"]
        if ev.get("release"):
            b.releases.add(ev["release"])
        self.case_failures[ev["index"]].append((ev["target"], ev["status"], ev["signature"]))
        smallest = ev["nodes"] < b.smallest_nodes
        if smallest:
            b.smallest, b.smallest_nodes = ref, ev["nodes"]
        return b, first, smallest


class CampaignDir:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.events_path = root / "events.jsonl"
        self.config_path = root / "campaign.json"
        #: bug id -> the meta.json this process last wrote (bug files change with few results)
        self._bug_meta: dict[str, dict[str, Any]] = {}
        #: bug ids when stale bug directories were last marked
        self._bug_ids: frozenset[str] = frozenset()

    def open(self, seed: int, targets: list[str], timeout: float, memory_mb: int, engine: str = "random") -> dict[str, Any]:
        """Create the campaign, or check that a resumed one asks for the same cases."""
        self.root.mkdir(parents=True, exist_ok=True)
        want = {"schema": SCHEMA, "seed": seed, "targets": targets, "timeout": timeout, "memory_mb": memory_mb,
                "generator": GENERATOR_VERSION, "engine": engine}
        if self.config_path.exists():
            try:
                have = json.loads(self.config_path.read_text())
            except json.JSONDecodeError:
                raise CampaignError(f"{self.config_path}: corrupt; restore it or start a new campaign directory") from None
            have.setdefault("engine", "random")  # campaigns before the guided engine
            for k in ("seed", "targets", "engine"):
                if have.get(k) != want[k]:
                    raise CampaignError(
                        f"{self.config_path}: campaign has {k}={have.get(k)!r}, asked for {want[k]!r}; "
                        f"use the same {k} to resume or a new --campaign directory"
                    )
            made_by = have.get("generator", 1)  # campaigns before the field were version 1
            if made_by != GENERATOR_VERSION:
                raise CampaignError(
                    f"{self.config_path}: campaign was generated by generator version {made_by}, this armfuzz "
                    f"generates version {GENERATOR_VERSION} (other cases for the same seed); resume it with the "
                    f"armfuzz that started it, or start a new --campaign directory"
                )
            return have
        atomic_write(self.config_path, json.dumps({**want, "created": time.time()}, indent=2) + "\n")
        return want

    def open_existing(self) -> dict[str, Any]:
        """campaign.json of a campaign that exists (one-line error naming the file otherwise)."""
        try:
            return json.loads(self.config_path.read_text())
        except (OSError, json.JSONDecodeError):
            raise CampaignError(f"{self.config_path}: missing or corrupt; is {self.root} a campaign directory?") from None

    def record_stack(self, stack: dict[str, Any]) -> None:
        """Add the tool stack a session's workers reported (interpreter, torch, torchao,
        executorch, tosa-tools, vela, model-converter) to campaign.json's ``stacks``: a resumed
        campaign may run on another release, and each report must say what it ran on."""
        if not stack.get("versions"):
            return
        config = self.open_existing()
        entry = {"python": stack.get("python"), "versions": stack["versions"]}
        if entry not in config.get("stacks", []):
            atomic_write(self.config_path, json.dumps({**config, "stacks": [*config.get("stacks", []), entry]}, indent=2) + "\n")

    def load(self) -> CampaignState:
        """Rebuild state from the log, dropping a torn last line left by a kill mid-write. An
        event without ``release`` (older logs) takes campaign.json's, if it names one."""
        state = CampaignState()
        if not self.events_path.exists():
            return state
        release = _read_json(self.config_path, {}).get("release")
        raw = self.events_path.read_bytes()
        good_end = 0
        for line in raw.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break
            try:
                ev = json.loads(line)
            except json.JSONDecodeError:
                break
            good_end += len(line)
            if ev.get("type") == "input":
                state.inputs[ev["index"]] = bytes.fromhex(ev["data"])
            elif ev.get("type") == "result" and (ev["index"], ev["target"]) not in state.done:
                state.add(ev if ev.get("release") or not release else {**ev, "release": release})
        if good_end != len(raw):
            with open(self.events_path, "r+b") as f:
                f.truncate(good_end)
        return state

    def append(self, ev: dict[str, Any]) -> None:
        with open(self.events_path, "a") as f:
            f.write(json.dumps(ev, separators=(",", ":")) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def bucket_dir(self, b: Bucket) -> Path:
        return self.root / "buckets" / bucket_id(b.signature)

    def write_bucket(self, b: Bucket, case: Case | None, outcome: dict | None, first: bool, smallest: bool) -> None:
        d = self.bucket_dir(b)
        if first or not (d / "signature.txt").exists():
            atomic_write(d / "signature.txt", b.signature + "\n")
        for role, flag in (("first", first), ("smallest", smallest)):
            if flag and case is not None:
                atomic_write(d / f"{role}.case.json", case.to_json())
                if outcome is not None:
                    atomic_write(d / f"{role}.outcome.json", json.dumps(outcome, indent=2) + "\n")
        atomic_write(d / "meta.json", json.dumps(b.meta(), indent=2) + "\n")

    def heal(self, state: CampaignState, seed: int) -> None:
        """Regenerate bucket and bug files a kill left unwritten (the log had them already)."""
        bugs = state.bugs()
        for b in state.buckets.values():
            d = self.bucket_dir(b)
            for role, (index, target, focus) in (("first", b.first), ("smallest", b.smallest)):
                if not (d / f"{role}.case.json").exists():
                    atomic_write(d / f"{role}.case.json", state.case_for(seed, index, target, focus).to_json())
            self.write_bucket(b, None, None, first=False, smallest=False)
        self.write_bugs(bugs, seed, state)

    def bug_dir(self, bug: Bug) -> Path:
        return self.root / "bugs" / bug.id

    def write_bugs(self, bugs: list[Bug], seed: int, state: CampaignState) -> None:
        """``bugs.json`` and, per bug, ``meta.json`` plus its representative as a bucket-like
        directory (``signature.txt``, ``smallest.case.json`` and, when its bucket has it,
        ``smallest.outcome.json``) that `armfuzz reduce` takes. A reduced bug keeps the case
        its report was made from. Only what changed is written."""
        for bug in bugs:
            d = self.bug_dir(bug)
            index, target, focus, _, signature = bug.representative
            meta = bug.meta()
            old = self._bug_meta.get(bug.id) or _read_json(d / "meta.json", {})
            if old == meta and (d / "smallest.case.json").exists():
                continue
            if not (d / "reduction.json").exists() and (old.get("representative") != meta["representative"] or not (d / "smallest.case.json").exists()):
                atomic_write(d / "smallest.case.json", state.case_for(seed, index, target, focus).to_json())
                atomic_write(d / "signature.txt", signature + "\n")
                outcome = self.root / "buckets" / bucket_id(signature) / "smallest.outcome.json"
                if outcome.exists():  # the representative is its bucket's smallest case
                    atomic_write(d / "smallest.outcome.json", outcome.read_text())
                else:  # not kept (a kill before the bucket was written): not another case's either
                    (d / "smallest.outcome.json").unlink(missing_ok=True)
            atomic_write(d / "meta.json", json.dumps(meta, indent=2) + "\n")
            self._bug_meta[bug.id] = meta
        self._mark_merged(bugs)
        index = [{**bug.meta(), "report": f"bugs/{bug.id}/report.md" if (self.bug_dir(bug) / "report.md").exists() else None}
                 for bug in bugs]
        atomic_write(self.root / "bugs.json", json.dumps(index, indent=2) + "\n")

    def _mark_merged(self, bugs: list[Bug]) -> None:
        """A bug directory whose key has since joined another bug (a later case linked its tool
        failure to an invalid graph) keeps its files and points at the bug it is now part of;
        it is no longer listed, reduced or reported."""
        ids = frozenset(bug.id for bug in bugs)
        if ids == self._bug_ids:
            return
        self._bug_ids = ids
        into = {bug_id(k): bug.id for bug in bugs for k in bug.members if bug_id(k) != bug.id}
        for d in sorted((self.root / "bugs").glob("*/")):
            if d.name in into:
                meta = _read_json(d / "meta.json", {})
                if meta.get("merged_into") != into[d.name]:
                    atomic_write(d / "meta.json", json.dumps({**meta, "id": d.name, "merged_into": into[d.name],
                                                              "merged_report": f"../{into[d.name]}/report.md"}, indent=2) + "\n")

    def write_stats(self, state: CampaignState, extra: dict[str, Any]) -> None:
        stats = {
            "results": len(state.done),
            "bugs": len(state.bugs()),
            "buckets": len(state.buckets),
            "per_target": {t: dict(c) for t, c in state.tally.items()},
            "delegated_mean": {t: round(sum(v) / len(v), 3) for t, v in state.delegated.items() if v},
            "regime_coverage": {t: dict(c) for t, c in state.coverage.items()},
            **extra,
        }
        atomic_write(self.root / "stats.json", json.dumps(stats, indent=2) + "\n")


def _read_json(path: Path, like: Any = None) -> Any:
    """A derived JSON file, or {} when a kill left it torn (it is rewritten from the log);
    with ``like``, also {} when it is not of that type."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data if like is None or isinstance(data, type(like)) else {}


def parse_budget(text: str | None) -> float | None:
    """'2h', '30m', '90s', '1h30m' or plain seconds -> seconds."""
    if not text:
        return None
    total, num = 0.0, ""
    for ch in text.strip():
        if ch.isdigit() or ch == ".":
            num += ch
        elif ch in "hms" and num:
            total += float(num) * {"h": 3600, "m": 60, "s": 1}[ch]
            num = ""
        else:
            raise ValueError(f"budget {text!r}: use forms like 2h, 30m, 90s or 1h30m")
    if num:
        total += float(num)
    return total


@dataclass
class CampaignConfig:
    root: Path
    seed: int
    targets: list[str]
    cases: int | None = None
    budget: float | None = None
    workers: int = 2
    timeout: float = 300.0
    memory_mb: int = 8192
    #: Test seam: case index -> fault injected in that case's child (see fuzz.worker).
    inject: dict[int, str] = field(default_factory=dict)
    #: Aim new cases at the regimes this campaign has reached least (coverage feedback).
    steer: bool = True
    #: Interpreter the workers run on: another release's venv, a source build, a nightly
    #: (None: this one). The controller needs nothing from it but the worker protocol.
    python: str | None = None
    #: Ray cluster address (or "auto"): the workers become actors there (fuzz.ray_pool).
    ray: str | None = None
    #: Measure statement and branch coverage of executorch/backends/arm in the workers
    #: (fuzz.backend_coverage); costs throughput, so it is asked for.
    coverage: bool = False
    #: "random": seeded generation steered by regimes; "guided": libFuzzer over bytes decoded
    #: into cases, fed the backend blocks each case ran (fuzz.guided).
    engine: str = "random"
    #: Guided engine: directories of inputs (raw bytes, or a guided campaign) to start from.
    seed_corpus: list[Path] = field(default_factory=list)


#: Seconds between two points of the coverage growth record (a fold reads every finished
#: case's data file; at ~0.3 results/s a point folds ~10).
COVERAGE_EVERY = 30.0


#: Share of cases aimed at an under-covered regime; the rest stay undirected for diversity.
STEER_SHARE = 0.7


def applicable_regimes(target: str) -> list[str]:
    """Regimes a target can reach at all (int16 ones need the int16 extension)."""
    t = TARGETS[target]
    out = []
    for r in REGIMES:
        if r in ("int16-int48-bias", "config-a16w8") and not t.int16:
            continue
        # int16 activations take no act range and no 4-bit weights (QuantConfig.four_bit_weights).
        if t.forced_activations == "int16" and r in ("config-act-qmin-127", "config-act-qmin-128", "zp-at-qmin-nonact", "config-a8w4"):
            continue
        if r == "config-a8w4" and "int4" not in t.extensions:
            continue
        out.append(r)
    return out


def pick_focus(state: CampaignState, seed: int, index: int, target: str) -> str | None:
    """The least-covered regime for this target (ties broken by a seeded draw), or None."""
    rng = random.Random(derive_seed(seed, "focus", index, target))
    if rng.random() >= STEER_SHARE:
        return None
    cov = state.coverage[target]
    regimes = applicable_regimes(target)
    least = min(cov.get(r, 0) for r in regimes)
    return rng.choice([r for r in regimes if cov.get(r, 0) == least])


def run_campaign(cfg: CampaignConfig, on_result: Callable[[dict[str, Any], CampaignState], None] | None = None) -> CampaignState:
    """Run (or resume) a campaign until its case count or time budget is spent."""
    cdir = CampaignDir(cfg.root)
    cdir.open(cfg.seed, cfg.targets, cfg.timeout, cfg.memory_mb, cfg.engine)
    state = cdir.load()
    cdir.heal(state, cfg.seed)
    if cfg.engine == "guided":
        from fuzz.guided import GuidedJobs

        jobs: JobSource = GuidedJobs(cfg, cdir, state)
    else:
        jobs = SeededJobs(cfg, state)
    cov = CampaignCoverage(cfg.root) if cfg.coverage else None
    env = {**(cov.prepare() if cov else {}), **jobs.worker_env()}
    pool = _pool(cfg, env)
    try:
        return _drive(cfg, cdir, state, pool, jobs, cov, on_result)
    finally:
        jobs.close()


class JobSource:
    """Where a campaign's cases come from: the seeded generator (SeededJobs) or the guided
    engine's libFuzzer (fuzz.guided.GuidedJobs). The loop in ``_drive`` is the same for both."""

    #: True once no case will ever come again (the campaign ends when the workers are idle).
    exhausted: bool = False

    def worker_env(self) -> dict[str, str]:
        """Extra environment the workers need (the guided engine's instrumentation)."""
        return {}

    def next_job(self, state: CampaignState, pool: Any) -> tuple[int, str, str | None, Case] | None:
        """(index, target, focus, case) to run next, or None for "nothing now"."""
        raise NotImplementedError

    def retry(self, index: int, target: str, focus: str | None) -> None:
        """Run a case again whose worker died under it."""
        raise NotImplementedError

    def done(self, index: int, target: str, result: dict[str, Any]) -> None:
        """A case's result was recorded."""

    def stats(self) -> dict[str, Any]:
        """The engine's own entries in stats.json."""
        return {}

    def close(self) -> None:
        pass


class SeededJobs(JobSource):
    """The random engine: case ``index`` on ``target`` is ``generate(seed, index, target,
    focus)``, its focus picked from regime coverage so far (pick_focus)."""

    def __init__(self, cfg: CampaignConfig, state: CampaignState) -> None:
        self.cfg = cfg
        self.pending = _pending(cfg, state)
        self.requeue: list[tuple[int, str]] = []

    def next_job(self, state: CampaignState, pool: Any) -> tuple[int, str, str | None, Case] | None:
        nxt = self.requeue.pop() if self.requeue else next(self.pending, None)
        if nxt is None:
            self.exhausted = True
            return None
        index, target = nxt
        focus = pick_focus(state, self.cfg.seed, index, target) if self.cfg.steer else None
        return index, target, focus, generate(self.cfg.seed, index, target, focus)

    def retry(self, index: int, target: str, focus: str | None) -> None:
        self.requeue.append((index, target))


def _drive(cfg: CampaignConfig, cdir: CampaignDir, state: CampaignState, pool: Any, jobs: JobSource,
           cov: CampaignCoverage | None, on_result: Callable[[dict[str, Any], CampaignState], None] | None) -> CampaignState:
    """Hand cases to idle workers and record their results until the budget or the cases run out."""
    # The release an event records when the workers did not say (they run this interpreter).
    release = envs.installed_version() if cfg.python is None and cfg.ray is None else None
    recorded = False
    t_start = time.monotonic()
    retries: Counter = Counter()
    next_point = time.monotonic() + COVERAGE_EVERY
    try:
        while True:
            over_budget = cfg.budget is not None and time.monotonic() - t_start >= cfg.budget
            for w in pool.idle():
                nxt = None if over_budget else jobs.next_job(state, pool)
                if nxt is None:
                    break
                index, target, focus, case = nxt
                pool.send(w, {"job": [index, target, focus], "case": case.to_dict(), "target": target, "timeout": cfg.timeout,
                              "memory_mb": cfg.memory_mb, "inject": cfg.inject.get(index)})
            if pool.busy() == 0 and (jobs.exhausted or over_budget):
                break
            for job, result in pool.poll(0.5):
                index, target, focus = job["job"]
                if result is None:  # the worker process died; give the case one more chance
                    retries[(index, target)] += 1
                    if retries[(index, target)] <= 1:
                        jobs.retry(index, target, focus)
                        continue
                    result = _worker_lost(job)
                if pool.info and not recorded:
                    cdir.record_stack(pool.info)
                    recorded = True
                ev = _record(cdir, state, Case.from_dict(job["case"]), cfg.seed, index, target, focus, result, pool.info, release)
                jobs.done(index, target, result)
                if cov is not None and time.monotonic() >= next_point:
                    cov.record_growth_in_background(time.monotonic() - t_start, len(state.done))
                    next_point = time.monotonic() + COVERAGE_EVERY
                cdir.write_stats(state, {"elapsed_session": round(time.monotonic() - t_start, 1), "stack": pool.info,
                                         **_coverage_stats(cov), **jobs.stats()})
                if on_result is not None:
                    on_result(ev, state)
    finally:
        pool.close()
    if pool.info:
        cdir.record_stack(pool.info)
    # Nothing left to run: the stack the campaign last ran on, else what the log says.
    state.stack = pool.info or (cdir.open_existing().get("stacks") or [state.stack])[-1]
    if cov is not None:
        cov.finish(time.monotonic() - t_start, len(state.done))
    cdir.write_stats(state, {"elapsed_session": round(time.monotonic() - t_start, 1), "stack": state.stack,
                             **_coverage_stats(cov), **jobs.stats()})
    return state


def _coverage_stats(cov: CampaignCoverage | None) -> dict[str, Any]:
    """stats.json's coverage entry: the growth record so far (statements reached over time)."""
    if cov is None:
        return {}
    growth = cov.growth()
    return {"coverage": {"statements": growth[-1]["statements"] if growth else None, "growth": growth}}


def _pool(cfg: CampaignConfig, env: dict[str, str] | None = None) -> Any:
    """Local warm workers, or Ray actors on a cluster; the same interface either way."""
    if cfg.ray is None:
        return WorkerPool(cfg.workers, cfg.root / "workers.log", cfg.targets, cfg.python, env)
    if env:
        raise CampaignError("--coverage measures local workers only; drop --ray or --coverage")
    if cfg.python is not None:
        raise CampaignError("--ray runs the cluster's own interpreter; give --release/--python to the nodes' venv instead")
    try:
        from fuzz.ray_pool import RayPool
    except ImportError:
        raise CampaignError("--ray needs Ray: pip install 'armfuzz[ray]'") from None
    return RayPool(cfg.ray, cfg.targets)


def _pending(cfg: CampaignConfig, state: CampaignState) -> Iterator[tuple[int, str]]:
    index = 0
    while cfg.cases is None or index < cfg.cases:
        for t in cfg.targets:
            if (index, t) not in state.done:
                yield index, t
        index += 1


def _worker_lost(job: dict[str, Any]) -> dict[str, Any]:
    outcome = Outcome.worker_died(Case.from_dict(job["case"]).case_id, job["target"])
    return {"outcome": outcome.to_dict(), "wall": 0.0, "peak_rss_mb": 0.0}


def _record(
    cdir: CampaignDir, state: CampaignState, case: Case, seed: int, index: int, target: str, focus: str | None,
    result: dict[str, Any], worker: dict[str, Any], release: str | None = None,
) -> dict[str, Any]:
    """Log one result (with the release and interpreter the workers reported, else
    ``release``), then fold it into buckets and bugs."""
    o = result["outcome"]
    ev = {
        "type": "result",
        "seed": seed,
        "index": index,
        "target": target,
        "focus": focus,
        "regimes": o.get("regimes", []),
        "case_id": o.get("case_id"),
        "status": o["status"],
        "signature": o.get("signature", ""),
        "stage": o.get("stage", ""),
        "nodes": len(case.nodes),
        "delegated_fraction": (o.get("delegation") or {}).get("delegated_fraction"),
        "wall": result.get("wall"),
        "peak_rss_mb": result.get("peak_rss_mb"),
        "timings": o.get("timings", {}),
        "release": worker.get("versions", {}).get("executorch") or release,
        "python": worker.get("python"),
        "t": time.time(),
    }
    cdir.append(ev)  # logged before acted on
    was = {sig: b.bug for sig, b in state.buckets.items()}
    bucket, first, smallest = state.add(ev, new=True)
    if bucket is not None:
        bugs = state.bugs()
        cdir.write_bucket(bucket, case, o, first, smallest)
        for b in state.buckets.values():  # buckets a later case moved into another bug
            if b is not bucket and was.get(b.signature) != b.bug:
                cdir.write_bucket(b, None, None, first=False, smallest=False)
        cdir.write_bugs(bugs, seed, state)
    return ev


def list_bugs(root: Path) -> list[dict[str, Any]]:
    """The campaign's bugs (``bugs.json``), first seen first; rebuilt from the log when torn."""
    path = root / "bugs.json"
    if not (root / "events.jsonl").exists():
        raise CampaignError(f"{root}: no events.jsonl; is this a campaign directory?")
    rows = _read_json(path) if path.exists() else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "id" in r for r in rows):
        cdir = CampaignDir(root)
        cdir.heal(cdir.load(), cdir.open_existing()["seed"])
        rows = json.loads(path.read_text())
    for row in rows:  # reports appear after the index was written
        report = root / "bugs" / row["id"] / "report.md"
        row["report"] = str(report.relative_to(root)) if report.exists() else None
    return rows


def list_buckets(root: Path) -> list[dict[str, Any]]:
    """Bucket metadata, newest first (novelty), then by count."""
    out = []
    for meta in sorted((root / "buckets").glob("*/meta.json")):
        try:
            out.append({"id": meta.parent.name, **json.loads(meta.read_text())})
        except json.JSONDecodeError:
            raise CampaignError(f"{meta}: corrupt; delete it and resume the campaign to rebuild it from events.jsonl") from None
    return sorted(out, key=lambda m: (-m["first_seen"], -m["count"]))
