"""The interface every campaign engine implements: where the next case comes from."""

from __future__ import annotations

from typing import Any

from fuzz.campaign.store import CampaignState
from fuzz.core.target_options import Domains
from fuzz.generate.case import Case


class JobSource:
    """Where a campaign's cases come from: the seeded generator (SeededJobs) or the guided
    engine's libFuzzer (fuzz.campaign.engines.guided.GuidedJobs). The loop in ``_drive`` is the same for both."""

    #: True once no case will ever come again (the campaign ends when the workers are idle).
    exhausted: bool = False
    _domains: tuple[dict[str, Any], Domains] | None = None

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

    def domains(self, pool: Any) -> Domains | None:
        """The option domains of the release the workers run (they report them when ready):
        cases are drawn from what that release can express, not from this interpreter's."""
        reported = (pool.info or {}).get("domains")
        if not reported:
            return None
        if self._domains is None or self._domains[0] is not reported:
            self._domains = (reported, Domains.from_dict(reported))
        return self._domains[1]
