"""Bugs: one per root cause, above the fine-grained buckets.

A bucket is one exact signature, so one executorch bug fills many: one per target (the clamp
crash on all seven), per TOSA profile string or tensor name in its message, per stage label
(vela targets report an executorch pass failure at ``compile``). A *bug* groups the buckets
whose signatures mean the same thing:

* the same **key**: the signature without its target, with target names, TOSA profile
  strings and tensor names normalised, and without the stage of a crash raised by an
  executorch pass or function (the stage label only says which tool was on the stack). A
  failure raised by vela or model-converter themselves keeps its stage and tool;
* for numerics, the same culprit op, fusion context and symptom (fuzz.judge.localize already put
  them in the signature), except the rules that name what is broken whatever the op:
  ``narrow-range``, codes saturated at the storage type's bound past a narrow qmin/qmax, one
  missing clamp (fuzz.judge.oracle.code_report), and ``activation-floor``, a relu or relu6
  folded into its producer with codes left below its zero-point, and ``table-interpolation``,
  an int16 TABLE op wrong only by the interpolation between its knots (both fuzz.judge.localize).
  The symptom names the broken rule: a narrow range that was not enforced is
  ``narrow-range`` only when enforcing it leaves nothing else wrong; what it leaves is named
  by its own symptom, as it is when the range is not narrow (fuzz.judge.oracle.judge);
* for ``spelling-not-delegated``, the same **family** (fuzz.triage.families): why executorch's
  quantizer does not annotate the op the spelling exported to (an in-place form, an alias
  torch.export keeps, an op the quantizer does not list). One change to executorch closes a
  family; its members are the spellings, each with its targets;
* **one case, several symptoms**: a case whose TOSA graph is invalid on one target and that
  fails on another in a tool or a native crash (vela's ERROR_IF, model-converter, a
  reference-model segfault) is one bug: the invalid graph; the other symptoms are evidence.
  It never joins two invalid graphs;
* **a span and its op**: a span (``interpolate+relu6(span)``) is wrong somewhere among its
  ops. Where the campaign shows the same symptom at exactly one of those ops on its own
  (``interpolate(alone)``), the span is that bug's evidence: the reducer narrows it to that
  op. These two rules are the only ones that join different keys.

Each bug has a severity tier (fuzz.triage.tiers): crash, numerics or delegation.

Bugs are derived from the campaign's buckets and per-case failures, both rebuilt from
``events.jsonl``, so the bug list can always be recomputed; ``bugs.json`` and
``bugs/<id>/`` are written for readers and for the reducer.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from fuzz.core.targets import TARGETS
from fuzz.judge.signature import CULPRIT_LABEL, NODE_RULES, ORACLE_RULES, SPAN_LABEL
from fuzz.triage.families import FAMILIES, family_key, family_of, family_of_key, spelling_variant
from fuzz.triage.tiers import tier

#: Cheapest target first: where a bug's representative is reduced and reported. The TOSA
#: targets lower without an external compiler (about 1-2 s), then VGF (model-converter), then
#: Ethos-U (vela; U55 has the most restrictive operator support, so it comes last).
TARGET_COST_ORDER = ("tosa-int", "tosa-int-fp", "tosa-int16", "vgf-int", "vgf-int-fp", "ethos-u85-256", "ethos-u55-128")

_TARGET_NAMES = re.compile(r"\b(" + "|".join(re.escape(t) for t in sorted(TARGETS, key=len, reverse=True)) + r")\b")
#: TOSA-1.0+INT+int16, TOSA-<n>+INT+FP (numbers already normalised in signatures)
_TOSA_SPEC = re.compile(r"TOSA-(?:\d+(?:\.\d+)*|<n>)(?:\+\w+)*")
#: a tensor named in a message: TosaArg(name='aten_convolution_default_weight_ohwi', ...)
_TENSOR_NAME = re.compile(r"name='[^']*'")
#: "tensor <name>": a graph name (has a digit or an underscore, as every FX, parameter and
#: case name does), one fuzz.judge.signature already replaced (<param>, <node>), or a bare weight
#: layout; English after "tensor" ("tensor list", "tensor has rank") stays.
_TENSOR_WORD = re.compile(r"\b(tensor|Tensor) (?:<\w+>|[\w.]*[\d_][\w.]*|(?:ohwi|hwicm|hwim|hwio|oihw|ihwo|nhwc|nchw)\b)")
#: a pass's list of dtypes it takes, which follows the spec's extensions (int16 or not)
_SUPPORTED_TYPES = re.compile(r"(supported types are) \([^)]*\)")
#: process_node's "Unknown operator <EdgeOpOverload: aten.hardswish.default>: schema = ... for
#: TOSA : ...": the partition took an op that no node visitor lowers. One rule whatever the op:
#: on INT+FP (1.5.1) hardswish and hardsigmoid both stay whole through the partitioner's
#: ``ops_to_not_decompose_if_quant_op`` filter and then end up in FP, where only their
#: decomposition has visitors. The op is the bug's variant.
_UNKNOWN_OPERATOR = re.compile(r"(Unknown operator) <EdgeOpOverload: aten\.(?P<op>\w+)\.\w+>: schema = .*? (for TOSA : <tosa-spec>)", re.DOTALL)
#: Numerics symptoms that name a broken rule, one cause whatever the op: narrow-range (codes
#: saturated at the storage bound past a narrow qmin/qmax, fuzz.judge.oracle.code_report) and
#: activation-floor (a relu or relu6 folded into its producer leaves codes below its
#: zero-point, fuzz.judge.localize.floor_not_applied) and table-interpolation (an int16 TABLE op
#: wrong only by the interpolation between its knots, alone or inside a decomposition,
#: fuzz.judge.localize._Forced._interpolated) and duplicate-users-fused (a node returning its
#: twin's codes: fuzz.judge.localize.twin_in_other_domain).
#: The op and context are the variant.
_RULE = re.compile(r"^(?P<key>compare/numerics-(?:" + "|".join(ORACLE_RULES + NODE_RULES) + r"))@(?P<variant>.*)$")
_RULE_TITLES = {
    "compare/numerics-narrow-range": "wrong numerics (narrow-range): codes saturated at the storage bound past a narrow qmin/qmax",
    "compare/numerics-activation-floor": ("wrong numerics (activation-floor): a relu or relu6 folded into its producer "
                                          "leaves codes below its zero-point"),
    "compare/numerics-table-interpolation": ("wrong numerics (table-interpolation): an op lowered to int16 TABLEs (alone or "
                                             "inside a decomposition: layer_norm's rsqrt) is off only by the linear "
                                             "interpolation between the 513 knots, 128 input codes apart"),
    "compare/numerics-duplicate-users-fused": ("wrong numerics (duplicate-users-fused): FuseDuplicateUsersPass merges two users "
                                              "of one input with equal args but other output qparams, and one returns the "
                                              "other's codes in the other's domain"),
}
#: A wrong output shape named by the pass that changed the output's size (fuzz.judge.pass_shapes):
#: ``compare/numerics-shape@amin(ConvertMinMaxPass)``; ``(delegate-output)`` names none.
_SHAPE_BY_PASS = re.compile(r"^compare/numerics-shape@(?P<op>\w+)\((?P<pass>\w+Pass)\)$")
#: A crash a pass raises about sizes, shapes or padding: what the same wrong shape does when it
#: meets another op while the pass retraces (ConvertMinMaxPass's amin(dim=[]) before a cat:
#: "Sizes of tensors must match"), or the pass refusing the input whose shape it gets wrong
#: elsewhere (RewritePadPass: a negative reflect pad returns the uncropped tensor, a negative
#: constant pad raises "Expected padding values to be non-negative").
_SHAPE_CRASH = re.compile(r"^\w+@(?P<pass>\w+Pass): .*\b(?:[Ss]izes? of tensors?|of size|[Ss]hapes?|dimension|padding)\b")
#: The TOSA convolution a crash names (an operand validator's "in tosa.CONV2D.default"):
#: RewriteConvPass emits aten.convolution as a DEPTHWISE_CONV2D when groups == in_channels and
#: as a CONV2D otherwise, after the passes that prepare its operands for both
#: (DecomposeConvWithInt16ActivationPass splits the int16 bias off either), so one wrong
#: operand shows on both, and one fix closes both: executorch 1.1.0's INT32 bias after a TABLE
#: op (13a31ccc, which keys that pass on qparams) crashed a CONV2D after a sigmoid and a
#: DEPTHWISE_CONV2D after a tanh. Keyed as CONV2D (known-bugs.json's keys stay), the kind is
#: the variant.
_CONV_KIND = re.compile(r"\btosa\.(?P<kind>(?:DEPTHWISE_)?CONV2D)\.default\b")
#: An operand check of a TOSA dialect op (fuzz.judge.signature.locate_frames names it
#: ``tosa.<OP>.<validator>``) is one rule about what a pass built, whatever it says on each
#: profile: one float input to an AVG_POOL2D is "Unsupported input dtype torch.float32" on INT
#: and "requires input zero-point dtype torch.int8 to match input dtype torch.float32" on
#: INT+FP, both from validate_avg_pool2d_dtype. The message is the variant.
_DIALECT_CHECK = re.compile(r"^(?P<key>\w+@tosa\.\w+\.\w*validate\w*): (?P<variant>.*)$", re.DOTALL)
#: A numerics culprit relu6 is a hardtanh: torch.export turns F.relu6 and nn.ReLU6 into
#: aten.hardtanh(x, 0, 6), and every Arm pass sees that one op (FuseQuantizedActivationPass's
#: hardtanh rule). executorch 1.4.1 fused both into their conv with the upper bound lost
#: (ad9902c464): a hardtanh(0, 0.5) showed it where the benchmark's check showed a relu6.
#: Keyed as hardtanh, the case's op is the variant.
_HARDTANH_ALIAS = "relu6"
#: A conv or linear left on the CPU with the relu or hardtanh it feeds
#: (fuzz.judge.delegation.fused_activation_on_cpu): ``partially-delegated@conv2d+hardtanh(convolution)``.
#: The quantizer annotates the pair as fused, and the partitioner refuses both when it will not
#: fuse them, whichever conv-like op leads (1.5.1 left conv2d, conv1d, conv_transpose2d and
#: linear before a hardtanh whose max is not qmax on the CPU: seed 202, four bugs before). Keyed
#: by the activation, the pair is the variant.
_FUSED_PAIR = re.compile(r"^lower/partially-delegated@(?P<producer>\w+)\+(?P<act>\w+)\((?P<aten>\w+)\)$")
#: stage/Exception@where: message   (crash signatures, after the target); a tool's ``where``
#: is ``vela:<function>`` or ``model-converter:<function>`` (fuzz.judge.signature.locate_frames)
_CRASH = re.compile(r"^(?P<stage>[\w-]+)/(?P<exc>\w+)@(?P<where>(?:vela|model-converter):\w+|[^:\s]+): (?P<msg>.*)$", re.DOTALL)
_TOOLS = ("vela:", "model-converter:")
#: executorch's VGF backend runs model-converter as a subprocess; its failure is raised here
_VGF_COMPILE = "vgf_compile"


def bug_key(signature: str) -> str | None:
    """The root-cause key of a bucket signature; None for what is never a bug (harness)."""
    key = _variant_key(signature)
    if key is None:
        return None
    spelling = spelling_variant(key)
    if spelling:
        return family_key(family_of(spelling[1]))
    m = _RULE.match(key)
    if m:
        return m["key"]
    m = _SHAPE_BY_PASS.match(key) or _SHAPE_CRASH.match(key)
    if m:
        return wrong_shape_key(m["pass"])
    m = _DIALECT_CHECK.match(key)
    if m:
        return m["key"]
    m = _FUSED_PAIR.match(key)
    if m:
        return f"lower/partially-delegated@{m['act']}(fused-pair)"
    m = CULPRIT_LABEL.match(key)
    if m and m["op"] == _HARDTANH_ALIAS:
        return f"{m['head']}hardtanh({m['context']})"
    return _CONV_KIND.sub("tosa.CONV2D.default", _UNKNOWN_OPERATOR.sub(r"\1 <op> \3", key))


def wrong_shape_key(pass_name: str) -> str:
    """One bug per pass that gets shapes wrong: its wrong output sizes, whatever op showed them,
    and the size, shape or padding errors it raises (``_SHAPE_BY_PASS``, ``_SHAPE_CRASH``)."""
    return f"wrong-shape@{pass_name}"


def bug_variant(signature: str) -> str | None:
    """What a bug groups its buckets by beyond their key: the spelling of a spelling family
    (``neg(negative)``), the culprit a narrow-range bug showed at (``conv2d(alone)``), the op
    no visitor lowers (``hardswish``); None
    for keys that group nothing more than targets and message details."""
    key = _variant_key(signature)
    if key is None:
        return None
    spelling = spelling_variant(key)
    if spelling:
        return spelling[0]
    m = _RULE.match(key) or _UNKNOWN_OPERATOR.search(key)
    if m:
        return m["variant"] if "variant" in m.groupdict() else m["op"]
    m = _SHAPE_BY_PASS.match(key)
    if m:
        return f"{m['op']}: wrong output size"
    if _SHAPE_CRASH.match(key):
        return key.split("@", 1)[0] + ": " + key.split(": ", 1)[1][:120]
    m = _DIALECT_CHECK.match(key)
    if m:
        return m["variant"][:120]
    m = CULPRIT_LABEL.match(key)
    if m and m["op"] in (_HARDTANH_ALIAS, "hardtanh"):
        return m["op"]
    m = _FUSED_PAIR.match(key)
    if m:
        return f"{m['producer']}+{m['act']}"
    m = _CONV_KIND.search(key)
    return m["kind"] if m else None


def _variant_key(signature: str) -> str | None:
    """The signature without its target and with its details normalised: one key per bug
    before families and the narrow-range rule group them further."""
    target, sep, rest = signature.partition("/")
    if not sep or target not in TARGETS:
        return None
    m = _CRASH.match(rest)
    if m and not m.group("where").startswith(_TOOLS):
        # A pass that names itself in its message ("RewriteConvPass: No output ...", which
        # 1.1.0-1.2.0 wrote and 1.5.1 no longer does) says nothing the location does not.
        msg = m.group("msg").removeprefix(f"{m.group('where')}: ")
        rest = f"{m.group('exc')}@{m.group('where')}: {msg}"
    rest = _TARGET_NAMES.sub("<target>", rest)
    rest = _TOSA_SPEC.sub("<tosa-spec>", rest)
    rest = _TENSOR_NAME.sub("name=<tensor>", rest)
    rest = _SUPPORTED_TYPES.sub(r"\1 <dtypes>", rest)
    return _TENSOR_WORD.sub(r"\1 <tensor>", rest)


def bug_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def bug_title(key: str) -> str:
    """A bug's key as a sentence, for tables and report headings."""
    if key in _RULE_TITLES:
        return _RULE_TITLES[key]
    if key.startswith("wrong-shape@"):
        return (f"{key.removeprefix('wrong-shape@')} gets shapes wrong: a delegate output of another size than "
                "the program declares, or a size, shape or padding error it raises")
    m = re.match(r"^(?P<exc>\w+)@tosa\.(?P<op>\w+)\.(?P<check>\w+)$", key)
    if m:
        return f"TOSA {m['op']}'s operand check ({m['check']}) refuses the node a pass built: {m['exc']}"
    m = re.match(r"^lower/partially-delegated@(?P<act>\w+)\(fused-pair\)$", key)
    if m:
        return (f"missed delegation: a conv or linear and the {m['act']} after it left on the CPU together (the "
                "quantizer annotates them as one fused pair, the partitioner refuses both when it will not fuse them)")
    family = family_of_key(key)
    if family:
        return f"missed quantization ({family}): {FAMILIES[family]}"
    if key.startswith("compare/numerics-"):
        symptom, _, culprit = key.removeprefix("compare/numerics-").partition("@")
        return f"wrong numerics ({symptom}) at {culprit}"
    if key.startswith("invalid-tosa@"):
        return "invalid TOSA: " + key.removeprefix("invalid-tosa@")
    if key.startswith("InvalidTosa@reference-model: "):
        return "invalid TOSA (the reference model rejects it): " + key.split(": ", 1)[1]
    m = re.match(r"^(?P<stage>[\w-]+)/invalid-program: (?P<msg>.*)$", key, re.DOTALL)
    if m:
        return f"invalid program at {m.group('stage')}: {m.group('msg')}"
    m = _CRASH.match(key)
    if m:  # a tool's failure, stage kept
        return f"{m.group('where')} fails at {m.group('stage')} with {m.group('exc')}: {m.group('msg')}"
    m = re.match(r"^(?P<exc>\w+)@(?P<where>[^:\s]+): (?P<msg>.*)$", key, re.DOTALL)
    if m:
        return f"{m.group('where')} raises {m.group('exc')}: {m.group('msg')}"
    kind, _, stage = key.partition("@")
    return f"{kind.replace('/', ' ')} at {stage}" if stage and ":" not in stage else key


