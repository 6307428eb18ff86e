"""Weighted ops: conv2d (plain, grouped, depthwise, strided, dilated) and linear."""

from __future__ import annotations

import random
from typing import Any, Sequence

from fuzz.errors import CaseError
from fuzz.ops.base import (
    MAX_ELEMENTS,
    OpSpec,
    Shape,
    kwargs_src,
    numel,
    py,
    register,
    reject_unknown,
    want_bool,
    want_choice,
    want_int,
    want_pair,
    want_rank,
)

_PAD_STRINGS = ("same", "valid")
_PAD_MODES = ("zeros", "reflect", "replicate", "circular")


def _conv_out(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


@register
class Conv2d(OpSpec):
    name = "conv2d"
    spellings = ("module", "functional")
    has_weights = True

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        reject_unknown(where, params, ("out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias", "padding_mode"))
        (shape,) = in_shapes
        want_rank(where, self, shape, (4,))
        n, cin, h, w = shape
        cout = want_int(where, params, "out_channels", 1, 256)
        kh, kw = want_pair(where, params, "kernel_size", 1, 11)
        sh, sw = want_pair(where, params, "stride", 1, 8)
        dh, dw = want_pair(where, params, "dilation", 1, 4)
        groups = want_int(where, params, "groups", 1, 256)
        want_bool(where, params, "bias")
        mode = want_choice(where, params, "padding_mode", _PAD_MODES)
        if cin % groups or cout % groups:
            raise CaseError(f"{where}groups={groups} must divide in_channels={cin} and out_channels={cout}")
        pad = params.get("padding")
        if isinstance(pad, str):
            want_choice(where, params, "padding", _PAD_STRINGS)
            if pad == "same" and (sh, sw) != (1, 1):
                raise CaseError(f"{where}padding='same' needs stride 1, got {[sh, sw]}")
            ph = pw = 0
        else:
            ph, pw = want_pair(where, params, "padding", 0, 16)
        if mode != "zeros":
            if isinstance(pad, str):
                raise CaseError(f"{where}padding_mode={mode!r} is only generated with numeric padding")
            if mode == "reflect" and (ph >= h or pw >= w):
                raise CaseError(f"{where}reflect padding {[ph, pw]} must be smaller than the input {[h, w]}")
            if mode == "circular" and (ph > h or pw > w):
                raise CaseError(f"{where}circular padding {[ph, pw]} must not exceed the input {[h, w]}")
        if pad == "same":
            oh, ow = h, w
        else:
            oh, ow = _conv_out(h, kh, sh, ph, dh), _conv_out(w, kw, sw, pw, dw)
        if oh < 1 or ow < 1:
            raise CaseError(f"{where}conv2d output would be empty ({oh}x{ow}) for input {list(shape)}")
        out = (n, cout, oh, ow)
        if numel(out) > MAX_ELEMENTS:
            raise CaseError(f"{where}output {list(out)} exceeds {MAX_ELEMENTS} elements")
        return out

    def accepts(self, shape: Shape) -> bool:
        return len(shape) == 4

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        cin = shape[1]

        def propose() -> dict[str, Any] | None:
            kind = rng.choices(["plain", "depthwise", "grouped"], [6, 2, 1])[0]
            if kind == "depthwise":
                groups, cout = cin, cin * rng.choice([1, 1, 2])
            elif kind == "grouped":
                divisors = [g for g in range(2, cin + 1) if cin % g == 0]
                if not divisors:
                    return None
                groups = rng.choice(divisors)
                cout = groups * rng.randint(1, 3)
            else:
                groups, cout = 1, rng.choice([1, 2, 3, 4, 4, 8, 8, 16])
            stride = rng.choice([1, 1, 1, 2, 2, 3, [1, 2]])
            padding = rng.choice([0, 0, 1, 1, 2, [0, 1], [1, 0], "same", "valid"])
            if padding == "same" and stride != 1:
                padding = 1
            mode = "zeros"
            if not isinstance(padding, str) and padding != 0 and rng.random() < 0.1:
                mode = rng.choice(_PAD_MODES[1:])
            return {
                "out_channels": cout,
                "kernel_size": rng.choice([1, 1, 3, 3, 3, 2, 5, [1, 3], [3, 1], [2, 3]]),
                "stride": stride,
                "padding": padding,
                "dilation": rng.choice([1, 1, 1, 1, 2]),
                "groups": groups,
                "bias": rng.random() < 0.85,
                "padding_mode": mode,
            }

        return self.first_valid(shape, propose)

    def emit_init(self, params: dict[str, Any], spelling: str, in_shapes: Sequence[Shape]) -> str | None:
        cin = in_shapes[0][1]
        kw = kwargs_src(params, ("kernel_size", "stride", "padding", "dilation", "groups", "bias", "padding_mode"))
        return f"nn.Conv2d({cin}, {params['out_channels']}, {kw})"

    def emit_call(self, attr: str, args: list[str], params: dict[str, Any], spelling: str) -> str:
        if spelling == "module" or params["padding_mode"] != "zeros":
            # F.conv2d has no padding_mode; such a node is always written as the module.
            return f"self.{attr}({args[0]})"
        kw = kwargs_src(params, ("stride", "padding", "dilation", "groups"))
        return f"F.conv2d({args[0]}, self.{attr}.weight, self.{attr}.bias, {kw})"


@register
class Linear(OpSpec):
    name = "linear"
    spellings = ("module", "functional")
    has_weights = True

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        reject_unknown(where, params, ("out_features", "bias"))
        (shape,) = in_shapes
        want_rank(where, self, shape, (2, 3, 4))
        out_f = want_int(where, params, "out_features", 1, 512)
        want_bool(where, params, "bias")
        if shape[-1] > 4096:
            raise CaseError(f"{where}linear in_features {shape[-1]} is larger than 4096")
        out = (*shape[:-1], out_f)
        if numel(out) > MAX_ELEMENTS:
            raise CaseError(f"{where}output {list(out)} exceeds {MAX_ELEMENTS} elements")
        return out

    def accepts(self, shape: Shape) -> bool:
        # Rank 2 is the usual conv->flatten->linear; rank 3/4 apply over the last dim (legal).
        return 2 <= len(shape) <= 4 and shape[-1] <= 1024

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        out_f = rng.choice([1, 2, 4, 8, 10, 16, 32])
        if numel((*shape[:-1], out_f)) > MAX_ELEMENTS:
            return None
        return {"out_features": out_f, "bias": rng.random() < 0.85}

    def emit_init(self, params: dict[str, Any], spelling: str, in_shapes: Sequence[Shape]) -> str | None:
        return f"nn.Linear({in_shapes[0][-1]}, {params['out_features']}, bias={py(params['bias'])})"

    def emit_call(self, attr: str, args: list[str], params: dict[str, Any], spelling: str) -> str:
        if spelling == "module":
            return f"self.{attr}({args[0]})"
        return f"F.linear({args[0]}, self.{attr}.weight, self.{attr}.bias)"

