"""Known bugs: the bugs already filed upstream, or fixed in a release, so a nightly campaign
reports only what is new, and loudly what came back.

``known-bugs.json`` (checked in at the top of the repository; ``ARMFUZZ_KNOWN_BUGS`` names
another file) is data, never code::

    {"schema": 1,
     "bugs": {"<bug key>": {"status": "open" | "fixed",
                            "fixed_in": "1.3.1",          # with "fixed" only: the first good release
                            "upstream": "https://github.com/pytorch/executorch/issues/18491" | null,
                            "note": "...",                # optional: provenance, why this status
                            "corpus": ["seed-000-rewriteconv"],   # optional: entries that show it
                            "targets": ["tosa-int"]}}}   # optional: where the status was established

A bug key is fuzz.triage.bugs.bug_key of a signature (``armfuzz bugs CAMPAIGN --json`` prints
each bug's ``key``). A campaign's bug whose key is listed is *known*, not new. A bug listed
as fixed in release X that the campaign saw on X or a later release is a *regression*. A
pre-release of X (``1.3.1.dev20260301``) is before X: the fix may not be in it yet.

``targets`` bounds an entry to the targets its status was established on. A key names the
symptom and the op, not the target, and one symptom can have a cause per target family: the
conv left on the CPU beside a non-fuseable activation was fixed for tosa-int in 1.4.1 (the
corpus replay), while on ethos-u55-128 1.5.1 the U55 partitioner still rejects the same
pattern. A bug seen only on other targets is therefore new (its row names the related
entry), not known and not a regression.

"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from fuzz.core.paths import KNOWN_BUGS
from fuzz.core.targets import TARGETS

SCHEMA = 1
STATUSES = ("open", "fixed")
_FIELDS = {"status", "fixed_in", "upstream", "note", "corpus", "targets"}
#: an issue or pull request of a GitHub repository
_UPSTREAM = re.compile(r"^https://github\.com/[\w.-]+/[\w.-]+/(?:issues|pull)/\d+$")
#: 1.3.1, 1.6.0.dev20260301+cpu, 1.5.0rc2: the release and whether it is a pre-release of it
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?((?:\.?(?:dev|a|b|rc)\d*)*)(?:\+[\w.]+)?$")


class KnownBugsError(ValueError):
    """The known-bugs file cannot be used; the message is one line naming the file and the fix."""


@dataclass(frozen=True)
class KnownBug:
    """One entry of the file, validated."""

    key: str
    #: "open" or "fixed"
    status: str
    #: with "fixed": the first release without the bug
    fixed_in: str | None = None
    note: str = ""
    #: the issue or pull request upstream, when one is filed
    upstream: str | None = None
    #: corpus entries that show it (tests hold the file to the corpus replay)
    corpus: tuple[str, ...] = ()
    #: the targets the status holds for; empty: every target
    targets: tuple[str, ...] = ()

    def covers(self, targets: Iterable[str]) -> bool:
        """Whether a bug seen on these targets is this entry's (see the module docstring)."""
        return not self.targets or bool(set(self.targets) & set(targets))

    def regressed_on(self, releases: Iterable[str]) -> list[str]:
        """Of the releases a bug was seen on, those at or after its fix."""
        if self.status != "fixed" or self.fixed_in is None:
            return []
        fixed = release_order(self.fixed_in)
        return sorted(r for r in releases if (seen := release_order(r)) is not None and seen >= fixed)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "fixed_in": self.fixed_in, "upstream": self.upstream, "note": self.note}


def release_order(version: str) -> tuple[int, int, int, int] | None:
    """A sortable form of an executorch version; None when it is not one."""
    m = _VERSION.match(str(version).strip())
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0), 0 if m.group(4) else 1


def default_path() -> Path:
    return Path(os.environ.get("ARMFUZZ_KNOWN_BUGS") or KNOWN_BUGS)


def load(path: Path | None = None) -> dict[str, KnownBug]:
    """Bug key -> KnownBug, validated; KnownBugsError (one line) when the file is unusable."""
    path = path or default_path()
    fix = f"fix it (format: fuzz/triage/known.py, README 'Known bugs') or restore it with git checkout {path.name}"
    try:
        text = path.read_text()
    except OSError as e:
        raise KnownBugsError(f"{path}: cannot be read ({e.strerror or e}); {fix}") from None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as e:
        raise KnownBugsError(f"{path}: not valid JSON (line {e.lineno} column {e.colno}: {e.msg}); {fix}") from None
    except _Duplicate as e:
        raise KnownBugsError(f"{path}: {e} appears twice in one object; keep one entry per bug key") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("bugs"), dict):
        raise KnownBugsError(f'{path}: expected {{"schema": {SCHEMA}, "bugs": {{<bug key>: {{...}}}}}}; {fix}')
    return {key: _entry(path, key, raw, fix) for key, raw in data["bugs"].items()}


