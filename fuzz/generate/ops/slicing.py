"""Data movement that selects: slice (negative, out-of-range, step > 1), select, narrow,
split/chunk and index_select; the backend's TOSA SLICE and GATHER rewrites
(shared helpers and the shape rules' conventions: fuzz.generate.ops.movement)."""

from __future__ import annotations

import random
from typing import Any, Sequence

from fuzz.core.errors import CaseError
from fuzz.generate.ops.base import (
    Shape,
    py,
    register,
    reject_unknown,
    want_int,
)
from fuzz.generate.ops.movement import (
    _MAX_BOUND,
    _dim,
    _index_src,
    _int_list,
    _maybe_neg,
    _Movement,
    _out,
    _pick_dim,
    _slice_src,
)

# -- slicing and indexing ----------------------------------------------------------------


def _slice_len(size: int, start: int | None, end: int | None, step: int) -> int:
    """Python / aten.slice semantics: bounds clamp, negatives count from the end."""
    return len(range(*slice(start, end, step).indices(size)))


@register
class Slice(_Movement):
    """Basic slicing ``x[..., a:b:c]`` -> slice_copy -> TOSA SLICE; step > 1 is rewritten
    (``_passes/decompose_strided_slice_copy_pass.py``). Bounds may be negative, None or beyond
    the dim (they clamp); the result is never empty."""

    name = "slice"
    forms = {
        "index": (None, "<index>"),  # written by emit_call: x[:, a:b:c] or x[..., a:b:c, :]
        "aten": (None, "torch.ops.aten.slice.Tensor({x}, {dim}, {start}, {end}, {step})"),
    }

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        reject_unknown(where, params, ("dim", "start", "end", "step"))
        (shape,) = in_shapes
        d = _dim(where, params, "dim", len(shape))
        bounds = []
        for key in ("start", "end"):
            bounds.append(None if params.get(key) is None else want_int(where, params, key, -_MAX_BOUND, _MAX_BOUND))
        step = want_int(where, params, "step", 1, _MAX_BOUND)
        out = list(shape)
        out[d] = _slice_len(shape[d], bounds[0], bounds[1], step)
        if out[d] < 1:
            raise CaseError(f"{where}slice {bounds[0]}:{bounds[1]}:{step} of dim {d} (size {shape[d]}) is empty")
        return _out(where, self.name, out)

    def emit_call(self, attr: str, args: list[str], params: dict[str, Any], spelling: str) -> str:
        if spelling == "index":
            item = _slice_src(params["start"], params["end"], params["step"])
            return _index_src(args[0], params["dim"], item)
        return super().emit_call(attr, args, params, spelling)

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        r = len(shape)

        def propose() -> dict[str, Any] | None:
            d = _pick_dim(rng, shape)
            n = shape[d]
            a = rng.randrange(n)
            b = rng.randint(a + 1, n)
            # Bounds and step drawn independently: in range, counted from the end, open,
            # or past the dim (they clamp); first_valid drops the empty combinations.
            start = rng.choices([a, a - n, None, -(n + rng.randint(1, 8)), 0], [6, 3, 2, 1, 1])[0]
            end = rng.choices([b, b - n if b < n else None, None, n + rng.randint(1, 64), a + 1], [6, 2, 2, 1, 2])[0]
            step = rng.choices([1, 2, 3, 4, n + 1], [10, 4, 2, 1, 1])[0]
            if step == 1 and _slice_len(n, start, end, 1) == n and rng.random() < 0.7:
                return None  # keep slices that keep everything (they export to nothing) rare
            return {"dim": _maybe_neg(rng, d, r), "start": start, "end": end, "step": step}

        return self.first_valid(shape, propose)


@register
class Select(_Movement):
    """Integer indexing ``x[:, i]`` / select / unbind(dim)[i] -> select_copy, decomposed to
    SLICE + RESHAPE (``_passes/decompose_select.py``). Negative indices count from the end."""

    name = "select"
    forms = {
        "index": (None, "<index>"),  # written by emit_call: x[:, i] or x[..., i, :]
        "torch": (None, "torch.select({x}, {dim}, {index})"),
        "method": (None, "{x}.select({dim}, {index})"),
        "copy": (None, "torch.select_copy({x}, {dim}, {index})"),
        "unbind": (None, "torch.unbind({x}, {dim})[{index}]"),
        "method_unbind": (None, "{x}.unbind({dim})[{index}]"),
    }

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        reject_unknown(where, params, ("dim", "index"))
        (shape,) = in_shapes
        d = _dim(where, params, "dim", len(shape))
        want_int(where, params, "index", -shape[d], shape[d] - 1)
        return _out(where, self.name, [s for i, s in enumerate(shape) if i != d])

    def emit_call(self, attr: str, args: list[str], params: dict[str, Any], spelling: str) -> str:
        if spelling == "index":
            return _index_src(args[0], params["dim"], py(params["index"]))
        return super().emit_call(attr, args, params, spelling)

    def accepts(self, shape: Shape) -> bool:
        return len(shape) >= 2

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        r = len(shape)
        d = rng.randrange(r)
        n = shape[d]
        index = rng.choice([0, 0, n - 1, -1, -n, rng.randrange(n), rng.randrange(n) - n])
        return {"dim": _maybe_neg(rng, d, r), "index": index}


