"""Version matrix: cached venvs that run cases on other executorch releases.

Each release gets its own venv under ``$ARMFUZZ_ENVS`` (default ``~/.cache/armfuzz/envs``)
with pins measured to install *and import* on this kind of machine (Python 3.11, the local
torch 2.13.0 CPU wheel; torch 2.11/2.12 exist only as multi-GB CUDA builds). armfuzz itself
is *not* installed there: workers get this checkout on PYTHONPATH (:func:`worker_env`), so
they run the current code, and the venv stays what a bug report's reader has -- torch,
executorch and the Arm tools (plus jinja2/typer/rich for the worker) -- which is where a
rendered repro is verified. A venv counts as ready only once its
``armfuzz-env.json`` marker is written, after a smoke import; a half-built one is rebuilt.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from fuzz.core.errors import CaseError
from fuzz.core.fsutil import atomic_write
from fuzz.core.paths import PROJECT_ROOT
from fuzz.core.releases import RELEASES, installed_version, release

MARKER = "armfuzz-env.json"
#: What armfuzz itself needs beside executorch (kept in step with pyproject.toml).
ARMFUZZ_DEPS = ["typer>=0.12", "rich>=13", "jinja2>=3.1"]


def envs_root() -> Path:
    return Path(os.environ.get("ARMFUZZ_ENVS", Path.home() / ".cache" / "armfuzz" / "envs"))


def env_dir(version: str) -> Path:
    return envs_root() / f"executorch-{version}"


def python_for(version: str) -> str:
    """The interpreter that runs cases on ``version``: ours if it is the installed release."""
    if version == installed_version():
        return sys.executable
    python = cached_python(version)
    if python is None:
        raise CaseError(f"no environment for executorch {version}; create it with: armfuzz env add {version}")
    return python


def worker_env() -> dict[str, str]:
    """Environment for a process of another release's venv: this checkout importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def cached_python(version: str) -> str | None:
    """A ready venv's interpreter for ``version`` (armfuzz not installed there), else None."""
    d = env_dir(version)
    return str(d / "bin" / "python") if (d / MARKER).exists() else None


def verification_python(release: str) -> str:
    """Where repros are verified: a venv with torch and executorch but no armfuzz when there
    is one (what a report's reader has), else the release's interpreter."""
    return cached_python(release) or python_for(release)


def available() -> list[str]:
    """Releases runnable now: the installed one plus every ready cached venv, oldest first."""
    here = installed_version()
    return [v for v in RELEASES if v == here or cached_python(v) is not None]


def versions_for(version: str) -> dict[str, str]:
    """Package versions a release runs with: ours, or those its venv recorded when built."""
    if version == installed_version():
        from fuzz.judge.compat import versions

        return versions()
    python_for(version)  # a clear error when the venv is missing
    return json.loads((env_dir(version) / MARKER).read_text())["versions"]


def add(version: str, log=print, force: bool = False) -> dict:
    """Create (or reuse) the venv for ``version``; returns its marker record."""
    rel = release(version)
    d = env_dir(version)
    marker = d / MARKER
    if marker.exists() and not force:
        return json.loads(marker.read_text())
    if d.exists():
        shutil.rmtree(d)
    d.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    _run([sys.executable, "-m", "venv", str(d)], log)
    pip = [str(d / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    for step in rel.pip_steps:
        _run([*pip, *step], log)
    _run([*pip, *ARMFUZZ_DEPS], log)
    probe = subprocess.run(
        [str(d / "bin" / "python"), "-c", "from fuzz.judge.compat import arm, versions; arm(); import json; print(json.dumps(versions()))"],
        capture_output=True, text=True, env=worker_env(), cwd="/",
    )
    if probe.returncode != 0:
        tail = probe.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"executorch {version} installed in {d} but does not import: {tail[0]}")
    record = {"executorch": version, "versions": json.loads(probe.stdout.strip().splitlines()[-1]),
              "install_seconds": round(time.monotonic() - started, 1)}
    atomic_write(marker, json.dumps(record, indent=1) + "\n")
    return record


def _run(cmd: list[str], log) -> None:
    log("$ " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n" + "\n".join(tail))
