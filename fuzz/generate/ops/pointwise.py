"""Pointwise ops beyond the fuseable activations: table ops (INT lowers them to a TOSA TABLE
built from the input/output qparams), decomposed activations, sub/minimum/maximum, a
comparison feeding where, and softmax / log_softmax.

Only ops defined for every real input live here: exp, log, sqrt, rsqrt, reciprocal, div and
pow are left out (calibration data hold negatives, zeros and spikes up to 1000).

Params that torch defaults (negative_slope, alpha, approximate, sub's alpha) may be absent:
the emitted source then spells torch's default value.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar, Sequence

from fuzz.core.errors import CaseError
from fuzz.generate.ops.base import (
    Sampled,
    Shape,
    TemplatedOp,
    UnaryElementwise,
    register,
    reject_unknown,
    want_choice,
    want_float,
    want_int,
)
from fuzz.generate.ops.tensor import Binary, broadcast

_M = "self.{attr}({x})"


def _opt_float(where: str, params: dict[str, Any], key: str) -> None:
    """A param torch defaults: absent, or a finite number (an explicit null is not legal)."""
    if key in params:
        want_float(where, params, key)


class _Defaults(TemplatedOp):
    """Fills torch's default for a param the case leaves out, so templates can name it."""

    defaults: ClassVar[dict[str, Any]] = {}

    def _fmt(self, template: str, attr: str, args: list[str], params: dict[str, Any]) -> str:
        return super()._fmt(template, attr, args, {**self.defaults, **params})


# -- unary -------------------------------------------------------------------------------


@register
class Abs(UnaryElementwise):
    """abs: INT lowers it to TOSA ABS on the rescaled int32 input (operators/op_tosa_abs.py)."""

    name = "abs"
    forms = {
        "torch": (None, "torch.abs({x})"),
        "method": (None, "{x}.abs()"),
        "builtin": (None, "abs({x})"),
        "absolute": (None, "torch.absolute({x})"),
        "method_absolute": (None, "{x}.absolute()"),
        "inplace": (None, "{x}.abs_()"),
        "inplace_absolute": (None, "{x}.absolute_()"),
    }
    inplace_spellings = ("inplace", "inplace_absolute")


@register
class Neg(UnaryElementwise):
    """neg: the quantizer forces the output to share the input's qparams (a flipped range with
    the same zero-point), lowered by operators/op_tosa_neg.py."""

    name = "neg"
    forms = {
        "operator": (None, "-{x}"),
        "torch": (None, "torch.neg({x})"),
        "method": (None, "{x}.neg()"),
        "negative": (None, "torch.negative({x})"),
        "method_negative": (None, "{x}.negative()"),
        "inplace": (None, "{x}.neg_()"),
        "inplace_negative": (None, "{x}.negative_()"),
    }
    inplace_spellings = ("inplace", "inplace_negative")


@register
class Gelu(_Defaults, UnaryElementwise):
    """gelu, exact (erf) or tanh-approximated: a TABLE op in INT, decomposed for FP by
    _passes/decompose_gelu_pass.py."""

    name = "gelu"
    param_names = ("approximate",)
    defaults = {"approximate": "none"}
    forms = {
        "module": ("nn.GELU(approximate={approximate})", _M),
        "functional": (None, "F.gelu({x}, approximate={approximate})"),
    }

    def check_params(self, where: str, params: dict[str, Any]) -> None:
        if "approximate" in params:
            want_choice(where, params, "approximate", ("none", "tanh"))

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        return {"approximate": rng.choice(["none", "tanh"])}


@register
class Silu(UnaryElementwise):
    """silu: INT keeps aten.silu whole (a TABLE op); FP sees it decomposed to sigmoid * x."""

    name = "silu"
    forms = {
        "module": ("nn.SiLU()", _M),
        "functional": (None, "F.silu({x})"),
        "inplace": (None, "F.silu({x}, inplace=True)"),
        "module_inplace": ("nn.SiLU(inplace=True)", _M),
    }
    inplace_spellings = ("inplace", "module_inplace")


@register
class Hardswish(UnaryElementwise):
    """hardswish: a TABLE op in INT; FP decomposes it into clamp/mul/div."""

    name = "hardswish"
    forms = {
        "module": ("nn.Hardswish()", _M),
        "functional": (None, "F.hardswish({x})"),
        "inplace": (None, "F.hardswish({x}, inplace=True)"),
        "module_inplace": ("nn.Hardswish(inplace=True)", _M),
    }
    inplace_spellings = ("inplace", "module_inplace")


