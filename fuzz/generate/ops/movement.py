"""Data movement: permute/transpose, squeeze/unsqueeze, expand/repeat and stack, plus the
helpers the other movement modules share (slicing: slice/select/narrow/split/chunk/index_select;
pad).

These ops move values without computing new ones, so quantization must pass through them
unchanged: the Arm quantizer gives most of them their input's qspec
(``quantizer/quantization_annotator.py`` ``_one_to_one_shared_input_qspec``). They are where
the backend's layout passes (permutes inserted at the delegate's boundary,
``_passes/normalize_delegate_io_layout_pass.py``; view/permute canonicalisation,
``_passes/canonicalize_view_copy_permute_pass.py``) and its rewrites
into TOSA SLICE / TILE / TRANSPOSE / RESHAPE / PAD / CONCAT / GATHER are stressed.

Shapes follow torch exactly, restricted to what every downstream layer can carry: outputs of
rank 1 to 6 (``executorch.backends.arm.constants.MAX_RANK``, the partitioner's ``RankCheck``)
with no zero-size dimension (TOSA has no empty tensors) and at most ``MAX_ELEMENTS`` elements.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar, Sequence

from fuzz.core.errors import CaseError
from fuzz.generate.ops.base import (
    MAX_ELEMENTS,
    Sampled,
    Shape,
    TemplatedOp,
    numel,
    py,
    register,
    reject_unknown,
    want_int,
)

#: Highest tensor rank the TOSA backend partitions (executorch.backends.arm.constants.MAX_RANK).
MAX_RANK = 6
#: Largest magnitude of a slice bound / pad amount a case may hold (bounds beyond a dim clamp).
_MAX_BOUND = 4096
_MAX_PAD = 64

#: Probe inputs of rank 4, 3 and 2 (the generator's ranks plus a rank-3 one for 1-D pads).
_PROBES: tuple[Shape, ...] = ((1, 4, 8, 8), (2, 6, 10), (3, 5))


# -- shared helpers ----------------------------------------------------------------------


def _dim(where: str, params: dict, key: str, rank: int, extra: int = 0) -> int:
    """A dim param in torch's range for a rank ``rank + extra`` result, normalised to >= 0."""
    r = rank + extra
    return want_int(where, params, key, -r, r - 1) % r


def _out(where: str, name: str, out: Sequence[int]) -> Shape:
    """Check an output shape against what armfuzz carries; return it as a tuple."""
    out = tuple(out)
    if not 1 <= len(out) <= MAX_RANK:
        raise CaseError(f"{where}{name} output {list(out)} has rank {len(out)}; armfuzz carries ranks 1 to {MAX_RANK}")
    if any(d < 1 for d in out):
        raise CaseError(f"{where}{name} output {list(out)} would have an empty dimension")
    if numel(out) > MAX_ELEMENTS:
        raise CaseError(f"{where}{name} output {list(out)} exceeds {MAX_ELEMENTS} elements")
    return out


def _int_list(where: str, params: dict, key: str, lo: int, hi: int, min_len: int, max_len: int) -> list[int]:
    v = params.get(key)
    if not isinstance(v, list) or not min_len <= len(v) <= max_len or any(
        isinstance(x, bool) or not isinstance(x, int) or not lo <= x <= hi for x in v
    ):
        raise CaseError(f"{where}param {key!r} must be a list of {min_len}-{max_len} integers in [{lo}, {hi}], got {v!r}")
    return v


def _maybe_neg(rng: random.Random, d: int, rank: int, p: float = 0.3) -> int:
    """``d`` or its negative spelling ``d - rank`` (torch accepts both)."""
    return d - rank if rng.random() < p else d


def _pick_dim(rng: random.Random, shape: Shape, p_trivial: float = 0.1) -> int:
    """A dim to cut along: one longer than 1 unless ``p_trivial`` says otherwise (every
    slice / split / narrow of a size-1 dim is a no-op, which exports to nothing)."""
    long = [i for i, s in enumerate(shape) if s > 1]
    if long and rng.random() >= p_trivial:
        return rng.choice(long)
    return rng.randrange(len(shape))


