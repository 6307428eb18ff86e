"""Activations: the ops whose output qparams decide whether they fuse into a conv/linear.

A relu/relu6/hardtanh/clamp fuses into its producer only when its output zero-point equals
qmin (seed 000); these ops are where non-fuseable regimes are made.
"""

from __future__ import annotations

import random
from typing import Any

from fuzz.core.errors import CaseError
from fuzz.generate.ops.base import Shape, UnaryElementwise, register, want_float

#: Activations that fuse into their producer only when their output zp == qmin (seed 000).
FUSEABLE = ("relu", "relu6", "hardtanh", "clamp")
_M = "self.{attr}({x})"


@register
class ReLU(UnaryElementwise):
    name = "relu"
    forms = {
        "module": ("nn.ReLU()", _M),
        "functional": (None, "F.relu({x})"),
        "torch": (None, "torch.relu({x})"),
        "method": (None, "{x}.relu()"),
        "inplace": (None, "F.relu({x}, inplace=True)"),
        "method_inplace": (None, "{x}.relu_()"),
    }
    inplace_spellings = ("inplace", "method_inplace")


@register
class ReLU6(UnaryElementwise):
    name = "relu6"
    forms = {
        "module": ("nn.ReLU6()", _M),
        "functional": (None, "F.relu6({x})"),
        "hardtanh": (None, "F.hardtanh({x}, 0.0, 6.0)"),
        "inplace": (None, "F.relu6({x}, inplace=True)"),
    }
    inplace_spellings = ("inplace",)


@register
class Hardtanh(UnaryElementwise):
    name = "hardtanh"
    param_names = ("min_val", "max_val")
    forms = {
        "module": ("nn.Hardtanh({min_val}, {max_val})", _M),
        "functional": (None, "F.hardtanh({x}, {min_val}, {max_val})"),
        "inplace": (None, "F.hardtanh({x}, {min_val}, {max_val}, inplace=True)"),
    }
    inplace_spellings = ("inplace",)

    def check_params(self, where: str, params: dict[str, Any]) -> None:
        lo, hi = want_float(where, params, "min_val"), want_float(where, params, "max_val")
        if not lo < hi:  # nn.Hardtanh asserts max_val > min_val
            raise CaseError(f"{where}hardtanh needs min_val < max_val, got {lo} and {hi}")

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        lo = rng.choice([-1.0, -0.5, 0.0, 0.0, 0.1, -2.0, round(rng.uniform(-1, 1), 3)])
        return {"min_val": lo, "max_val": lo + rng.choice([0.25, 0.5, 1.0, 2.0, 6.0, 0.01])}


@register
class Clamp(UnaryElementwise):
    """clamp with arbitrary bounds: one-sided, inside the data range, even min > max (legal)."""

    name = "clamp"
    param_names = ("min", "max")
    forms = {
        "torch": (None, "torch.clamp({x}, min={min}, max={max})"),
        "method": (None, "{x}.clamp(min={min}, max={max})"),
        "clip": (None, "torch.clip({x}, {min}, {max})"),
        "inplace": (None, "{x}.clamp_(min={min}, max={max})"),
    }
    inplace_spellings = ("inplace",)

    def check_params(self, where: str, params: dict[str, Any]) -> None:
        lo = want_float(where, params, "min", optional=True)
        hi = want_float(where, params, "max", optional=True)
        if lo is None and hi is None:
            raise CaseError(f"{where}clamp needs at least one of min/max")

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        kind = rng.choice(["both", "both", "min", "max", "inverted"])
        a = round(rng.uniform(-1.0, 0.5), 3)
        b = round(a + rng.choice([0.05, 0.3, 1.0, 3.0]), 3)
        if kind == "min":
            return {"min": a, "max": None}
        if kind == "max":
            return {"min": None, "max": b}
        if kind == "inverted":  # min > max: torch defines every output as max
            return {"min": b, "max": a}
        return {"min": a, "max": b}


@register
class Sigmoid(UnaryElementwise):
    name = "sigmoid"
    forms = {
        "module": ("nn.Sigmoid()", _M),
        "functional": (None, "F.sigmoid({x})"),
        "torch": (None, "torch.sigmoid({x})"),
        "method": (None, "{x}.sigmoid()"),
    }


@register
class Tanh(UnaryElementwise):
    name = "tanh"
    forms = {
        "module": ("nn.Tanh()", _M),
        "functional": (None, "F.tanh({x})"),
        "torch": (None, "torch.tanh({x})"),
        "method": (None, "{x}.tanh()"),
    }
