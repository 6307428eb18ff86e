"""Recipes: seeded tensor distributions for weights and calibration data.

Each tensor gets its own generator seeded from (case seed, role, name), so removing a node
or an input leaves every other tensor bit-identical -- the reducer depends on that. The
functions ``make_tensor`` and ``derive_seed`` use only torch and hashlib so a rendered repro
can carry them verbatim.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import torch

#: PyTorch-like small weights; the seed report used uniform(-0.1, 0.1).
DEFAULT_WEIGHTS = {"kind": "uniform", "low": -0.1, "high": 0.1}
#: torch.rand: what most hand-written repros calibrate with.
DEFAULT_CALIBRATION = {"kind": "uniform", "low": 0.0, "high": 1.0}

#: kind -> names of its float params.
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "uniform": ("low", "high"),
    "normal": ("mean", "std"),
    "constant": ("value",),
}


def derive_seed(seed: int, *parts: str | int) -> int:
    """A stable 31-bit seed for one tensor, independent of every other tensor's seed."""
    text = "/".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") & 0x7FFFFFFF


def make_tensor(shape: list[int] | tuple[int, ...], recipe: dict[str, Any], seed: int) -> torch.Tensor:
    """Draw one tensor from a recipe with its own generator."""
    g = torch.Generator().manual_seed(seed)
    kind = recipe["kind"]
    if kind == "uniform":
        return torch.rand(shape, generator=g) * (recipe["high"] - recipe["low"]) + recipe["low"]
    if kind == "normal":
        return torch.randn(shape, generator=g) * recipe["std"] + recipe["mean"]
    if kind == "constant":
        return torch.full(shape, float(recipe["value"]))
    raise ValueError(f"unknown distribution kind {kind!r}")


# -- validation (armfuzz side; not carried into repros) ----------------------------------


def check_recipe(where: str, recipe: Any) -> None:
    from fuzz.errors import CaseError

    if not isinstance(recipe, dict) or recipe.get("kind") not in DISTRIBUTIONS:
        raise CaseError(f"{where}recipe must be an object with kind in {sorted(DISTRIBUTIONS)}, got {recipe!r}")
    names = DISTRIBUTIONS[recipe["kind"]]
    extra = sorted(set(recipe) - {"kind", *names})
    if extra:
        raise CaseError(f"{where}recipe kind {recipe['kind']!r} has no field(s) {extra}; it takes {list(names)}")
    for n in names:
        v = recipe.get(n)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or abs(v) > 1e6:
            raise CaseError(f"{where}recipe field {n!r} must be a finite number within 1e6, got {v!r}")
    if recipe["kind"] == "uniform" and not recipe["low"] <= recipe["high"]:
        raise CaseError(f"{where}uniform recipe needs low <= high, got {recipe}")
    if recipe["kind"] == "normal" and recipe["std"] < 0:
        raise CaseError(f"{where}normal recipe needs std >= 0, got {recipe}")


def check_weights(where: str, weights: Any, weighted_nodes: set[str]) -> None:
    from fuzz.errors import CaseError

    if not isinstance(weights, dict) or set(weights) - {"default", "nodes"}:
        raise CaseError(f"{where}weights must be an object with 'default' and 'nodes'")
    check_recipe(f"{where}weights.default: ", weights.get("default"))
    per_node = weights.get("nodes", {})
    if not isinstance(per_node, dict):
        raise CaseError(f"{where}weights.nodes must be an object")
    for nid, recipe in per_node.items():
        if nid not in weighted_nodes:
            raise CaseError(f"{where}weights.nodes names {nid!r}, which is not a node with weights")
        check_recipe(f"{where}weights.nodes.{nid}: ", recipe)


def check_calibration(where: str, calib: Any, input_names: list[str]) -> None:
    from fuzz.errors import CaseError

    if not isinstance(calib, dict) or set(calib) - {"samples", "inputs"}:
        raise CaseError(f"{where}calibration must be an object with 'samples' and 'inputs'")
    n = calib.get("samples", 1)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 64:
        raise CaseError(f"{where}calibration.samples must be an integer in [1, 64], got {n!r}")
    per_input = calib.get("inputs", {})
    if not isinstance(per_input, dict):
        raise CaseError(f"{where}calibration.inputs must be an object")
    for name, recipe in per_input.items():
        if name not in input_names:
            raise CaseError(f"{where}calibration.inputs names {name!r}, which is not a graph input")
        check_recipe(f"{where}calibration.inputs.{name}: ", recipe)


def weight_recipe(weights: dict[str, Any], node_id: str) -> dict[str, Any]:
    return weights.get("nodes", {}).get(node_id, weights["default"])


def calibration_recipe(calib: dict[str, Any], input_name: str) -> dict[str, Any]:
    return calib.get("inputs", {}).get(input_name, DEFAULT_CALIBRATION)
