"""Normalizations and resizing: layer_norm, batch_norm (eval), group_norm, interpolate.

The norms never reach TOSA whole. INT decomposes them before quantization
(transform_for_annotation): layer/group norm into mean, sub, var, add eps, rsqrt (a TABLE in
INT), mul and the affine mul/add (_passes/decompose_layernorm_pass.py,
decompose_groupnorm_pass.py); an eval batch norm into sub/mul/add with constant-folded
running-stat factors (decompose_batch_norm_no_stats.py), or folded into a preceding conv
(fuse_batch_norm2d_pass.py). So every intermediate gets its own quantization domain.

Weights: the norms own ``weight`` and ``bias`` (has_weights), which the armfuzz weight recipes
fill. The recipes always fill ``self.<node>.weight`` (and ``.bias`` unless params["bias"] is
false), so a node without affine parameters (elementwise_affine / affine false) still
constructs its module *with* them, as a holder, and is spelled functionally with
``weight=None, bias=None``: the holder's parameters stay unused (torch.export lifts them as
unused inputs). Module spellings therefore need affine true. Per-channel weight modifiers
see no ``out_channels`` param and so only ever pick channel 0; ``spread`` and ``negative``
act on every channel.
"""

from __future__ import annotations

import math
import random
from typing import Any, ClassVar, Sequence

from fuzz.core.errors import CaseError
from fuzz.generate.ops.base import (
    MAX_DIM,
    OpSpec,
    Shape,
    check_elements,
    kwargs_src,
    numel,
    py,
    register,
    reject_unknown,
    want_bool,
    want_choice,
    want_float,
    want_int,
    want_rank,
)

#: Norm epsilons: torch's default, smaller, and large enough to dominate the variance.
_EPS = (1e-5, 1e-5, 1e-5, 1e-6, 1e-3, 0.1, 1.0)


def want_eps(where: str, params: dict) -> float:
    """eps > 0 keeps a constant input (variance 0) finite; below 1e-6 buys nothing."""
    eps = want_float(where, params, "eps")
    if not 1e-6 <= eps <= 1.0:
        raise CaseError(f"{where}param 'eps' must be in [1e-6, 1], got {eps!r}")
    return eps


class _Norm(OpSpec):
    """Shape-preserving; ``affine_key`` names the affine flag. ``module`` is the only
    spelling that calls the module itself; it needs the affine flag true (see the module
    docstring)."""

    has_weights = True
    affine_key: ClassVar[str] = "affine"
    spelling_requires = {"module": {"affine": True}}

    def spelling_ok(self, spelling: str, params: dict[str, Any]) -> bool:
        return spelling != "module" or params.get(self.affine_key) is True

    def affine_args(self, attr: str, params: dict[str, Any]) -> str:
        """``weight, bias`` arguments of the functional spellings."""
        if params[self.affine_key]:
            return f"self.{attr}.weight, self.{attr}.bias"
        return "None, None"


@register
class LayerNorm(_Norm):
    """layer_norm over the last ``num_dims`` (1-3) dims: mean/var over those dims, rsqrt as a
    TABLE in INT, affine mul/add with the weights viewed to the input rank
    (decompose_layernorm_pass.py); FP lists native_layer_norm, INT decomposes it first.
    ``bias`` false is nn.LayerNorm(bias=False) / F.layer_norm(bias=None); it needs
    elementwise_affine (without it torch has no bias either)."""

    name = "layer_norm"
    spellings = ("module", "functional", "torch")
    affine_key = "elementwise_affine"
    spelling_requires = {"module": {"elementwise_affine": True}}
    probe_shapes = ((1, 4, 8, 8), (2, 6, 5))

    def accepts(self, shape: Shape) -> bool:
        return 1 <= len(shape) <= 5

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        reject_unknown(where, params, ("num_dims", "eps", "elementwise_affine", "bias"))
        (shape,) = in_shapes
        want_rank(where, self, shape, (1, 2, 3, 4, 5))
        want_int(where, params, "num_dims", 1, min(3, len(shape)))
        want_eps(where, params)
        affine = want_bool(where, params, "elementwise_affine")
        if want_bool(where, params, "bias") and not affine:
            raise CaseError(f"{where}layer_norm bias=true needs elementwise_affine=true")
        return tuple(shape)

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        def propose() -> dict[str, Any]:
            affine = rng.random() < 0.85
            return {
                "num_dims": min(len(shape), rng.choice([1, 1, 1, 2, 2, 3])),
                "eps": rng.choice(_EPS),
                "elementwise_affine": affine,
                "bias": affine and rng.random() < 0.8,
            }

        return self.first_valid(shape, propose)

    def emit_init(self, params: dict[str, Any], spelling: str, in_shapes: Sequence[Shape]) -> str | None:
        normalized = list(in_shapes[0][-params["num_dims"]:])
        return f"nn.LayerNorm({py(normalized)}, eps={py(params['eps'])}, bias={py(params['bias'])})"

    def emit_call(self, attr: str, args: list[str], params: dict[str, Any], spelling: str) -> str:
        (x,) = args
        if spelling == "module":
            return f"self.{attr}({x})"
        fn = "F.layer_norm" if spelling == "functional" else "torch.layer_norm"
        return f"{fn}({x}, {x}.shape[-{params['num_dims']}:], {self.affine_args(attr, params)}, {py(params['eps'])})"


