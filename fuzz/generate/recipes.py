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

from fuzz.core.errors import CaseError

#: PyTorch-like small weights; the seed report used uniform(-0.1, 0.1).
DEFAULT_WEIGHTS = {"kind": "uniform", "low": -0.1, "high": 0.1}
#: torch.rand: what most hand-written repros calibrate with.
DEFAULT_CALIBRATION = {"kind": "uniform", "low": 0.0, "high": 1.0}

#: kind -> names of its float params.
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "uniform": ("low", "high"),  # also shifted and one-sided ranges
    "normal": ("mean", "std"),
    "constant": ("value",),  # value 0 is the all-zero tensor
    "sparse": ("density", "low", "high"),  # zeros except a `density` fraction drawn uniform
    "heavy_tailed": ("scale", "clip"),  # Cauchy-like ratio of normals, clipped to +-clip
    "spikes": ("low", "high", "spike", "density"),  # uniform with rare +-spike outliers
}
#: Per-output-channel modifiers a weight recipe may carry (channel axis 0).
WEIGHT_MODIFIERS = ("zero_channels", "tiny_channels", "huge_channels", "spread", "negative")
#: Factors for tiny and huge channels: far enough to move per-channel scales by decades.
TINY_FACTOR, HUGE_FACTOR = 1e-4, 100.0


def derive_seed(seed: int, *parts: str | int) -> int:
    """A stable 31-bit seed for one tensor, independent of every other tensor's seed."""
    text = "/".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") & 0x7FFFFFFF


def make_tensor(shape: list[int] | tuple[int, ...], recipe: dict[str, Any], seed: int) -> torch.Tensor:
    """Draw one tensor from a recipe with its own generator, then apply channel modifiers."""
    g = torch.Generator().manual_seed(seed)
    kind = recipe["kind"]

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(shape, generator=g) * (high - low) + low

    if kind == "uniform":
        t = uniform(recipe["low"], recipe["high"])
    elif kind == "normal":
        t = torch.randn(shape, generator=g) * recipe["std"] + recipe["mean"]
    elif kind == "constant":
        t = torch.full(shape, float(recipe["value"]))
    elif kind == "sparse":
        keep = torch.rand(shape, generator=g) < recipe["density"]
        t = torch.where(keep, uniform(recipe["low"], recipe["high"]), torch.zeros(shape))
    elif kind == "heavy_tailed":
        ratio = torch.randn(shape, generator=g) / torch.randn(shape, generator=g).abs().clamp_min(1e-3)
        t = (ratio * recipe["scale"]).clamp(-recipe["clip"], recipe["clip"])
    elif kind == "spikes":
        t = uniform(recipe["low"], recipe["high"])
        hit = torch.rand(shape, generator=g) < recipe["density"]
        sign = torch.where(torch.rand(shape, generator=g) < 0.5, -1.0, 1.0)
        t = torch.where(hit, sign * recipe["spike"], t)
    else:
        raise ValueError(f"unknown distribution kind {kind!r}")
    return apply_channel_modifiers(t, recipe)


def apply_channel_modifiers(t: torch.Tensor, recipe: dict[str, Any]) -> torch.Tensor:
    """Scale whole output channels (axis 0): the per-channel weight regimes."""
    if recipe.get("negative"):
        t = -t.abs()
    channels = t.shape[0] if t.dim() else 1
    if recipe.get("spread") and channels > 1:
        factors = recipe["spread"] ** (torch.arange(channels, dtype=torch.float32) / (channels - 1))
        t = t * factors.reshape(-1, *([1] * (t.dim() - 1)))
    for key, factor in (("zero_channels", 0.0), ("tiny_channels", TINY_FACTOR), ("huge_channels", HUGE_FACTOR)):
        for c in recipe.get(key, []):
            if c < channels:
                t[c] = t[c] * factor
    return t


# -- validation (armfuzz side; not carried into repros) ----------------------------------


