"""armfuzz fuzz (a campaign) and what reads a campaign: bugs, buckets, dashboard, coverage."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from fuzz.core.errors import CaseError
from fuzz.views.cli.app import app, err, interpreter_or_exit, targets_or_exit, usage_error


@app.command()
def fuzz(
    seed: int = typer.Option(0, help="Campaign seed: (seed, index) names a case forever."),
    cases: Optional[int] = typer.Option(None, help="Stop after this many case indices (each runs on every target)."),
    budget: Optional[str] = typer.Option(None, help="Stop after this much time, e.g. 2h, 30m, 90s."),
    targets: str = typer.Option("all", help="Comma list of targets, or 'all'."),
    campaign: Optional[Path] = typer.Option(None, help="Campaign directory (resumed if it exists). Default: campaigns/seed-<seed>."),
    workers: int = typer.Option(os.cpu_count() or 1, help="Warm worker processes."),
    timeout: float = typer.Option(300.0, help="Seconds one case may take on one target."),
    memory_mb: int = typer.Option(8192, help="Address-space limit per case (RLIMIT_AS), MiB."),
    as_json: bool = typer.Option(False, "--json", help="One JSON line per result, then a JSON summary."),
    steer: bool = typer.Option(True, help="Aim cases at the regimes covered least so far (coverage feedback)."),
    inject: list[str] = typer.Option([], hidden=True, help="Test seam: INDEX=segfault|hang|oom|abort."),
    reduce: bool = typer.Option(True, help="Afterwards, reduce every new bug and write its repro.py and report.md."),
    reduce_evals: int = typer.Option(60, help="Reduction budget per bug: lowerings."),
    reduce_seconds: float = typer.Option(600.0, help="Reduction budget per bug: seconds."),
    release: Optional[str] = typer.Option(None, help="Fuzz this executorch release (its cached venv; built if missing, see 'armfuzz env add')."),
    python: Optional[Path] = typer.Option(None, help="Fuzz the executorch of this interpreter (a source build, a nightly): a venv's bin/python with torch and executorch."),
    ray: Optional[str] = typer.Option(None, help="Run the workers as actors of this Ray cluster (ADDRESS or 'auto'); needs armfuzz[ray]."),
    measure_coverage: bool = typer.Option(False, "--coverage", help="Measure statement and branch coverage of executorch/backends/arm (costs throughput; see 'armfuzz coverage')."),
    engine: str = typer.Option("random", help="random: seeded generation steered to under-covered regimes; guided: libFuzzer (atheris) mutating inputs that reach new backend code (--cases then counts inputs)."),
    seed_corpus: list[Path] = typer.Option([], help="Guided engine: start from these inputs (a guided campaign directory, or a directory of input files)."),
) -> None:
    """Run (or resume) a fuzzing campaign on warm workers; show live progress and a summary.
    Exits 0, or 3 when armfuzz itself failed on a case (a harness error), else 4 when a bug
    the known-bugs file lists as fixed showed up on its fix release or a later one."""
    from rich.live import Live

    from fuzz.campaign import (
        CampaignConfig,
        CampaignError,
        list_buckets,
        list_bugs,
        parse_budget,
        run_campaign,
    )
    from fuzz.execution.backend_coverage import CoverageError
    from fuzz.execution.pool import WorkerStartError
    from fuzz.judge.compat import versions
    from fuzz.views.summary import (
        bucket_table,
        bug_table,
        cell_table,
        coverage_table,
        growth_line,
        guided_line,
        known_lines,
        progress_view,
        summary_dict,
        target_table,
    )

    names = targets_or_exit(targets)
    if engine not in ("random", "guided"):
        usage_error(f"--engine {engine!r}: use random or guided")
    if seed_corpus and engine != "guided":
        usage_error("--seed-corpus is for --engine guided")
    if cases is None and budget is None:
        usage_error("give --cases N or --budget DURATION (or both)")
    try:
        seconds = parse_budget(budget)
        faults = {int(k): v for k, v in (item.split("=", 1) for item in inject)}
    except ValueError as e:
        usage_error(e)
    root = campaign or Path("campaigns") / f"seed-{seed}"
    interpreter = interpreter_or_exit(release, python)
    cfg = CampaignConfig(root, seed, names, cases, seconds, max(1, workers), timeout, memory_mb, faults, steer, interpreter, ray,
                         measure_coverage, engine, list(seed_corpus))
    started = time.monotonic()
    session = {"n": 0}
    console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 200)

    def on_json(ev, state):
        print(json.dumps(ev), flush=True)

    try:
        if as_json:
            state = run_campaign(cfg, on_json)
        else:
            with Live(console=Console(stderr=True), refresh_per_second=2, transient=False) as live:

                def on_live(ev, state):
                    session["n"] += 1
                    live.update(progress_view(state, started, seconds, session["n"]))

                state = run_campaign(cfg, on_live)
    except (CampaignError, WorkerStartError, CoverageError) as e:
        usage_error(e)
    stack = {**(state.stack.get("versions") or versions()), "python": state.stack.get("python") or sys.executable}
    try:
        rows = list_bugs(root) if state.buckets else []
    except CampaignError as e:
        usage_error(e)
    if as_json:
        print(json.dumps({"summary": {**summary_dict(state), "stack": stack}}), flush=True)
    else:
        console.print(f"stack: {', '.join(f'{k}=={v}' for k, v in stack.items())}", highlight=False)
        if state.buckets:
            console.print(bug_table(rows))
            for line in known_lines(rows):
                console.print(line)
        console.print(target_table(state, f"campaign {root} ({time.monotonic() - started:.0f}s this session)"))
        console.print(coverage_table(state))
        console.print(cell_table(state))
        if measure_coverage:
            console.print(growth_line(root), highlight=False)
        if engine == "guided":
            console.print(guided_line(root), highlight=False)
        if state.buckets:
            console.print(bucket_table(list_buckets(root)))
    if reduce and state.done:
        reduce_bugs(root, max(1, workers), reduce_evals, reduce_seconds, as_json, stack["executorch"], interpreter)
    harness = sum(c["harness-error"] for c in state.tally.values())
    # 3: armfuzz itself failed (its verdicts are suspect), before 4: a bug known to be fixed is back.
    raise typer.Exit(3 if harness else 4 if any(r.get("regression") for r in rows) else 0)


def reduce_bugs(root: Path, workers: int, evals: int, seconds: float, as_json: bool, release: str, python: str | None) -> None:
    """Every bug without a report gets its representative reduced, a verified repro and a
    report: once per root cause, not once per bucket, on the release the campaign ran on."""
    from reducer import workflow
    from reducer.shrink import Budget

    try:
        for line in workflow.reduce_pending_bugs(root, workers, Budget(evals, seconds), release, python):
            if as_json:
                print(json.dumps({"reduced": line}), flush=True)
            else:
                err.print(f"bug {line['bug']}: " + (line["error"] if line.get("error") else
                          f"{line['nodes_before']} -> {line['nodes_after']} nodes, repro {'verified' if line['verified'] else 'NOT verified'}, "
                          f"{root / 'bugs' / line['bug'] / 'report.md'}"), markup=False, highlight=False)
    except CaseError as e:  # the campaign's files cannot be read (each bug's own errors are lines above)
        usage_error(e)


@app.command()
def bugs(
    campaign: Path = typer.Argument(..., help="A campaign directory."),
    as_json: bool = typer.Option(False, "--json", help="Print the bugs as JSON."),
) -> None:
    """List a campaign's bugs: one per root cause, with their buckets, targets and representative;
    regressions and new bugs first, then those the known-bugs file lists, each most severe tier
    first (crash, numerics, delegation)."""
    from fuzz.campaign import CampaignError, list_bugs
    from fuzz.triage.known import new_first
    from fuzz.triage.tiers import by_tier, tier_of
    from fuzz.views.summary import bug_table, known_lines

    try:
        rows = [{**r, "tier": tier_of(r)} for r in new_first(by_tier(list_bugs(campaign)))]
    except CampaignError as e:
        usage_error(e)
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 200)
        console.print(bug_table(rows))
        for line in known_lines(rows):
            console.print(line)


@app.command()
def buckets(campaign: Path = typer.Argument(..., help="A campaign directory.")) -> None:
    """List a campaign's failure buckets, newest first, then by count."""
    from fuzz.campaign import CampaignError, list_buckets
    from fuzz.views.summary import bucket_table

    try:
        rows = list_buckets(campaign)
    except CampaignError as e:
        usage_error(e)
    Console(file=sys.stdout, width=None if sys.stdout.isatty() else 200).print(bucket_table(rows))


