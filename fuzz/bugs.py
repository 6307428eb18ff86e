"""Bugs: one per root cause, above the fine-grained buckets.

A bucket is one exact signature, so one executorch bug fills many: one per target (the clamp
crash on all seven), per TOSA profile string or tensor name in its message, per stage label
(vela targets report an executorch pass failure at ``compile``). A *bug* groups the buckets
whose signatures mean the same thing:

* the same **key**: the signature without its target, with target names, TOSA profile
  strings and tensor names normalised, and without the stage of a crash raised by an
  executorch pass or function (the stage label only says which tool was on the stack);
* for numerics, the same culprit op, fusion context and symptom (fuzz.localize already put
  them in the signature), except ``narrow-range``: codes saturated at the storage type's
  bound past a narrow qmin/qmax, one missing clamp whatever the op (fuzz.oracle.code_report);
* **one case, several symptoms**: a case whose TOSA graph is invalid on one target and that
  fails on another in a tool or a native crash (vela's ERROR_IF, model-converter, a
  reference-model segfault) is one bug: the invalid graph; the other symptoms are evidence.

Bugs are derived from the campaign's buckets and per-case failures, both rebuilt from
``events.jsonl``, so the bug list can always be recomputed; ``bugs.json`` and
``bugs/<id>/`` are written for readers and for the reducer.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from fuzz.targets import TARGETS

#: Cheapest target first: where a bug's representative is reduced and reported. The TOSA
#: targets lower without an external compiler (about 1-2 s), then VGF (model-converter), then
#: Ethos-U (vela; U55 has the most restrictive operator support, so it comes last).
TARGET_COST_ORDER = ("tosa-int", "tosa-int-fp", "tosa-int16", "vgf-int", "vgf-int-fp", "ethos-u85-256", "ethos-u55-128")

_TARGET_NAMES = re.compile(r"\b(" + "|".join(re.escape(t) for t in sorted(TARGETS, key=len, reverse=True)) + r")\b")
#: TOSA-1.0+INT+int16, TOSA-<n>+INT+FP (numbers already normalised in signatures)
_TOSA_SPEC = re.compile(r"TOSA-(?:\d+(?:\.\d+)*|<n>)(?:\+\w+)*")
#: a tensor named in a message: TosaArg(name='aten_convolution_default_weight_ohwi', ...)
_TENSOR_NAME = re.compile(r"name='[^']*'")
_TENSOR_WORD = re.compile(r"\b(tensor|Tensor) (?!<)[\w.]+")
#: a pass's list of dtypes it takes, which follows the spec's extensions (int16 or not)
_SUPPORTED_TYPES = re.compile(r"(supported types are) \([^)]*\)")
#: numerics-narrow-range@<op>(...): one cause whatever the op (see oracle.code_report)
_NARROW = re.compile(r"^compare/numerics-narrow-range@.*$")
#: stage/Exception@where: message   (crash signatures, after the target)
_CRASH = re.compile(r"^(?P<stage>[\w-]+)/(?P<exc>\w+)@(?P<where>[^:]+): (?P<msg>.*)$", re.S)
#: Tools whose failures keep their own identity in the key.
_TOOLS = ("vela:", "model-converter:")


def bug_key(signature: str) -> str | None:
    """The root-cause key of a bucket signature; None for what is never a bug (harness)."""
    target, sep, rest = signature.partition("/")
    if not sep or target not in TARGETS:
        return None
    m = _CRASH.match(rest)
    if m and not m.group("where").startswith(_TOOLS):
        rest = f"{m.group('exc')}@{m.group('where')}: {m.group('msg')}"
    rest = _TARGET_NAMES.sub("<target>", rest)
    rest = _TOSA_SPEC.sub("<tosa-spec>", rest)
    rest = _TENSOR_NAME.sub("name=<tensor>", rest)
    rest = _SUPPORTED_TYPES.sub(r"\1 <dtypes>", rest)
    rest = _NARROW.sub("compare/numerics-narrow-range", rest)
    return _TENSOR_WORD.sub(r"\1 <tensor>", rest)


def bug_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


@dataclass
class Bug:
    key: str
    #: bucket signatures, first seen first
    buckets: list[str] = field(default_factory=list)
    targets: set[str] = field(default_factory=set)
    releases: set[str] = field(default_factory=set)
    count: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0
    #: (index, target, focus, nodes, signature): the smallest case, on the cheapest target
    representative: tuple[int, str, str | None, int, str] | None = None

    @property
    def id(self) -> str:
        return bug_id(self.key)

    @property
    def title(self) -> str:
        return self.key

    def meta(self) -> dict[str, Any]:
        rep = self.representative
        return {
            "id": self.id,
            "key": self.key,
            "buckets": self.buckets,
            "targets": sorted(self.targets, key=TARGET_COST_ORDER.index),
            "releases": sorted(self.releases),
            "count": self.count,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "representative": None if rep is None else {"index": rep[0], "target": rep[1], "focus": rep[2], "nodes": rep[3],
                                                        "signature": rep[4]},
        }


def _cost(nodes: int, target: str) -> tuple[int, int]:
    return nodes, TARGET_COST_ORDER.index(target) if target in TARGET_COST_ORDER else len(TARGET_COST_ORDER)


def group(buckets: list[Any], case_failures: dict[int, list[tuple[str, str, str]]]) -> list[Bug]:
    """Bugs from buckets (fuzz.campaign.Bucket, in any order) and each case index's failures
    ``(target, status, signature)``; first seen first."""
    keys = {b.signature: bug_key(b.signature) for b in buckets}
    parent: dict[str, str] = {k: k for k in keys.values() if k}

    def find(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            # The invalid graph is the root cause: its key names the bug.
            root, child = (ra, rb) if ra.startswith("invalid-tosa") or not rb.startswith("invalid-tosa") else (rb, ra)
            parent[child] = root

    for failures in case_failures.values():
        invalid = [keys.get(s) for _, status, s in failures if status == "invalid-tosa" and keys.get(s)]
        if not invalid:
            continue
        for _, status, s in failures:
            k = keys.get(s)
            if k and status != "invalid-tosa" and (status == "native-crash" or _is_tool_failure(s)):
                union(invalid[0], k)
    bugs: dict[str, Bug] = {}
    for b in sorted(buckets, key=lambda b: b.first_seen):
        k = keys[b.signature]
        if not k:
            continue
        bug = bugs.setdefault(find(k), Bug(find(k), first_seen=b.first_seen))
        bug.buckets.append(b.signature)
        bug.targets.add(b.signature.split("/", 1)[0])
        bug.releases.update(getattr(b, "releases", ()) or ())
        bug.count += b.count
        bug.first_seen = min(bug.first_seen, b.first_seen)
        bug.last_seen = max(bug.last_seen, b.last_seen)
        index, target, focus = b.smallest
        candidate = (index, target, focus, b.smallest_nodes, b.signature)
        # Replaced only by a strictly smaller case: the reduced report stays the bug's.
        if bug.representative is None or _cost(b.smallest_nodes, target) < _cost(bug.representative[3], bug.representative[1]):
            bug.representative = candidate
    return sorted(bugs.values(), key=lambda g: g.first_seen)


def _is_tool_failure(signature: str) -> bool:
    """A failure raised by vela or model-converter (compile stage, or the VGF compile call)."""
    rest = signature.split("/", 1)[1]
    return rest.startswith("compile/") or "vgf_compile" in rest or any(t in rest for t in _TOOLS)
