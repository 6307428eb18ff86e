"""armfuzz command line."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Iterator, NoReturn, Optional

import typer
from rich.console import Console

from fuzz import quiet_backend
from fuzz.case import Case
from fuzz.errors import CaseError
from fuzz.outcome import Outcome
from fuzz.targets import parse_targets

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Fuzz the ExecuTorch Arm backend's quantized lowering.")
err = Console(stderr=True, soft_wrap=True)  # soft_wrap: one-line errors stay one line


def _usage_error(message: object) -> NoReturn:
    """One-line error on stderr, exit code 2 (bad input, nothing ran)."""
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


def _targets_or_exit(spec: str | None) -> list[str]:
    try:
        return parse_targets(spec)
    except ValueError as e:
        _usage_error(e)


@app.command()
def run(
    case_file: Path = typer.Argument(..., help="A case JSON file."),
    target: Optional[str] = typer.Option(None, "--target", "-t", help="Target(s): a name, a comma list, or 'all'. Default: the case's own."),
    as_json: bool = typer.Option(False, "--json", help="Print outcomes as JSON (one object per line)."),
    timeout: float = typer.Option(300.0, help="Seconds the case may take on one target."),
    memory_mb: int = typer.Option(8192, help="Address-space limit for the case (RLIMIT_AS), MiB."),
    inject: Optional[str] = typer.Option(None, hidden=True, help="Test seam: segfault|hang|oom|abort in the case's child."),
    release: Optional[str] = typer.Option(None, help="Run on this executorch release (its cached venv; built if missing)."),
    python: Optional[Path] = typer.Option(None, help="Run on the executorch of this interpreter (a venv's bin/python)."),
) -> None:
    """Run one case through the real Arm lowering and print its verdict.

    Each target runs in a forked child, as in a campaign: a native crash of vela or the
    reference model becomes a verdict (native-crash/SIGSEGV@stage), not the end of this command.
    """
    try:
        case = Case.load(case_file)
    except CaseError as e:
        _usage_error(e)
    targets = _targets_or_exit(target) if target else [case.target]
    interpreter = _interpreter_or_exit(release, python)
    quiet_backend()
    failed = False
    for o in _run_targets(case, targets, interpreter, {"timeout": timeout, "memory_mb": memory_mb, "inject": inject}):
        failed |= o.failed or o.status == "harness-error"
        if as_json:
            print(json.dumps(o.to_dict()), flush=True)
        else:
            _print_outcome(o)
    raise typer.Exit(1 if failed else 0)


def _run_targets(case: Case, targets: list[str], interpreter: str | None, limits: dict) -> Iterator[Outcome]:
    """The case on each target, each in a forked child: of this process (the backend imported
    once, before forking), or of a worker on another interpreter."""
    if interpreter is None:
        from fuzz import compat
        from fuzz.worker import run_job

        compat.arm()
        for t in targets:
            yield Outcome.from_dict(run_job({"case": case.to_dict(), "target": t, **limits})["outcome"])
        return
    import tempfile

    from fuzz.pool import WorkerPool, WorkerStartError, run_cases

    with tempfile.TemporaryDirectory() as tmp:
        pool = WorkerPool(1, Path(tmp) / "worker.log", targets, interpreter)
        try:
            for _, o in run_cases(pool, [(t, case.with_target(t)) for t in targets], limits["timeout"], limits["memory_mb"]):
                yield o
        except WorkerStartError as e:
            _usage_error(e)
        finally:
            pool.close()


def _print_outcome(o: Outcome) -> None:
    # Yellow: counted, not a bug (not-delegated, rejected-config, numerics-propagated).
    colour = "green" if o.status == "pass" else "red" if o.failed or o.status == "harness-error" else "yellow"
    total = sum(o.timings.values())
    print(f"== {o.target}: ", end="")
    Console().print(f"[{colour}]{o.status}[/{colour}] ({total:.1f}s, case {o.case_id})", highlight=False)
    if o.spec:
        print(f"   spec: {o.spec}")
    if o.signature:
        print(f"   signature: {o.signature}")
    if o.message and o.status != "pass":
        print(f"   {o.message[:400]}")
    for line in o.evidence:
        print(f"   evidence: {line}")
    for r in o.numerics:
        if r.get("quantized"):
            print(
                f"   output {r['output']}: max {r['max_lsb']:.2f} LSB, mean {r['mean_lsb']:+.3f} LSB, "
                f"{r['out_of_range']} codes outside [{r['qmin']}, {r['qmax']}] (scale {r['scale']:.4g}, zp {r['zp']})"
            )
    d = o.delegation
    if d:
        print(f"   delegated: {d['delegated_ops']} ops in {d['delegates']} delegate(s); on CPU: {d['cpu_ops'] or 'nothing'}")


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
    """Run (or resume) a fuzzing campaign on warm workers; show live progress and a summary."""
    from rich.live import Live

    from fuzz.campaign import (
        CampaignConfig,
        CampaignError,
        list_buckets,
        list_bugs,
        parse_budget,
        run_campaign,
    )
    from fuzz.backend_coverage import CoverageError
    from fuzz.compat import versions
    from fuzz.pool import WorkerStartError
    from fuzz.report import (
        bucket_table,
        bug_table,
        coverage_table,
        growth_line,
        guided_line,
        progress_view,
        summary_dict,
        target_table,
    )

    names = _targets_or_exit(targets)
    if engine not in ("random", "guided"):
        _usage_error(f"--engine {engine!r}: use random or guided")
    if seed_corpus and engine != "guided":
        _usage_error("--seed-corpus is for --engine guided")
    if cases is None and budget is None:
        _usage_error("give --cases N or --budget DURATION (or both)")
    try:
        seconds = parse_budget(budget)
        faults = {int(k): v for k, v in (item.split("=", 1) for item in inject)}
    except ValueError as e:
        _usage_error(e)
    root = campaign or Path("campaigns") / f"seed-{seed}"
    interpreter = _interpreter_or_exit(release, python)
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
        _usage_error(e)
    stack = {**(state.stack.get("versions") or versions()), "python": state.stack.get("python") or sys.executable}
    if as_json:
        print(json.dumps({"summary": {**summary_dict(state), "stack": stack}}), flush=True)
    else:
        console.print(f"stack: {', '.join(f'{k}=={v}' for k, v in stack.items())}", highlight=False)
        if state.buckets:
            console.print(bug_table(list_bugs(root)))
        console.print(target_table(state, f"campaign {root} ({time.monotonic() - started:.0f}s this session)"))
        console.print(coverage_table(state))
        if measure_coverage:
            console.print(growth_line(root), highlight=False)
        if engine == "guided":
            console.print(guided_line(root), highlight=False)
        if state.buckets:
            console.print(bucket_table(list_buckets(root)))
    if reduce and state.done:
        _reduce_bugs(root, max(1, workers), reduce_evals, reduce_seconds, as_json, stack["executorch"], interpreter)
    harness = sum(c["harness-error"] for c in state.tally.values())
    raise typer.Exit(3 if harness else 0)


def _interpreter_or_exit(release: str | None, python: Path | None) -> str | None:
    """The workers' interpreter for --release or --python (None: this one); builds a missing
    release venv, as 'armfuzz env add' would."""
    from fuzz import envs

    if release and python:
        _usage_error("give --release or --python, not both")
    if python:
        if not (python.is_file() and os.access(python, os.X_OK)):
            _usage_error(f"--python {python}: not an executable; give a venv's bin/python that has torch and executorch")
        return str(python.absolute())
    if not release:
        return None
    try:
        envs.release(release)
        if release == envs.installed_version():
            return None
        if envs.cached_python(release) is None:
            err.print(f"executorch {release}: no venv yet; building it (2-3 min) ...", highlight=False)
            envs.add(release, log=lambda line: err.print(line, markup=False, highlight=False))
        return envs.python_for(release)
    except (CaseError, RuntimeError) as e:
        _usage_error(e)


def _reduce_bugs(root: Path, workers: int, evals: int, seconds: float, as_json: bool, release: str, python: str | None) -> None:
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
        _usage_error(e)


@app.command()
def bugs(
    campaign: Path = typer.Argument(..., help="A campaign directory."),
    as_json: bool = typer.Option(False, "--json", help="Print the bugs as JSON."),
) -> None:
    """List a campaign's bugs: one per root cause, with their buckets, targets and representative."""
    from fuzz.campaign import CampaignError, list_bugs
    from fuzz.report import bug_table

    try:
        rows = list_bugs(campaign)
    except CampaignError as e:
        _usage_error(e)
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        Console(file=sys.stdout, width=None if sys.stdout.isatty() else 200).print(bug_table(rows))