def _index_src(x: str, dim: int, item: str) -> str:
    """Python indexing applying ``item`` on ``dim``: leading ``:`` for a non-negative dim,
    ``...`` plus trailing ``:`` for a negative one (both are common spellings)."""
    if dim >= 0:
        return f"{x}[{':, ' * dim}{item}]"
    return f"{x}[..., {item}{', :' * (-dim - 1)}]"


def _slice_src(start: Any, end: Any, step: Any) -> str:
    lo = "" if start is None else py(start)
    hi = "" if end is None else py(end)
    return f"{lo}:{hi}" if step == 1 else f"{lo}:{hi}:{py(step)}"


class _Movement(TemplatedOp):
    """TemplatedOp whose templates may also use fields derived from params (``fields``)."""

    probe_shapes = _PROBES

    def fields(self, params: dict[str, Any]) -> dict[str, str]:
        return {}

    def _fmt(self, template: str, attr: str, args: list[str], params: dict[str, Any]) -> str:
        extra = self.fields(params)
        if not extra:
            return super()._fmt(template, attr, args, params)
        # Substitute the derived fields first; they are rendered from validated params.
        return super()._fmt(template.format_map(_Keep(extra)), attr, args, params)


class _Keep(dict):
    """format_map helper: fill the derived fields, leave every other ``{field}`` in place."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


# -- permute / transpose -----------------------------------------------------------------


@register
class Permute(_Movement):
    """permute -> TOSA TRANSPOSE (``operators/op_tosa_transpose.py``); the backend's own
    boundary permutes meet it (``_passes/normalize_delegate_io_layout_pass.py``) and permutes
    that only move size-1 dims become views
    (``_passes/convert_permute_singleton_to_view_pass.py``). ``.T`` exports to aten.numpy_T,
    which the quantizer does not annotate (FP-lowered only)."""

    name = "permute"
    forms = {
        "torch": (None, "torch.permute({x}, {dims})"),
        "method": (None, "{x}.permute({dims})"),
        "method_varargs": (None, "{x}.permute(*{dims})"),
        "copy": (None, "torch.permute_copy({x}, {dims})"),
        "T": (None, "{x}.T"),
        "t": (None, "{x}.t()"),
    }
    # .T / .t() are the rank-2 permutation [1, 0] only (.T on other ranks is deprecated).
    spelling_requires = {"T": {"dims": [1, 0]}, "t": {"dims": [1, 0]}}

    _COMMON: ClassVar[dict[int, list[list[int]]]] = {
        2: [[1, 0]],
        3: [[0, 2, 1], [2, 0, 1], [1, 2, 0], [1, 0, 2], [2, 1, 0]],
        4: [[0, 2, 3, 1], [0, 3, 1, 2], [0, 1, 3, 2], [1, 0, 2, 3], [0, 2, 1, 3], [3, 2, 1, 0], [2, 3, 0, 1]],
        5: [[0, 2, 3, 4, 1], [0, 4, 1, 2, 3], [0, 1, 3, 4, 2]],
    }

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        reject_unknown(where, params, ("dims",))
        (shape,) = in_shapes
        r = len(shape)
        dims = _int_list(where, params, "dims", -r, r - 1, r, r)
        norm = [d % r for d in dims]
        if sorted(norm) != list(range(r)):
            raise CaseError(f"{where}permute dims {dims} are not a permutation of the {r} dims of {list(shape)}")
        return _out(where, self.name, [shape[d] for d in norm])

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        r = len(shape)
        roll = rng.random()
        if r in self._COMMON and roll < 0.65:
            dims = list(rng.choice(self._COMMON[r]))
        elif roll < 0.72:
            dims = list(range(r))  # identity permute: legal, and a no-op the backend must keep right
        else:
            dims = list(range(r))
            rng.shuffle(dims)
        if dims != [1, 0] or rng.random() < 0.2:
            dims = [_maybe_neg(rng, d, r, 0.15) for d in dims]
        return {"dims": dims}


@register
class Transpose(_Movement):
    """transpose of two dims -> permute_copy -> TOSA TRANSPOSE. swapaxes / swapdims / .mT /
    .mH / adjoint() export to their own aten ops, which the quantizer does not annotate: INT
    targets keep those on the CPU, INT+FP lowers them in FP."""

    name = "transpose"
    forms = {
        "torch": (None, "torch.transpose({x}, {dim0}, {dim1})"),
        "method": (None, "{x}.transpose({dim0}, {dim1})"),
        "swapaxes": (None, "torch.swapaxes({x}, {dim0}, {dim1})"),
        "method_swapaxes": (None, "{x}.swapaxes({dim0}, {dim1})"),
        "swapdims": (None, "torch.swapdims({x}, {dim0}, {dim1})"),
        "method_swapdims": (None, "{x}.swapdims({dim0}, {dim1})"),
        "copy": (None, "torch.transpose_copy({x}, {dim0}, {dim1})"),
        "mT": (None, "{x}.mT"),
        "mH": (None, "{x}.mH"),  # conjugate transpose: the same on real tensors
        "adjoint": (None, "{x}.adjoint()"),
    }
    spelling_requires = {s: {"dim0": -2, "dim1": -1} for s in ("mT", "mH", "adjoint")}

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        reject_unknown(where, params, ("dim0", "dim1"))
        (shape,) = in_shapes
        r = len(shape)
        a, b = _dim(where, params, "dim0", r), _dim(where, params, "dim1", r)
        out = list(shape)
        out[a], out[b] = out[b], out[a]
        return _out(where, self.name, out)

    def accepts(self, shape: Shape) -> bool:
        return len(shape) >= 2

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        r = len(shape)
        roll = rng.random()
        if roll < 0.3:
            return {"dim0": -2, "dim1": -1}  # the matrix transpose (.mT)
        if roll < 0.35:
            d = rng.randrange(r)
            return {"dim0": d, "dim1": _maybe_neg(rng, d, r)}  # same dim twice: a legal no-op
        a, b = rng.sample(range(r), 2)
        return {"dim0": _maybe_neg(rng, a, r), "dim1": _maybe_neg(rng, b, r)}


# -- squeeze / unsqueeze -----------------------------------------------------------------


@register
class Squeeze(_Movement):
    """squeeze (one dim, a dims tuple, or all size-1 dims) -> squeeze_copy.dims, a RESHAPE
    (``_passes/convert_squeezes_to_view.py``). Squeezing a dim that is not 1 is a legal no-op.
    squeeze_copy with a dims tuple is not annotated by the quantizer (FP-lowered only)."""

    name = "squeeze"
    forms = {
        "torch": (None, "torch.squeeze({x}{comma_dim})"),
        "method": (None, "{x}.squeeze({dim_arg})"),
        "copy": (None, "torch.squeeze_copy({x}{comma_dim})"),
    }
    probe_shapes = ((1, 4, 1, 8), (1, 6, 1), (3, 1), (1, 1, 4, 1, 2))

    def fields(self, params: dict[str, Any]) -> dict[str, str]:
        dim = params.get("dim")
        arg = "" if dim is None else py(dim)
        return {"dim_arg": arg, "comma_dim": f", {arg}" if arg else ""}

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        reject_unknown(where, params, ("dim",))
        (shape,) = in_shapes
        r = len(shape)
        dim = params.get("dim")
        if dim is None:
            dims = [i for i, s in enumerate(shape) if s == 1]
        elif isinstance(dim, list):
            raw = _int_list(where, params, "dim", -r, r - 1, 1, r)
            dims = [d % r for d in raw]
            if len(set(dims)) != len(dims):
                raise CaseError(f"{where}squeeze dims {raw} name a dim twice")
        else:
            dims = [_dim(where, params, "dim", r)]
        out = [s for i, s in enumerate(shape) if not (i in dims and s == 1)]
        return _out(where, self.name, out)

    def accepts(self, shape: Shape) -> bool:
        return len(shape) >= 2 and 1 in shape

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        r = len(shape)
        ones = [i for i, s in enumerate(shape) if s == 1]
        others = [i for i, s in enumerate(shape) if s != 1]

        def propose() -> dict[str, Any]:
            roll = rng.random()
            if roll < 0.4 and ones:
                return {"dim": _maybe_neg(rng, rng.choice(ones), r)}
            if roll < 0.65 and ones:
                k = rng.randint(1, len(ones))
                return {"dim": [_maybe_neg(rng, d, r) for d in rng.sample(ones, k)]}
            if roll < 0.85:
                return {"dim": None}
            if roll < 0.93 and others:
                return {"dim": _maybe_neg(rng, rng.choice(others), r)}  # no-op squeeze
            picks = rng.sample(range(r), rng.randint(1, r))
            return {"dim": [_maybe_neg(rng, d, r) for d in picks]}  # size-1 and other dims mixed

        return self.first_valid(shape, propose)


@register
class Unsqueeze(_Movement):
    """unsqueeze (also ``x[None]``, ``x[..., None]``) -> unsqueeze_copy -> TOSA RESHAPE; the
    new dim may make a rank-5 tensor rank 6, the backend's maximum."""

    name = "unsqueeze"
    forms = {
        "torch": (None, "torch.unsqueeze({x}, {dim})"),
        "method": (None, "{x}.unsqueeze({dim})"),
        "copy": (None, "torch.unsqueeze_copy({x}, {dim})"),
        "none_index": (None, "{x}[None]"),
        "ellipsis_none": (None, "{x}[..., None]"),
    }
    spelling_requires = {"none_index": {"dim": 0}, "ellipsis_none": {"dim": -1}}

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        reject_unknown(where, params, ("dim",))
        (shape,) = in_shapes
        d = _dim(where, params, "dim", len(shape), extra=1)
        return _out(where, self.name, [*shape[:d], 1, *shape[d:]])

    def accepts(self, shape: Shape) -> bool:
        return len(shape) < MAX_RANK

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        r = len(shape) + 1
        roll = rng.random()
        if roll < 0.25:
            return {"dim": 0}
        if roll < 0.45:
            return {"dim": -1}
        return {"dim": _maybe_neg(rng, rng.randrange(r), r)}


