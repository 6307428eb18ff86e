"""The armfuzz Typer app, its command groups, and the one-line errors every command shares."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from fuzz.core.errors import CaseError
from fuzz.core.targets import parse_targets

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Fuzz the ExecuTorch Arm backend's quantized lowering.")
err = Console(stderr=True, soft_wrap=True)  # soft_wrap: one-line errors stay one line


def usage_error(message: object) -> NoReturn:
    """One-line error on stderr, exit code 2 (bad input, nothing ran)."""
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


def targets_or_exit(spec: str | None) -> list[str]:
    try:
        return parse_targets(spec)
    except ValueError as e:
        usage_error(e)


def interpreter_or_exit(release: str | None, python: Path | None) -> str | None:
    """The workers' interpreter for --release or --python (None: this one); builds a missing
    release venv, as 'armfuzz env add' would."""
    from fuzz.execution import envs

    if release and python:
        usage_error("give --release or --python, not both")
    if python:
        if not (python.is_file() and os.access(python, os.X_OK)):
            usage_error(f"--python {python}: not an executable; give a venv's bin/python that has torch and executorch")
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
        usage_error(e)


def release_or_exit(release: str | None) -> str:
    from fuzz.execution import envs

    try:
        release = release or envs.installed_version()
        envs.python_for(release)
    except CaseError as e:
        usage_error(e)
    return release


corpus_app = typer.Typer(help="Manage the replayed corpus.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")


env_app = typer.Typer(help="Venvs for other executorch releases (the version matrix).", no_args_is_help=True)
app.add_typer(env_app, name="env")
