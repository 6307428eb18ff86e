"""The random engine: seeded generation, each case aimed at its target's least-reached regime."""

from __future__ import annotations

import random
from typing import Any, Iterator

from fuzz.campaign.config import CampaignConfig
from fuzz.campaign.engines.base import JobSource
from fuzz.campaign.store import CampaignState
from fuzz.generate.case import Case
from fuzz.generate.focus import applicable_regimes
from fuzz.generate.generator import generate
from fuzz.generate.recipes import derive_seed

#: Share of cases aimed at an under-covered regime; the rest stay undirected for diversity.
STEER_SHARE = 0.7


def pick_focus(state: CampaignState, seed: int, index: int, target: str) -> str | None:
    """The least-covered regime for this target (ties broken by a seeded draw), or None."""
    rng = random.Random(derive_seed(seed, "focus", index, target))
    if rng.random() >= STEER_SHARE:
        return None
    cov = state.coverage[target]
    regimes = applicable_regimes(target)
    least = min(cov.get(r, 0) for r in regimes)
    return rng.choice([r for r in regimes if cov.get(r, 0) == least])


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
        return index, target, focus, generate(self.cfg.seed, index, target, focus, self.domains(pool))

    def retry(self, index: int, target: str, focus: str | None) -> None:
        self.requeue.append((index, target))


def _pending(cfg: CampaignConfig, state: CampaignState) -> Iterator[tuple[int, str]]:
    index = 0
    while cfg.cases is None or index < cfg.cases:
        for t in cfg.targets:
            if (index, t) not in state.done:
                yield index, t
        index += 1