@register
class Narrow(_Movement):
    """narrow(dim, start, length) -> slice_copy -> TOSA SLICE; a negative start counts from
    the end of the dim. The quantizer does not annotate aten.narrow, so INT-only targets keep
    it on the CPU and INT+FP lowers it in FP. (torch.narrow_copy is not spelled: no profile
    lowers aten.narrow_copy.)"""

    name = "narrow"
    forms = {
        "torch": (None, "torch.narrow({x}, {dim}, {start}, {length})"),
        "method": (None, "{x}.narrow({dim}, {start}, {length})"),
    }

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        reject_unknown(where, params, ("dim", "start", "length"))
        (shape,) = in_shapes
        d = _dim(where, params, "dim", len(shape))
        n = shape[d]
        start = want_int(where, params, "start", -n, n - 1) % n
        length = want_int(where, params, "length", 1, n)
        if start + length > n:
            raise CaseError(f"{where}narrow start {params['start']} + length {length} runs past dim {d} of size {n}")
        out = list(shape)
        out[d] = length
        return _out(where, self.name, out)

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        r = len(shape)
        d = _pick_dim(rng, shape)
        n = shape[d]
        length = rng.choice([1, n, rng.randint(1, n), rng.randint(1, n), rng.randint(1, n)])
        start = rng.randint(0, n - length)
        if rng.random() < 0.3:
            start -= n  # the same window, counted from the end
        return {"dim": _maybe_neg(rng, d, r), "start": start, "length": length}


class _Piece(_Movement):
    """Ops returning a tuple of pieces along ``dim``; the node is piece ``k`` of them."""

    def pieces(self, where: str, size: int, params: dict[str, Any]) -> list[int]:
        raise NotImplementedError

    def piece_shape(self, where: str, shape: Shape, params: dict[str, Any]) -> Shape:
        d = _dim(where, params, "dim", len(shape))
        sizes = self.pieces(where, shape[d], params)
        k = want_int(where, params, "k", -len(sizes), len(sizes) - 1)
        out = list(shape)
        out[d] = sizes[k]
        return _out(where, self.name, out)

    def sample_k(self, rng: random.Random, count: int) -> int:
        k = rng.choice([0, count - 1, rng.randrange(count), rng.randrange(count)])
        return k - count if rng.random() < 0.2 else k


