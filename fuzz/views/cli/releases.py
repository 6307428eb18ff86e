"""Releases and the corpus: armfuzz replay, corpus add, env add/list, bisect."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Optional

import typer

from fuzz.core.errors import CaseError
from fuzz.generate.case import Case
from fuzz.views.cli.app import app, corpus_app, env_app, err, release_or_exit, usage_error


@corpus_app.command("add")
def corpus_add(
    bucket: Path = typer.Argument(..., help="A campaign bucket directory (campaigns/X/buckets/<id>)."),
    corpus: Path = typer.Option(Path("corpus"), help="The corpus directory."),
) -> None:
    """Promote a bucket's smallest case into the corpus with its signature as expected."""
    from fuzz.judge.compat import versions
    from fuzz.replay.corpus import add_from_bucket

    try:
        dest = add_from_bucket(bucket, corpus, versions()["executorch"])
    except CaseError as e:
        usage_error(e)
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
    from fuzz.replay import corpus as corpus_mod

    try:
        entries = corpus_mod.load_corpus(corpus)
    except CaseError as e:
        usage_error(e)
    release = release_or_exit(release)
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


@env_app.command("add")
def env_add(
    releases: list[str] = typer.Argument(..., help="executorch release(s), e.g. 1.2.0"),
    force: bool = typer.Option(False, help="Rebuild even if a ready venv is cached."),
) -> None:
    """Create and cache a venv per release (2-5 min each), with pins that work on this machine."""
    from fuzz.execution import envs

    for v in releases:
        try:
            envs.release(v)
        except CaseError as e:
            usage_error(e)
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
    from fuzz.execution import envs

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
    from fuzz.execution import envs
    from fuzz.replay import matrix

    path = case_file / "case.json" if case_file.is_dir() else case_file
    try:
        case = Case.load(path)
        chosen = [v.strip() for v in releases.split(",")] if releases else envs.available()
        for v in chosen:
            envs.python_for(v)
    except CaseError as e:
        usage_error(e)
    result = matrix.bisect(case, chosen, signature,
                           on_release=lambda r, o: err.print(f"executorch {r}: {o.signature or o.status}", markup=False))
    text = result.markdown()
    print(f"bug: {result.signature}\n")
    print(text)
    print("affected releases: " + (", ".join(result.affected()) or "none"))
    if markdown:
        markdown.write_text(text)
