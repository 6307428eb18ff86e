"""Random valid cases: motifs and random ops, with adversarial weights, data and configs.

Deterministic: ``generate(seed, index, target, focus)`` is the same case on every machine,
so a campaign is reproducible from its seed and the focus it logged for each case. ``focus``
names a regime (fuzz.generate.focus.REGIMES) or a cell, a regime at an op family
(fuzz.generate.cells), to aim at; the campaign picks it from coverage feedback. A cell focus
draws its own cases: a plain regime's are what they were before cells. Without a focus, each
adversarial recipe family still appears at random.
"""

from __future__ import annotations

import random
from typing import Any

from fuzz.core import config_rules, target_options
from fuzz.core.errors import CaseError
from fuzz.core.targets import TARGETS
from fuzz.generate import cells, recipes
from fuzz.generate.case import MODULE_DTYPES, Case, Node, QuantConfig, TensorSpec
from fuzz.generate.ops import all_ops, get_op
from fuzz.generate.patterns import MOTIFS, SEED_ACTIVATIONS, GraphBuilder, biased_conv_after, operand_of

#: Bumped whenever ``generate(seed, index, ...)`` starts making other cases for the same
#: arguments (new ops, new draws). A campaign records it and only resumes under the same one:
#: its log names cases by (seed, index, target, focus) and they must regenerate identically.
#: 1: the 16-op registry; 2: the Arm surface registry (issue 12); 3: after everything version
#: 2 drew, each case draws compile-spec options (fuzz.core.target_options) and mixed-precision
#: modules (int8, int16 where the spec has it, float); no in-place op downstream of an expand.
#: 4: the int16-int48-bias@conv cell is a conv with bias fed by an op of any family.
#: 5: a clamp-inside-range case cats its activation (half the time floored at 0) with a
#: sibling calibrated on [0, 8..64].
#: 6: the layout_round_trip motif, rank-5 reshapes, dilated max_pool2d one in two, max_pool2d weight 2.
#: 7: conv_transpose2d weight 2, dilated one in five: measured and reverted (README, "version 7").
#: 8: one dilated conv_transpose2d in three; no weight changes, so only cases that try one change.
GENERATOR_VERSION = 8

#: Ops drawn more often than the rest: the conv/activation/cat neighbourhood is where the
#: quantization regimes (non-fuseable activations, shared cat domains, int48 bias) are made.
#: max_pool2d is drawn twice as often as an unfavoured op: a cell's case seldom draws a pool,
#: so a pool's parameter corners come from plain draws, and at weight 1 seed 0 of the recall
#: benchmark made one max_pool2d in 235 cases on 1.1.0 and missed maxpool-dilation (13 of 20
#: dilated max_pool2d draws show it; the 16-op registry, where it is 1 op in 16, found it on
#: every seed).
_FAVOURED = {"conv2d": 6, "relu": 4, "cat": 3, "linear": 2, "clamp": 2, "add": 2, "max_pool2d": 2}
#: Relative frequency of each op when growing a graph at random: every registry op (1 unless
#: favoured). The favoured come first (Hypothesis's shrinker, fuzz.generate.strategies, takes earlier
#: options as simpler), the rest in name order, not in module import order.
OP_WEIGHTS = {**_FAVOURED, **{name: 1 for name in sorted(all_ops()) if name not in _FAVOURED}}
MAX_NODES = 8

#: Motif that best sets up each regime when the campaign asks for it.
_FOCUS_MOTIF = {
    "act-nonfuseable": "conv_act_cat_sibling",
    "shared-domain-mismatch": "conv_act_cat_sibling",
    "clamp-inside-range": "conv_act_cat_sibling",
    "int16-int48-bias": "linear_chain",
    "weight-zero-channel": "pool_between_convs",
    "weight-channel-spread": "act_two_consumers",
}


def generate(seed: int, index: int, target: str = "tosa-int", focus: str | None = None,
             domains: target_options.Domains | None = None) -> Case:
    """Case number ``index`` of the campaign seeded ``seed`` (aimed at ``focus`` if given),
    its options drawn from ``domains`` (the release the workers run; None: this interpreter's)."""
    rng = random.Random(recipes.derive_seed(seed, "case", index, focus or ""))
    for _ in range(50):
        case = _attempt(rng, target, focus, domains=domains)
        if case is not None:
            return case
    raise RuntimeError(f"generator found no valid case for seed={seed} index={index} focus={focus}")


