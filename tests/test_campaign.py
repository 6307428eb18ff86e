"""Campaign engine on real warm workers: kill/resume safety, fault isolation, no orphans."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

from fuzz.campaign import (
    CampaignConfig,
    CampaignDir,
    CampaignError,
    parse_budget,
    run_campaign,
)

pytestmark = pytest.mark.pipeline
TARGETS = ["tosa-int", "tosa-int-fp"]
CASES = 20


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _events(root: Path) -> list[dict]:
    p = root / "events.jsonl"
    return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []


def test_sigkill_at_random_points_loses_nothing_and_runs_nothing_twice(tmp_path):
    root = tmp_path / "camp"
    # Sized so that a session cannot finish between two kills (12-24 s apart, ~12 s of which
    # is start-up): 20 cases x 2 targets is about 40 s of lowering on two workers.
    cmd = [sys.executable, "-m", "fuzz.views.cli", "fuzz", "--seed", "5", "--cases", str(CASES), "--targets", ",".join(TARGETS),
           "--campaign", str(root), "--workers", "2", "--json", "--no-reduce"]
    # Workers killed mid-case cannot clean up; what they leave must not outlive the campaign.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    rng = random.Random(1234)
    buckets_seen: set[str] = set()
    logged_before: list[tuple[int, str]] = []
    kills = 0
    # Three kills at random points: each one lands in another phase (start-up, mid-lowering,
    # between results), and the assertion below needs three; five added a minute to CI.
    while kills < 3:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        time.sleep(rng.uniform(12.0, 24.0))
        if proc.poll() is not None:
            break  # finished before we could kill it: nothing left to interrupt
        workers = _children(proc.pid)
        grandchildren = [g for w in workers for g in _children(w)]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        deadline = time.time() + 10
        while time.time() < deadline and any(_alive(p) for p in workers + grandchildren):
            time.sleep(0.2)
        assert not any(_alive(p) for p in workers + grandchildren), "orphaned workers after SIGKILL"
        logged_before = [(e["index"], e["target"]) for e in _events(root)]
        buckets_seen |= {p.name for p in (root / "buckets").glob("*")}
    assert kills >= 3, "the campaign finished too fast to be interrupted"
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode in (0, 3), done.stderr[-2000:]
    # The resumed run's workers swept the killed workers' scratch roots and removed their own.
    assert sorted(p.name for p in scratch.iterdir() if not p.name.startswith("torchinductor_")) == []
    events = _events(root)
    keys = [(e["index"], e["target"]) for e in events]
    counts = Counter(keys)
    assert all(c == 1 for c in counts.values()), [k for k, c in counts.items() if c > 1]
    assert set(keys) == {(i, t) for i in range(CASES) for t in TARGETS}
    assert set(logged_before) <= set(keys)
    final_buckets = {p.name for p in (root / "buckets").glob("*")}
    assert buckets_seen <= final_buckets
    for b in final_buckets:
        d = root / "buckets" / b
        assert (d / "first.case.json").exists() and (d / "meta.json").exists()
        meta = json.loads((d / "meta.json").read_text())
        assert meta["count"] == sum(1 for e in events if e["signature"] == meta["signature"])


def test_segfault_hang_and_oom_children_are_recorded_and_the_campaign_goes_on(tmp_path, monkeypatch):
    # Every temporary file of the campaign goes under one directory, which a killed child
    # must not leave anything in (a child dies inside the lowering's scratch directory).
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    cfg = CampaignConfig(
        # 45 s: the oom child must reach the lower stage and fill 6 GB in 64 MB steps before the
        # deadline; at 20 s it timed out instead on a loaded two-core machine (CI dry run).
        tmp_path / "faults", seed=9, targets=["tosa-int"], cases=4, workers=2, timeout=45.0, memory_mb=6144,
        inject={0: "segfault", 1: "hang", 2: "oom"},
    )
    state = run_campaign(cfg)
    by_index = {e["index"]: e for e in _events(cfg.root)}
    assert sorted(by_index) == [0, 1, 2, 3]
    assert by_index[0]["signature"] == "tosa-int/native-crash/SIGSEGV@lower"
    assert by_index[1]["signature"] == "tosa-int/timeout@lower"
    assert by_index[2]["signature"] == "tosa-int/oom@lower"
    assert by_index[3]["status"] not in ("native-crash", "timeout", "oom", "harness-error")
    assert {"tosa-int/native-crash/SIGSEGV@lower", "tosa-int/timeout@lower", "tosa-int/oom@lower"} <= set(state.buckets)
    # torch's inductor cache (torchinductor_<user>) is shared by every process and kept on purpose.
    assert sorted(p.name for p in scratch.iterdir() if not p.name.startswith("torchinductor_")) == []
    # Same seed, same cases: a second run has nothing left to do.
    again = run_campaign(cfg)
    assert len(_events(cfg.root)) == 4 and len(again.done) == 4


def test_resume_with_a_different_seed_is_refused(tmp_path):
    CampaignDir(tmp_path).open(1, ["tosa-int"], 300.0, 8192)
    with pytest.raises(CampaignError, match=r"campaign.json: campaign has seed=1, asked for 2"):
        CampaignDir(tmp_path).open(2, ["tosa-int"], 300.0, 8192)


def test_resume_of_a_campaign_from_another_generator_is_refused(tmp_path):
    """A log names cases by (seed, index): under another generator they are other cases."""
    cdir = CampaignDir(tmp_path)
    cdir.open(1, ["tosa-int"], 300.0, 8192)
    config = json.loads(cdir.config_path.read_text())
    del config["generator"]  # written before the field existed: version 1
    cdir.config_path.write_text(json.dumps(config))
    from fuzz.generate.generator import GENERATOR_VERSION

    with pytest.raises(CampaignError, match=rf"campaign.json: campaign was generated by generator version 1, this armfuzz generates version {GENERATOR_VERSION}"):
        CampaignDir(tmp_path).open(1, ["tosa-int"], 300.0, 8192)


def test_torn_last_log_line_is_dropped(tmp_path):
    cdir = CampaignDir(tmp_path)
    cdir.open(1, ["tosa-int"], 300.0, 8192)
    ev = {"type": "result", "index": 0, "target": "tosa-int", "status": "pass", "signature": "", "nodes": 1, "t": 1.0}
    cdir.append(ev)
    with open(cdir.events_path, "a") as f:
        f.write('{"type": "result", "index": 1, "tar')
    state = cdir.load()
    assert state.done == {(0, "tosa-int")}
    assert cdir.events_path.read_text().count("\n") == 1


def test_budget_parsing():
    assert parse_budget("2h") == 7200 and parse_budget("1h30m") == 5400 and parse_budget("90") == 90
    with pytest.raises(ValueError, match="budget"):
        parse_budget("two hours")