def check_recipe(where: str, recipe: Any, weights: bool = False) -> None:
    if not isinstance(recipe, dict) or recipe.get("kind") not in DISTRIBUTIONS:
        raise CaseError(f"{where}recipe must be an object with kind in {sorted(DISTRIBUTIONS)}, got {recipe!r}")
    names = DISTRIBUTIONS[recipe["kind"]]
    allowed = {"kind", *names, *(WEIGHT_MODIFIERS if weights else ())}
    extra = sorted(set(recipe) - allowed)
    if extra:
        raise CaseError(f"{where}recipe kind {recipe['kind']!r} has no field(s) {extra}; it takes {sorted(allowed - {'kind'})}")
    _check_modifiers(where, recipe)
    for n in names:
        v = recipe.get(n)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or abs(v) > 1e6:
            raise CaseError(f"{where}recipe field {n!r} must be a finite number within 1e6, got {v!r}")
    if recipe["kind"] == "uniform" and not recipe["low"] <= recipe["high"]:
        raise CaseError(f"{where}uniform recipe needs low <= high, got {recipe}")
    if recipe["kind"] == "normal" and recipe["std"] < 0:
        raise CaseError(f"{where}normal recipe needs std >= 0, got {recipe}")
    if recipe["kind"] in ("sparse", "spikes") and not 0 <= recipe["density"] <= 1:
        raise CaseError(f"{where}density must be in [0, 1], got {recipe['density']}")
    if recipe["kind"] in ("sparse", "spikes") and not recipe["low"] <= recipe["high"]:
        raise CaseError(f"{where}recipe needs low <= high, got {recipe}")


def _check_modifiers(where: str, recipe: dict[str, Any]) -> None:
    for key in ("zero_channels", "tiny_channels", "huge_channels"):
        v = recipe.get(key, [])
        if not isinstance(v, list) or any(isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < 4096 for c in v):
            raise CaseError(f"{where}{key} must be a list of channel indices, got {v!r}")
    spread = recipe.get("spread", 1.0)
    if isinstance(spread, bool) or not isinstance(spread, (int, float)) or not 1e-6 <= spread <= 1e6:
        raise CaseError(f"{where}spread must be a number in [1e-6, 1e6], got {spread!r}")
    if not isinstance(recipe.get("negative", False), bool):
        raise CaseError(f"{where}negative must be true or false")


def check_weights(where: str, weights: Any, weighted_nodes: set[str]) -> None:
    if not isinstance(weights, dict) or set(weights) - {"default", "nodes"}:
        raise CaseError(f"{where}weights must be an object with 'default' and 'nodes'")
    check_recipe(f"{where}weights.default: ", weights.get("default"), weights=True)
    per_node = weights.get("nodes", {})
    if not isinstance(per_node, dict):
        raise CaseError(f"{where}weights.nodes must be an object")
    for nid, recipe in per_node.items():
        if nid not in weighted_nodes:
            raise CaseError(f"{where}weights.nodes names {nid!r}, which is not a node with weights")
        check_recipe(f"{where}weights.nodes.{nid}: ", recipe, weights=True)


def check_calibration(where: str, calib: Any, input_names: list[str]) -> None:
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
        # One recipe for every sample, or a list: sample s uses entry s mod len.
        per_sample = recipe if isinstance(recipe, list) else [recipe]
        if not per_sample or len(per_sample) > 64:
            raise CaseError(f"{where}calibration.inputs.{name}: a recipe list needs 1 to 64 entries")
        for i, r in enumerate(per_sample):
            check_recipe(f"{where}calibration.inputs.{name}[{i}]: " if isinstance(recipe, list) else f"{where}calibration.inputs.{name}: ", r)


def weight_recipe(weights: dict[str, Any], node_id: str) -> dict[str, Any]:
    return weights.get("nodes", {}).get(node_id, weights["default"])


def calibration_recipe(calib: dict[str, Any], input_name: str, sample: int = 0) -> dict[str, Any]:
    recipe = calib.get("inputs", {}).get(input_name, DEFAULT_CALIBRATION)
    return recipe[sample % len(recipe)] if isinstance(recipe, list) else recipe
