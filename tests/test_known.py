"""Known bugs (fuzz.triage.known): the checked-in file agrees with the corpus, a bad file is a
one-line error, a known bug is not new, and a fixed bug that comes back is a regression."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from fuzz.campaign import list_bugs
from fuzz.core.paths import KNOWN_BUGS
from fuzz.replay.corpus import load_corpus
from fuzz.triage.bugs import bug_id, bug_key
from fuzz.triage.known import KnownBugsError, describe, load, release_order
from fuzz.views.cli import app
from reducer.workflow import pending_bugs
from tests.conftest import ROOT
from tests.test_bugs import CLAMP, _events

REWRITE_CONV = "{t}/lower/ValueError@RewriteConvPass: RewriteConvPass: No output quantization parameter found in node <node>"
UNLISTED = "{t}/lower/ValueError@SomeNewPass: nobody has seen this yet"


def _corpus_keys() -> dict[str, dict[str, str]]:
    """entry -> release -> bug key, from corpus/*/expected.json."""
    return {e.id: {r: bug_key(s) for r, s in e.expected.items() if s != "pass"} for e in load_corpus(ROOT / "corpus")}


def test_the_shipped_file_covers_every_corpus_bug_and_agrees_with_the_replay():
    """Every bug the corpus shows has an entry; an entry's corpus entries show its key; a
    fixed entry shows before its fix release and never on or after it (the replay table)."""
    table = load(KNOWN_BUGS)
    corpus = _corpus_keys()
    corpus_targets = {e.id: {r: s.split("/")[0] for r, s in e.expected.items()} for e in load_corpus(ROOT / "corpus")}
    assert {k for by_release in corpus.values() for k in by_release.values()} <= set(table)
    for key, entry in table.items():
        assert entry.corpus, f"{key}: say which corpus entry shows it"
        seen = {r for name in entry.corpus for r, k in corpus[name].items() if k == key}
        assert seen, f"{key}: none of {entry.corpus} shows it"
        shown_on = {corpus_targets[name][r] for name in entry.corpus for r, k in corpus[name].items() if k == key}
        assert set(entry.targets) <= shown_on, f"{key}: bounded to {entry.targets}, the corpus shows it on {sorted(shown_on)}"
        if entry.status == "fixed":
            fix = release_order(entry.fixed_in)
            assert all(release_order(r) < fix for r in seen), f"{key}: seen at or after its fix {entry.fixed_in}: {sorted(seen)}"
        else:
            assert entry.fixed_in is None and (entry.upstream or "Not filed upstream yet" in entry.note)
    assert table[bug_key(REWRITE_CONV.format(t="tosa-int-fp"))].fixed_in == "1.3.1"


def test_release_order_puts_a_pre_release_before_its_release():
    assert release_order("1.6.0.dev20260301+cpu") < release_order("1.6.0") == release_order("1.6.0+cpu")
    assert release_order("1.5.1") < release_order("1.10.0") and release_order("1.5.0rc2") < release_order("1.5.0")
    assert release_order("main") is None


@pytest.mark.parametrize("text, needle", [
    ('{"schema": 1, "bugs": {', "not valid JSON (line 1"),
    ('{"schema": 2, "bugs": {}}', 'expected {"schema": 1'),
    ('{"schema": 1, "bugs": {"k": {"status": "open"}, "k": {"status": "open"}}}', '"k" appears twice'),
    ('{"schema": 1, "bugs": {"k": {"status": "closed"}}}', "status 'closed'"),
    ('{"schema": 1, "bugs": {"k": {"status": "fixed"}}}', 'needs fixed_in'),
    ('{"schema": 1, "bugs": {"k": {"status": "fixed", "fixed_in": "1.6.0.dev1"}}}', 'needs fixed_in'),
    ('{"schema": 1, "bugs": {"k": {"status": "open", "fixed_in": "1.3.1"}}}', "an open bug has no fixed_in"),
    ('{"schema": 1, "bugs": {"k": {"status": "open", "upstream": "see slack"}}}', "upstream 'see slack'"),
    ('{"schema": 1, "bugs": {"k": {"status": "open", "link": "x"}}}', "unknown field(s) link"),
    ('{"schema": 1, "bugs": {" ": {"status": "open"}}}', "an empty bug key"),
])
def test_a_malformed_file_is_one_line_naming_the_file_and_the_fix(tmp_path, text, needle):
    path = tmp_path / "known-bugs.json"
    path.write_text(text)
    with pytest.raises(KnownBugsError) as e:
        load(path)
    assert str(e.value).startswith(f"{path}: ") and needle in str(e.value) and "\n" not in str(e.value)


def test_a_corrupt_file_stops_the_bugs_command_and_a_campaign_in_one_line(tmp_path, monkeypatch):
    root = tmp_path / "camp"
    _events(root, [(0, "tosa-int", "crash", CLAMP.format(t="tosa-int"), 2)])
    bad = tmp_path / "known-bugs.json"
    bad.write_text("{")
    monkeypatch.setenv("ARMFUZZ_KNOWN_BUGS", str(bad))
    for args in (["bugs", str(root)], ["fuzz", "--cases", "1", "--targets", "tosa-int", "--campaign", str(tmp_path / "new")]):
        res = CliRunner().invoke(app, args)
        errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]  # torchao's import notes aside
        assert res.exit_code == 2 and len(errors) == 1 and f"{bad}: not valid JSON" in errors[0], res.output
    assert not (tmp_path / "new").exists()  # refused before the campaign directory was made


def test_a_known_bug_is_not_new_and_a_fixed_bug_back_on_its_fix_release_or_later_is_a_regression(tmp_path):
    """On 1.5.1 (the checked-in file): the ExirToTosaPass clamp crash is known and open; the
    RewriteConvPass crash, fixed in 1.3.1, is a regression; an unlisted crash is new. The same
    log on 1.2.0: the RewriteConvPass crash is known, fixed later, and not a regression."""
    rows = [(0, "tosa-int", "crash", CLAMP.format(t="tosa-int"), 2), (1, "tosa-int-fp", "crash", REWRITE_CONV.format(t="tosa-int-fp"), 3),
            (2, "tosa-int", "crash", UNLISTED.format(t="tosa-int"), 2)]
    ids = {name: bug_id(bug_key(sig.format(t="tosa-int"))) for name, sig in
           (("clamp", CLAMP), ("rewrite", REWRITE_CONV), ("new", UNLISTED))}
    root = tmp_path / "on-1.5.1"
    _events(root, rows)
    by_id = {r["id"]: r for r in list_bugs(root)}
    assert by_id[ids["clamp"]]["known"]["status"] == "open" and by_id[ids["clamp"]]["regression"] is False
    assert by_id[ids["new"]]["known"] is None and by_id[ids["new"]]["regression"] is False
    rewrite = by_id[ids["rewrite"]]
    assert rewrite["regression"] is True and rewrite["regressed_on"] == ["1.5.1"] and rewrite["known"]["fixed_in"] == "1.3.1"
    assert rewrite["known"]["upstream"] == "https://github.com/pytorch/executorch/issues/18491"
    stored = {r["id"]: r for r in json.loads((root / "bugs.json").read_text())}  # written, not only listed
    assert stored[ids["rewrite"]]["regression"] is True and stored[ids["clamp"]]["known"]["status"] == "open"
    # Auto-reduction skips what is filed already; the regression and the new bug get reports.
    assert sorted(p.name for p in pending_bugs(root)) == sorted([ids["rewrite"], ids["new"]])
    out = CliRunner().invoke(app, ["bugs", str(root)]).output
    assert out.index(ids["rewrite"]) < out.index(ids["new"]) < out.index(ids["clamp"])  # regressions, new, known
    assert "bugs: 1 new, 2 known" in out and f"bug {ids['rewrite']}" in out and "REGRESSION (fixed in 1.3.1" in out

    old = tmp_path / "on-1.2.0"
    _events(old, rows, release="1.2.0")
    rewrite = {r["id"]: r for r in list_bugs(old)}[ids["rewrite"]]
    assert rewrite["known"]["status"] == "fixed" and rewrite["regression"] is False and "regressed_on" not in rewrite


PARTIAL = "{t}/lower/partially-delegated@conv2d+relu(convolution)"


def test_an_entry_bounded_to_targets_leaves_the_same_key_on_other_targets_new(tmp_path):
    """The checked-in entry for the conv and relu left on the CPU together is fixed in 1.4.1 on
    tosa-int only. On 1.5.1 the same key on ethos-u55-128 is new, with the entry as
    ``related``, not a regression; on tosa-int it is a regression."""
    key = bug_key(PARTIAL.format(t="tosa-int"))
    assert load(KNOWN_BUGS)[key].targets == ("tosa-int",)
    u55 = tmp_path / "u55"
    _events(u55, [(0, "ethos-u55-128", "partially-delegated", PARTIAL.format(t="ethos-u55-128"), 6)])
    row = {r["id"]: r for r in list_bugs(u55)}[bug_id(key)]
    assert row["known"] is None and row["regression"] is False and row["related"]["targets"] == ["tosa-int"]
    assert bug_id(key) in {p.name for p in pending_bugs(u55)}
    assert describe(row) == "new here (same key fixed in 1.4.1 on tosa-int)"
    assert "new here" in CliRunner().invoke(app, ["bugs", str(u55)]).output
    tosa = tmp_path / "tosa"
    _events(tosa, [(0, "tosa-int", "partially-delegated", PARTIAL.format(t="tosa-int"), 6)])
    row = {r["id"]: r for r in list_bugs(tosa)}[bug_id(key)]
    assert row["regression"] is True and row["regressed_on"] == ["1.5.1"]


def test_an_unknown_target_in_an_entry_is_one_line(tmp_path):
    path = tmp_path / "known-bugs.json"
    path.write_text('{"schema": 1, "bugs": {"k": {"status": "open", "targets": ["tosa-int", "u55"]}}}')
    with pytest.raises(KnownBugsError, match=r"targets must be a list of target names .* got u55$"):
        load(path)


@pytest.mark.pipeline
def test_a_real_campaign_marks_its_known_bug_and_exits_4_on_a_regression(tmp_path, monkeypatch):
    """Seed 278's case 0 (conv2d -> clamp(min > max) -> ...) crashes in ExirToTosaPass on
    1.5.1. With a known-bugs file that says it was fixed in 1.4.1, the campaign flags it in
    red and exits 4; with the checked-in file, where it is open, it is known and not new."""
    fixed = tmp_path / "fixed.json"
    key = bug_key(CLAMP.format(t="tosa-int"))
    fixed.write_text(json.dumps({"schema": 1, "bugs": {key: {"status": "fixed", "fixed_in": "1.4.1"}}}))
    monkeypatch.setenv("ARMFUZZ_KNOWN_BUGS", str(fixed))
    camp = tmp_path / "c"
    res = CliRunner().invoke(app, ["fuzz", "--seed", "278", "--cases", "1", "--targets", "tosa-int", "--campaign", str(camp),
                                   "--workers", "1", "--no-reduce", "--no-steer"])
    assert res.exit_code == 4, res.output
    assert f"bug {bug_id(key)}" in res.output and "REGRESSION (fixed in 1.4.1; seen on 1.5.1)" in res.output
    row = {r["id"]: r for r in json.loads((camp / "bugs.json").read_text())}[bug_id(key)]
    assert row["regression"] is True and row["regressed_on"] == ["1.5.1"]
    monkeypatch.delenv("ARMFUZZ_KNOWN_BUGS")
    listed = CliRunner().invoke(app, ["bugs", str(camp), "--json"])
    row = {r["id"]: r for r in json.loads(listed.output)}[bug_id(key)]
    assert row["known"]["status"] == "open" and row["regression"] is False
    assert bug_id(key) not in {p.name for p in pending_bugs(camp)}