def generate_with(rng: random.Random, target: str, focus: str | None = None, ops: frozenset[str] | None = None,
                  domains: target_options.Domains | None = None) -> Case | None:
    """One attempt at a valid case drawing every choice from ``rng`` (None when it came out
    invalid). ``ops`` restricts the graph to those registry ops (no motifs then: they bring
    their own). fuzz.generate.strategies drives it with Hypothesis's draws; ``generate`` with a seeded
    Random."""
    return _attempt(rng, target, focus, ops, domains)


def _attempt(rng: random.Random, target: str, focus: str | None, ops: frozenset[str] | None = None,
             domains: target_options.Domains | None = None) -> Case | None:
    b = GraphBuilder(rng)
    regime, family = cells.split(focus)
    if ops is not None:
        for _ in range(rng.choice([1, 1, 2, 2, 3])):
            _input_for(b, ops)
        _grow(b, rng.randint(1, MAX_NODES), ops)
        return _finish(b, rng, target, regime, domains)
    if family is not None:
        _start_cell(b, regime, family)
        started = True
    else:
        motif = _FOCUS_MOTIF.get(focus or "") or (rng.choice(list(MOTIFS)) if rng.random() < 0.5 else None)
        started = motif is not None
        if motif:
            MOTIFS[motif](b)
            if rng.random() < 0.2:  # compose a second motif beside the first
                MOTIFS[rng.choice(list(MOTIFS))](b)
        else:
            for _ in range(rng.choice([1, 1, 2, 2, 3])):
                _random_input(b)
    _grow(b, rng.randint(0 if started else 1, 3 if started else MAX_NODES), favour=family)
    return _finish(b, rng, target, regime, domains, cell=family is not None)


#: What a cell's operand meets in the regimes about an activation's or a cat's operand: the
#: activation kinds (none: no activation) and whether a cat with a sibling follows.
_OPERAND_SHAPE: dict[str, tuple[tuple[str, ...], bool]] = {
    "act-nonfuseable": (SEED_ACTIVATIONS, True),  # a shared cat domain moves the zp
    "clamp-inside-range": (("clamp", "hardtanh", "relu6"), True),  # the cat's domain reaches past the bounds
    "shared-domain-mismatch": ((), True),
}
#: Regimes about an activation's bounds: the conv motif may draw a relu, which has none, so
#: their cells always build the operand shape (a bounded activation, then a cat), and half the
#: time the activation floors at 0 (patterns.zero_floored): sampled freely, 2 in 7 hardtanhs
#: and no clamp do, and only those fuse into a conv at zp == qmin.
_BOUNDED = ("clamp-inside-range",)


def _start_cell(b: GraphBuilder, regime: str, family: str) -> None:
    """Start a case aimed at cell ``regime@family``. The conv family takes the regime's own
    motif half the time (they are conv motifs: seed 000's shape for the core); otherwise one
    op of the family (a graph input for ``input``) computes the operand the regime is about,
    with the activation and cat the regime needs. The int48-bias regime is about the conv's
    input instead: its producer is drawn family first, each family as likely (a TABLE op
    before a conv is 5 times rarer at random with 60 ops than it was with 16)."""
    if family == cells.CORE_FAMILY and regime == cells.INT16_CORE_REGIME:
        producer = b.rng.choice(cells.producer_families())
        biased_conv_after(b, cells.family_ops(producer) if producer != cells.INPUT else [])
    elif family == cells.CORE_FAMILY and regime in _FOCUS_MOTIF and regime not in _BOUNDED and b.rng.random() < 0.5:
        MOTIFS[_FOCUS_MOTIF[regime]](b)
    else:
        act, cat = _OPERAND_SHAPE.get(regime, ((), False))
        # Half the bounded activations floor at 0, the kind that fuses into its producer.
        operand_of(b, cells.family_ops(family), act, cat, floored=regime in _BOUNDED and b.rng.random() < 0.5)


def _finish(b: GraphBuilder, rng: random.Random, target: str, focus: str | None,
            domains: target_options.Domains | None, cell: bool = False) -> Case | None:
    """The grown graph as a valid case: live nodes, used inputs, quant config, recipes."""
    if not b.nodes:
        return None
    used = {i for n in b.nodes for i in n.inputs}
    outputs = [n.id for n in b.nodes if n.id not in used][-3:]
    nodes = _live(b.nodes, outputs)
    _demote_illegal_inplace(nodes, b.inputs, outputs)
    _demote_illegal_view(nodes)
    inputs = [t for t in b.inputs if t.name in used]
    if not inputs:
        return None
    quant = _quant(rng, target, focus)
    if quant.four_bit_weights and quant.per_channel and any(n.op in config_rules.NO_PER_CHANNEL_INT4 for n in nodes):
        quant.per_channel = False
    case = Case(
        inputs=inputs,
        nodes=nodes,
        outputs=outputs,
        weights=_weights(rng, nodes, focus),
        calibration=_calibration(rng, inputs, nodes, focus, cell),
        quant=quant,
        target=target,
        seed=rng.randrange(2**31),
    ).with_target(target)
    try:
        case.validate()
    except CaseError:
        return None
    t = TARGETS[target]
    case.options = target_options.sample(rng, t.family, t.accelerator, t.tosa_spec, {n.op for n in case.nodes}, domains)
    case.quant.module_activations = _mixed_precision(rng, case)
    return case


