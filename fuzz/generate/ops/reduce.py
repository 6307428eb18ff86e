"""Reductions and adaptive pooling: sum, mean, amax/amin, var over any dims, and
adaptive_avg_pool2d to any output size.

The Arm backend lowers none of these one-to-one. sum becomes one TOSA REDUCE_SUM per dim
(_passes/decompose_sum_pass.py); mean becomes sum * 1/N with the sum's scale multiplied by N
(decompose_meandim_pass.py, rank != 4 reshaped to 4-D first); amax/amin and max/min.dim are
unrolled into one keepdim reduction per dim plus a squeeze (convert_minmax_pass.py); var is
mean/sub/mul/sum/mul (decompose_var_pass.py); adaptive_avg_pool2d becomes slices, avg_pool2d
and cat per output bin (decompose_adaptive_avg_pool2d_pass.py).

Params: ``dim`` is a non-empty list of distinct dims (negative allowed, any order) or None
for every dim; ``keepdim`` is a bool. Reducing every dim needs keepdim=true: armfuzz makes no
0-d tensors (other ops' samplers assume rank >= 1).
"""

from __future__ import annotations

import math
import random
from typing import Any, ClassVar, Sequence

from fuzz.core.errors import CaseError
from fuzz.generate.ops.base import (
    MAX_DIM,
    Shape,
    TemplatedOp,
    check_elements,
    register,
    reject_unknown,
    want_bool,
    want_choice,
    want_pair,
    want_rank,
)

#: Output bins of an adaptive_avg_pool2d that the backend cannot lower as one avg_pool2d
#: (decompose_adaptive_avg_pool2d_pass.py: input % output in {0, 1} and stride 1-3 on both
#: axes); it lowers every bin of the others separately, and 90 bins took 85-120 s.
MAX_ADAPTIVE_BINS = 16
#: Ranks a reduction accepts (generator inputs are rank 2 and 4; views make others).
_RANKS = (1, 2, 3, 4, 5)


def want_dims(where: str, params: dict, shape: Shape) -> list[int]:
    """``params["dim"]`` normalised to sorted non-negative dims; None means every dim."""
    rank = len(shape)
    v = params.get("dim")
    if v is None:
        return list(range(rank))
    if not isinstance(v, list) or not 1 <= len(v) <= rank or any(
        isinstance(d, bool) or not isinstance(d, int) or not -rank <= d < rank for d in v
    ):
        raise CaseError(f"{where}param 'dim' must be null or a list of 1 to {rank} dims in [{-rank}, {rank - 1}], got {v!r}")
    dims = sorted(d % rank for d in v)
    if len(set(dims)) != len(dims):
        raise CaseError(f"{where}param 'dim' names a dim twice: {v!r} on rank {rank}")
    return dims


def reduced_shape(where: str, op_name: str, shape: Shape, dims: list[int], keep: bool) -> Shape:
    out = tuple(1 if i in dims else s for i, s in enumerate(shape)) if keep else tuple(s for i, s in enumerate(shape) if i not in dims)
    if not out:
        raise CaseError(f"{where}{op_name} over every dim of {list(shape)} needs keepdim=true (armfuzz makes no 0-d tensors)")
    return out


def sample_dim(rng: random.Random, rank: int) -> list[int] | None:
    """A dim list (one to three dims at random, sometimes every dim, 30% of them negative,
    sometimes unsorted), or None for every dim."""
    roll = rng.random()
    if roll < 0.1:
        return None
    if roll < 0.2:
        dims = list(range(rank))
    else:
        k = min(rank, rng.choice([1, 1, 1, 2, 2, 3]))
        dims = rng.sample(range(rank), k)
    dims = [d - rank if rng.random() < 0.3 else d for d in dims]  # negative dims are legal
    if rng.random() < 0.6:
        dims.sort()
    return dims