# -- expand / repeat ---------------------------------------------------------------------


@register
class Expand(_Movement):
    """expand / broadcast_to -> expand_copy, rewritten to TOSA TILE
    (``_passes/convert_expand_copy_to_repeat.py``). -1 keeps a dim; new leading dims are
    allowed. An expand that changes nothing is not delegated on its own
    (``test/ops/test_expand.py`` ``test_reject_set``); broadcast_to is not annotated by the
    quantizer (FP-lowered only)."""

    name = "expand"
    forms = {
        "method": (None, "{x}.expand({sizes})"),
        "method_varargs": (None, "{x}.expand(*{sizes})"),
        "broadcast_to": (None, "torch.broadcast_to({x}, {sizes})"),
        "method_broadcast_to": (None, "{x}.broadcast_to({sizes})"),
        "copy": (None, "torch.expand_copy({x}, {sizes})"),
    }
    probe_shapes = ((1, 4, 1, 8), (3, 1), (1, 1, 5), (1, 4, 8, 8))

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        reject_unknown(where, params, ("sizes",))
        (shape,) = in_shapes
        r = len(shape)
        sizes = _int_list(where, params, "sizes", -1, MAX_ELEMENTS, r, MAX_RANK)
        lead = len(sizes) - r
        out = []
        for i, s in enumerate(sizes):
            if i < lead:
                if s < 1:
                    raise CaseError(f"{where}expand sizes {sizes}: new leading dim {i} must be a positive size, got {s}")
                out.append(s)
                continue
            have = shape[i - lead]
            if s == -1:
                out.append(have)
            elif s == have or (have == 1 and s >= 1):
                out.append(s)
            else:
                raise CaseError(
                    f"{where}expand sizes {sizes}: dim {i} of size {have} cannot become {s} (only size-1 dims expand)"
                )
        return _out(where, self.name, out)

    def accepts(self, shape: Shape) -> bool:
        return 1 in shape or len(shape) < MAX_RANK

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        r = len(shape)

        def propose() -> dict[str, Any]:
            sizes = []
            for s in shape:
                if s == 1:
                    sizes.append(rng.choice([2, 3, 4, 8, 2, 1, -1]))
                else:
                    sizes.append(rng.choice([-1, -1, s]))
            lead = rng.choice([0, 0, 0, 1, 1, 2]) if r < MAX_RANK else 0
            lead = min(lead, MAX_RANK - r)
            return {"sizes": [rng.choice([1, 2, 3]) for _ in range(lead)] + sizes}

        return self.first_valid(shape, propose)