#: Linked cases kept as evidence per bug (the first ones in log order).
MAX_LINKS = 5


@dataclass
class Bug:
    key: str
    #: bucket signatures, first seen first
    buckets: list[str] = field(default_factory=list)
    #: where the campaign saw it: its buckets' targets and its linked cases' symptoms
    targets: set[str] = field(default_factory=set)
    releases: set[str] = field(default_factory=set)
    count: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0
    #: (index, target, focus, nodes, signature): the smallest case, on the cheapest target
    representative: tuple[int, str, str | None, int, str] | None = None
    #: keys of its buckets (its own, plus tool/native-crash keys joined by the invalid-TOSA
    #: rule, plus each spelling's own key in a family: its bug before families existed)
    members: set[str] = field(default_factory=set)
    #: what the key groups beyond targets (fuzz.triage.bugs.bug_variant), first seen first:
    #: variant -> {"targets": set, "count": int}; written as ``members``
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: one case, several symptoms: ``{"index": i, "symptoms": {target: signature}}``
    links: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return bug_id(self.key)

    @property
    def title(self) -> str:
        return bug_title(self.key)

    @property
    def tier(self) -> str:
        return tier(self.key)

    def meta(self) -> dict[str, Any]:
        rep = self.representative
        return {
            "id": self.id,
            "key": self.key,
            "title": self.title,
            "buckets": self.buckets,
            "targets": sorted(self.targets, key=_cost_rank),
            "releases": sorted(self.releases),
            "count": self.count,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "representative": None if rep is None else {"index": rep[0], "target": rep[1], "focus": rep[2], "nodes": rep[3],
                                                        "signature": rep[4]},
            "links": self.links,
            # Added fields (older bugs.json lack them; fuzz.triage.tiers.tier_of reads either).
            "tier": self.tier,
            "family": family_of_key(self.key),
            "members": [{"member": v, "targets": sorted(m["targets"], key=_cost_rank), "count": m["count"]}
                        for v, m in self.variants.items()],
        }