@app.command()
def dashboard(
    campaign: Path = typer.Argument(..., help="A campaign directory."),
    out: Optional[Path] = typer.Option(None, help="Where to write the HTML. Default: CAMPAIGN/dashboard.html."),
) -> None:
    """Write one self-contained HTML file: results/s, bugs and buckets, regime coverage over
    time, verdicts per target, and the bugs linked to their reports."""
    from fuzz.campaign import CampaignError
    from fuzz.dashboard import write_dashboard

    try:
        print(write_dashboard(campaign, out))
    except CampaignError as e:
        _usage_error(e)


@app.command()
def coverage(
    campaign: Path = typer.Argument(..., help="A campaign run with --coverage."),
    html: bool = typer.Option(True, help="Also write coverage.py's HTML report to CAMPAIGN/coverage/html."),
    as_json: bool = typer.Option(False, "--json", help="Print the totals and the unreached passes and visitors as JSON."),
) -> None:
    """Statements and branches of executorch/backends/arm the campaign reached, in total and per
    subpackage, and the passes and operator visitors it never entered (coverage.py's JSON
    report, line by line, is CAMPAIGN/coverage/coverage.json)."""
    from fuzz.backend_coverage import CampaignCoverage, CoverageError

    cc = CampaignCoverage(campaign)
    try:
        summary = cc.report(cc.dir / "html" if html else None)
    except CoverageError as e:
        _usage_error(e)
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