@register
class Repeat(_Movement):
    """repeat / tile (equal whenever the repeats cover every dim) -> TOSA TILE
    (``operators/op_tosa_tile.py``; ``_passes/unsqueeze_before_repeat_pass.py`` for extra
    leading dims)."""

    name = "repeat"
    forms = {
        "method": (None, "{x}.repeat({repeats})"),
        "method_varargs": (None, "{x}.repeat(*{repeats})"),
        "tile": (None, "torch.tile({x}, {repeats})"),
        "method_tile": (None, "{x}.tile({repeats})"),
    }

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        reject_unknown(where, params, ("repeats",))
        (shape,) = in_shapes
        r = len(shape)
        reps = _int_list(where, params, "repeats", 1, MAX_ELEMENTS, r, MAX_RANK)
        lead = len(reps) - r
        out = list(reps[:lead]) + [s * k for s, k in zip(shape, reps[lead:])]
        return _out(where, self.name, out)

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        r = len(shape)

        def propose() -> dict[str, Any]:
            reps = [rng.choice([1, 1, 1, 2, 2, 3, 4]) for _ in shape]
            lead = min(rng.choice([0, 0, 0, 1, 2]), MAX_RANK - r)
            return {"repeats": [rng.choice([1, 2, 3]) for _ in range(lead)] + reps}

        return self.first_valid(shape, propose)