class _Reduction(TemplatedOp):
    """Shared dim/keepdim rule; subclasses add ``extra_keys`` and :meth:`check_extra`.

    Templates see ``{dim}`` (the list as a tuple, or None), ``{dim_all}`` (the list, or ``()``
    for every dim: amax/amin spell "every dim" as an empty tuple) and ``{dim0}`` (the single
    dim of one-dim spellings such as ``torch.max(x, dim)``)."""

    extra_keys: ClassVar[tuple[str, ...]] = ()
    #: Spellings that take exactly one int dim (torch.max(x, dim)).
    single_dim_spellings: ClassVar[tuple[str, ...]] = ()
    probe_shapes = ((1, 4, 8, 8), (2, 6, 5))

    def spelling_ok(self, spelling: str, params: dict[str, Any]) -> bool:
        if spelling in self.single_dim_spellings:
            d = params.get("dim")
            return isinstance(d, list) and len(d) == 1
        return super().spelling_ok(spelling, params)

    def accepts(self, shape: Shape) -> bool:
        return len(shape) in _RANKS

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        reject_unknown(where, params, ("dim", "keepdim", *self.extra_keys))
        (shape,) = in_shapes
        want_rank(where, self, shape, _RANKS)
        dims = want_dims(where, params, shape)
        keep = want_bool(where, params, "keepdim")
        self.check_extra(where, shape, dims, params)
        return reduced_shape(where, self.name, shape, dims, keep)

    def check_extra(self, where: str, shape: Shape, dims: list[int], params: dict[str, Any]) -> None:
        """Validate the subclass's own params (none by default)."""

    def sample_extra(self, rng: random.Random) -> dict[str, Any]:
        return {}

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        rank = len(shape)

        def propose() -> dict[str, Any]:
            dim = sample_dim(rng, rank)
            every = dim is None or len(dim) == rank
            return {"dim": dim, "keepdim": True if every else rng.random() < 0.5, **self.sample_extra(rng)}

        return self.first_valid(shape, propose)

    def derived(self, params: dict[str, Any]) -> dict[str, Any]:
        """Template fields computed from the params (rendered with py() like the params)."""
        dim = params.get("dim")
        return {"dim_all": () if dim is None else dim, "dim0": dim[0] if isinstance(dim, list) and dim else None}

    def _fmt(self, template: str, attr: str, args: list[str], params: dict[str, Any]) -> str:
        return super()._fmt(template, attr, args, {**params, **self.derived(params)})


@register
class Sum(_Reduction):
    """sum over dims: TOSA REDUCE_SUM per dim with an int32 accumulator, the output rescaled
    (decompose_sum_pass.py, op_tosa_reduce_sum.py); INT and FP."""

    name = "sum"
    forms = {
        "torch": (None, "torch.sum({x}, dim={dim}, keepdim={keepdim})"),
        "method": (None, "{x}.sum({dim}, {keepdim})"),
    }


@register
class Mean(_Reduction):
    """mean over any dims (mean_hw is the H, W special case): sum then *1/N, with a rank-4
    reshape for other ranks (decompose_meandim_pass.py); INT and FP."""

    name = "mean"
    forms = {
        "torch": (None, "torch.mean({x}, dim={dim}, keepdim={keepdim})"),
        "method": (None, "{x}.mean({dim}, {keepdim})"),
    }


class _MinMax(_Reduction):
    single_dim_spellings = ("max_dim", "method_max_dim")
    spelling_requires = {s: {"dim": "a one-element list"} for s in single_dim_spellings}


@register
class Amax(_MinMax):
    """amax: one REDUCE_MAX per dim then a squeeze (convert_minmax_pass.py unrolls the list;
    torch.max(x, dim)[0] is rewritten to amax when the indices are unused); INT and FP. None
    (every dim) is spelled dim=(), amax's own "all dims" (on 1.5.1 the pass unrolls an empty
    dim list into no reduction at all: the node becomes its input)."""

    name = "amax"
    forms = {
        "torch": (None, "torch.amax({x}, dim={dim_all}, keepdim={keepdim})"),
        "method": (None, "{x}.amax({dim_all}, {keepdim})"),
        "max_dim": (None, "torch.max({x}, dim={dim0}, keepdim={keepdim})[0]"),
        "method_max_dim": (None, "{x}.max({dim0}, {keepdim}).values"),
    }


