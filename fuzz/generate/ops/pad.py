"""Pad in its four modes (constant, reflect, replicate, circular), asymmetric; TOSA PAD and the
backend's decompositions of the non-constant modes (shared helpers: fuzz.generate.ops.movement)."""

from __future__ import annotations

import random
from typing import Any, Sequence

from fuzz.core.errors import CaseError
from fuzz.generate.ops.base import (
    Shape,
    py,
    register,
    reject_unknown,
    want_choice,
    want_float,
)
from fuzz.generate.ops.movement import (
    _MAX_PAD,
    _int_list,
    _Movement,
    _out,
)

# -- pad ---------------------------------------------------------------------------------

_PAD_MODES = ("constant", "reflect", "replicate", "circular")
_PAD_MODULES = {"constant": "ConstantPad", "reflect": "ReflectionPad", "replicate": "ReplicationPad", "circular": "CircularPad"}


@register
class Pad(_Movement):
    """F.pad: constant (TOSA PAD, value quantized with the input's qparams) and reflect /
    replicate / circular (rewritten into slices + concat), both in ``_passes/rewrite_pad.py``.
    Pads run from the last dim outwards and may be asymmetric or negative (cropping)."""

    name = "pad"
    forms = {
        "functional": (None, "F.pad({x}, {pad}, mode={mode}, value={value})"),
        "module": ("<module>", "self.{attr}({x})"),  # nn.<Mode>Pad{1,2,3}d, written by emit_init
        "constant_pad_nd": (None, "torch.constant_pad_nd({x}, {pad}, {value})"),
    }
    #: "module" is checked by spelling_ok (a length, not a value); the entry words the error.
    spelling_requires = {
        "constant_pad_nd": {"mode": "constant"},
        "module": {"pad": "at most 6 entries (nn.*Pad3d is the largest)"},
    }

    def spelling_ok(self, spelling: str, params: dict[str, Any]) -> bool:
        if spelling == "module":
            return isinstance(params.get("pad"), list) and len(params["pad"]) <= 6
        return super().spelling_ok(spelling, params)

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        reject_unknown(where, params, ("pad", "mode", "value"))
        (shape,) = in_shapes
        r = len(shape)
        mode = want_choice(where, params, "mode", _PAD_MODES)
        if mode == "constant":
            want_float(where, params, "value")
            pad = _int_list(where, params, "pad", -_MAX_PAD, _MAX_PAD, 2, 2 * r)
        else:
            if params.get("value") is not None:
                raise CaseError(f"{where}pad mode {mode!r} takes no value; set 'value' to null")
            pad = _int_list(where, params, "pad", -_MAX_PAD, _MAX_PAD, 2, 6)
        if len(pad) % 2:
            raise CaseError(f"{where}pad {pad} must hold (before, after) pairs")
        k = len(pad) // 2
        if mode != "constant" and r not in (k + 1, k + 2):
            raise CaseError(f"{where}pad mode {mode!r} pads {k} trailing dim(s) of a rank {k + 1} or {k + 2} input, got rank {r}")
        out = list(shape)
        for i in range(k):
            d = r - 1 - i
            n, lo, hi = shape[d], pad[2 * i], pad[2 * i + 1]
            if mode == "reflect" and (lo >= n or hi >= n):
                raise CaseError(f"{where}reflect pad ({lo}, {hi}) of dim {d} must be smaller than its size {n}")
            if mode == "circular" and not (-n <= lo <= n and -n <= hi <= n):
                raise CaseError(f"{where}circular pad ({lo}, {hi}) of dim {d} must lie within +-{n} (its size)")
            if mode == "circular" and lo * hi < 0:
                # torch wraps from its partly filled output then: values depend on
                # uninitialised memory (torch 2.13 _pad_circular), so no reference exists.
                raise CaseError(f"{where}circular pad ({lo}, {hi}) of dim {d} mixes padding and cropping")
            if mode == "constant" and n + min(lo, 0) + min(hi, 0) < 1:
                # torch crops first (and fails below zero); keep at least one input element
                raise CaseError(f"{where}constant pad ({lo}, {hi}) of dim {d} crops away all of its {n} element(s)")
            out[d] = n + lo + hi
        return _out(where, self.name, out)

    def emit_init(self, params: dict[str, Any], spelling: str, in_shapes: Sequence[Shape]) -> str | None:
        if spelling != "module":
            return super().emit_init(params, spelling, in_shapes)
        k = len(params["pad"]) // 2
        if params["mode"] == "constant":
            if params["value"] == 0:
                return f"nn.ZeroPad{k}d({py(params['pad'])})"
            return f"nn.ConstantPad{k}d({py(params['pad'])}, {py(params['value'])})"
        return f"nn.{_PAD_MODULES[params['mode']]}{k}d({py(params['pad'])})"

    def accepts(self, shape: Shape) -> bool:
        return len(shape) >= 1

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        r = len(shape)

        def amount(n: int, mode: str) -> int:
            roll = rng.random()
            if roll < 0.04:
                return -rng.randint(1, max(1, n // 2))  # cropping
            if roll < 0.2:
                return {"reflect": n - 1, "circular": n}.get(mode, rng.randint(n, n + 4))  # the mode's limit
            return rng.choice([0, 1, 1, 2, 3])

        def propose() -> dict[str, Any]:
            mode = rng.choice(["constant", "constant", "reflect", "replicate", "circular"])
            if mode == "constant":
                k = rng.choice([1, 2, 2, 3]) if r >= 3 else rng.choice([1, r])
                k = min(k, r)
                value: float | None = rng.choice([0.0, 0.0, 1.0, -1.0, 0.5, -2.75, 6.0, 100.0])
            else:
                ks = [k for k in (1, 2, 3) if r in (k + 1, k + 2)]
                if not ks:
                    return None
                k = rng.choice(ks + [2] * (2 in ks))
                value = None
            pad = []
            for i in range(k):
                n = shape[r - 1 - i]
                pad += [amount(n, mode), amount(n, mode)]
            return {"pad": pad, "mode": mode, "value": value}

        return self.first_valid(shape, propose)