@app.command()
def surface(as_json: bool = typer.Option(False, "--json", help="Print the surface as JSON.")) -> None:
    """The Arm backend's supported aten ops the registry's cases reach, and those they lack
    (executorch's TOSA support lists and support checks; about 40 s: every op and spelling
    is exported)."""
    from fuzz.surface import surface as measure

    s = measure()
    d = s.to_dict()
    if as_json:
        print(json.dumps(d, indent=2))
        return
    print(f"executorch's Arm backend supports {d['backend_ops']} aten ops; the registry reaches {len(d['reached'])}:")
    for packet, by in d["reached"].items():
        print(f"  {packet:32} {', '.join(by)}")
    print(f"missing ({len(d['missing'])}): {', '.join(p.removeprefix('aten.') for p in d['missing'])}")


@app.command()
def buckets(campaign: Path = typer.Argument(..., help="A campaign directory.")) -> None:
    """List a campaign's failure buckets, newest first, then by count."""
    from fuzz.campaign import CampaignError, list_buckets
    from fuzz.report import bucket_table

    try:
        rows = list_buckets(campaign)
    except CampaignError as e:
        _usage_error(e)
    Console(file=sys.stdout, width=None if sys.stdout.isatty() else 200).print(bucket_table(rows))


corpus_app = typer.Typer(help="Manage the replayed corpus.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")


@corpus_app.command("add")
def corpus_add(
    bucket: Path = typer.Argument(..., help="A campaign bucket directory (campaigns/X/buckets/<id>)."),
    corpus: Path = typer.Option(Path("corpus"), help="The corpus directory."),
) -> None:
    """Promote a bucket's smallest case into the corpus with its signature as expected."""
    from fuzz.compat import versions
    from fuzz.corpus import add_from_bucket

    try:
        dest = add_from_bucket(bucket, corpus, versions()["executorch"])
    except CaseError as e:
        _usage_error(e)
    print(dest)


@app.command()
def replay(
    corpus: Path = typer.Argument(Path("corpus"), help="The corpus directory."),
    workers: int = typer.Option(os.cpu_count() or 1, help="Warm worker processes."),
    as_json: bool = typer.Option(False, "--json", help="Print the classification as JSON."),
    markdown: Optional[Path] = typer.Option(None, help="Also write a Markdown summary here."),
    record: bool = typer.Option(False, help="Record this release's outcomes into expected.json (after a review)."),
    release: Optional[str] = typer.Option(None, help="Replay on this executorch release (see 'armfuzz env add'). Default: the installed one."),
) -> None:
    """Replay the corpus; exit 1 if any case regressed, changed or errored."""
    from fuzz import corpus as corpus_mod

    try:
        entries = corpus_mod.load_corpus(corpus)
    except CaseError as e:
        _usage_error(e)
    release = _release_or_exit(release)
    rows = corpus_mod.replay(entries, release, workers)
    if record:
        for e, r in zip(entries, rows):
            corpus_mod.record(e, release, r["outcome"])
    table_rows = [{k: v for k, v in r.items() if k != "outcome"} for r in rows]
    if markdown:
        markdown.write_text(corpus_mod.markdown_summary(table_rows, release))
    if as_json:
        print(json.dumps({"release": release, "cases": table_rows}, indent=2))
    else:
        print(corpus_mod.markdown_summary(table_rows, release))
    bad = [r for r in rows if r["verdict"] in corpus_mod.FAILING]
    raise typer.Exit(1 if bad and not record else 0)