class _Duplicate(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for k, v in pairs:
        if k in seen:
            raise _Duplicate(json.dumps(k)[:120])
        seen[k] = v
    return seen


def _entry(path: Path, key: str, raw: Any, fix: str) -> KnownBug:
    where = f"{path}: bug {json.dumps(key)[:100]}"
    if not key.strip():
        raise KnownBugsError(f"{path}: an empty bug key; copy the key from 'armfuzz bugs CAMPAIGN --json'")
    if not isinstance(raw, dict):
        raise KnownBugsError(f"{where}: expected an object with status, upstream, fixed_in; {fix}")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise KnownBugsError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_FIELDS))}")
    status, fixed_in, upstream = raw.get("status"), raw.get("fixed_in"), raw.get("upstream")
    if status not in STATUSES:
        raise KnownBugsError(f"{where}: status {status!r}; use \"open\" or \"fixed\" (with fixed_in)")
    if status == "fixed" and (not isinstance(fixed_in, str) or release_order(fixed_in) is None or release_order(fixed_in)[3] == 0):
        raise KnownBugsError(f"{where}: status \"fixed\" needs fixed_in, the first executorch release without it (e.g. \"1.3.1\"), got {fixed_in!r}")
    if status == "open" and fixed_in is not None:
        raise KnownBugsError(f"{where}: an open bug has no fixed_in; set status \"fixed\" or drop fixed_in")
    if upstream is not None and not (isinstance(upstream, str) and _UPSTREAM.match(upstream)):
        raise KnownBugsError(f"{where}: upstream {upstream!r}; use null or https://github.com/<owner>/<repo>/issues/<n> (or /pull/<n>)")
    note, corpus, targets = raw.get("note", ""), raw.get("corpus", []), raw.get("targets", [])
    if not isinstance(note, str) or not (isinstance(corpus, list) and all(isinstance(c, str) for c in corpus)):
        raise KnownBugsError(f"{where}: note must be a string and corpus a list of corpus entry names")
    unknown_targets = sorted(t for t in targets if t not in TARGETS) if isinstance(targets, list) else [repr(targets)]
    if unknown_targets:
        raise KnownBugsError(f"{where}: targets must be a list of target names ({', '.join(TARGETS)}), got {', '.join(map(str, unknown_targets))}")
    return KnownBug(key, status, fixed_in=fixed_in, note=note, upstream=upstream, corpus=tuple(corpus), targets=tuple(targets))


def mark(key: str, releases: Iterable[str], known: dict[str, KnownBug], targets: Iterable[str] = ()) -> dict[str, Any]:
    """What a bugs.json row carries: ``known`` (None for a new bug, else the entry's status,
    fixed_in, upstream and note) and ``regression`` with the releases it came back on; a new
    bug whose key has an entry bounded to other targets also carries it as ``related``."""
    entry = known.get(key)
    if entry is None:
        return {"known": None, "regression": False}
    if not entry.covers(targets):
        return {"known": None, "regression": False, "related": {**entry.to_dict(), "targets": list(entry.targets)}}
    back = entry.regressed_on(releases)
    return {"known": entry.to_dict(), "regression": bool(back), **({"regressed_on": back} if back else {})}


def new_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Regressions, then new bugs, then known ones; the given order within each (a stable sort)."""
    return sorted(rows, key=lambda r: 0 if r.get("regression") else 2 if r.get("known") else 1)


def describe(row: dict[str, Any]) -> str:
    """A row's standing in a few words: new, known (open / fixed in X), or REGRESSION."""
    k = row.get("known")
    if k is None:
        related = row.get("related")
        if related:
            status = f"fixed in {related['fixed_in']}" if related["status"] == "fixed" else "open"
            return f"new here (same key {status} on {', '.join(related['targets'])})"
        return "new"
    link = f", {k['upstream']}" if k.get("upstream") else ""
    if row.get("regression"):
        return f"REGRESSION (fixed in {k['fixed_in']}{link}; seen on {', '.join(row.get('regressed_on', []))})"
    return f"known ({'fixed in ' + k['fixed_in'] if k['status'] == 'fixed' else 'open'}{link})"
