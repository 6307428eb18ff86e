"""vela's validator as a second opinion on a TOSA graph (the tests hold ours to agree with it)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

# vela's validator, as a second opinion.

_VELA_SCRIPT = """
import sys
from ethosu.vela import vela
try:
    vela.main(["--accelerator-config", sys.argv[1], "--output-dir", sys.argv[2], sys.argv[3]])
except BaseException as e:
    print("ARMFUZZ-VELA-ERROR", type(e).__name__, e, file=sys.stderr)
"""


def vela_validation(tosa_bytes: bytes, accelerator: str = "ethos-u85-256", timeout: float = 120) -> list[str] | None:
    """What ethos-u-vela's regor validator (generated from the TOSA specification) says about
    the graph: ``["Conv2D: ERROR_IF(shapeCheck(...))", ...]``, empty if it compiled or failed
    for another reason, None if vela is not installed. Validation runs only inside a full
    compile for an Ethos-U target (no validation-only mode), against that target's INT
    profile, in native code: so in a subprocess, about 0.2 s for a small graph. Its lines
    name the rule without shapes; data-type lines ("... not supported") are left out."""
    import importlib.util

    if importlib.util.find_spec("ethosu.vela") is None:
        return None
    with tempfile.TemporaryDirectory(prefix="armfuzz-vela-") as tmp:
        path = Path(tmp) / "graph.tosa"
        path.write_bytes(tosa_bytes)
        try:
            run = subprocess.run([sys.executable, "-c", _VELA_SCRIPT, accelerator, str(Path(tmp) / "out"), str(path)],
                                 capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return []
    text = run.stdout + run.stderr
    if "Validation error:" not in text:
        return []
    found, op = [], ""
    for line in text.split("Validation error:", 1)[1].splitlines():
        s = line.strip()
        if s.endswith(":") and not s.startswith("-"):
            op = s[:-1]
        elif s.startswith("- ERROR_IF"):
            found.append(f"{op}: {s[2:]}")
    return found
