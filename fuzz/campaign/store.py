"""Campaigns: a directory that is the whole state of a fuzzing run, driven by warm workers.

Layout of a campaign directory::

    campaign.json          seed, targets, limits (written once; a resume must agree)
    events.jsonl           append-only log, one line per finished (case index, target)
    buckets/<sig-hash>/    signature.txt, meta.json, first.case.json / .outcome.json,
                           smallest.case.json / .outcome.json
    bugs.json, bugs/<id>/  bugs above the buckets (fuzz.triage.bugs): meta.json, the representative
                           case (signature.txt, smallest.case.json), later its reduction and report;
                           each marked known or new, and regressions (fuzz.triage.known)
    stats.json             derived summary, rewritten after every result
    workers.log            the workers' stderr for this session (vela chatter, tracebacks)

The log is the source of truth. A result is appended and fsynced *before* its bucket files
are written, and bucket state is rebuilt from the log on every start. A campaign killed at
any instant therefore resumes with every logged finding intact; its missing files are
regenerated from ``(seed, index, target)`` because generation is deterministic. In-flight
cases were never logged, so they run again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fuzz.core.fsutil import atomic_write
from fuzz.core.target_options import Domains
from fuzz.generate.case import Case
from fuzz.generate.cells import core_cells, reachable_cells
from fuzz.generate.generator import GENERATOR_VERSION, generate
from fuzz.judge.outcome import FAILURES
from fuzz.triage import known
from fuzz.triage.bugs import Bug, bug_id, group

SCHEMA = 1


class CampaignError(RuntimeError):
    """A campaign directory cannot be used as asked (message names the file and the fix)."""


def bucket_id(signature: str) -> str:
    return hashlib.sha256(signature.encode()).hexdigest()[:12]


@dataclass
class Bucket:
    signature: str
    count: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0
    #: (case index, target, focus) -- enough to regenerate the case
    first: tuple[int, str, str | None] = (0, "", None)
    smallest: tuple[int, str, str | None] = (0, "", None)
    smallest_nodes: int = 1 << 30
    new: bool = False  # first seen in this session
    #: executorch releases this signature was seen on
    releases: set[str] = field(default_factory=set)
    #: id of the bug this bucket belongs to (fuzz.triage.bugs), once known
    bug: str | None = None

    def meta(self) -> dict[str, Any]:
        return {
            "signature": self.signature,
            "bug": self.bug,
            "bug_report": f"../../bugs/{self.bug}/report.md" if self.bug else None,
            "releases": sorted(self.releases),
            "count": self.count,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "first": {"index": self.first[0], "target": self.first[1], "focus": self.first[2]},
            "smallest": {"index": self.smallest[0], "target": self.smallest[1], "focus": self.smallest[2], "nodes": self.smallest_nodes},
        }


@dataclass
class CampaignState:
    """Everything derived from the event log."""

    done: set[tuple[int, str]] = field(default_factory=set)
    tally: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    delegated: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    buckets: dict[str, Bucket] = field(default_factory=dict)
    #: target -> regime -> number of results that reached it
    coverage: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    #: target -> cell ("regime@family", fuzz.generate.cells) -> results that reached it; a log
    #: written before cells has none, and steering starts counting from the first that does
    cells: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    #: target -> focus -> results aimed at it that did not reach it (fuzz.campaign.engines.seeded)
    misses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    #: case index -> its failures (target, status, signature): one case, several symptoms
    case_failures: dict[int, list[tuple[str, str, str]]] = field(default_factory=lambda: defaultdict(list))
    #: what this session's workers reported: their interpreter and package versions
    stack: dict[str, Any] = field(default_factory=dict)
    #: failures folded in so far: bugs are regrouped only when it moves
    revision: int = 0
    #: guided campaigns: case index -> the input bytes its cases decode from (fuzz.generate.bytecase)
    inputs: dict[int, bytes] = field(default_factory=dict)
    #: option domains by digest (campaign.json's ``domains``), and the digest each logged case
    #: was drawn with: a case from another release's workers regenerates as it ran
    domains: dict[str, Domains] = field(default_factory=dict)
    case_domains: dict[tuple[int, str], str] = field(default_factory=dict)
    _bugs: tuple[int, list[Bug]] = (-1, [])

    def bugs(self) -> list[Bug]:
        """Bugs over the buckets (fuzz.triage.bugs), first seen first; tags each bucket with its bug.
        Grouping is not incremental, so it is cached until the next failure."""
        if self._bugs[0] != self.revision:
            found = group(list(self.buckets.values()), self.case_failures)
            for bug in found:
                for sig in bug.buckets:
                    self.buckets[sig].bug = bug.id
            self._bugs = (self.revision, found)
        return self._bugs[1]

    def cell_coverage(self, target: str) -> dict[str, Any]:
        """Cells ``target`` has reached of those in its reach (fuzz.generate.cells), and the
        results that reached each core cell: the summary's and the dashboard's figures."""
        reached = self.cells[target]
        reach = reachable_cells(target)
        return {"reached": sum(1 for c in reach if reached.get(c)), "reachable": len(reach),
                "core": {c: reached.get(c, 0) for c in core_cells(target)}}

    def case_for(self, seed: int, index: int, target: str, focus: str | None) -> Case:
        """Regenerate a logged case: from its input's bytes in a guided campaign, else from
        the seed (generation is deterministic either way)."""
        domains = self.domains.get(self.case_domains.get((index, target), ""))
        if index in self.inputs:
            from fuzz.generate.bytecase import decode

            return decode(self.inputs[index], target, domains)
        return generate(seed, index, target, focus, domains)

    def add(self, ev: dict[str, Any], new: bool = False) -> tuple[Bucket | None, bool, bool]:
        """Fold one result event in; returns (bucket, is_first, is_smallest)."""
        key = (ev["index"], ev["target"])
        self.done.add(key)
        if ev.get("domains"):
            self.case_domains[key] = ev["domains"]
        if ev.get("release"):  # until this session's workers report, the log says what ran
            self.stack = self.stack or {"python": ev.get("python"), "versions": {"executorch": ev["release"]}}
        self.tally[ev["target"]][ev["status"]] += 1
        if ev.get("delegated_fraction") is not None:
            self.delegated[ev["target"]].append(ev["delegated_fraction"])
        self.coverage[ev["target"]].update(ev.get("regimes", []))
        self.cells[ev["target"]].update(ev.get("cells", []))
        if ev.get("focus") and ev["focus"] not in ev.get("cells", []) and ev["focus"] not in ev.get("regimes", []):
            self.misses[ev["target"]][ev["focus"]] += 1
        if ev["status"] not in FAILURES and ev["status"] != "harness-error":
            return None, False, False
        self.revision += 1
        ref = (ev["index"], ev["target"], ev.get("focus"))
        b = self.buckets.get(ev["signature"])
        first = b is None
        if first:
            b = self.buckets[ev["signature"]] = Bucket(ev["signature"], first_seen=ev["t"], first=ref, new=new)
        b.count += 1
        b.last_seen = ev["t"]
        if ev.get("release"):
            b.releases.add(ev["release"])
        self.case_failures[ev["index"]].append((ev["target"], ev["status"], ev["signature"]))
        smallest = ev["nodes"] < b.smallest_nodes
        if smallest:
            b.smallest, b.smallest_nodes = ref, ev["nodes"]
        return b, first, smallest


def stack_entry(info: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a session ran on (interpreter and versions), as campaign.json's ``stacks`` and
    stats.json keep it: the worker's option domains are large and live once, by digest, in
    campaign.json's ``domains``."""
    if not info:
        return info
    return {"python": info.get("python"), "versions": info.get("versions")}


