"""Terminal views of a campaign: the live progress panel, the summary and bucket tables."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from fuzz.campaign import CampaignState
from fuzz.judge.outcome import FAILURES, STATUSES
from fuzz.triage import known
from fuzz.triage.tiers import by_tier, tier_counts, tier_line, tier_of

#: Columns of the per-target table; the rarer statuses are folded into "other". The two
#: non-bug outcomes armfuzz must not lose sight of are shown: configurations executorch
#: rejects as unsupported, and output errors that are rounding carried downstream.
_SHOWN = ("pass", "not-delegated", "rejected-config", "crash", "invalid-tosa", "numerics", "numerics-propagated", "native-crash")


def target_table(state: CampaignState, title: str) -> Table:
    table = Table(title=title)
    table.add_column("target")
    for s in _SHOWN:
        table.add_column(s, justify="right")
    table.add_column("other", justify="right")
    table.add_column("fail %", justify="right")
    table.add_column("delegated", justify="right")
    for t, c in sorted(state.tally.items()):
        total = sum(c.values()) or 1
        other = sum(v for k, v in c.items() if k not in _SHOWN)
        failed = sum(c.get(k, 0) for k in FAILURES)
        fr = state.delegated.get(t) or [0.0]
        table.add_row(
            t, *[str(c.get(s, 0)) for s in _SHOWN], str(other), f"{100 * failed / total:.0f}%", f"{100 * sum(fr) / len(fr):.0f}%"
        )
    return table


def coverage_table(state: CampaignState) -> Table:
    """Regime x target: how many results reached each regime (blank: never)."""
    from fuzz.judge.regimes import REGIMES

    targets = sorted(state.coverage)
    table = Table(title="regime coverage (results that reached each regime)")
    table.add_column("regime")
    for t in targets:
        table.add_column(t, justify="right")
    for r in REGIMES:
        table.add_row(r, *[str(state.coverage[t].get(r, "")) for t in targets])
    return table


def cell_table(state: CampaignState) -> Table:
    """Per target: cells (regime@family, fuzz.generate.cells) reached of those in reach, and
    the results that reached each core cell, the cells the campaign keeps a floor of cases on."""
    targets = sorted(state.coverage)
    cov = {t: state.cell_coverage(t) for t in targets}
    core = list(dict.fromkeys(c for t in targets for c in cov[t]["core"]))
    table = Table(title="cell coverage (regime@family) and the core's cells (results that reached each)")
    table.add_column("target")
    table.add_column("cells reached", justify="right")
    for c in core:
        table.add_column(c, justify="right")
    for t in targets:
        table.add_row(t, f"{cov[t]['reached']}/{cov[t]['reachable']}", *[str(cov[t]["core"].get(c, "")) for c in core])
    return table


def growth_line(campaign: Any) -> str:
    """One line of backend statement coverage over the campaign (fuzz.execution.backend_coverage)."""
    from fuzz.execution.backend_coverage import CampaignCoverage

    growth = CampaignCoverage(campaign).growth()
    if not growth:
        return "backend coverage: no data yet"
    marks = ", ".join(f"{p['statements']} at {p['results']} results" for p in growth[:: max(1, len(growth) // 6)])
    return f"backend coverage: {growth[-1]['statements']} statements of executorch/backends/arm reached ({marks}); details: armfuzz coverage {campaign}"


def guided_line(campaign: Any) -> str:
    """One line of the guided engine's own feedback (stats.json's ``guided`` entry)."""
    import json

    try:
        g = json.loads((campaign / "stats.json").read_text()).get("guided") or {}
    except (OSError, ValueError):
        g = {}
    if not g:
        return "guided engine: no data yet"
    return (f"guided engine: {g['inputs']} inputs run this session ({g['replayed']} known ones answered from the corpus), "
            f"{g['corpus']} kept in {campaign}/guided/corpus, {g['blocks']} of {g['of']} instrumented backend blocks reached")


def progress_view(state: CampaignState, started: float, budget: float | None, session_results: int) -> Group:
    elapsed = time.monotonic() - started
    rate = session_results / elapsed if elapsed > 0 else 0.0
    new = sum(1 for b in state.buckets.values() if b.new)
    budget_txt = f" / {budget:.0f}s" if budget else ""
    head = Text(
        f"{len(state.done)} results ({session_results} this session, {rate:.2f}/s)   "
        f"bugs: {len(state.bugs())}   buckets: {new} new / {len(state.buckets)} total   elapsed {elapsed:.0f}s{budget_txt}"
    )
    return Group(head, target_table(state, "per target"))


def bug_table(bugs: list[dict[str, Any]], title: str = "bugs (one per root cause)") -> Table:
    """One row per bug (fuzz.triage.bugs): regressions and new bugs first, then the known ones
    (fuzz.triage.known), each most severe tier first, the count per tier in the title: what it
    is (a family's members, with their targets), where it shows, its buckets and results, when,
    its representative and its report once reduced."""
    bugs = by_tier(bugs)
    table = Table(title=f"{title}: {tier_line(bugs)}" if bugs else title)
    table.add_column("tier")
    table.add_column("bug")
    table.add_column("status", overflow="fold")
    table.add_column("title", overflow="fold")
    table.add_column("targets", overflow="fold")
    table.add_column("buckets", justify="right")
    table.add_column("results", justify="right")
    table.add_column("first / last seen")
    table.add_column("representative")
    table.add_column("report", overflow="fold")
    for b in known.new_first(bugs):
        rep = b["representative"]
        table.add_row(tier_of(b), b["id"], _standing(b), _with_members(b.get("title") or b["key"], b.get("members") or []),
                      ", ".join(b["targets"]), str(len(b["buckets"])), str(b["count"]),
                      f"{_when(b['first_seen'])} / {_when(b['last_seen'])}", f"#{rep['index']} {rep['target']} ({rep['nodes']} nodes)",
                      b.get("report") or "-")
    return table


def _standing(row: dict[str, Any]) -> Text:
    return Text(known.describe(row), style="bold red" if row.get("regression") else "bold" if row.get("known") is None else "")


def known_lines(bugs: list[dict[str, Any]]) -> list[Text]:
    """The summary's word on the known-bugs file: how many bugs are new, and one red line per
    regression (a bug fixed in a release that this campaign saw on that release or a later one)."""
    new = sum(1 for b in bugs if b.get("known") is None)
    lines = [Text(f"bugs: {new} new, {len(bugs) - new} known ({known.default_path()}: filed upstream or fixed in a release)")]
    lines += [Text(f"bug {b['id']}, {b.get('title') or b['key']}: {known.describe(b)}", style="bold red")
              for b in bugs if b.get("regression")]
    return lines


def _with_members(title: str, members: list[dict[str, Any]]) -> str:
    """A family's title followed by its members, ``...; members: neg(negative) [tosa-int,
    vgf-int], ...``, escaped: brackets are markup to rich."""
    if members:
        title += "; members: " + ", ".join(f"{m['member']} [{', '.join(m['targets'])}]" for m in members)
    return escape(title)


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def bucket_table(buckets: list[dict[str, Any]], title: str = "buckets (newest first)") -> Table:
    table = Table(title=title)
    table.add_column("id")
    table.add_column("count", justify="right")
    table.add_column("first seen")
    table.add_column("smallest")
    table.add_column("bug")
    table.add_column("signature", overflow="fold")
    for b in buckets:
        sm = b["smallest"]
        table.add_row(b["id"], str(b["count"]), _when(b["first_seen"]), f"#{sm['index']} {sm['target']} ({sm['nodes']} nodes)",
                      b.get("bug") or "-", b["signature"])
    return table


def summary_dict(state: CampaignState) -> dict[str, Any]:
    table = known.load()
    bugs = known.new_first(by_tier({**b.meta(), **known.mark(b.key, b.releases, table, b.targets)} for b in state.bugs()))
    return {
        "results": len(state.done),
        "bugs": bugs,
        "tiers": tier_counts(bugs),
        "per_target": {t: {s: c.get(s, 0) for s in STATUSES} for t, c in state.tally.items()},
        "buckets": [{"signature": b.signature, "count": b.count, "new": b.new} for b in state.buckets.values()],
        "regime_coverage": {t: dict(c) for t, c in state.coverage.items()},
        "cell_coverage": {t: state.cell_coverage(t) for t in sorted(state.coverage)},
    }