def _cost_rank(target: str) -> int:
    return TARGET_COST_ORDER.index(target) if target in TARGET_COST_ORDER else len(TARGET_COST_ORDER)


def group(buckets: list[Any], case_failures: dict[int, list[tuple[str, str, str]]]) -> list[Bug]:
    """Bugs from buckets (fuzz.campaign.Bucket, in any order) and each case index's failures
    ``(target, status, signature)`` in log order; first seen first."""
    keys = {b.signature: bug_key(b.signature) for b in buckets}
    parent: dict[str, str] = {k: k for k in keys.values() if k}
    # Keys of invalid TOSA graphs: each stays the root of its own set (the bug is the graph).
    invalid = {keys.get(s) for fs in case_failures.values() for _, st, s in fs if st == "invalid-tosa"} - {None}

    def find(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for span, home in span_homes(set(parent)).items():
        parent[find(span)] = find(home)

    links: dict[str, list[dict[str, Any]]] = {}
    for index, failures in case_failures.items():
        graphs = [(t, s) for t, st, s in failures if st == "invalid-tosa" and keys.get(s)]
        joined = [(t, s) for t, st, s in failures if keys.get(s) and st != "invalid-tosa" and (st == "native-crash" or _is_tool_failure(s))]
        if not graphs or not joined:
            continue
        graph = keys[graphs[0][1]]  # a root: only sets without an invalid graph are attached
        for _, s in joined:
            rb = find(keys[s])
            # Never through a tool bucket already joined to another invalid graph (vela's
            # generic "Validation error" would otherwise chain unrelated invalid graphs).
            if rb != graph and rb not in invalid:
                parent[rb] = graph
        if len(links.setdefault(graph, [])) < MAX_LINKS:
            links[graph].append({"index": index, "symptoms": dict(graphs + joined)})

    bugs: dict[str, Bug] = {}
    for b in sorted(buckets, key=lambda b: b.first_seen):
        k = keys[b.signature]
        if not k:
            continue
        root = find(k)
        bug = bugs.setdefault(root, Bug(root, first_seen=b.first_seen, links=links.get(root, [])))
        bug.buckets.append(b.signature)
        bug.members.add(k)
        own = _variant_key(b.signature) or ""
        if spelling_variant(own):
            bug.members.add(own)  # a spelling's bug before families: a resumed campaign's old bug merges
        variant = bug_variant(b.signature)
        if variant is not None:
            slot = bug.variants.setdefault(variant, {"targets": set(), "count": 0})
            slot["targets"].add(b.signature.split("/", 1)[0])
            slot["count"] += b.count
        bug.targets.add(b.signature.split("/", 1)[0])
        bug.releases.update(getattr(b, "releases", ()) or ())
        bug.count += b.count
        bug.first_seen = min(bug.first_seen, b.first_seen)
        bug.last_seen = max(bug.last_seen, b.last_seen)
        if k != root:
            continue  # a joined symptom is evidence; the bug is reduced on its own key's cases
        index, target, focus = b.smallest
        # Replaced only by a strictly smaller case (fewer nodes, or as many on a cheaper
        # target), so a reduced report stays its bug's.
        if bug.representative is None or (b.smallest_nodes, _cost_rank(target)) < (bug.representative[3], _cost_rank(bug.representative[1])):
            bug.representative = (index, target, focus, b.smallest_nodes, b.signature)
    for bug in bugs.values():
        bug.targets.update(t for link in bug.links for t in link["symptoms"])
    return sorted(bugs.values(), key=lambda g: g.first_seen)


def span_homes(keys: set[str]) -> dict[str, str]:
    """Span key -> the one key among ``keys`` with the same symptom at one of the span's ops.

    1.5.1's bilinear RESIZE samples at the ratio of the rounded sizes, not at the given
    scale_factor (``_passes/rewrite_upsample.py`` honours it for nearest only): seed 202 showed
    it as ``interpolate(alone)`` on INT and as ``interpolate+relu6(span)`` with the interpolate
    left in float on INT+FP, which the reducer narrowed to a lone interpolate. A span whose
    symptom shows at none or at several of its ops stays its own bug."""
    culprits = [(m, k) for k in keys if (m := CULPRIT_LABEL.match(k)) and m["context"] != "span"]
    out = {}
    for key in keys:
        span = SPAN_LABEL.match(key)
        if not span:
            continue
        ops = set(span["ops"].split("+"))
        homes = [k for m, k in culprits if m["head"] == span["head"] and m["op"] in ops]
        if len(homes) == 1:
            out[key] = homes[0]
    return out


def _is_tool_failure(signature: str) -> bool:
    """A failure raised by vela or model-converter themselves (not an executorch pass that
    happened to run with vela on the stack)."""
    m = _CRASH.match(signature.split("/", 1)[1])
    return bool(m) and (m.group("where").startswith(_TOOLS) or m.group("where").endswith(_VGF_COMPILE))
