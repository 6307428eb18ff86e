"""The layer contracts (.importlinter) hold on the tree, and they do fail on an upward import.

The contracts run through import-linter's own CLI, as CI runs them. The failing case copies
the packages to a temporary directory and adds one upward import there (a lazy one, inside a
function, which is how the old cycles hid): the checkout itself is never modified.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).parent / "lint-imports"


def _lint(tree: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT), "--config", str(tree / ".importlinter"), "--no-cache"], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=300)


def _lint_with(tmp_path: Path, module: str, lazy_import: str) -> subprocess.CompletedProcess:
    """Lint a copy of the packages in which ``module`` (a path under the copy) gained one
    lazy import, inside a function."""
    tree = tmp_path / "tree"
    for pkg in ("fuzz", "reducer"):
        shutil.copytree(ROOT / pkg, tree / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tree / ".importlinter")
    target = tree / module
    target.write_text(target.read_text() + f"\n\ndef _added():\n    {lazy_import}  # noqa: F401\n")
    return _lint(tree)


def test_the_layer_contracts_hold():
    proc = _lint(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_an_upward_import_breaks_the_layers_and_is_named(tmp_path):
    proc = _lint_with(tmp_path, "fuzz/judge/oracle.py", "from fuzz.campaign import store")
    assert proc.returncode == 1, proc.stdout
    assert "fuzz.judge.oracle -> fuzz.campaign.store" in proc.stdout


def test_a_cycle_between_sibling_modules_is_named(tmp_path):
    # generator imports patterns already; patterns importing generator closes a cycle inside
    # one layer, which only the acyclic contract (and the generation contract) can see.
    proc = _lint_with(tmp_path, "fuzz/generate/patterns.py", "from fuzz.generate import generator")
    assert proc.returncode == 1, proc.stdout
    assert "No import cycles between modules or packages BROKEN" in proc.stdout