@register
class Hardsigmoid(UnaryElementwise):
    """hardsigmoid: a TABLE op in INT with a [0, 1] output range; FP decomposes it."""

    name = "hardsigmoid"
    forms = {
        "module": ("nn.Hardsigmoid()", _M),
        "functional": (None, "F.hardsigmoid({x})"),
        "inplace": (None, "F.hardsigmoid({x}, inplace=True)"),
        "module_inplace": ("nn.Hardsigmoid(inplace=True)", _M),
    }
    inplace_spellings = ("inplace", "module_inplace")


@register
class LeakyReLU(_Defaults, UnaryElementwise):
    """leaky_relu with any slope (0, tiny, ~1, negative, > 1): decomposed into
    clamp/mul/add by _passes/decompose_leaky_relu_pass.py (or a TABLE, by config)."""

    name = "leaky_relu"
    param_names = ("negative_slope",)
    defaults = {"negative_slope": 0.01}
    forms = {
        "module": ("nn.LeakyReLU({negative_slope})", _M),
        "functional": (None, "F.leaky_relu({x}, {negative_slope})"),
        "inplace": (None, "F.leaky_relu({x}, {negative_slope}, inplace=True)"),
        "functional_inplace": (None, "F.leaky_relu_({x}, {negative_slope})"),
        "module_inplace": ("nn.LeakyReLU({negative_slope}, inplace=True)", _M),
    }
    inplace_spellings = ("inplace", "functional_inplace", "module_inplace")

    def check_params(self, where: str, params: dict[str, Any]) -> None:
        _opt_float(where, params, "negative_slope")

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        slope = rng.choice([0.01, 0.01, 0.1, 0.2, 0.0, 1e-4, 1.0, 0.999, 1.001, -0.1, -1.0, 1.5, 5.0,
                            round(rng.uniform(-2.0, 2.0), 3)])
        return {"negative_slope": slope}


@register
class Elu(_Defaults, UnaryElementwise):
    """elu with any alpha (0, negative, large): a TABLE op in INT (_passes/convert_elu_params.py),
    decomposed to where/expm1 for FP (_passes/decompose_elu_pass.py); celu(alpha=1) == elu."""

    name = "elu"
    param_names = ("alpha",)
    defaults = {"alpha": 1.0}
    forms = {
        "module": ("nn.ELU(alpha={alpha})", _M),
        "functional": (None, "F.elu({x}, alpha={alpha})"),
        "celu": (None, "F.celu({x}, alpha={alpha})"),
        "inplace": (None, "F.elu({x}, {alpha}, inplace=True)"),
        "functional_inplace": (None, "F.elu_({x}, {alpha})"),
        "module_inplace": ("nn.ELU({alpha}, inplace=True)", _M),
    }
    inplace_spellings = ("inplace", "functional_inplace", "module_inplace")
    spelling_requires = {"celu": {"alpha": 1.0}}  # celu scales its input by 1/alpha

    def spelling_ok(self, spelling: str, params: dict[str, Any]) -> bool:
        return spelling != "celu" or params.get("alpha", 1.0) == 1.0

    def check_params(self, where: str, params: dict[str, Any]) -> None:
        _opt_float(where, params, "alpha")

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        alpha = rng.choice([1.0, 1.0, 1.0, 0.5, 0.1, 2.0, 0.0, -0.5, 1e-3, 10.0, round(rng.uniform(-2.0, 3.0), 3)])
        return {"alpha": alpha}


@register
class Erf(UnaryElementwise):
    """erf: a TABLE op in INT, TOSA ERF in FP (operators/op_tosa_erf.py)."""

    name = "erf"
    forms = {
        "torch": (None, "torch.erf({x})"),
        "method": (None, "{x}.erf()"),
        "special": (None, "torch.special.erf({x})"),
        "inplace": (None, "{x}.erf_()"),
    }
    inplace_spellings = ("inplace",)


@register
class Sin(UnaryElementwise):
    """sin: a TABLE op in INT (periodic: spikes fold many periods into one int8 table), TOSA
    SIN in FP (operators/op_tosa_sin.py)."""

    name = "sin"
    forms = {
        "torch": (None, "torch.sin({x})"),
        "method": (None, "{x}.sin()"),
        "inplace": (None, "{x}.sin_()"),
    }
    inplace_spellings = ("inplace",)


@register
class Cos(UnaryElementwise):
    """cos: a TABLE op in INT, TOSA COS in FP (operators/op_tosa_cos.py)."""

    name = "cos"
    forms = {
        "torch": (None, "torch.cos({x})"),
        "method": (None, "{x}.cos()"),
        "inplace": (None, "{x}.cos_()"),
    }
    inplace_spellings = ("inplace",)


