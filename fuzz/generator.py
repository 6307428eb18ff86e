"""Random valid cases: small DAGs built op by op from the registry's samplers.

Deterministic: ``generate(campaign_seed, index, target)`` is the same case on every machine,
so a campaign is reproducible from its seed and a case index names a case forever.
"""

from __future__ import annotations

import random

from fuzz import recipes
from fuzz.case import Case, Node, QuantConfig, TensorSpec
from fuzz.errors import CaseError
from fuzz.ops import Shape, all_ops, get_op
from fuzz.targets import TARGETS

#: Relative frequency of each op; conv/relu/cat/linear are the mission's focus.
OP_WEIGHTS = {
    "conv2d": 6,
    "relu": 4,
    "cat": 3,
    "linear": 2,
    "relu6": 1,
    "hardtanh": 1,
    "clamp": 2,
    "add": 2,
    "mul": 1,
    "avg_pool2d": 1,
    "max_pool2d": 1,
    "sigmoid": 1,
    "tanh": 1,
    "mean_hw": 1,
    "flatten": 1,
    "reshape": 1,
}
MAX_NODES = 7


def generate(seed: int, index: int, target: str = "tosa-int") -> Case:
    """Case number ``index`` of the campaign seeded ``seed``."""
    rng = random.Random(recipes.derive_seed(seed, "case", index))
    for _ in range(50):
        case = _attempt(rng, target)
        if case is not None:
            return case
    raise RuntimeError(f"generator found no valid case for seed={seed} index={index}")  # never seen in practice


def _attempt(rng: random.Random, target: str) -> Case | None:
    inputs = [_input(rng, i) for i in range(rng.choice([1, 1, 1, 2, 2, 3]))]
    avail: dict[str, Shape] = {t.name: tuple(t.shape) for t in inputs}
    nodes: list[Node] = []
    names = list(OP_WEIGHTS)
    weights = [OP_WEIGHTS[n] for n in names]
    known = all_ops()
    for _ in range(rng.randint(1, MAX_NODES) * 2):
        if len(nodes) >= MAX_NODES:
            break
        op = known[rng.choices(names, weights)[0]]
        sampled = op.sample(rng, avail)
        if sampled is None:
            continue
        nid = f"{op.name}_{len(nodes)}"
        try:
            shape = op.check("", [avail[i] for i in sampled.inputs], sampled.params)
        except CaseError:
            continue
        nodes.append(Node(nid, op.name, list(sampled.inputs), dict(sampled.params), sampled.spelling))
        avail[nid] = tuple(shape)
    if not nodes:
        return None
    used = {i for n in nodes for i in n.inputs}
    sinks = [n.id for n in nodes if n.id not in used]
    outputs = sinks[-3:]
    _demote_illegal_inplace(nodes, inputs, outputs)
    inputs = [t for t in inputs if t.name in used]
    if not inputs:
        return None
    case = Case(
        inputs=inputs,
        nodes=_live(nodes, outputs),
        outputs=outputs,
        weights={"default": dict(recipes.DEFAULT_WEIGHTS), "nodes": {}},
        calibration=_calibration(rng, inputs),
        quant=_quant(rng, target),
        target=target,
        seed=rng.randrange(2**31),
    )
    case = case.with_target(target)
    try:
        case.validate()
    except CaseError:
        return None
    return case


def _input(rng: random.Random, i: int) -> TensorSpec:
    if rng.random() < 0.12:
        return TensorSpec(f"in{i}", [1, rng.choice([4, 8, 16, 32])])
    c = rng.choice([1, 2, 3, 4, 4, 8])
    h = rng.choice([4, 6, 8, 8, 12, 16])
    w = h if rng.random() < 0.8 else rng.choice([4, 5, 8, 16])
    return TensorSpec(f"in{i}", [1, c, h, w])


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
    """In-place spellings are only legal on single-use intermediates; rewrite the rest."""
    uses: dict[str, int] = {}
    for n in nodes:
        for i in n.inputs:
            uses[i] = uses.get(i, 0) + 1
    input_names = {t.name for t in inputs}
    for n in nodes:
        op = get_op(n.op)
        if n.spelling in op.inplace_spellings:
            src = n.inputs[0]
            if src in input_names or uses.get(src, 0) != 1 or src in outputs:
                n.spelling = next(s for s in op.spellings if s not in op.inplace_spellings and op.spelling_ok(s, n.params))


def _calibration(rng: random.Random, inputs: list[TensorSpec]) -> dict:
    per_input = {}
    for t in inputs:
        kind = rng.choice(["rand", "rand", "randn", "signed"])
        if kind == "rand":
            per_input[t.name] = dict(recipes.DEFAULT_CALIBRATION)
        elif kind == "randn":
            per_input[t.name] = {"kind": "normal", "mean": 0.0, "std": 1.0}
        else:
            per_input[t.name] = {"kind": "uniform", "low": -1.0, "high": 1.0}
    return {"samples": rng.choice([1, 2, 3]), "inputs": per_input}


def _quant(rng: random.Random, target: str) -> QuantConfig:
    # Draw every choice whatever the target, so one (seed, index) is the same graph and data
    # on every target and the targets are each other's control cases.
    wants_int16 = rng.random() < 0.25
    return QuantConfig(
        per_channel=rng.random() < 0.7,
        activations="int16" if wants_int16 and TARGETS[target].int16 else "int8",
        act_qmin=rng.choice([-128, -128, -127]),
        act_qmax=127,
        weight_qmin=rng.choice([-127, -127, -128]),
        weight_qmax=127,
    )

