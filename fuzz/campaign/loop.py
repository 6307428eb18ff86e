"""The campaign loop: hand cases from an engine to warm workers, log each result before acting
on it, fold it into buckets and bugs (the directory's layout and guarantees: fuzz.campaign.store)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, Callable

from fuzz.campaign.config import CampaignConfig
from fuzz.campaign.engines.base import JobSource
from fuzz.campaign.engines.seeded import SeededJobs
from fuzz.campaign.store import CampaignDir, CampaignError, CampaignState, stack_entry
from fuzz.core.releases import installed_version
from fuzz.core.target_options import Domains
from fuzz.execution.backend_coverage import CampaignCoverage
from fuzz.execution.pool import WorkerPool
from fuzz.generate.case import Case
from fuzz.judge.outcome import Outcome

#: Seconds between two points of the coverage growth record (a fold reads every finished
#: case's data file; at ~0.3 results/s a point folds ~10).
COVERAGE_EVERY = 30.0


def run_campaign(cfg: CampaignConfig, on_result: Callable[[dict[str, Any], CampaignState], None] | None = None) -> CampaignState:
    """Run (or resume) a campaign until its case count or time budget is spent."""
    cdir = CampaignDir(cfg.root)
    cdir.known_bugs()  # an unusable known-bugs file stops the campaign here, before any work
    cdir.open(cfg.seed, cfg.targets, cfg.timeout, cfg.memory_mb, cfg.engine)
    state = cdir.load()
    cdir.heal(state, cfg.seed)
    if cfg.engine == "guided":
        from fuzz.campaign.engines.guided import GuidedJobs

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


def _drive(cfg: CampaignConfig, cdir: CampaignDir, state: CampaignState, pool: Any, jobs: JobSource,
           cov: CampaignCoverage | None, on_result: Callable[[dict[str, Any], CampaignState], None] | None) -> CampaignState:
    """Hand cases to idle workers and record their results until the budget or the cases run out."""
    # The release an event records when the workers did not say (they run this interpreter).
    release = installed_version() if cfg.python is None and cfg.ray is None else None
    recorded = False
    digest = None  # of the workers' option domains, once they report
    in_flight: dict[tuple[int, str], Case] = {}
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
                in_flight[(index, target)] = case  # the controller never re-validates a case it drew for the workers' release
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
                    cdir.record_stack(pool.info, state)
                    recorded = True
                    digest = Domains.from_dict(pool.info["domains"]).digest() if pool.info.get("domains") else None
                case = in_flight.pop((index, target), None) or Case.from_dict(job["case"])
                ev = _record(cdir, state, case, cfg.seed, index, target, focus, result, pool.info, release, digest)
                jobs.done(index, target, result)
                if cov is not None and time.monotonic() >= next_point:
                    cov.record_growth_in_background(time.monotonic() - t_start, len(state.done))
                    next_point = time.monotonic() + COVERAGE_EVERY
                cdir.write_stats(state, {"elapsed_session": round(time.monotonic() - t_start, 1), "stack": stack_entry(pool.info),
                                         **_coverage_stats(cov), **jobs.stats()})
                if on_result is not None:
                    on_result(ev, state)
    finally:
        pool.close()
    if pool.info:
        cdir.record_stack(pool.info, state)
    # Nothing left to run: the stack the campaign last ran on, else what the log says.
    state.stack = stack_entry(pool.info) or (cdir.open_existing().get("stacks") or [state.stack])[-1]
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
        from fuzz.execution.ray_pool import RayPool
    except ImportError:
        raise CampaignError("--ray needs Ray: pip install 'armfuzz[ray]'") from None
    return RayPool(cfg.ray, cfg.targets)


def _worker_lost(job: dict[str, Any]) -> dict[str, Any]:
    outcome = Outcome.worker_died(Case.from_dict(job["case"]).case_id, job["target"])
    return {"outcome": outcome.to_dict(), "wall": 0.0, "peak_rss_mb": 0.0}


def _record(
    cdir: CampaignDir, state: CampaignState, case: Case, seed: int, index: int, target: str, focus: str | None,
    result: dict[str, Any], worker: dict[str, Any], release: str | None = None, domains: str | None = None,
) -> dict[str, Any]:
    """Log one result (with the release and interpreter the workers reported, else
    ``release``, and the digest of the option ``domains`` its case was drawn from), then fold
    it into buckets and bugs."""
    o = result["outcome"]
    ev = {
        "type": "result",
        "seed": seed,
        "index": index,
        "target": target,
        "focus": focus,
        "regimes": o.get("regimes", []),
        "cells": o.get("cells", []),
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
        **({"domains": domains} if domains else {}),
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
