"""armfuzz run (one case on its targets, each in a forked child) and armfuzz surface."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.console import Console

from fuzz.core.errors import CaseError
from fuzz.core.quiet import quiet_backend
from fuzz.generate.case import Case
from fuzz.judge.outcome import Outcome
from fuzz.views.cli.app import app, interpreter_or_exit, targets_or_exit, usage_error


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
        usage_error(e)
    targets = targets_or_exit(target) if target else [case.target]
    interpreter = interpreter_or_exit(release, python)
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
        from fuzz.execution.worker import run_job
        from fuzz.judge import compat

        compat.arm()
        for t in targets:
            yield Outcome.from_dict(run_job({"case": case.to_dict(), "target": t, **limits})["outcome"])
        return
    import tempfile

    from fuzz.execution.pool import WorkerPool, WorkerStartError, run_cases

    with tempfile.TemporaryDirectory() as tmp:
        pool = WorkerPool(1, Path(tmp) / "worker.log", targets, interpreter)
        try:
            for _, o in run_cases(pool, [(t, case.with_target(t)) for t in targets], limits["timeout"], limits["memory_mb"]):
                yield o
        except WorkerStartError as e:
            usage_error(e)
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
def surface(as_json: bool = typer.Option(False, "--json", help="Print the surface as JSON.")) -> None:
    """The Arm backend's supported aten ops the registry's cases reach, and those they lack
    (executorch's TOSA support lists and support checks; about 40 s: every op and spelling
    is exported)."""
    from fuzz.views.surface import surface as measure

    s = measure()
    d = s.to_dict()
    if as_json:
        print(json.dumps(d, indent=2))
        return
    print(f"executorch's Arm backend supports {d['backend_ops']} aten ops; the registry reaches {len(d['reached'])}:")
    for packet, by in d["reached"].items():
        print(f"  {packet:32} {', '.join(by)}")
    print(f"missing ({len(d['missing'])}): {', '.join(p.removeprefix('aten.') for p in d['missing'])}")
