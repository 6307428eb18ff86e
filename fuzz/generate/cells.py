"""Cells: a regime reached by a family of ops on a target, the unit a campaign steers by.

Counting regimes alone says a non-fuseable activation was reached, not what it sat on: with a
60-op registry most of them sit on pointwise or movement ops, and the conv/relu/cat core the
seed bug lives in gets a small share. A cell names the regime and the op family it was reached
at, ``"act-nonfuseable@conv"``. The observer (fuzz.judge.regimes) reports cells, the campaign
counts them per target, and a cell is also a generator focus: the regime part aims the recipes
as a plain regime focus does, the family part the graph (fuzz.generate.generator).

A cell's family is the family of the op that computes the tensor the regime is about
(:func:`family_at`): a fuseable activation counts as part of its producer, since the lowering
folds it into the producer's output (what RewriteConvPass does to conv -> relu), and a graph
input is the family ``input``. So conv -> relu -> cat with a signed sibling is
``act-nonfuseable@conv`` and ``shared-domain-mismatch@conv`` (and ``@input``, the sibling).
"""

from __future__ import annotations

from functools import cache
from typing import Any, Mapping

from fuzz.generate.focus import applicable_regimes
from fuzz.generate.ops import FUSEABLE, MOVEMENT_OPS, all_ops, get_op

#: Separates a cell's regime from its family; a focus without it is a plain regime.
SEP = "@"
#: The family of a graph input: calibration recipes act on it directly.
INPUT = "input"
#: The family the mission's core sits in: conv2d, linear (and conv1d, conv_transpose2d, matmul).
CORE_FAMILY = "conv"
#: Regimes of the core: a relu/clamp next to a conv or linear that cannot fuse, or whose
#: domain a cat shares with a sibling (seed 000 and the RewriteConvPass bug).
CORE_REGIMES = ("act-nonfuseable", "shared-domain-mismatch", "clamp-inside-range")
#: The core's regime on targets with int16 activations: a conv or linear with bias whose int16
#: activations need an int48 bias (the mission's third regime, seed 001). Counting it reached is
#: not enough: every int16 conv with bias reaches it, and the three bugs of it that executorch
#: fixed hide around the conv (a TABLE op feeding it, its groups, an add after it).
INT16_CORE_REGIME = "int16-int48-bias"
#: Regimes and configurations about quantized weights: only ops with weights reach them.
WEIGHT_REGIMES = ("weight-zero-channel", "weight-channel-spread", "int16-int48-bias",
                  "config-per-tensor-weights", "config-a8w4")
#: Activation configurations: every computing (non-movement) node is under them.
CONFIG_ACT_REGIMES = ("config-act-qmin-127", "config-act-qmin-128", "config-a16w8")


def cell(regime: str, family: str) -> str:
    return f"{regime}{SEP}{family}"


def split(focus: str | None) -> tuple[str | None, str | None]:
    """(regime, family) of a focus: a plain regime has no family, None has neither."""
    if not focus:
        return None, None
    regime, _, family = focus.partition(SEP)
    return regime, family or None


def family_ops(family: str) -> list[str]:
    """Registry ops of ``family`` that compute a tensor of their own (not the fuseable
    activations, which count as their producer), in registry order."""
    return [name for name, op in all_ops().items() if op.family == family and name not in FUSEABLE]


def family_at(nodes: Mapping[str, Any], key: str) -> str:
    """Family of the op that computes tensor ``key`` (a case node id or graph input name) in
    a case whose nodes are ``nodes`` (id -> Node)."""
    while key in nodes and nodes[key].op in FUSEABLE:  # a case is a DAG: this walks up and ends
        key = nodes[key].inputs[0]
    return get_op(nodes[key].op).family if key in nodes else INPUT


def _families(ops: list[str]) -> list[str]:
    return sorted({get_op(o).family for o in ops})


def families_for(regime: str) -> list[str]:
    """Families that can reach ``regime``, as the observer names them: weight regimes the
    families with weights, activation configurations the computing ones, the rest (an
    activation's or a cat's operand, one quantized tensor) any family or a graph input."""
    if regime == "int16-int48-bias":
        return [CORE_FAMILY]  # the observer checks conv2d and linear
    if regime in WEIGHT_REGIMES:
        return _families([n for n, op in all_ops().items() if op.has_weights])
    if regime in CONFIG_ACT_REGIMES:
        return _families([n for n in all_ops() if n not in MOVEMENT_OPS and n not in FUSEABLE])
    return producer_families()


@cache
def reachable_cells(target: str) -> tuple[str, ...]:
    """Every cell a case on ``target`` may reach: its regimes times their families."""
    return tuple(cell(r, f) for r in applicable_regimes(target) for f in families_for(r))


def core_cells(target: str) -> list[str]:
    """The core's cells on ``target``: conv-family ops in the non-fuseable and shared-domain
    regimes, and in the int48-bias regime where the target has int16 activations."""
    return [cell(r, CORE_FAMILY) for r in (*CORE_REGIMES, INT16_CORE_REGIME) if r in applicable_regimes(target)]


def producer_families() -> list[str]:
    """Every family that computes a tensor of its own, and a graph input: what may feed an op."""
    return sorted({op.family for n, op in all_ops().items() if n not in FUSEABLE} | {INPUT})

