"""Motifs: multi-op patterns known to stress fusion and shared quantization domains.

Random DAGs rarely line up a conv, a non-fuseable activation and a cat sibling. These
builders do it on purpose. The generator starts a case from one or two motifs, then grows it
with random ops (fuzz.generate.generator). Each motif adds nodes through :class:`GraphBuilder`, which
validates every node with its op spec, so a motif can never emit an invalid case.
"""

from __future__ import annotations

import random
from typing import Any, Callable

from fuzz.core.errors import CaseError
from fuzz.generate.case import Node, TensorSpec
from fuzz.generate.ops import FUSEABLE as ACTIVATIONS
from fuzz.generate.ops import Shape, all_ops
from fuzz.generate.ops.tensor import Reshape

#: The activations of seed 000's shape, relu twice as often as each other kind.
SEED_ACTIVATIONS = ("relu", "relu", "relu6", "hardtanh", "clamp")


class GraphBuilder:
    """Accumulates inputs and nodes; every add is checked against the op's shape rule."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.inputs: list[TensorSpec] = []
        self.nodes: list[Node] = []
        self.shapes: dict[str, Shape] = {}

    def new_input(self, shape: list[int]) -> str:
        name = f"in{len(self.inputs)}"
        self.inputs.append(TensorSpec(name, list(shape)))
        self.shapes[name] = tuple(shape)
        return name

    def add(self, op_name: str, inputs: list[str], params: dict[str, Any] | None = None, spelling: str | None = None,
            canonical: bool = False) -> str | None:
        """Add a node (sampling params the op needs if none given, and its spelling unless
        ``canonical``: then the op's canonical one); None when invalid."""
        op = all_ops()[op_name]
        if params is None:
            params = op.sample_params(self.rng, self.shapes[inputs[0]])
            if params is None:
                return None
        try:
            shape = op.check("", [self.shapes[i] for i in inputs], params)
        except CaseError:
            return None
        if spelling is None:
            spelling = op.canonical_spelling(params) if canonical else op.sample_spelling(self.rng, params)
        nid = f"{op_name}_{len(self.nodes)}"
        self.nodes.append(Node(nid, op_name, list(inputs), dict(params), spelling))
        self.shapes[nid] = tuple(shape)
        return nid

    def conv(self, src: str, out_channels: int, kernel: int = 3, bias: bool = True) -> str | None:
        """A shape-preserving conv (stride 1, 'same'-style padding)."""
        return self.add("conv2d", [src], {
            "out_channels": out_channels, "kernel_size": kernel, "stride": 1, "padding": kernel // 2,
            "dilation": 1, "groups": 1, "bias": bias, "padding_mode": "zeros",
        })

    def activation(self, src: str, kind: str | None = None) -> str | None:
        kind = kind or self.rng.choice(ACTIVATIONS)
        return self.add(kind, [src])

    def image_input(self) -> str:
        r = self.rng
        return self.new_input([1, r.choice([2, 3, 4, 8]), r.choice([6, 8, 12, 16]), r.choice([6, 8, 12, 16])])


def conv_act_cat_sibling(b: GraphBuilder) -> None:
    """Seed 000's shape: conv -> activation -> cat with a sibling input -> conv."""
    x = b.image_input()
    c = b.conv(x, b.rng.choice([2, 4, 8]))
    a = b.activation(c, b.rng.choice(SEED_ACTIVATIONS)) if c else None
    if not a:
        return
    _, _, h, w = b.shapes[a]
    y = b.new_input([1, b.rng.choice([1, 2, 4]), h, w])
    m = b.add("cat", [a, y] if b.rng.random() < 0.7 else [y, a], {"dim": 1})
    if m:
        b.conv(m, b.rng.choice([2, 4]), kernel=b.rng.choice([1, 3]))


def residual_add_after_act(b: GraphBuilder) -> None:
    x = b.image_input()
    c = b.conv(x, b.shapes[x][1])
    a = b.activation(c, "relu") if c else None
    if a:
        b.add("add", [a, x] if b.rng.random() < 0.5 else [x, a], {})


def act_two_consumers(b: GraphBuilder) -> None:
    x = b.image_input()
    c = b.conv(x, b.rng.choice([2, 4]))
    a = b.activation(c) if c else None
    if not a:
        return
    k = b.rng.choice([2, 4])
    left, right = b.conv(a, k, kernel=1), b.conv(a, k, kernel=3)
    if left and right:
        op = b.rng.choice(["add", "cat"])
        b.add(op, [left, right], {"dim": 1} if op == "cat" else {})


def linear_chain(b: GraphBuilder) -> None:
    x = b.new_input([1, b.rng.choice([8, 16, 32])])
    h = b.add("linear", [x], {"out_features": b.rng.choice([8, 16]), "bias": True})
    a = b.activation(h, b.rng.choice(["relu", "relu6", "clamp"])) if h else None
    if a:
        b.add("linear", [a], {"out_features": b.rng.choice([4, 10]), "bias": b.rng.random() < 0.8})


def pool_between_convs(b: GraphBuilder) -> None:
    x = b.image_input()
    c = b.conv(x, b.rng.choice([4, 8]))
    p = b.add(b.rng.choice(["avg_pool2d", "max_pool2d"]), [c]) if c else None
    if p:
        b.conv(p, b.rng.choice([2, 4]), kernel=b.rng.choice([1, 3]))


def cat_of_cat(b: GraphBuilder) -> None:
    shape = [1, b.rng.choice([2, 4]), 8, 8]
    ins = [b.new_input(shape) for _ in range(3)]
    inner = b.add("cat", ins[:2], {"dim": 1})
    if inner:
        b.add("cat", [inner, ins[2]], {"dim": 1})


def layout_round_trip(b: GraphBuilder) -> None:
    """conv -> activation -> permute to channels-last -> reshape -> permute. executorch's
    memory-format pass (to_tosa_memory_format_pass) decides each tensor's dim order around
    such chains, and a view between two permutes is where it went wrong: on 1.2.0 a reshape to
    rank 5 with a singleton dim between them crashed vela on U85 (f1f7398b34); a squeeze or a
    view alone in a partition crashed it too (3a13e41132, d17ff74c2f). The reshape is the
    registry's own draw, but rank 5 with a singleton (what only this chain reaches) 3 times in
    5: at the sampler's 1 in 4, a 1.2.0 U85 campaign drew the chain once in 85 plain cases,
    and 4 in 10 such chains crash that release. The last permute is the registry's draw."""
    x = b.image_input()
    c = b.conv(x, b.rng.choice([4, 6, 10]))
    a = b.activation(c, b.rng.choice(["relu", "relu", "relu6"])) if c else None
    p = b.add("permute", [a], {"dims": [0, 2, 3, 1]}, canonical=True) if a else None
    high = Reshape.rank5_with_singleton(b.shapes[p]) if p else []
    params = {"shape": b.rng.choice(high)} if high and b.rng.random() < 0.6 else None
    r = b.add("reshape", [p], params, canonical=True) if p else None
    if r:
        b.add("permute", [r], canonical=True)


def zero_floored(b: GraphBuilder, src: str, kind: str) -> str | None:
    """A bounded activation whose lower bound is 0: relu6, hardtanh(0, m) or clamp(0, m). The
    kind executorch folds into the conv or linear before it when its output zp is qmin, and
    then its upper bound must be kept some other way (1.4.1 lost it, ad9902c464)."""
    if kind == "relu6":
        return b.add(kind, [src], {}, canonical=True)
    top = b.rng.choice([0.25, 0.5, 1.0, 2.0, 6.0])
    return b.add(kind, [src], {"min_val": 0.0, "max_val": top} if kind == "hardtanh" else {"min": 0.0, "max": top},
                 canonical=True)


def operand_of(b: GraphBuilder, ops: list[str], act: tuple[str, ...] = (), cat: bool = False,
               floored: bool = False) -> str | None:
    """conv_act_cat_sibling for any producer: one of ``ops`` (the graph input itself when
    none) on inputs of a shape it takes, then an activation of kind ``act`` if given (its
    lower bound 0 if ``floored``: zero_floored), then a cat with a sibling input if ``cat``.
    The generator aims a cell's family with it. The activation and the cat make the regime,
    so they take their canonical spelling: a campaign aimed 15 cases at the clamp cell on
    1.4.1 and 8 of them ended as spelling findings of the activation or the cat (F.relu6,
    torch.concat, clamp_), the numerics behind the CPU op never judged. Returns the operand (the producer or its activation; not
    the cat), None if none could be added."""
    p = None
    for name in b.rng.sample(ops, min(len(ops), 4)):  # a few ops: not every one samples on its probe shapes
        op = all_ops()[name]
        sampled = op.sample(b.rng, {b.new_input(list(s)): tuple(s) for s in op.probe_shapes})
        p = b.add(name, sampled.inputs, sampled.params, sampled.spelling) if sampled else None
        if p:
            break
    if not ops:
        p = b.image_input()
    if p and act:
        kind = b.rng.choice(act)
        p = zero_floored(b, p, kind) if floored else b.add(kind, [p], canonical=True)
    if p and cat and len(b.shapes[p]) >= 2:
        y = b.new_input([*b.shapes[p][:1], b.rng.choice([1, 2, 4]), *b.shapes[p][2:]])
        b.add("cat", [p, y] if b.rng.random() < 0.7 else [y, p], {"dim": 1}, canonical=True)
    return p


def biased_conv_after(b: GraphBuilder, ops: list[str]) -> None:
    """A conv2d (linear below rank 4) with bias fed by one of ``ops`` (a graph input when
    none). An int16 conv's bias is split off as int48 by a pass keyed on its input's dtype, and
    what that dtype is at that pass depends on the producer: a TABLE op is inserted after it
    (executorch 1.1.0 kept an INT32 bias then), a cat's input is rescaled first."""
    src = operand_of(b, ops)
    if src is None:
        return
    op = all_ops()["conv2d" if len(b.shapes[src]) == 4 else "linear"]
    params = op.sample_params(b.rng, b.shapes[src]) if op.accepts(b.shapes[src]) else None
    if params is not None:
        b.add(op.name, [src], {**params, "bias": True})


MOTIFS: dict[str, Callable[[GraphBuilder], None]] = {
    "conv_act_cat_sibling": conv_act_cat_sibling,
    "residual_add_after_act": residual_add_after_act,
    "act_two_consumers": act_two_consumers,
    "linear_chain": linear_chain,
    "pool_between_convs": pool_between_convs,
    "cat_of_cat": cat_of_cat,
    "layout_round_trip": layout_round_trip,
}
