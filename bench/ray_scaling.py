"""Ray scale-out: the same cases on a one-node and on a two-node local cluster.

    python bench/ray_scaling.py [--cases 12] [--targets tosa-int] [--seed 21]

Starts a Ray head on 127.0.0.1 with one CPU, runs a campaign of the given cases through
``armfuzz fuzz --ray``, then adds a second node process (one CPU) and runs the same cases into
a fresh campaign directory. Prints the wall time of each (start-up included, and the
saturated rate from the first result to the last, as bench/campaign.py does) and the ratio.
Steering is off, so both runs lower the very same cases. The cluster is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
NODE = ["--num-cpus=1", "--object-store-memory=100000000", "--disable-usage-stats", "--node-ip-address=127.0.0.1"]


def campaign(address: str, root: Path, args) -> tuple[float, float]:
    """(whole wall seconds, results per second from the first result to the last)."""
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "fuzz.views.cli", "fuzz", "--ray", address, "--seed", str(args.seed), "--cases", str(args.cases),
                    "--targets", args.targets, "--campaign", str(root), "--no-reduce", "--no-steer", "--json"],
                   check=True, capture_output=True, cwd=Path(__file__).resolve().parent.parent, env=ENV)
    wall = time.monotonic() - t0
    ts = sorted(json.loads(x)["t"] for x in (root / "events.jsonl").read_text().splitlines())
    return wall, (len(ts) - 1) / (ts[-1] - ts[0]) if len(ts) > 1 and ts[-1] > ts[0] else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=12)
    ap.add_argument("--targets", default="tosa-int")
    ap.add_argument("--seed", type=int, default=21)
    args = ap.parse_args()
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # Ray's socket paths must stay short
    work = Path(tempfile.mkdtemp(prefix="armfuzz-ray-bench-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"127.0.0.1:{port}"
    try:
        subprocess.run([RAY, "start", "--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp}", *NODE],
                       check=True, capture_output=True, env=ENV)
        one = campaign(address, work / "one-node", args)
        print(f"1 node : {one[0]:6.1f} s whole run, {one[1]:.3f} results/s saturated", flush=True)
        subprocess.run([RAY, "start", f"--address={address}", *NODE], check=True, capture_output=True, env=ENV)
        two = campaign(address, work / "two-nodes", args)
        print(f"2 nodes: {two[0]:6.1f} s whole run, {two[1]:.3f} results/s saturated")
        print(f"scaling: {one[0] / two[0]:.2f}x whole run, {two[1] / one[1]:.2f}x saturated "
              f"({args.cases} cases x {args.targets}, seed {args.seed})")
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, env=ENV)
        shutil.rmtree(temp, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