@register
class BatchNorm2d(_Norm):
    """Eval-mode batch_norm with non-trivial running stats: INT rewrites it to sub/mul/add
    with constant-folded rsqrt(var + eps) factors (decompose_batch_norm_no_stats.py), or
    folds it into a conv producer (fuse_batch_norm2d_pass.py); FP lists
    _native_batch_norm_legit_no_training.

    Running stats: ``running_mean = (rand(C) * 2 - 1) * mean_scale`` and ``running_var =
    rand(C) * (var_high - var_low) + var_low``, drawn from ``torch.Generator().manual_seed(
    stats_seed)`` in the module's constructor expression (var_low 0 with a small eps makes
    a channel's factor 1/sqrt(eps))."""

    name = "batch_norm"
    spellings = ("module", "functional", "torch")
    probe_shapes = ((1, 4, 8, 8), (2, 6, 7, 5))
    _KEYS = ("eps", "affine", "stats_seed", "mean_scale", "var_low", "var_high")

    def accepts(self, shape: Shape) -> bool:
        return len(shape) == 4

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        reject_unknown(where, params, self._KEYS)
        (shape,) = in_shapes
        want_rank(where, self, shape, (4,))
        want_eps(where, params)
        want_bool(where, params, "affine")
        want_int(where, params, "stats_seed", 0, 2**31 - 1)
        mean_scale = want_float(where, params, "mean_scale")
        lo, hi = want_float(where, params, "var_low"), want_float(where, params, "var_high")
        if not 0 <= mean_scale <= 1e3:
            raise CaseError(f"{where}param 'mean_scale' must be in [0, 1000], got {mean_scale}")
        if not 0 <= lo <= hi <= 1e4:
            raise CaseError(f"{where}running variance range needs 0 <= var_low <= var_high <= 1e4, got [{lo}, {hi}]")
        return tuple(shape)

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        lo, hi = rng.choice([(0.5, 2.0), (0.5, 2.0), (0.01, 1.0), (1.0, 1.0), (0.0, 0.1), (1.0, 100.0), (1e-4, 1e-3), (0.0, 4.0)])
        return {
            "eps": rng.choice(_EPS),
            "affine": rng.random() < 0.85,
            "stats_seed": rng.randrange(2**31),
            "mean_scale": rng.choice([0.0, 0.1, 0.5, 1.0, 1.0, 3.0, 10.0]),
            "var_low": lo,
            "var_high": hi,
        }

    def emit_init(self, params: dict[str, Any], spelling: str, in_shapes: Sequence[Shape]) -> str | None:
        c = in_shapes[0][1]
        p = {k: py(params[k]) for k in self._KEYS}
        return (
            f"(bn := nn.BatchNorm2d({c}, eps={p['eps']}), g := torch.Generator().manual_seed({p['stats_seed']}), "
            f"bn.running_mean.copy_((torch.rand({c}, generator=g) * 2 - 1) * {p['mean_scale']}), "
            f"bn.running_var.copy_(torch.rand({c}, generator=g) * ({p['var_high']} - {p['var_low']}) + {p['var_low']}))[0]"
        )

    def emit_call(self, attr: str, args: list[str], params: dict[str, Any], spelling: str) -> str:
        (x,) = args
        stats = f"self.{attr}.running_mean, self.{attr}.running_var"
        eps = py(params["eps"])
        if spelling == "module":
            return f"self.{attr}({x})"
        if spelling == "functional":
            return f"F.batch_norm({x}, {stats}, {self.affine_args(attr, params)}, training=False, eps={eps})"
        return f"torch.batch_norm({x}, {self.affine_args(attr, params)}, {stats}, False, 0.1, {eps}, False)"


