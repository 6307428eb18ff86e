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
from dataclasses import dataclass
from pathlib import Path

from fuzz.errors import CaseError
from fuzz.fsutil import atomic_write

ROOT = Path(__file__).resolve().parent.parent
MARKER = "armfuzz-env.json"
#: What armfuzz itself needs beside executorch (kept in step with pyproject.toml).
ARMFUZZ_DEPS = ["typer>=0.12", "rich>=13", "jinja2>=3.1"]


@dataclass(frozen=True)
class Release:
    """How to install one executorch release here, and what it cannot do here."""

    version: str
    pip_steps: tuple[tuple[str, ...], ...]
    #: torch 2.13 removed ``aten.transpose.Dimname``; these releases name it at import time.
    needs_dimname_placeholder: bool = False
    #: the quantized AOT kernel library does not load against torch 2.13: no to_executorch().
    serializes: bool = True


_OLD_COMMON = ("torch==2.13.0", "torchao==0.17.0", "ai_ml_sdk_model_converter==0.11.0")
#: 1.4 and later pin their own tosa-tools, vela and ml_dtypes in the [ethos-u] extra.
_NEW_COMMON = ("torch==2.13.0", "torchao==0.18.0", "ai_ml_sdk_model_converter==0.11.0")

#: Oldest first. 1.0.1 is absent: it needs a TOSA serializer only available from git.
RELEASES: dict[str, Release] = {
    r.version: r
    for r in (
        # 1.1.0 pins torchao 0.15.0, which does not import beside torch 2.13: install its
        # pins, then put 0.17.0 over it without resolving (pip refuses the pair otherwise).
        Release("1.1.0", (("executorch==1.1.0", "tosa-tools==2026.2.0", "torch==2.13.0", "ai_ml_sdk_model_converter==0.11.0"),
                          ("--no-deps", "torchao==0.17.0"), ("--no-deps", "ethos-u-vela==4.5.0")),
                needs_dimname_placeholder=True, serializes=False),
        Release("1.2.0", (("executorch==1.2.0", "tosa-tools==2026.2.0", *_OLD_COMMON), ("--no-deps", "ethos-u-vela==5.0.0")),
                needs_dimname_placeholder=True, serializes=False),
        Release("1.3.1", (("executorch==1.3.1", "tosa-tools==2026.2.1", *_OLD_COMMON), ("--no-deps", "ethos-u-vela==5.0.0")),
                needs_dimname_placeholder=True, serializes=False),
        Release("1.4.1", (("executorch[ethos-u]==1.4.1", *_NEW_COMMON),)),
        Release("1.5.1", (("executorch[ethos-u]==1.5.1", *_NEW_COMMON),)),
    )
}


def envs_root() -> Path:
    return Path(os.environ.get("ARMFUZZ_ENVS", Path.home() / ".cache" / "armfuzz" / "envs"))


def release(version: str) -> Release:
    try:
        return RELEASES[version]
    except KeyError:
        raise CaseError(
            f"executorch {version} is not in the version matrix; supported: {', '.join(RELEASES)}"
        ) from None


def installed_version() -> str:
    import importlib.metadata

    return importlib.metadata.version("executorch")


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
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
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
        from fuzz.compat import versions

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
        [str(d / "bin" / "python"), "-c", "from fuzz.compat import arm, versions; arm(); import json; print(json.dumps(versions()))"],
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