#: Share of cases that mix precisions across modules.
MIXED_PRECISION_SHARE = 0.25


def _mixed_precision(rng: random.Random, case: Case) -> dict[str, str]:
    """Give one or two of the case's modules another activation dtype (the quantizer's
    ``set_module_name``): where int8 meets int16 a rescale between domains is lowered and a
    cat or add must pick one; a module left in float splits the graph into partitions (or
    runs in the FP profile). int16 only on targets whose spec carries it."""
    t = TARGETS[case.target]
    if rng.random() >= MIXED_PRECISION_SHARE:
        return {}
    modules = [n.id for n in case.nodes if get_op(n.op).calls_module(n.id, list(n.inputs), n.params, n.spelling)]
    if not modules:
        return {}
    others = [d for d in MODULE_DTYPES if d != case.quant.activations and (d != "int16" or t.int16)]
    return {node_id: rng.choice(others) for node_id in sorted(rng.sample(modules, min(len(modules), rng.choice([1, 2]))))}


def _input_for(b: GraphBuilder, ops: frozenset[str]) -> None:
    """An input for a graph of only ``ops``: half the time one of their probe shapes (the
    rank they take), else a random one. Without it a rank-3-only op like conv1d found an
    input it takes in about one draw of 24 (Hypothesis's find() then took 230 s)."""
    if b.rng.random() < 0.5:
        op = get_op(b.rng.choice(sorted(ops)))
        b.new_input(list(b.rng.choice(op.probe_shapes)))
    else:
        _random_input(b)


def _random_input(b: GraphBuilder) -> None:
    r = b.rng
    roll = r.random()
    if roll < 0.12:
        b.new_input([1, r.choice([4, 8, 16, 32])])
        return
    if roll < 0.22:  # (N, C, L): conv1d, matmul, layer_norm and the rank-3 data movement
        b.new_input([r.choice([1, 1, 2]), r.choice([1, 2, 4, 8]), r.choice([4, 7, 8, 16, 32])])
        return
    h = r.choice([4, 6, 8, 8, 12, 16])
    b.new_input([1, r.choice([1, 2, 3, 4, 4, 8]), h, h if r.random() < 0.8 else r.choice([4, 5, 8, 16])])


def _grow(b: GraphBuilder, steps: int, only: frozenset[str] | None = None, favour: str | None = None) -> None:
    """Add random ops (of ``only``, if given), preferring recent tensors so graphs get deep,
    not only wide. The ``favour`` family's ops draw as often as all the others together."""
    names = [n for n in OP_WEIGHTS if only is None or n in only]
    weights: list[float] = [OP_WEIGHTS[n] for n in names]
    mine = set(cells.family_ops(favour)) if favour else set()
    if mine & set(names):
        scale = sum(w for n, w in zip(names, weights) if n not in mine) / sum(w for n, w in zip(names, weights) if n in mine)
        weights = [w * scale if n in mine else w for n, w in zip(names, weights)]
    ops = all_ops()
    for _ in range(steps * 3):
        if steps <= 0 or len(b.nodes) >= MAX_NODES:
            break
        op = ops[b.rng.choices(names, weights)[0]]
        recent = dict(list(b.shapes.items())[-4:]) if b.rng.random() < 0.6 else dict(b.shapes)
        sampled = op.sample(b.rng, recent)
        if sampled is not None and b.add(op.name, sampled.inputs, sampled.params, sampled.spelling):
            steps -= 1


def _live(nodes: list[Node], outputs: list[str]) -> list[Node]:
    """Drop nodes nothing reaches the outputs through (dead code exports to nothing)."""
    needed = set(outputs)
    keep = []
    for n in reversed(nodes):
        if n.id in needed:
            keep.append(n)
            needed.update(n.inputs)
    return list(reversed(keep))