# -- binary ------------------------------------------------------------------------------


def _pick_spelling(op: TemplatedOp, rng: random.Random, params: dict[str, Any], x: Shape, y: Shape) -> str:
    """A spelling legal for params; in place only when the first input keeps its shape."""
    out = broadcast("", x, y)
    ok = [s for s in op.spellings if op.spelling_ok(s, params) and (s not in op.inplace_spellings or out == x)]
    return rng.choice(ok)


@register
class Sub(_Defaults, Binary):
    """sub, optionally with alpha (x - alpha*y): INT rescales both inputs to a common scale
    (operators/op_tosa_sub.py); alpha != 1 goes through _passes/decompose_add_sub_alpha_pass.py;
    rsub(y, x) is the reversed aten spelling."""

    name = "sub"
    defaults = {"alpha": 1}
    forms = {
        "operator": (None, "{x} - {y}"),
        "torch": (None, "torch.sub({x}, {y}, alpha={alpha})"),
        "method": (None, "{x}.sub({y}, alpha={alpha})"),
        "subtract": (None, "torch.subtract({x}, {y}, alpha={alpha})"),
        "method_subtract": (None, "{x}.subtract({y}, alpha={alpha})"),
        "rsub": (None, "torch.rsub({y}, {x}, alpha={alpha})"),
        "inplace": (None, "{x}.sub_({y}, alpha={alpha})"),
        "inplace_subtract": (None, "{x}.subtract_({y}, alpha={alpha})"),
    }
    inplace_spellings = ("inplace", "inplace_subtract")

    def spelling_ok(self, spelling: str, params: dict[str, Any]) -> bool:
        # The operator cannot carry alpha.
        return spelling != "operator" or params.get("alpha", 1) == 1

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        reject_unknown(where, params, ("alpha",))
        _opt_float(where, params, "alpha")
        return broadcast(where, in_shapes[0], in_shapes[1])

    def sample(self, rng: random.Random, avail: dict[str, Shape]) -> Sampled | None:
        s = super().sample(rng, avail)
        if s is None:
            return None
        params: dict[str, Any] = {}
        if rng.random() < 0.35:
            params["alpha"] = rng.choice([2, -1, 0.5, 0.0, 0.1, -2.5, 1, 1.0, 3])
        x, y = (avail[n] for n in s.inputs)
        return Sampled(s.inputs, params, _pick_spelling(self, rng, params, x, y))


@register
class Minimum(Binary):
    """minimum: TOSA MINIMUM on both inputs rescaled to one scale (_passes/convert_minmax_pass.py,
    operators/op_tosa_minimum.py). The clamp spelling exports aten.clamp.Tensor instead, whose
    quantizer annotation shares the first input's qparams with the output. torch.fmin is left
    out: it exports aten.fmin, which no Arm profile lowers."""

    name = "minimum"
    forms = {
        "torch": (None, "torch.minimum({x}, {y})"),
        "method": (None, "{x}.minimum({y})"),
        "torch_min": (None, "torch.min({x}, {y})"),
        "method_min": (None, "{x}.min({y})"),
        "clamp": (None, "torch.clamp({x}, max={y})"),
    }


@register
class Maximum(Binary):
    """maximum: TOSA MAXIMUM (operators/op_tosa_maximum.py); see minimum for the clamp spelling
    and why torch.fmax is left out."""

    name = "maximum"
    forms = {
        "torch": (None, "torch.maximum({x}, {y})"),
        "method": (None, "{x}.maximum({y})"),
        "torch_max": (None, "torch.max({x}, {y})"),
        "method_max": (None, "{x}.max({y})"),
        "clamp": (None, "torch.clamp({x}, min={y})"),
    }


#: cmp -> (operator, its complement, operator with operands swapped, complement with operands
#: swapped, torch alias). Every order cmp thus reaches all four of gt/ge/lt/le.
_CMP = {
    "gt": (">", "<=", "<", ">=", "greater"),
    "ge": (">=", "<", "<=", ">", "greater_equal"),
    "lt": ("<", ">=", ">", "<=", "less"),
    "le": ("<=", ">", ">=", "<", "less_equal"),
    "eq": ("==", "!=", "==", "!=", "eq"),
    "ne": ("!=", "==", "!=", "==", "not_equal"),
}


