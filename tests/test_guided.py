"""The coverage-guided engine on real warm workers, real instrumentation and atheris's libFuzzer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fuzz.campaign import CampaignConfig, CampaignDir, CampaignError, run_campaign
from fuzz.execution import edges
from fuzz.generate.bytecase import decode, input_id, target_of
from fuzz.generate.case import Case

pytestmark = pytest.mark.pipeline
TARGETS = ["tosa-int", "tosa-int-fp"]


def _events(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "events.jsonl").read_text().splitlines()]


def test_guided_campaign_keeps_inputs_that_reach_new_blocks_and_resumes(tmp_path):
    root = tmp_path / "g"
    # Input 3's case segfaults in its forked child: the campaign records it and goes on.
    cfg = CampaignConfig(root, 3, TARGETS, cases=5, workers=2, engine="guided", inject={3: "segfault"})
    state = run_campaign(cfg)
    events = _events(root)
    inputs = [e for e in events if e["type"] == "input"]
    results = [e for e in events if e["type"] == "result"]
    assert [e["index"] for e in inputs] == list(range(5))
    # every input is logged before its result, and each result decodes from its input's bytes
    for e in results:
        first_result = events.index(e)
        assert any(events.index(i) < first_result for i in inputs if i["index"] == e["index"])
    assert sorted(e["index"] for e in results) == list(range(5))  # one result per input...
    data_of = {e["index"]: bytes.fromhex(e["data"]) for e in inputs}
    for e in results:  # ...on the target its first byte names
        assert e["target"] == target_of(data_of[e["index"]], TARGETS)
    assert next(e for e in results if e["index"] == 3)["status"] == "native-crash"

    stats = json.loads((root / "stats.json").read_text())["guided"]
    assert stats["inputs"] == 5 and 0 < stats["blocks"] <= stats["of"]
    assert stats["growth"] and stats["growth"][-1]["blocks"] == stats["blocks"]

    kept = sorted((json.loads(p.read_text()) for p in (root / "guided" / "corpus").glob("*.input.json")),
                  key=lambda m: m["t"])  # in the order they were kept
    assert kept and len(kept) == stats["corpus"]
    union = set()
    for meta in kept:
        data = bytes.fromhex(meta["data"])
        assert meta["id"] == input_id(data) and (root / "guided" / "inputs" / meta["id"]).read_bytes() == data
        blocks = edges.decode(meta["blocks"])
        assert meta["new_blocks"] == len(blocks - union) > 0  # kept only for blocks no earlier input reached
        union |= blocks
        # the kept case is a plain Case file (armfuzz run takes it), the input's decoding
        case = Case.load(root / "guided" / "corpus" / f"{meta['id']}.case.json")
        assert case.to_json() == decode(data, meta["target"]).to_json()
    assert len(union) == stats["blocks"]

    # bucket files a kill left unwritten are regenerated from the logged bytes
    for f in (root / "buckets").glob("*/first.case.json"):
        want = f.read_text()
        f.unlink()
        cdir = CampaignDir(root)
        cdir.heal(cdir.load(), 3)
        assert f.read_text() == want

    # resumed: the drivers re-read the corpus and known inputs answer without running again
    state = run_campaign(CampaignConfig(root, 3, TARGETS, cases=2, workers=2, engine="guided"))
    again = json.loads((root / "stats.json").read_text())["guided"]
    assert again["replayed"] >= len(kept) and again["inputs"] == 2
    assert [e["index"] for e in _events(root) if e["type"] == "input"] == list(range(7))
    assert len(state.done) == 7

    with pytest.raises(CampaignError, match="engine='guided'"):
        run_campaign(CampaignConfig(root, 3, TARGETS, cases=1, workers=1))