def _demote_illegal_inplace(nodes: list[Node], inputs: list[TensorSpec], outputs: list[str]) -> None:
    """In-place spellings are only legal on single-use intermediates that own their memory;
    rewrite the rest. An expand's output has elements sharing one memory location, and so may
    every view of it (eager refuses to write it: generator seed 107, index 0, ethos-u55-128,
    focus scale-at-min wrote ``reshape(broadcast_to(x)).relu_()``); which downstream ops return
    views is not tracked, so nothing downstream of an expand is written in place."""
    uses: dict[str, int] = {}
    for n in nodes:
        for i in n.inputs:
            uses[i] = uses.get(i, 0) + 1
    input_names = {t.name for t in inputs}
    after_expand = _downstream(nodes, {"expand"})
    for n in nodes:
        op = get_op(n.op)
        if n.spelling in op.inplace_spellings:
            src = n.inputs[0]
            if src in input_names or uses.get(src, 0) != 1 or src in outputs or src in after_expand:
                n.spelling = next(s for s in op.spellings if s not in op.inplace_spellings and op.spelling_ok(s, n.params))


#: Ops whose eager output may be a strided view: transposed, broadcast, or a slice off the
#: first dim. Element-wise ops keep their input's strides, so what reads one may be strided too.
_STRIDED_VIEWS = frozenset({"transpose", "permute", "expand", "slice", "select", "narrow", "split", "chunk"})


def _demote_illegal_view(nodes: list[Node]) -> None:
    """``Tensor.view`` needs an input whose strides allow the new shape; eager refuses a
    transposed one (generator seed 20218, index 3267, ethos-u55-128, focus clamp-inside-range
    wrote ``transpose(relu6(x), -2, -1).view(...)``). Which ops keep strides is not tracked
    op by op, so a reshape downstream of a strided view is spelled ``.reshape``."""
    strided = _downstream(nodes, _STRIDED_VIEWS)
    for n in nodes:
        if n.spelling == "view" and any(i in strided for i in n.inputs):
            n.spelling = "method"


def _downstream(nodes: list[Node], ops: set[str] | frozenset[str]) -> set[str]:
    """Ids of the nodes (in graph order) that are one of ``ops`` or read one, transitively."""
    found: set[str] = set()
    for n in nodes:
        if n.op in ops or any(i in found for i in n.inputs):
            found.add(n.id)
    return found


# -- adversarial recipes -----------------------------------------------------------------

#: Calibration families and the regimes they tend to produce.
_CALIB_FOR_FOCUS = {
    "scale-at-min": "constant",
    "scale-huge": "spikes",
    "zp-at-qmax": "negative",
    "zp-at-qmin-nonact": "positive",
    "shared-domain-mismatch": "shifted",
    "act-nonfuseable": "shifted",
}
#: A cell's (regime@family) calibration: its clamp-inside-range cases cat a bounded activation
#: with a sibling wider than its bounds (_OPERAND_SHAPE), non-negative so the shared zp stays
#: at qmin and the activation still fuses: executorch 1.4.1 then lost the upper bound (the
#: hardtanh-fused-ignoring-max bug; `positive` tops out at 4, under relu6's 6). Plain regime
#: foci keep _CALIB_FOR_FOCUS, so the cases they made before cells stay the same.
_CALIB_FOR_CELL = {**_CALIB_FOR_FOCUS, "clamp-inside-range": "wide_positive"}
#: Cells whose recipe goes on every input, not only the cat sibling: the bounds must cut inside
#: what the producer computes, and with the default weights (uniform ±0.1) a conv fed [-1, 1]
#: stays within about ±0.5, under relu6's 6 and most hardtanh maxima. Of 40 clamp-cell cases
#: run on executorch 1.4.1 with the recipe on the sibling alone, 28 passed, the fused conv ->
#: hardtanh(0, 1) among them: nothing reached the lost bound.
_CALIB_EVERY_INPUT = ("clamp-inside-range",)