@register
class Where(Binary):
    """torch.where(cmp(x, y), x, y): a comparison (quantized with both inputs sharing qparams;
    le/lt rewritten to ge/gt, ne to not(eq)) feeding where.self, whose x, y and output share
    one qspec (operators/op_where.py, operator_support/where_support.py)."""

    name = "where"
    forms = {
        "operator": (None, "torch.where({x} {sym} {y}, {x}, {y})"),
        "torch_cmp": (None, "torch.where(torch.{fn}({x}, {y}), {x}, {y})"),
        "torch_alias": (None, "torch.where(torch.{alias}({x}, {y}), {x}, {y})"),
        "method_cmp": (None, "torch.where({x}.{fn}({y}), {x}, {y})"),
        # Tensor.where(cond, other) is where(cond, self, other): the condition comes first.
        "tensor_where": (None, "{x}.where({x} {sym} {y}, {y})"),
        # Same values through the complementary comparison and swapped branches.
        "complement": (None, "torch.where({x} {csym} {y}, {y}, {x})"),
        # Same comparison with its operands swapped (y < x for x > y).
        "swapped": (None, "torch.where({y} {rsym} {x}, {x}, {y})"),
        # Both: y >= x picks y, i.e. x > y picks x.
        "swapped_complement": (None, "torch.where({y} {rcsym} {x}, {y}, {x})"),
    }

    def _fmt(self, template: str, attr: str, args: list[str], params: dict[str, Any]) -> str:
        cmp = want_choice("", params, "cmp", tuple(_CMP))
        sym, csym, rsym, rcsym, alias = _CMP[cmp]
        text = template.replace("{sym}", sym).replace("{csym}", csym).replace("{rsym}", rsym).replace("{rcsym}", rcsym)
        text = text.replace("{fn}", cmp).replace("{alias}", alias)
        return super()._fmt(text, attr, args, params)

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        reject_unknown(where, params, ("cmp",))
        want_choice(where, params, "cmp", tuple(_CMP))
        return broadcast(where, in_shapes[0], in_shapes[1])

    def sample(self, rng: random.Random, avail: dict[str, Shape]) -> Sampled | None:
        s = super().sample(rng, avail)
        if s is None:
            return None
        # Half equality tests: quantized inputs sharing one qspec make ties common.
        cmp = rng.choice(["eq", "ne"] if rng.random() < 0.5 else ["gt", "ge", "lt", "le"])
        return Sampled(s.inputs, {"cmp": cmp}, s.spelling)


# -- softmax -----------------------------------------------------------------------------


class _Softmax(TemplatedOp):
    """Shared shape rule and sampler: one legal dim (negative too) of a rank >= 1 input."""

    def accepts(self, shape: Shape) -> bool:
        return len(shape) >= 1

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        reject_unknown(where, params, ("dim",))
        (shape,) = in_shapes
        rank = len(shape)
        if rank < 1:
            raise CaseError(f"{where}{self.name} needs an input of rank >= 1, got shape {list(shape)}")
        want_int(where, params, "dim", -rank, rank - 1)
        return tuple(shape)

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        rank = len(shape)
        ones = [d for d in range(rank) if shape[d] == 1]
        pool = [rank - 1, rank - 1, rank - 1, min(1, rank - 1), *range(rank)]
        d = rng.choice(ones) if ones and rng.random() < 0.15 else rng.choice(pool)
        if rng.random() < 0.4:
            d -= rank  # negative dims are legal too
        return self.first_valid(shape, lambda: {"dim": d})


@register
class Softmax(_Softmax):
    """softmax: decomposed by _passes/decompose_softmax_pass.py into amax/sub/exp/sum/
    reciprocal/mul before quantization (INT) or after partitioning (FP); a size-1 dim gives a
    constant 1 output."""

    name = "softmax"
    forms = {
        "module": ("nn.Softmax(dim={dim})", _M),
        "functional": (None, "F.softmax({x}, dim={dim})"),
        "torch": (None, "torch.softmax({x}, {dim})"),
        "method": (None, "{x}.softmax({dim})"),
        "special": (None, "torch.special.softmax({x}, {dim})"),
    }


@register
class LogSoftmax(_Softmax):
    """log_softmax: softmax's decomposition followed by log (decompose_softmax_pass.py); the
    output is <= 0 and reaches about -2000 with spikes; a size-1 dim gives constant 0."""

    name = "log_softmax"
    forms = {
        "module": ("nn.LogSoftmax(dim={dim})", _M),
        "functional": (None, "F.log_softmax({x}, dim={dim})"),
        "torch": (None, "torch.log_softmax({x}, {dim})"),
        "method": (None, "{x}.log_softmax({dim})"),
        "special": (None, "torch.special.log_softmax({x}, {dim})"),
    }