# -- stack -------------------------------------------------------------------------------


@register
class Stack(_Movement):
    """stack (like cat: one shared quantization domain for all inputs and the output) ->
    unsqueeze + cat -> TOSA CONCAT; the new dim may be anywhere, negative, or make rank 5/6."""

    name = "stack"
    arity = None
    forms = {
        "torch": (None, "torch.stack({xs}, dim={dim})"),
        "list": (None, "torch.stack(list({xs}), {dim})"),
    }
    probe_shapes = ((1, 4, 8, 8), (1, 4, 8, 8), (2, 6, 10), (3, 5))

    def check(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        if not 1 <= len(in_shapes) <= 8:
            raise CaseError(f"{where}stack takes 1 to 8 inputs, got {len(in_shapes)}")
        return self.infer(where, in_shapes, params)

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        reject_unknown(where, params, ("dim",))
        first = tuple(in_shapes[0])
        d = _dim(where, params, "dim", len(first), extra=1)
        if any(tuple(s) != first for s in in_shapes):
            raise CaseError(f"{where}stack inputs {[list(s) for s in in_shapes]} must all have the same shape")
        return _out(where, self.name, [*first[:d], len(in_shapes), *first[d:]])

    def sample(self, rng: random.Random, avail: dict[str, Shape]) -> Sampled | None:
        first = rng.choice([n for n, s in avail.items() if len(s) < MAX_RANK] or [None])
        if first is None:
            return None
        shape = avail[first]
        mates = [n for n, s in avail.items() if s == shape and n != first]
        count = rng.choice([1, 1, 2, 2, 3]) if mates or rng.random() < 0.3 else 0
        chosen = [first] + [rng.choice(mates or [first]) for _ in range(count)]
        rng.shuffle(chosen)
        r = len(shape) + 1
        params = {"dim": _maybe_neg(rng, rng.randrange(r), r)}
        try:
            self.infer("", [avail[c] for c in chosen], params)
        except CaseError:
            return None
        return Sampled(chosen, params, rng.choice(self.spellings))