def _release_or_exit(release: str | None) -> str:
    from fuzz import envs

    try:
        release = release or envs.installed_version()
        envs.python_for(release)
    except CaseError as e:
        _usage_error(e)
    return release


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
    from fuzz.pool import ReleasePool
    from reducer import workflow
    from reducer.shrink import Budget

    release = _release_or_exit(release)
    try:
        src = workflow.locate_source(source, out)
    except CaseError as e:
        _usage_error(e)
    quiet_backend()

    def on_step(step) -> None:
        err.print(f"[{step.seconds:7.1f}s, {step.evaluation:4d} lowerings] {step.nodes:2d} nodes  {step.pass_name}: {step.description}",
                  markup=False, highlight=False)

    from fuzz.targets import TARGETS

    with ReleasePool(release, workers, list(TARGETS)) as session:
        try:
            summary = workflow.reduce_source(src, session, Budget(max_evals, max_seconds), not keep_target, confirm_runs, on_step)
        except CaseError as e:
            _usage_error(e)
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

    release = _release_or_exit(release)
    try:
        v = workflow.render_source(source, release, runs, verify)
    except CaseError as e:
        _usage_error(e)
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
    from fuzz import envs, matrix
    from fuzz.pool import ReleasePool
    from fuzz.targets import TARGETS
    from reducer import workflow

    release = _release_or_exit(release)
    quiet_backend()
    try:
        case, outcome = workflow.load_reduced(source)
    except CaseError as e:
        _usage_error(e)
    table = ""
    if bisect_releases:
        table = matrix.bisect(case, envs.available(), outcome.signature).markdown()
    with ReleasePool(release, workers, list(TARGETS)) as session:
        print(workflow.report_source(source, session, table))


env_app = typer.Typer(help="Venvs for other executorch releases (the version matrix).", no_args_is_help=True)
app.add_typer(env_app, name="env")


@env_app.command("add")
def env_add(
    releases: list[str] = typer.Argument(..., help="executorch release(s), e.g. 1.2.0"),
    force: bool = typer.Option(False, help="Rebuild even if a ready venv is cached."),
) -> None:
    """Create and cache a venv per release (2-5 min each), with pins that work on this machine."""
    from fuzz import envs

    for v in releases:
        try:
            envs.release(v)
        except CaseError as e:
            _usage_error(e)
    for v in releases:
        t0 = time.monotonic()
        try:
            rec = envs.add(v, log=lambda line: err.print(line, markup=False, highlight=False), force=force)
        except RuntimeError as e:
            err.print(f"[red]error:[/red] executorch {v}: {e}")
            raise typer.Exit(1) from None
        print(f"executorch {v}: ready in {envs.env_dir(v)} ({time.monotonic() - t0:.0f}s; built in {rec['install_seconds']}s)")


@env_app.command("list")
def env_list() -> None:
    """Releases in the matrix and whether each can run here now."""
    from fuzz import envs

    here = envs.installed_version()
    ready = set(envs.available())
    for v, rel in envs.RELEASES.items():
        state = "installed (this venv)" if v == here else ("ready: " + str(envs.env_dir(v)) if v in ready else "not created: armfuzz env add " + v)
        notes = "" if rel.serializes else " [no to_executorch: runs the edge program]"
        print(f"{v:8} {state}{notes}")


@app.command()
def bisect(
    case_file: Path = typer.Argument(..., help="A case JSON file, or a corpus entry directory."),
    signature: Optional[str] = typer.Option(None, help="The bug to track. Default: the failure on the oldest failing release."),
    releases: Optional[str] = typer.Option(None, help="Comma list of releases. Default: every runnable one (armfuzz env list)."),
    markdown: Optional[Path] = typer.Option(None, help="Also write the table here (for the bug report)."),
) -> None:
    """Run a case on every executorch release here; print the affected releases and the first fixed one."""
    from fuzz import envs, matrix

    path = case_file / "case.json" if case_file.is_dir() else case_file
    try:
        case = Case.load(path)
        chosen = [v.strip() for v in releases.split(",")] if releases else envs.available()
        for v in chosen:
            envs.python_for(v)
    except CaseError as e:
        _usage_error(e)
    result = matrix.bisect(case, chosen, signature,
                           on_release=lambda r, o: err.print(f"executorch {r}: {o.signature or o.status}", markup=False))
    text = result.markdown()
    print(f"bug: {result.signature}\n")
    print(text)
    print("affected releases: " + (", ".join(result.affected()) or "none"))
    if markdown:
        markdown.write_text(text)


if __name__ == "__main__":
    app()