@register
class GroupNorm(_Norm):
    """group_norm, num_groups dividing C: the input viewed as [N, G, C/G, HxW], mean/var over
    the last two, rsqrt as a TABLE in INT, weights viewed per group
    (decompose_groupnorm_pass.py); FP lists native_group_norm. Rank 2 and 3 inputs are legal
    (HxW = 1 for rank 2); torch refuses N * C/G * HxW = 1, even in eval."""

    name = "group_norm"
    spellings = ("module", "functional", "torch")
    probe_shapes = ((1, 4, 8, 8), (2, 6, 7, 5))

    def accepts(self, shape: Shape) -> bool:
        return 2 <= len(shape) <= 4

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        reject_unknown(where, params, ("num_groups", "eps", "affine"))
        (shape,) = in_shapes
        want_rank(where, self, shape, (2, 3, 4))
        c = shape[1]
        g = want_int(where, params, "num_groups", 1, c)
        if c % g:
            raise CaseError(f"{where}num_groups={g} must divide the {c} channels")
        if shape[0] * (c // g) * numel(shape[2:]) == 1:  # torch's _verify_batch_size, even in eval
            raise CaseError(f"{where}group_norm of {list(shape)} with num_groups={g} normalizes one value: N * C/num_groups * spatial must exceed 1")
        want_eps(where, params)
        want_bool(where, params, "affine")
        return tuple(shape)

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        c = shape[1]
        divisors = [g for g in range(1, c + 1) if c % g == 0]
        return self.first_valid(shape, lambda: {
            "num_groups": rng.choice(divisors + [1, c]),
            "eps": rng.choice(_EPS),
            "affine": rng.random() < 0.85,
        })

    def emit_init(self, params: dict[str, Any], spelling: str, in_shapes: Sequence[Shape]) -> str | None:
        return f"nn.GroupNorm({py(params['num_groups'])}, {in_shapes[0][1]}, eps={py(params['eps'])})"

    def emit_call(self, attr: str, args: list[str], params: dict[str, Any], spelling: str) -> str:
        (x,) = args
        if spelling == "module":
            return f"self.{attr}({x})"
        fn = "F.group_norm" if spelling == "functional" else "torch.group_norm"
        return f"{fn}({x}, {py(params['num_groups'])}, {self.affine_args(attr, params)}, {py(params['eps'])})"


# -- interpolate ---------------------------------------------------------------------------

_MODES = ("nearest", "bilinear")
#: Scale factors: integer, odd, non-integer (exact binary and not), downscales, identity.
_SCALES = (2, 2, 3, 1.5, 1.5, 2.5, 0.5, 0.75, 1.25, 4, 1, 1.6, 1.3, 0.6, [2, 3], [1.5, 1], [0.5, 2])


@register
class Interpolate(OpSpec):
    """Resize by size or scale_factor, nearest or bilinear (align_corners both ways): TOSA
    RESIZE with scale/offset/border from the sizes, or for nearest with a scale factor from
    the scale itself (_passes/rewrite_upsample.py); the partitioner rejects what RESIZE cannot
    express (operator_support/upsample_support.py). INT and FP.

    Params: ``mode``; exactly one of ``size`` (int or [h, w]) and ``scale_factor`` (number or
    [sh, sw]), the other null; ``align_corners`` a bool for bilinear, null for nearest;
    ``recompute_scale_factor`` a bool with scale_factor (true: torch computes the size and
    exports it instead of the scale), null with size. The upsample_* / Upsampling* aliases
    take no recompute_scale_factor (it must not be true) and fix the mode (and
    align_corners=True for bilinear)."""

    name = "interpolate"
    spellings = ("functional", "module", "upsample", "upsample_nearest", "upsample_bilinear", "module_nearest", "module_bilinear")
    probe_shapes = ((1, 4, 8, 8), (2, 3, 7, 5))
    _KEYS = ("mode", "size", "scale_factor", "align_corners", "recompute_scale_factor")
    spelling_requires = {
        "upsample": {"recompute_scale_factor": "null or false"},
        "upsample_nearest": {"mode": "nearest", "recompute_scale_factor": "null or false"},
        "module_nearest": {"mode": "nearest", "recompute_scale_factor": "null or false"},
        "upsample_bilinear": {"mode": "bilinear", "align_corners": True, "recompute_scale_factor": "null or false"},
        "module_bilinear": {"mode": "bilinear", "align_corners": True, "recompute_scale_factor": "null or false"},
    }

    def spelling_ok(self, spelling: str, params: dict[str, Any]) -> bool:
        need = self.spelling_requires.get(spelling)
        if need is None:
            return True
        if params.get("recompute_scale_factor") is True:
            return False
        return all(params.get(k) == v for k, v in need.items() if k != "recompute_scale_factor")

    def accepts(self, shape: Shape) -> bool:
        return len(shape) == 4

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        reject_unknown(where, params, self._KEYS)
        (shape,) = in_shapes
        want_rank(where, self, shape, (4,))
        mode = want_choice(where, params, "mode", _MODES)
        size, scale = params.get("size"), params.get("scale_factor")
        if (size is None) == (scale is None):
            raise CaseError(f"{where}interpolate needs exactly one of size and scale_factor, got size={size!r} scale_factor={scale!r}")
        if mode == "nearest":
            if params.get("align_corners") is not None:
                raise CaseError(f"{where}param 'align_corners' must be null for mode 'nearest'")
        else:
            want_bool(where, params, "align_corners")
        if size is not None:
            oh, ow = _pair_of(where, "size", size, lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_DIM, f"integers in [1, {MAX_DIM}]")
            if params.get("recompute_scale_factor") is not None:
                raise CaseError(f"{where}param 'recompute_scale_factor' must be null with size")
        else:
            sh, sw = _pair_of(where, "scale_factor", scale, _legal_scale, "numbers in (0, 16]")
            want_bool(where, params, "recompute_scale_factor")
            # torch: floor(input_size * scale), in double precision.
            oh, ow = math.floor(float(shape[2]) * sh), math.floor(float(shape[3]) * sw)
            if not (1 <= oh <= MAX_DIM and 1 <= ow <= MAX_DIM):
                raise CaseError(f"{where}scale_factor {scale!r} on {list(shape[2:])} gives a {oh}x{ow} output; each side must be in [1, {MAX_DIM}]")
        out = (shape[0], shape[1], oh, ow)
        check_elements(where, out)
        return out

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        h, w = shape[2], shape[3]

        def side(n: int) -> int:
            return rng.choice([2 * n, 2 * n, n + 1, 3 * n, max(1, n - 1), max(1, n // 2), n, 1, 2 * n + 1, 13])

        def propose() -> dict[str, Any]:
            mode = rng.choice(_MODES)
            params: dict[str, Any] = {"mode": mode, "size": None, "scale_factor": None,
                                      "align_corners": None if mode == "nearest" else rng.random() < 0.4,
                                      "recompute_scale_factor": None}
            if rng.random() < 0.35:
                sh, sw = side(h), side(w)
                params["size"] = sh if sh == sw and rng.random() < 0.7 else [sh, sw]
            else:
                params["scale_factor"] = rng.choice(_SCALES)
                params["recompute_scale_factor"] = rng.random() < 0.25
            return params

        return self.first_valid(shape, propose)

    def emit_init(self, params: dict[str, Any], spelling: str, in_shapes: Sequence[Shape]) -> str | None:
        if spelling == "module":
            return f"nn.Upsample({kwargs_src(params, self._KEYS)})"
        if spelling == "module_nearest":
            return f"nn.UpsamplingNearest2d({kwargs_src(params, ('size', 'scale_factor'))})"
        if spelling == "module_bilinear":
            return f"nn.UpsamplingBilinear2d({kwargs_src(params, ('size', 'scale_factor'))})"
        return None

    def emit_call(self, attr: str, args: list[str], params: dict[str, Any], spelling: str) -> str:
        (x,) = args
        if spelling.startswith("module"):
            return f"self.{attr}({x})"
        if spelling == "functional":
            return f"F.interpolate({x}, {kwargs_src(params, self._KEYS)})"
        if spelling == "upsample":
            return f"F.upsample({x}, {kwargs_src(params, ('size', 'scale_factor', 'mode', 'align_corners'))})"
        return f"F.{spelling}({x}, {kwargs_src(params, ('size', 'scale_factor'))})"


def _legal_scale(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0 < v <= 16


def _pair_of(where: str, key: str, v: Any, ok, what: str) -> tuple[Any, Any]:
    pair = v if isinstance(v, list) and len(v) == 2 else [v, v]
    if isinstance(v, list) and len(v) != 2 or not all(ok(e) for e in pair):
        raise CaseError(f"{where}param {key!r} must be one or two {what}, got {v!r}")
    return pair[0], pair[1]

