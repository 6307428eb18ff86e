"""A campaign dashboard: one self-contained HTML file, derived from ``events.jsonl``.

A campaign's state is JSON and a terminal table; nobody can see how it went over time. The
dashboard replays the event log (the source of truth, as everywhere in a campaign) and draws,
with matplotlib as inline SVG (no JavaScript, no network, opens anywhere):

* results per second over time (a moving window) and cumulative results;
* bugs and buckets found over time;
* regime coverage over time: distinct (target, regime) and (target, cell) pairs reached, and
  per target the cells reached of those in reach and the core cells' results (a table);
* statement coverage of executorch/backends/arm against results, for a campaign run with
  ``--coverage`` (fuzz.execution.backend_coverage's growth record);
* the per-target verdict table and the bug list, each bug linked to its report: regressions
  and new bugs first, then those the known-bugs file lists (fuzz.triage.known), each most
  severe tier first, with the count per tier.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

from fuzz.campaign import CampaignDir, CampaignState, list_bugs
from fuzz.core.fsutil import atomic_write
from fuzz.core.paths import TEMPLATE_DIR
from fuzz.execution.backend_coverage import CampaignCoverage
from fuzz.judge.outcome import FAILURES, STATUSES
from fuzz.triage import known
from fuzz.triage.tiers import by_tier, tier_counts, tier_of

#: Points at which bugs are recounted while replaying the log (grouping is not incremental).
SAMPLES = 60
#: Width of the moving window for results per second, in results.
RATE_WINDOW = 20
_SERIES = ("t", "results", "rate", "buckets", "bugs", "regimes", "cells")


def series(events: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Time series over the log: elapsed seconds, results, results/s, buckets, bugs, regimes, cells."""
    results = [e for e in events if e.get("type") == "result"]
    if not results:
        return {k: [] for k in _SERIES}
    t0 = results[0]["t"] - (results[0].get("wall") or 0.0)
    state = CampaignState()
    out: dict[str, list[float]] = {k: [] for k in _SERIES}
    every = max(1, len(results) // SAMPLES)
    for i, ev in enumerate(results, start=1):
        if (ev["index"], ev["target"]) in state.done:
            continue
        state.add(ev)
        if i % every and i != len(results):
            continue
        back = results[max(0, i - 1 - RATE_WINDOW)]
        span = ev["t"] - back["t"]
        out["t"].append(round(ev["t"] - t0, 1))
        out["results"].append(len(state.done))
        out["rate"].append(round(min(RATE_WINDOW, i - 1) / span, 3) if span > 0 else 0.0)
        out["buckets"].append(len(state.buckets))
        out["bugs"].append(len(state.bugs()))
        out["regimes"].append(sum(len(c) for c in state.coverage.values()))
        out["cells"].append(sum(len(c) for c in state.cells.values()))
    return out


def _svg(draw) -> str:
    """One matplotlib figure as an inline SVG string."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.0), dpi=100)
    try:
        draw(ax)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})  # stable output for the same log
    finally:
        plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog: the SVG is inlined in HTML


def plots(s: dict[str, list[float]], growth: list[dict[str, Any]] | None = None) -> dict[str, str]:
    minutes = [t / 60 for t in s["t"]]

    def rate(ax):
        ax.plot(minutes, s["rate"], label="results/s")
        ax.set_xlabel("minutes")
        ax.set_ylabel("results / s")
        twin = ax.twinx()
        twin.plot(minutes, s["results"], color="tab:gray", linestyle="--", label="results")
        twin.set_ylabel("results")

    def found(ax):
        ax.step(minutes, s["bugs"], where="post", label="bugs", linewidth=2)
        ax.step(minutes, s["buckets"], where="post", label="buckets")
        ax.set_xlabel("minutes")
        ax.set_ylabel("found")
        ax.legend(loc="upper left")

    def regimes(ax):
        ax.step(minutes, s["regimes"], where="post", color="tab:green", label="(target, regime)")
        ax.step(minutes, s["cells"], where="post", color="tab:olive", label="(target, cell)")
        ax.set_xlabel("minutes")
        ax.set_ylabel("pairs reached")
        ax.legend(loc="upper left")

    def statements(ax):
        # Against results, not time: a resumed campaign's sessions each restart the clock.
        ax.step([p["results"] for p in growth], [p["statements"] for p in growth], where="post", color="tab:red")
        ax.set_xlabel("results")
        ax.set_ylabel("statements reached")

    out = {"Results per second": _svg(rate), "Bugs and buckets found": _svg(found), "Regime coverage": _svg(regimes)}
    if growth:
        out["Statement coverage of executorch/backends/arm"] = _svg(statements)
    return out


def write_dashboard(root: Path, out: Path | None = None) -> Path:
    """Render ``root/dashboard.html`` (or ``out``) from the campaign's log; returns the path."""
    import jinja2

    cdir = CampaignDir(root)
    config = cdir.open_existing()
    state = cdir.load()
    events = [json.loads(line) for line in cdir.events_path.read_text().splitlines() if line.strip()]
    # Regressions and new bugs first, each most severe tier first; rows of a bugs.json older
    # than tiers get theirs from the key.
    bugs = [{**b, "tier": tier_of(b), "members": b.get("members") or []}
            for b in known.new_first(by_tier(list_bugs(root) if state.buckets else []))]
    out = out or root / "dashboard.html"
    shown = [s for s in STATUSES if any(c.get(s) for c in state.tally.values())]
    rows = [(t, [c.get(s, 0) for s in shown], sum(c.get(s, 0) for s in FAILURES)) for t, c in sorted(state.tally.items())]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True)
    html = env.get_template("dashboard.html.j2").render(
        campaign=str(root), config=config, generated=time.strftime("%Y-%m-%d %H:%M:%S"), results=len(state.done),
        plots={k: jinja2.utils.markupsafe.Markup(v) for k, v in plots(series(events), CampaignCoverage(root).growth()).items()},
        statuses=shown, rows=rows, cells={t: state.cell_coverage(t) for t in sorted(state.coverage)}, bugs=bugs, tiers=tier_counts(bugs), stack=state.stack, standing=known.describe,
        new=sum(1 for b in bugs if b.get("known") is None), regressions=sum(1 for b in bugs if b.get("regression")),
        report_prefix=_relative(root, out.parent),
    )
    atomic_write(out, html)
    return out


def _relative(root: Path, base: Path) -> str:
    """Prefix that turns ``bugs/<id>/report.md`` (relative to the campaign) into a link from ``base``."""
    import os

    rel = os.path.relpath(root.resolve(), base.resolve())
    return "" if rel == "." else rel.rstrip("/") + "/"
