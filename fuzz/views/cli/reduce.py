"""armfuzz reduce, render and report: a failure to a minimal case, a verified repro and a report."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from fuzz.core.errors import CaseError
from fuzz.core.quiet import quiet_backend
from fuzz.views.cli.app import app, err, release_or_exit, usage_error


@app.command()
def reduce(
    source: Path = typer.Argument(..., help="A case JSON file, a campaign bug or bucket directory, or a corpus entry."),
    out: Optional[Path] = typer.Option(None, help="Where results go. Default: the bucket itself, or CASE.reduced/ beside a case file."),
    release: Optional[str] = typer.Option(None, help="executorch release to reduce on (see 'armfuzz env list')."),
    workers: int = typer.Option(os.cpu_count() or 1, help="Warm workers; candidates run this many at a time."),
    max_evals: int = typer.Option(400, help="Budget: lowerings."),
    max_seconds: float = typer.Option(1800.0, help="Budget: wall-clock seconds."),
    keep_target: bool = typer.Option(False, help="Never move the case to a simpler target."),
    confirm_runs: int = typer.Option(3, help="Re-run the final case this many times to detect a flaky signature."),
    render: bool = typer.Option(True, help="Also render and verify repro.py, and write report.md."),
) -> None:
    """Shrink a failing case to a minimal one with the same signature; then repro and report."""
    from fuzz.execution.pool import ReleasePool
    from reducer import workflow
    from reducer.shrink import Budget

    release = release_or_exit(release)
    try:
        src = workflow.locate_source(source, out)
    except CaseError as e:
        usage_error(e)
    quiet_backend()

    def on_step(step) -> None:
        err.print(f"[{step.seconds:7.1f}s, {step.evaluation:4d} lowerings] {step.nodes:2d} nodes  {step.pass_name}: {step.description}",
                  markup=False, highlight=False)

    from fuzz.core.targets import TARGETS

    with ReleasePool(release, workers, list(TARGETS)) as session:
        try:
            summary = workflow.reduce_source(src, session, Budget(max_evals, max_seconds), not keep_target, confirm_runs, on_step)
        except CaseError as e:
            usage_error(e)
        if "error" in summary:
            err.print(f"[red]error:[/red] {summary['error']}")
            raise typer.Exit(1)
        print(f"reduced {summary['nodes_before']} -> {summary['nodes_after']} nodes ({' '.join(summary['ops_after'])}) "
              f"in {summary['evaluations']} lowerings, {summary['seconds']}s; confirmed {summary['confirmed']}"
              + (" FLAKY" if summary["flaky"] else ""))
        print(f"  {src.out / 'reduced.case.json'}")
        if render:
            v = workflow.render_source(src.out, release)
            print(f"  {src.out / 'repro.py'}: {'verified' if v['verified'] else 'NOT verified'} ({v['reproduced']}/{v['runs']} fresh runs)")
            print(f"  {workflow.report_source(src.out, session)}")


@app.command("render")
def render_cmd(
    source: Path = typer.Argument(..., help="A directory with reduced.case.json (a bucket or CASE.reduced/)."),
    release: Optional[str] = typer.Option(None, help="executorch release the repro targets."),
    runs: int = typer.Option(1, help="Fresh-process runs for verification."),
    verify: bool = typer.Option(True, help="Run the script to verify it reproduces."),
) -> None:
    """Render repro.py from the reduced case and verify it in a fresh process."""
    from reducer import workflow

    release = release_or_exit(release)
    try:
        v = workflow.render_source(source, release, runs, verify)
    except CaseError as e:
        usage_error(e)
    print(f"{source / 'repro.py'}: " + (f"{'verified' if v['verified'] else 'NOT verified'} ({v['reproduced']}/{v['runs']} fresh runs)" if verify else "rendered"))
    raise typer.Exit(0 if v["verified"] or not verify else 1)


@app.command()
def report(
    source: Path = typer.Argument(..., help="A directory with reduced.case.json (a bucket or CASE.reduced/)."),
    release: Optional[str] = typer.Option(None, help="executorch release to run the control cases on."),
    workers: int = typer.Option(os.cpu_count() or 1, help="Warm workers for the control cases."),
    bisect_releases: bool = typer.Option(False, "--bisect", help="Add a table of every runnable release (armfuzz env list)."),
) -> None:
    """Write report.md: summary, qparams evidence, verified repro, control cases, graph, versions."""
    from fuzz.core.targets import TARGETS
    from fuzz.execution import envs
    from fuzz.execution.pool import ReleasePool
    from fuzz.replay import matrix
    from reducer import workflow

    release = release_or_exit(release)
    quiet_backend()
    try:
        case, outcome = workflow.load_reduced(source)
    except CaseError as e:
        usage_error(e)
    table = ""
    if bisect_releases:
        table = matrix.bisect(case, envs.available(), outcome.signature).markdown()
    with ReleasePool(release, workers, list(TARGETS)) as session:
        print(workflow.report_source(source, session, table))


@app.command()
def issue(
    source: Path = typer.Argument(..., help="A reduced bug: a campaign bug directory, a bucket, CASE.reduced/ or a corpus entry."),
    out: Optional[Path] = typer.Option(None, help="Write the issue to this file instead of printing it."),
    python: Optional[Path] = typer.Option(None, help="Run collect_env with this interpreter instead of the one the repro was verified on (when that one is gone)."),
) -> None:
    """Print (or write) a file-ready issue in executorch's bug form: a title line, then
    '🐛 Describe the bug' with the verified repro inline and expected against actual, then
    'Versions' from PyTorch's collect_env run with the interpreter the repro was verified on."""
    from fuzz.core.fsutil import atomic_write
    from fuzz.triage import known
    from reducer import workflow

    try:
        text = workflow.issue_text(source, str(python.absolute()) if python else None)
        meta = workflow.bug_meta(source)
    except CaseError as e:
        usage_error(e)
    if meta and meta.get("known") and not meta.get("regression"):
        err.print(f"note: the known-bugs file lists this bug: {known.describe(meta)}; check upstream before filing it again",
                  markup=False, highlight=False)
    if out is None:
        print(text, end="")
        return
    atomic_write(out, text)
    print(out)
