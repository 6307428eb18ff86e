"""Ray scale-out on a real local cluster: a head node and a second node process on
127.0.0.1, started and stopped by the test; the second node is SIGKILLed mid-campaign."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="Ray is optional: pip install 'armfuzz[ray]' (.ci/run installs it)")
pytestmark = pytest.mark.pipeline

RAY = str(Path(sys.executable).with_name("ray"))
TARGETS = ["tosa-int", "tosa-int-fp"]
CASES = 6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _raylets() -> set[int]:
    out = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"raylet" in cmdline.read_bytes().split(b"\0")[0]:
                out.add(int(cmdline.parent.name))
        except OSError:
            continue
    return out


@pytest.fixture
def cluster():
    """Head (1 CPU) and a second node (1 CPU) on loopback; torn down whatever happens."""
    import tempfile

    # Short: Ray's unix socket paths live under it and must fit in 107 characters.
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    port = _free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--num-cpus=1", "--object-store-memory=100000000", "--disable-usage-stats"]
    try:
        subprocess.run([RAY, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--include-dashboard=false",
                        f"--temp-dir={temp}", *common], check=True, capture_output=True, env=env, timeout=120)
        before = _raylets()
        subprocess.run([RAY, "start", f"--address=127.0.0.1:{port}", "--node-ip-address=127.0.0.1", *common],
                       check=True, capture_output=True, env=env, timeout=120)
        (second,) = _raylets() - before
        yield f"127.0.0.1:{port}", second
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, env=env, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


def test_a_campaign_on_two_nodes_survives_a_killed_node(cluster, tmp_path):
    address, second_raylet = cluster
    camp = tmp_path / "camp"
    cmd = [sys.executable, "-m", "fuzz.views.cli", "fuzz", "--ray", address, "--seed", "5", "--cases", str(CASES),
           "--targets", ",".join(TARGETS), "--campaign", str(camp), "--no-reduce", "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parent.parent)
    events = camp / "events.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and (not events.exists() or len(events.read_text().splitlines()) < 2):
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        time.sleep(1)
    assert events.exists(), "no result within 5 minutes"
    os.kill(second_raylet, signal.SIGKILL)  # the second node dies with whatever it was running
    out, err = proc.communicate(timeout=900)
    assert proc.returncode in (0, 3), err[-3000:]
    logged = [json.loads(x) for x in events.read_text().splitlines()]
    counts = Counter((e["index"], e["target"]) for e in logged)
    assert set(counts) == {(i, t) for i in range(CASES) for t in TARGETS}
    assert all(c == 1 for c in counts.values()), [k for k, c in counts.items() if c > 1]
    assert {e["release"] for e in logged} == {importlib.metadata.version("executorch")}


def test_ray_missing_or_python_with_ray_is_a_one_line_error(tmp_path):
    from typer.testing import CliRunner

    from fuzz.views.cli import app

    res = CliRunner().invoke(app, ["fuzz", "--ray", "auto", "--python", sys.executable, "--cases", "1",
                                   "--campaign", str(tmp_path / "c"), "--no-reduce"])
    assert res.exit_code == 2 and "--ray runs the cluster's own interpreter" in res.output
