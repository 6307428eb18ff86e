"""armfuzz command line."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from fuzz.case import Case
from fuzz.errors import CaseError
from fuzz.outcome import Outcome
from fuzz.targets import parse_targets

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Fuzz the ExecuTorch Arm backend's quantized lowering.")
err = Console(stderr=True, soft_wrap=True)  # soft_wrap: one-line errors stay one line


def _targets_or_exit(spec: str | None) -> list[str]:
    try:
        return parse_targets(spec)
    except ValueError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None


def _quiet_backend() -> None:
    """executorch and torch log warnings for every lowering; keep the terminal readable."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")


@app.command()
def run(
    case_file: Path = typer.Argument(..., help="A case JSON file."),
    target: Optional[str] = typer.Option(None, "--target", "-t", help="Target(s): a name, a comma list, or 'all'. Default: the case's own."),
    as_json: bool = typer.Option(False, "--json", help="Print outcomes as JSON (one object per line)."),
) -> None:
    """Run one case through the real Arm lowering and print its verdict."""
    try:
        case = Case.load(case_file)
    except CaseError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    targets = _targets_or_exit(target) if target else [case.target]
    _quiet_backend()
    from fuzz.pipeline import run_case

    failed = False
    for t in targets:
        o = run_case(case, t)
        failed |= o.failed or o.status == "harness-error"
        if as_json:
            print(json.dumps(o.to_dict()), flush=True)
        else:
            _print_outcome(o)
    raise typer.Exit(1 if failed else 0)


def _print_outcome(o: Outcome) -> None:
    colour = {"pass": "green", "not-delegated": "yellow"}.get(o.status, "red")
    total = sum(o.timings.values())
    print(f"== {o.target}: ", end="")
    Console().print(f"[{colour}]{o.status}[/{colour}] ({total:.1f}s, case {o.case_id})", highlight=False)
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
    cases: int = typer.Option(30, help="Number of generated cases."),
    targets: str = typer.Option("all", help="Comma list of targets, or 'all'."),
    out: Path = typer.Option(Path("findings"), help="Where failing cases and outcomes are saved."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON outcome per line instead of progress."),
    timeout: float = typer.Option(300.0, help="Seconds one case may take on one target before it is a timeout."),
) -> None:
    """Generate random cases, run each on every target, and print a per-target tally."""
    names = _targets_or_exit(targets)
    _quiet_backend()
    from fuzz.generator import generate
    from fuzz.pipeline import run_case

    tally: dict[str, Counter] = defaultdict(Counter)
    buckets: dict[str, list[str]] = defaultdict(list)
    t0 = time.perf_counter()
    delegated: dict[str, list[float]] = defaultdict(list)
    for i in range(cases):
        for t in names:
            case = generate(seed, i, t)
            o = run_case(case, t, timeout=timeout)
            if o.delegation:
                delegated[t].append(o.delegation["delegated_fraction"])
            tally[t][o.status] += 1
            if o.failed or o.status == "harness-error":
                buckets[o.signature].append(o.case_id)
                _save_finding(out, case, o)
            if as_json:
                print(json.dumps({"index": i, **o.to_dict()}), flush=True)
            else:
                err.print(f"[{i + 1}/{cases}] {t:14s} {o.status:15s} {o.signature[:110]}", highlight=False)
    _print_tally(tally, delegated, buckets, time.perf_counter() - t0, out)
    harness = sum(c["harness-error"] for c in tally.values())
    raise typer.Exit(3 if harness else 0)


def _save_finding(out: Path, case: Case, o: Outcome) -> None:
    """One directory per signature; every failing case kept (a finding is never lost)."""
    from fuzz.fsutil import atomic_write

    bucket = out / hashlib.sha256(o.signature.encode()).hexdigest()[:12]
    atomic_write(bucket / "signature.txt", o.signature + "\n")
    atomic_write(bucket / f"{o.case_id}.case.json", case.to_json())
    atomic_write(bucket / f"{o.case_id}.outcome.json", json.dumps(o.to_dict(), indent=2) + "\n")


def _print_tally(
    tally: dict[str, Counter], delegated: dict[str, list[float]], buckets: dict[str, list[str]], seconds: float, out: Path
) -> None:
    from fuzz.outcome import STATUSES

    table = Table(title=f"armfuzz tally ({seconds:.0f}s)")
    table.add_column("target")
    for s in STATUSES:
        table.add_column(s, justify="right")
    table.add_column("mean delegated", justify="right")
    for t, c in tally.items():
        fr = delegated.get(t) or [0.0]
        table.add_row(t, *[str(c.get(s, 0)) for s in STATUSES], f"{100 * sum(fr) / len(fr):.0f}%")
    # Logs and CI capture are not terminals: give the table room instead of truncating names.
    console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 200)
    console.print(table)
    if buckets:
        bt = Table(title=f"failure buckets (saved under {out}/)")
        bt.add_column("cases", justify="right")
        bt.add_column("signature")
        for sig, ids in sorted(buckets.items(), key=lambda kv: -len(kv[1])):
            bt.add_row(str(len(ids)), sig)
        console.print(bt)


if __name__ == "__main__":
    app()