def _calib_recipe(rng: random.Random, family: str) -> dict[str, Any]:
    if family == "positive":
        return {"kind": "uniform", "low": 0.0, "high": rng.choice([0.5, 1.0, 4.0])}
    if family == "wide_positive":  # above relu6's 6: _CALIB_FOR_CELL
        return {"kind": "uniform", "low": 0.0, "high": rng.choice([8.0, 20.0, 64.0])}
    if family == "signed":
        return {"kind": "uniform", "low": -1.0, "high": 1.0}
    if family == "normal":
        return {"kind": "normal", "mean": 0.0, "std": rng.choice([0.5, 1.0, 3.0])}
    if family == "shifted":  # mostly positive with a small negative tail: seed 000's y
        s = rng.choice([0.02, 0.065, 0.1, 0.25, 0.5])
        return {"kind": "uniform", "low": -s, "high": 1.0 - s}
    if family == "negative":
        return {"kind": "uniform", "low": -1.0, "high": -0.01}
    if family == "constant":
        return {"kind": "constant", "value": rng.choice([0.0, 0.0, 0.5, -0.25])}
    if family == "sparse":
        return {"kind": "sparse", "density": rng.choice([0.01, 0.05, 0.2]), "low": -1.0, "high": 1.0}
    if family == "heavy_tailed":
        return {"kind": "heavy_tailed", "scale": 0.1, "clip": rng.choice([10.0, 100.0, 1000.0])}
    if family == "spikes":
        return {"kind": "spikes", "low": 0.0, "high": 1.0, "spike": rng.choice([50.0, 200.0, 1000.0]), "density": 0.01}
    raise ValueError(family)


_FAMILIES = ["positive", "positive", "signed", "normal", "shifted", "negative", "constant", "sparse", "heavy_tailed", "spikes"]


def _calibration(rng: random.Random, inputs: list[TensorSpec], nodes: list[Node], focus: str | None,
                 cell: bool = False) -> dict:
    samples = rng.choice([1, 2, 3])
    per_input: dict[str, Any] = {}
    wanted = (_CALIB_FOR_CELL if cell else _CALIB_FOR_FOCUS).get(focus or "")
    every = cell and focus in _CALIB_EVERY_INPUT
    for idx, t in enumerate(inputs):
        # The focused family goes on the last input: in a motif that is the cat sibling.
        family = wanted if wanted and (every or idx == len(inputs) - 1) else rng.choice(_FAMILIES)
        if rng.random() < 0.15 and samples > 1:  # differs per sample
            per_input[t.name] = [_calib_recipe(rng, rng.choice(_FAMILIES)) for _ in range(samples)]
        else:
            per_input[t.name] = _calib_recipe(rng, family)
    return {"samples": samples, "inputs": per_input}


def _weights(rng: random.Random, nodes: list[Node], focus: str | None) -> dict:
    per_node: dict[str, Any] = {}
    weighted = [n for n in nodes if get_op(n.op).has_weights]
    for n in weighted:
        modify = focus in ("weight-zero-channel", "weight-channel-spread") or rng.random() < 0.3
        if not modify:
            continue
        channels = n.params.get("out_channels", n.params.get("out_features", 1))
        r: dict[str, Any] = dict(recipes.DEFAULT_WEIGHTS)
        kind = {"weight-zero-channel": "zero", "weight-channel-spread": "spread"}.get(focus or "") or rng.choice(
            ["zero", "tiny", "huge", "spread", "negative"]
        )
        pick = [rng.randrange(channels)]
        if kind == "zero":
            r["zero_channels"] = pick
        elif kind == "tiny":
            r["tiny_channels"] = pick
        elif kind == "huge":
            r["huge_channels"] = pick
        elif kind == "spread":
            r["spread"] = rng.choice([100.0, 1000.0, 1e4])
        else:
            r["negative"] = True
        per_node[n.id] = r
    return {"default": dict(recipes.DEFAULT_WEIGHTS), "nodes": per_node}


def _quant(rng: random.Random, target: str, focus: str | None) -> QuantConfig:
    # Draw every choice whatever the target, so one (seed, index) is the same graph and data
    # on every target and the targets are each other's control cases.
    wants_int16 = rng.random() < 0.25 or focus in ("int16-int48-bias", "config-a16w8")
    per_channel = rng.random() < 0.7 or focus in ("weight-zero-channel", "weight-channel-spread")
    qmin = rng.choice([-128, -128, -127])
    wants_a8w4 = rng.random() < 0.1 or focus == "config-a8w4"
    if focus == "config-act-qmin-127":
        qmin = -127
    elif focus == "config-act-qmin-128":
        qmin = -128
    if focus == "config-per-tensor-weights":
        per_channel = False
    wq = rng.choice([-127, -127, -128])
    # Validity after the draw: only the extensions the target's spec may carry (Case.validate).
    t = TARGETS[target]
    four_bit = wants_a8w4 and "int4" in t.extensions
    return QuantConfig(
        per_channel=per_channel,
        activations="int16" if wants_int16 and t.int16 else "int8",
        act_qmin=qmin,
        act_qmax=127,
        weight_qmin=-7 if four_bit else wq,
        weight_qmax=7 if four_bit else 127,
    )
