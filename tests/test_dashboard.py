"""The campaign dashboard: rendered from an event log, then opened in a real headless
Chromium (Debian's package; .ci/run installs it), whose screenshot must show the plots."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fuzz.core.targets import TARGETS
from fuzz.views.cli import app
from fuzz.views.dashboard import series, write_dashboard

CLAMP = "{t}/lower/TosaValueError@ExirToTosaPass: max_val must be greater than or equal to min_val"
RELU = "{t}/compare/numerics-activation-floor@relu(nonfuseable,after-conv2d)"
#: matplotlib's tab:blue, tab:orange, tab:green and tab:red: one per plot
PLOT_COLOURS = {"rate": (31, 119, 180), "buckets": (255, 127, 14), "regimes": (44, 160, 44), "statements": (214, 39, 40)}


def _campaign(root: Path, n: int = 60) -> None:
    root.mkdir(parents=True)
    (root / "campaign.json").write_text(json.dumps({"schema": 1, "seed": 3, "targets": list(TARGETS)}))
    lines = []
    for k in range(n):
        t = list(TARGETS)[k % len(TARGETS)]
        status, sig = ("pass", "")
        if k % 5 == 0:
            status, sig = "crash", CLAMP.format(t=t)
        elif k % 7 == 0:
            status, sig = "numerics", RELU.format(t=t)
        lines.append(json.dumps({"type": "result", "seed": 3, "index": k // len(TARGETS), "target": t, "focus": None,
                                 "status": status, "signature": sig, "nodes": 3, "release": "1.5.1", "python": "/x/python",
                                 "regimes": ["act-nonfuseable", f"config-{k % 4}"], "wall": 2.0, "t": 1000.0 + 3 * k,
                                 # the first half logged before cells: both load
                                 **({"cells": ["act-nonfuseable@conv", f"config-act-qmin-128@{('conv', 'pad', 'tensor')[k % 3]}"]} if k >= n // 2 else {})}))
    (root / "events.jsonl").write_text("\n".join(lines) + "\n")
    # the growth record a --coverage campaign keeps (fuzz.execution.backend_coverage)
    (root / "coverage").mkdir()
    points = [{"t": 30.0 * i, "wall": 0.0, "results": 10 * i, "statements": 9000 + 400 * i - 20 * i * i} for i in range(1, 7)]
    (root / "coverage" / "growth.jsonl").write_text("".join(json.dumps(p) + "\n" for p in points))


def test_series_replays_the_log(tmp_path):
    _campaign(tmp_path / "c")
    events = [json.loads(x) for x in (tmp_path / "c" / "events.jsonl").read_text().splitlines()]
    s = series(events)
    assert s["results"][-1] == 60 and s["t"] == sorted(s["t"])
    assert s["buckets"][-1] > s["bugs"][-1] == 2  # 7 + 7 buckets, 2 root causes
    assert all(r > 0 for r in s["rate"][1:])
    assert s["cells"][0] == 0 and s["cells"][-1] == 4 * len(TARGETS)  # act-nonfuseable@conv and three config cells


def test_dashboard_is_one_self_contained_file_with_its_tables(tmp_path):
    _campaign(tmp_path / "c")
    res = CliRunner().invoke(app, ["dashboard", str(tmp_path / "c")])
    assert res.exit_code == 0, res.output
    html = (tmp_path / "c" / "dashboard.html").read_text()
    # Self-contained: nothing is fetched (namespace URIs inside the SVGs are names, not loads).
    assert html.count("<svg") == 4 and "<script" not in html and "<link" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert 'id="verdicts"' in html and 'id="bugs"' in html and "not reduced" in html
    cells = html[html.index('id="cells"'):html.index("</table>", html.index('id="cells"'))]
    assert cells.count("<tr>") == 1 + len(TARGETS) and "<th>act-nonfuseable@conv</th>" in cells
    assert re.search(r"<td>tosa-int</td><td>4/\d+</td><td>[1-9]\d*</td><td>0</td><td>0</td>", cells)
    # both bugs are in the checked-in known-bugs file, open: known, not new
    assert len(re.findall(r'<tr class="tier-\w+ known">', html)) == 2 and "(0 new)" in html and "known (open)" in html
    bad = CliRunner().invoke(app, ["dashboard", str(tmp_path / "nothing")])
    assert bad.exit_code == 2 and "campaign directory" in bad.output


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_dashboard_renders_its_plots_in_headless_chromium(tmp_path):
    import matplotlib.image

    _campaign(tmp_path / "c")
    page = write_dashboard(tmp_path / "c")
    shot = tmp_path / "shot.png"
    proc = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--window-size=1400,1400", f"--screenshot={shot}", page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert shot.exists(), proc.stderr[-2000:]
    pixels = (matplotlib.image.imread(shot)[:, :, :3] * 255).astype(int)
    assert pixels.std() > 10, "the screenshot is blank"
    for name, colour in PLOT_COLOURS.items():
        near = (np.abs(pixels - np.array(colour)).sum(axis=2) < 40).sum()
        assert near > 100, f"the {name} plot's line is not on the screenshot ({near} pixels of {colour})"
    dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.resolve().as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert dom.count("<svg") == 4 and "bugs" in dom


def test_dashboard_lists_bugs_most_severe_tier_first_with_the_count_per_tier(tmp_path, no_known_bugs):
    root = tmp_path / "c"
    _campaign(root)
    # a spelling family seen first of all: listed last all the same
    early = [{"type": "result", "seed": 3, "index": 100 + k, "target": t, "focus": None, "status": "spelling-not-delegated",
              "signature": f"{t}/lower/spelling-not-delegated@{v}", "nodes": 3, "release": "1.5.1", "t": 900.0 + k}
             for k, (t, v) in enumerate([("tosa-int", "neg(negative)"), ("vgf-int", "clamp(clip)")])]
    with open(root / "events.jsonl", "a") as f:
        f.write("".join(json.dumps(e) + "\n" for e in early))
    html = write_dashboard(root).read_text()
    tiers = html[html.index('id="tiers"'):html.index('id="bugs"')]
    assert re.findall(r"<th>(\w+)</th>", tiers) == ["crash", "numerics", "delegation"]
    assert re.findall(r"<td>(\d+)</td>", tiers) == ["1", "1", "1"]
    assert re.findall(r'<tr class="tier-(\w+) ', html) == ["crash", "numerics", "delegation"]
    assert "neg(negative) (tosa-int)<br>clamp(clip) (vgf-int)" in html  # the family's members, with targets