@register
class Split(_Piece):
    """split by a size or a list of sizes, keeping output k -> split_with_sizes_copy, turned
    into slices (``_passes/convert_split_to_slice.py``). split_with_sizes_copy is not
    annotated by the quantizer (FP-lowered only)."""

    name = "split"
    forms = {
        "torch": (None, "torch.split({x}, {split}, {dim})[{k}]"),
        "method": (None, "{x}.split({split}, {dim})[{k}]"),
        "copy": (None, "torch.split_copy({x}, {split}, {dim})[{k}]"),
        "with_sizes": (None, "{x}.split_with_sizes({split}, {dim})[{k}]"),
        "with_sizes_copy": (None, "torch.split_with_sizes_copy({x}, {split}, {dim})[{k}]"),
    }
    #: Spellings that take only one form of ``split`` (checked by spelling_ok, not by value).
    spelling_requires = {
        "copy": {"split": "an int (split_copy takes a size)"},
        "with_sizes": {"split": "a list (split_with_sizes takes sizes)"},
        "with_sizes_copy": {"split": "a list (split_with_sizes_copy takes sizes)"},
    }

    def spelling_ok(self, spelling: str, params: dict[str, Any]) -> bool:
        is_list = isinstance(params.get("split"), list)
        if spelling == "copy":
            return not is_list
        if spelling in ("with_sizes", "with_sizes_copy"):
            return is_list
        return True

    def pieces(self, where: str, size: int, params: dict[str, Any]) -> list[int]:
        split = params.get("split")
        if isinstance(split, list):
            sizes = _int_list(where, params, "split", 1, size, 1, 16)
            if sum(sizes) != size:
                raise CaseError(f"{where}split sizes {sizes} must add up to the dim size {size}")
            return sizes
        s = want_int(where, params, "split", 1, _MAX_BOUND)
        return [min(s, size - i) for i in range(0, size, s)]

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        reject_unknown(where, params, ("split", "dim", "k"))
        return self.piece_shape(where, in_shapes[0], params)

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        r = len(shape)

        def propose() -> dict[str, Any]:
            d = _pick_dim(rng, shape)
            n = shape[d]
            if rng.random() < 0.5:
                # a split of n or more is one piece: the whole tensor (kept rare)
                split: Any = rng.choice([1, 2, 2, 3, 3, max(1, n // 2), max(1, n - 1), rng.choice([n, n + 2])])
                count = len(range(0, n, split))
            else:
                cuts = sorted(rng.sample(range(1, n), min(n - 1, rng.choice([1, 1, 2, 3])))) if n > 1 else []
                edges = [0, *cuts, n]
                split = [b - a for a, b in zip(edges, edges[1:])]
                count = len(split)
            return {"split": split, "dim": _maybe_neg(rng, d, r), "k": self.sample_k(rng, count)}

        return self.first_valid(shape, propose)


@register
class Chunk(_Piece):
    """chunk into n pieces (torch may return fewer), keeping output k -> split_with_sizes_copy
    -> slices."""

    name = "chunk"
    forms = {
        "torch": (None, "torch.chunk({x}, {chunks}, {dim})[{k}]"),
        "method": (None, "{x}.chunk({chunks}, {dim})[{k}]"),
    }

    def pieces(self, where: str, size: int, params: dict[str, Any]) -> list[int]:
        chunks = want_int(where, params, "chunks", 1, _MAX_BOUND)
        step = -(-size // chunks)  # torch.chunk: pieces of ceil(size / chunks)
        return [min(step, size - i) for i in range(0, size, step)]

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        reject_unknown(where, params, ("chunks", "dim", "k"))
        return self.piece_shape(where, in_shapes[0], params)

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        r = len(shape)
        d = _pick_dim(rng, shape)
        n = shape[d]
        chunks = rng.choice([2, 2, 3, 3, 4, n, n + 1, rng.choice([1, 2])])  # 1 chunk: the whole tensor
        count = len(self.pieces("", n, {"chunks": chunks}))
        return {"chunks": chunks, "dim": _maybe_neg(rng, d, r), "k": self.sample_k(rng, count)}


@register
class IndexSelect(_Movement):
    """index_select with a constant int32 index (the dtype the support check demands,
    ``operator_support/index_select_support.py``) -> TOSA GATHER
    (``_passes/decompose_index_select_to_gather_pass.py``). ``x[idx]`` exports to
    index.Tensor instead, delegated for dim 0 only (``operator_support/index_tensor_support.py``).
    Repeated and unordered indices are legal."""

    name = "index_select"
    forms = {
        "torch": ("torch.tensor({index}, dtype=torch.int32)", "torch.index_select({x}, {dim}, self.{attr})"),
        "method": ("torch.tensor({index}, dtype=torch.int32)", "{x}.index_select({dim}, self.{attr})"),
        "getitem": ("torch.tensor({index}, dtype=torch.int32)", "{x}[self.{attr}]"),
    }
    spelling_requires = {"getitem": {"dim": 0}}

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        reject_unknown(where, params, ("dim", "index"))
        (shape,) = in_shapes
        d = _dim(where, params, "dim", len(shape))
        index = _int_list(where, params, "index", 0, shape[d] - 1, 1, 64)
        out = list(shape)
        out[d] = len(index)
        return _out(where, self.name, out)

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        r = len(shape)

        def propose() -> dict[str, Any]:
            d = rng.randrange(r) if rng.random() < 0.8 else 0
            n = shape[d]
            kind = rng.choice(["subset", "subset", "reverse", "repeat", "single", "shuffle"])
            if kind == "subset":
                index = sorted(rng.sample(range(n), rng.randint(1, n)))
            elif kind == "reverse":
                index = list(range(n))[::-1]
            elif kind == "repeat":
                index = [rng.randrange(n) for _ in range(rng.randint(2, min(2 * n, 16)))]
            elif kind == "single":
                index = [rng.randrange(n)]
            else:
                index = list(range(n))
                rng.shuffle(index)
            dim = d if d == 0 and rng.random() < 0.7 else _maybe_neg(rng, d, r)
            return {"dim": dim, "index": index}

        return self.first_valid(shape, propose)
