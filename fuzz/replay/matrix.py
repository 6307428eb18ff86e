"""Run cases across executorch releases, and find where a failure starts and ends.

Releases are few (fuzz.execution.envs), so "bisection" runs the case on every runnable release rather
than halving: the whole row costs about a worker start-up per release, and the table it gives
(what each release does) is what a bug report wants anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

from fuzz.execution.pool import ReleasePool
from fuzz.generate.case import Case
from fuzz.judge.outcome import Outcome
from fuzz.replay.corpus import observed
from fuzz.triage.bugs import bug_key, bug_variant


def run_on_release(cases: list[Case], release: str, workers: int = 1, timeout: float = 300.0) -> list[Outcome]:
    """Each case's outcome on ``release``, through that release's venv and warm workers."""
    with ReleasePool(release, max(1, min(workers, len(cases))), sorted({c.target for c in cases}), timeout) as pool:
        return pool.evaluate(cases)


@dataclass
class Bisection:
    signature: str
    #: (release, observed: 'pass' or a signature), oldest release first.
    rows: list[tuple[str, str]]
    first_bad: str | None
    first_fixed: str | None

    def affected(self) -> list[str]:
        return [r for r, o in self.rows if same_bug(o, self.signature)]

    def markdown(self) -> str:
        lines = ["| executorch | outcome | this bug |", "|---|---|---|"]
        for release, obs in self.rows:
            mark = "**affected**" if same_bug(obs, self.signature) else ("fixed" if self.first_fixed and _newer(release, self.first_fixed) else "-")
            lines.append(f"| {release} | `{obs}` | {mark} |")
        lines.append("")
        lines.append(f"First bad release: {self.first_bad or 'none of those run'}; first fixed release: {self.first_fixed or 'not fixed in any release run'}.")
        return "\n".join(lines) + "\n"


def same_bug(obs: str, signature: str) -> bool:
    """Whether a release's outcome is the bug: the same signature, or on the same target the
    same bug key and variant (fuzz.triage.bugs). A message can change its spelling between
    releases: 1.4.1's RewriteConvPass stopped prefixing its own name, and bisection called
    1.4.1 fixed for a conv1d -> relu -> cat that still crashed there the same way."""
    if obs == signature:
        return True
    if "pass" in (obs, signature) or obs.split("/", 1)[0] != signature.split("/", 1)[0]:
        return False
    key = bug_key(signature)
    return key is not None and key == bug_key(obs) and bug_variant(obs) == bug_variant(signature)


def _newer(a: str, b: str) -> bool:
    """a >= b as release versions."""
    return tuple(int(x) for x in a.split(".")) >= tuple(int(x) for x in b.split("."))


def bisect(case: Case, releases: list[str], signature: str | None = None, timeout: float = 300.0,
           on_release=None) -> Bisection:
    """Run ``case`` on each release (oldest first); locate the bug ``signature``.

    Without a signature, the bug is the failure seen on the oldest release that fails.
    First fixed = the first release after a bad one that no longer shows the signature.
    """
    rows = []
    for release in sorted(releases, key=lambda v: tuple(int(x) for x in v.split("."))):
        o = run_on_release([case], release, timeout=timeout)[0]
        rows.append((release, observed(o)))
        if on_release is not None:
            on_release(release, o)
    if signature is None:
        signature = next((obs for _, obs in rows if obs != "pass"), "pass")
    first_bad = next((r for r, obs in rows if same_bug(obs, signature)), None)
    first_fixed = None
    if first_bad is not None:
        seen_bad = False
        for r, obs in rows:
            seen_bad |= same_bug(obs, signature)
            if seen_bad and not same_bug(obs, signature):
                first_fixed = r
                break
    return Bisection(signature, rows, first_bad, first_fixed)