@app.command()
def dashboard(
    campaign: Path = typer.Argument(..., help="A campaign directory."),
    out: Optional[Path] = typer.Option(None, help="Where to write the HTML. Default: CAMPAIGN/dashboard.html."),
) -> None:
    """Write one self-contained HTML file: results/s, bugs and buckets, regime coverage over
    time, verdicts per target, and the bugs linked to their reports."""
    from fuzz.campaign import CampaignError
    from fuzz.views.dashboard import write_dashboard

    try:
        print(write_dashboard(campaign, out))
    except CampaignError as e:
        usage_error(e)


@app.command()
def coverage(
    campaign: Path = typer.Argument(..., help="A campaign run with --coverage."),
    html: bool = typer.Option(True, help="Also write coverage.py's HTML report to CAMPAIGN/coverage/html."),
    as_json: bool = typer.Option(False, "--json", help="Print the totals and the unreached passes and visitors as JSON."),
) -> None:
    """Statements and branches of executorch/backends/arm the campaign reached, in total and per
    subpackage, and the passes and operator visitors it never entered (coverage.py's JSON
    report, line by line, is CAMPAIGN/coverage/coverage.json)."""
    from fuzz.execution.backend_coverage import CampaignCoverage, CoverageError

    cc = CampaignCoverage(campaign)
    try:
        summary = cc.report(cc.dir / "html" if html else None)
    except CoverageError as e:
        usage_error(e)
    summary["growth"] = cc.growth()
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    for name, t in sorted(summary["totals"].items(), key=lambda kv: (kv[0] != "total", kv[0])):
        branches = f"{t['covered_branches']}/{t['branches']} branches" if t["branches"] else ""
        print(f"{name:18} {t['covered']:6}/{t['statements']:<6} statements ({100 * t['covered'] / max(1, t['statements']):4.1f}%)  {branches}")
    for kind, names in summary["unreached"].items():
        print(f"{kind} never entered ({len(names)}): {', '.join(names)}")
    print(f"reports: {cc.dir / 'coverage.json'}" + (f", {cc.dir / 'html' / 'index.html'}" if html else ""))