class CampaignDir:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.events_path = root / "events.jsonl"
        self.config_path = root / "campaign.json"
        #: bug id -> the meta.json this process last wrote (bug files change with few results)
        self._bug_meta: dict[str, dict[str, Any]] = {}
        #: bug ids when stale bug directories were last marked
        self._bug_ids: frozenset[str] = frozenset()
        self._known: dict[str, known.KnownBug] | None = None

    def known_bugs(self) -> dict[str, known.KnownBug]:
        """The known-bugs file (fuzz.triage.known), read once; CampaignError when it is unusable."""
        if self._known is None:
            self._known = known_bugs()
        return self._known

    def open(self, seed: int, targets: list[str], timeout: float, memory_mb: int, engine: str = "random") -> dict[str, Any]:
        """Create the campaign, or check that a resumed one asks for the same cases."""
        self.root.mkdir(parents=True, exist_ok=True)
        want = {"schema": SCHEMA, "seed": seed, "targets": targets, "timeout": timeout, "memory_mb": memory_mb,
                "generator": GENERATOR_VERSION, "engine": engine}
        if self.config_path.exists():
            try:
                have = json.loads(self.config_path.read_text())
            except json.JSONDecodeError:
                raise CampaignError(f"{self.config_path}: corrupt; restore it or start a new campaign directory") from None
            have.setdefault("engine", "random")  # campaigns before the guided engine
            for k in ("seed", "targets", "engine"):
                if have.get(k) != want[k]:
                    raise CampaignError(
                        f"{self.config_path}: campaign has {k}={have.get(k)!r}, asked for {want[k]!r}; "
                        f"use the same {k} to resume or a new --campaign directory"
                    )
            made_by = have.get("generator", 1)  # campaigns before the field were version 1
            if made_by != GENERATOR_VERSION:
                raise CampaignError(
                    f"{self.config_path}: campaign was generated by generator version {made_by}, this armfuzz "
                    f"generates version {GENERATOR_VERSION} (other cases for the same seed); resume it with the "
                    f"armfuzz that started it, or start a new --campaign directory"
                )
            return have
        atomic_write(self.config_path, json.dumps({**want, "created": time.time()}, indent=2) + "\n")
        return want

    def open_existing(self) -> dict[str, Any]:
        """campaign.json of a campaign that exists (one-line error naming the file otherwise)."""
        try:
            return json.loads(self.config_path.read_text())
        except (OSError, json.JSONDecodeError):
            raise CampaignError(f"{self.config_path}: missing or corrupt; is {self.root} a campaign directory?") from None

    def record_stack(self, stack: dict[str, Any], state: CampaignState | None = None) -> None:
        """Add the tool stack a session's workers reported (interpreter, torch, torchao,
        executorch, tosa-tools, vela, model-converter) to campaign.json's ``stacks``: a resumed
        campaign may run on another release, and each report must say what it ran on. Their
        option domains go to ``domains`` (and ``state``), before any case drawn from them is
        logged, so every logged case can be regenerated."""
        if not stack.get("versions"):
            return
        config = self.open_existing()
        entry = stack_entry(stack)
        new = {}
        if entry not in config.get("stacks", []):
            new["stacks"] = [*config.get("stacks", []), entry]
        if stack.get("domains"):
            domains = Domains.from_dict(stack["domains"])
            if state is not None:
                state.domains[domains.digest()] = domains
            if domains.digest() not in config.get("domains", {}):
                new["domains"] = {**config.get("domains", {}), domains.digest(): domains.to_dict()}
        if new:
            atomic_write(self.config_path, json.dumps({**config, **new}, indent=2) + "\n")

    def load(self) -> CampaignState:
        """Rebuild state from the log, dropping a torn last line left by a kill mid-write. An
        event without ``release`` (older logs) takes campaign.json's, if it names one."""
        state = CampaignState()
        if not self.events_path.exists():
            return state
        config = _read_json(self.config_path, {})
        release = config.get("release")
        state.domains = {k: Domains.from_dict(v) for k, v in (config.get("domains") or {}).items()}
        raw = self.events_path.read_bytes()
        good_end = 0
        for line in raw.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break
            try:
                ev = json.loads(line)
            except json.JSONDecodeError:
                break
            good_end += len(line)
            if ev.get("type") == "input":
                state.inputs[ev["index"]] = bytes.fromhex(ev["data"])
            elif ev.get("type") == "result" and (ev["index"], ev["target"]) not in state.done:
                state.add(ev if ev.get("release") or not release else {**ev, "release": release})
        if good_end != len(raw):
            with open(self.events_path, "r+b") as f:
                f.truncate(good_end)
        return state

    def append(self, ev: dict[str, Any]) -> None:
        with open(self.events_path, "a") as f:
            f.write(json.dumps(ev, separators=(",", ":")) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def bucket_dir(self, b: Bucket) -> Path:
        return self.root / "buckets" / bucket_id(b.signature)

    def write_bucket(self, b: Bucket, case: Case | None, outcome: dict | None, first: bool, smallest: bool) -> None:
        d = self.bucket_dir(b)
        if first or not (d / "signature.txt").exists():
            atomic_write(d / "signature.txt", b.signature + "\n")
        for role, flag in (("first", first), ("smallest", smallest)):
            if flag and case is not None:
                atomic_write(d / f"{role}.case.json", case.to_json())
                if outcome is not None:
                    atomic_write(d / f"{role}.outcome.json", json.dumps(outcome, indent=2) + "\n")
        atomic_write(d / "meta.json", json.dumps(b.meta(), indent=2) + "\n")

    def heal(self, state: CampaignState, seed: int) -> None:
        """Regenerate bucket and bug files a kill left unwritten (the log had them already)."""
        bugs = state.bugs()
        for b in state.buckets.values():
            d = self.bucket_dir(b)
            for role, (index, target, focus) in (("first", b.first), ("smallest", b.smallest)):
                if not (d / f"{role}.case.json").exists():
                    atomic_write(d / f"{role}.case.json", state.case_for(seed, index, target, focus).to_json())
            self.write_bucket(b, None, None, first=False, smallest=False)
        self.write_bugs(bugs, seed, state)

    def bug_dir(self, bug: Bug) -> Path:
        return self.root / "bugs" / bug.id

    def write_bugs(self, bugs: list[Bug], seed: int, state: CampaignState) -> None:
        """``bugs.json`` and, per bug, ``meta.json`` plus its representative as a bucket-like
        directory (``signature.txt``, ``smallest.case.json`` and, when its bucket has it,
        ``smallest.outcome.json``) that `armfuzz reduce` takes. A reduced bug keeps the case
        its report was made from. Only what changed is written. Each bug is marked new, known
        or a regression against the known-bugs file (fuzz.triage.known)."""
        metas = {bug.id: {**bug.meta(), **known.mark(bug.key, bug.releases, self.known_bugs(), bug.targets)} for bug in bugs}
        for bug in bugs:
            d = self.bug_dir(bug)
            index, target, focus, _, signature = bug.representative
            meta = metas[bug.id]
            old = self._bug_meta.get(bug.id) or _read_json(d / "meta.json", {})
            if old == meta and (d / "smallest.case.json").exists():
                continue
            if not (d / "reduction.json").exists() and (old.get("representative") != meta["representative"] or not (d / "smallest.case.json").exists()):
                atomic_write(d / "smallest.case.json", state.case_for(seed, index, target, focus).to_json())
                atomic_write(d / "signature.txt", signature + "\n")
                outcome = self.root / "buckets" / bucket_id(signature) / "smallest.outcome.json"
                if outcome.exists():  # the representative is its bucket's smallest case
                    atomic_write(d / "smallest.outcome.json", outcome.read_text())
                else:  # not kept (a kill before the bucket was written): not another case's either
                    (d / "smallest.outcome.json").unlink(missing_ok=True)
            atomic_write(d / "meta.json", json.dumps(meta, indent=2) + "\n")
            self._bug_meta[bug.id] = meta
        self._mark_merged(bugs)
        index = [{**metas[bug.id], "report": f"bugs/{bug.id}/report.md" if (self.bug_dir(bug) / "report.md").exists() else None}
                 for bug in bugs]
        atomic_write(self.root / "bugs.json", json.dumps(index, indent=2) + "\n")

    def _mark_merged(self, bugs: list[Bug]) -> None:
        """A bug directory whose key has since joined another bug (a later case linked its tool
        failure to an invalid graph) keeps its files and points at the bug it is now part of;
        it is no longer listed, reduced or reported."""
        ids = frozenset(bug.id for bug in bugs)
        if ids == self._bug_ids:
            return
        self._bug_ids = ids
        into = {bug_id(k): bug.id for bug in bugs for k in bug.members if bug_id(k) != bug.id}
        for d in sorted((self.root / "bugs").glob("*/")):
            if d.name in into:
                meta = _read_json(d / "meta.json", {})
                if meta.get("merged_into") != into[d.name]:
                    atomic_write(d / "meta.json", json.dumps({**meta, "id": d.name, "merged_into": into[d.name],
                                                              "merged_report": f"../{into[d.name]}/report.md"}, indent=2) + "\n")

    def write_stats(self, state: CampaignState, extra: dict[str, Any]) -> None:
        stats = {
            "results": len(state.done),
            "bugs": len(state.bugs()),
            "buckets": len(state.buckets),
            "per_target": {t: dict(c) for t, c in state.tally.items()},
            "delegated_mean": {t: round(sum(v) / len(v), 3) for t, v in state.delegated.items() if v},
            "regime_coverage": {t: dict(c) for t, c in state.coverage.items()},
            **extra,
        }
        atomic_write(self.root / "stats.json", json.dumps(stats, indent=2) + "\n")


def _read_json(path: Path, like: Any = None) -> Any:
    """A derived JSON file, or {} when a kill left it torn (it is rewritten from the log);
    with ``like``, also {} when it is not of that type."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data if like is None or isinstance(data, type(like)) else {}


def list_bugs(root: Path) -> list[dict[str, Any]]:
    """The campaign's bugs (``bugs.json``), first seen first; rebuilt from the log when torn."""
    path = root / "bugs.json"
    if not (root / "events.jsonl").exists():
        raise CampaignError(f"{root}: no events.jsonl; is this a campaign directory?")
    rows = _read_json(path) if path.exists() else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "id" in r for r in rows):
        cdir = CampaignDir(root)
        cdir.heal(cdir.load(), cdir.open_existing()["seed"])
        rows = json.loads(path.read_text())
    table = known_bugs()
    for row in rows:  # reports appear after the index was written, and the known-bugs file changes
        report = root / "bugs" / row["id"] / "report.md"
        row["report"] = str(report.relative_to(root)) if report.exists() else None
        row.update(known.mark(row["key"], row.get("releases", []), table, row.get("targets", [])))
    return rows


def known_bugs() -> dict[str, known.KnownBug]:
    """The known-bugs file (fuzz.triage.known); CampaignError, one line, when it is unusable."""
    try:
        return known.load()
    except known.KnownBugsError as e:
        raise CampaignError(str(e)) from None


def list_buckets(root: Path) -> list[dict[str, Any]]:
    """Bucket metadata, newest first (novelty), then by count."""
    out = []
    for meta in sorted((root / "buckets").glob("*/meta.json")):
        try:
            out.append({"id": meta.parent.name, **json.loads(meta.read_text())})
        except json.JSONDecodeError:
            raise CampaignError(f"{meta}: corrupt; delete it and resume the campaign to rebuild it from events.jsonl") from None
    return sorted(out, key=lambda m: (-m["first_seen"], -m["count"]))