@register
class Amin(_MinMax):
    """amin: REDUCE_MIN per dim, as amax (convert_minmax_pass.py); INT and FP."""

    name = "amin"
    forms = {
        "torch": (None, "torch.amin({x}, dim={dim_all}, keepdim={keepdim})"),
        "method": (None, "{x}.amin({dim_all}, {keepdim})"),
        "max_dim": (None, "torch.min({x}, dim={dim0}, keepdim={keepdim})[0]"),
        "method_max_dim": (None, "{x}.min({dim0}, {keepdim}).values"),
    }


@register
class Var(_Reduction):
    """var with correction 0 or 1: mean, sub, mul, sum, mul by 1/(N - correction) before
    quantization (decompose_var_pass.py), so INT quantizes every intermediate; FP also lists
    var.correction / var.dim. The unbiased= spellings export aten.var.dim, the others
    aten.var.correction. The reduced element count must exceed the correction (torch gives
    nan/inf otherwise, and the pass divides by zero)."""

    name = "var"
    extra_keys = ("correction",)
    forms = {
        "torch": (None, "torch.var({x}, dim={dim}, correction={correction}, keepdim={keepdim})"),
        "method": (None, "{x}.var({dim}, correction={correction}, keepdim={keepdim})"),
        "unbiased": (None, "torch.var({x}, {dim}, unbiased={unbiased}, keepdim={keepdim})"),
        "method_unbiased": (None, "{x}.var({dim}, {unbiased}, {keepdim})"),
    }

    def check_extra(self, where: str, shape: Shape, dims: list[int], params: dict[str, Any]) -> None:
        c = want_choice(where, params, "correction", (0, 1))
        n = math.prod(shape[d] for d in dims)
        if n <= c:
            raise CaseError(f"{where}var over dims {params.get('dim')} of {list(shape)} reduces {n} element(s); correction={c} needs more than {c}")

    def sample_extra(self, rng: random.Random) -> dict[str, Any]:
        return {"correction": rng.choice([0, 1])}

    def derived(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**super().derived(params), "unbiased": params.get("correction") == 1}


@register
class AdaptiveAvgPool2d(TemplatedOp):
    """adaptive_avg_pool2d to any size, including non-divisible and larger-than-input ones:
    per-bin slice + avg_pool2d + cat, or one avg_pool2d where every bin has the same size
    (decompose_adaptive_avg_pool2d_pass.py); INT and FP. ``output_size`` is an int or
    [h, w] (no None entries); uneven cases are capped at MAX_ADAPTIVE_BINS bins."""

    name = "adaptive_avg_pool2d"
    forms = {
        "module": ("nn.AdaptiveAvgPool2d({output_size})", "self.{attr}({x})"),
        "functional": (None, "F.adaptive_avg_pool2d({x}, {output_size})"),
    }
    probe_shapes = ((1, 4, 8, 8), (2, 3, 7, 5))

    def accepts(self, shape: Shape) -> bool:
        return len(shape) == 4

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        reject_unknown(where, params, ("output_size",))
        (shape,) = in_shapes
        want_rank(where, self, shape, (4,))
        oh, ow = want_pair(where, params, "output_size", 1, MAX_DIM)
        uniform = all(n % o in (0, 1) and n // o in (1, 2, 3) for n, o in ((shape[2], oh), (shape[3], ow)))
        if not uniform and oh * ow > MAX_ADAPTIVE_BINS:
            raise CaseError(f"{where}adaptive_avg_pool2d {list(shape[2:])} -> {[oh, ow]} has uneven bins: at most "
                            f"{MAX_ADAPTIVE_BINS} output bins (the backend lowers each to its own slices and pool, ~1 s each)")
        out = (shape[0], shape[1], oh, ow)
        check_elements(where, out)
        return out

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        h, w = shape[2], shape[3]

        def size(n: int) -> int:
            # global, divisors, non-divisible (n - 1, odd sizes), identity, larger than n
            return rng.choice([1, 1, 2, 3, 5, 7, n, max(1, n - 1), max(1, n // 2), max(1, (n + 1) // 2), n + 1, 2 * n])

        def propose() -> dict[str, Any]:
            oh, ow = size(h), size(w)
            return {"output_size": oh if oh == ow and rng.random() < 0.7 else [oh, ow]}

        return self.first_valid(shape, propose)
