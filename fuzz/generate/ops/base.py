"""The op-spec contract and the registry every other layer reads.

One subclass of :class:`OpSpec` per op. The generator asks it to *sample* a node, the case
validator asks it to *check* params and infer the output shape, and the code generator asks it
to *emit* torch source. Nothing else in armfuzz knows an op's details, so adding an op means
adding one class here (and importing its module in ``fuzz/generate/ops/__init__.py``).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Sequence

from fuzz.core.errors import CaseError

Shape = tuple[int, ...]

#: Largest tensor the generator makes or the validator accepts; keeps lowering in seconds.
MAX_ELEMENTS = 1 << 16
#: Spatial sizes above this buy nothing for quantization bugs and slow the reference model.
MAX_DIM = 64

_REGISTRY: dict[str, "OpSpec"] = {}


def register(cls: type["OpSpec"]) -> type["OpSpec"]:
    """Class decorator: make an op known to the generator, validator and code generator."""
    if cls.name in _REGISTRY:
        raise RuntimeError(f"op {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls()
    return cls


def get_op(name: str, where: str = "") -> "OpSpec":
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise CaseError(f"{where}unknown op {name!r}; known ops: {known}") from None


def all_ops() -> dict[str, "OpSpec"]:
    return dict(_REGISTRY)


#: Ops that only move or copy values: their lowering computes nothing from qparams (the output
#: keeps its input's codes and qparams). Reports count no qparams corner for them
#: (reducer.report); a numerics span does not name them (fuzz.judge.signature).
MOVEMENT_OPS = frozenset({"permute", "transpose", "squeeze", "unsqueeze", "expand", "repeat", "slice", "select", "narrow",
                          "split", "chunk", "index_select", "flatten", "reshape"})


@dataclass(frozen=True)
class Sampled:
    """What an op's sampler proposes: which existing tensors it consumes, its params, spelling."""

    inputs: list[str]
    params: dict[str, Any]
    spelling: str


class OpSpec:
    """Base class. Subclasses set the class attributes and override the hooks they need."""

    name: ClassVar[str]
    #: Ways to write the op; they export to different aten ops and take different paths.
    spellings: ClassVar[tuple[str, ...]]
    #: Spellings that modify their input in place; only legal on a single-use, non-input tensor.
    inplace_spellings: ClassVar[tuple[str, ...]] = ()
    #: True when the op owns parameters (the weights recipe applies to it).
    has_weights: ClassVar[bool] = False
    #: Number of inputs; ``None`` for variadic ops (cat) which override :meth:`check`.
    arity: ClassVar[int | None] = 1
    #: Spellings that only exist for some param values, e.g. ``{"adaptive": {"keepdim": True}}``.
    spelling_requires: ClassVar[dict[str, dict[str, Any]]] = {}
    #: Input shapes a one-node probe case offers the sampler (registry tests, ``surface``):
    #: ops that need another rank (linear, conv1d, bmm) declare theirs.
    probe_shapes: ClassVar[tuple[Shape, ...]] = ((1, 4, 8, 8), (1, 4, 8, 8))

    @property
    def family(self) -> str:
        """The op's family: the registry module that defines it (conv, activation, pointwise,
        ...). Ops of one module share their lowering's shape (weights, tables, rescales), so a
        campaign counts regimes per family (fuzz.generate.cells)."""
        return type(self).__module__.rsplit(".", 1)[-1]

    def spelling_ok(self, spelling: str, params: dict[str, Any]) -> bool:
        need = self.spelling_requires.get(spelling, {})
        return all(params.get(k) == v for k, v in need.items())

    def canonical_spelling(self, params: dict[str, Any]) -> str:
        """The first out-of-place spelling that takes ``params``: what the delegation oracle's
        spelling control rewrites a node to, and what a cell writes the nodes that make its
        regime in (a spelling the quantizer misses would hide the regime behind a CPU op)."""
        return next(s for s in self.spellings if s not in self.inplace_spellings and self.spelling_ok(s, params))

    # -- validation --------------------------------------------------------------------
    def check(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        """Validate params against input shapes; return the output shape or raise CaseError."""
        if len(in_shapes) != self.arity:
            raise CaseError(f"{where}{self.name} takes {self.arity} input(s), got {len(in_shapes)}")
        return self.infer(where, in_shapes, params)

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        raise NotImplementedError

    # -- generation --------------------------------------------------------------------
    def accepts(self, shape: Shape) -> bool:
        """Whether a tensor of this shape can be this op's (first) input."""
        return True

    def sample(self, rng: random.Random, avail: dict[str, Shape]) -> Sampled | None:
        """Propose a node consuming some of ``avail``; ``None`` when nothing fits."""
        names = [n for n, s in avail.items() if self.accepts(s)]
        if not names:
            return None
        src = rng.choice(names)
        params = self.sample_params(rng, avail[src])
        if params is None:
            return None
        return Sampled([src], params, self.sample_spelling(rng, params))

    def sample_spelling(self, rng: random.Random, params: dict[str, Any]) -> str:
        return rng.choice([s for s in self.spellings if self.spelling_ok(s, params)])

    def sample_params(self, rng: random.Random, shape: Shape) -> dict[str, Any] | None:
        return {}

    def first_valid(self, shape: Shape, propose: Callable[[], dict[str, Any] | None], tries: int = 20) -> dict[str, Any] | None:
        """Draw params from ``propose`` until this op's shape rule accepts them on ``shape``."""
        for _ in range(tries):
            params = propose()
            if params is None:
                continue
            try:
                self.infer("", [shape], params)
            except CaseError:
                continue
            return params
        return None

    # -- emission ----------------------------------------------------------------------
    def emit_init(self, params: dict[str, Any], spelling: str, in_shapes: Sequence[Shape]) -> str | None:
        """Constructor expression for ``self.<node id>``; ``None`` when the spelling needs none."""
        return None

    def emit_call(self, attr: str, args: list[str], params: dict[str, Any], spelling: str) -> str:
        """Python expression computing the node from ``args`` (variable names)."""
        raise NotImplementedError

    def calls_module(self, attr: str, args: list[str], params: dict[str, Any], spelling: str) -> bool:
        """Whether the node is computed by calling its module ``self.<attr>``: only then does
        the quantizer's ``set_module_name(attr, ...)`` reach it (a functional conv that reads
        ``self.<attr>.weight`` is not inside that module)."""
        return self.emit_call(attr, args, params, spelling).startswith(f"self.{attr}(")


# -- helpers shared by the op modules ----------------------------------------------------


def check_spelling(where: str, op: OpSpec, spelling: str, params: dict[str, Any]) -> None:
    if spelling not in op.spellings:
        raise CaseError(f"{where}{op.name} has no spelling {spelling!r}; choose one of {list(op.spellings)}")
    if not op.spelling_ok(spelling, params):
        raise CaseError(f"{where}spelling {spelling!r} of {op.name} needs params {op.spelling_requires[spelling]}")


def want_int(where: str, params: dict, key: str, lo: int, hi: int) -> int:
    v = params.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise CaseError(f"{where}param {key!r} must be an integer in [{lo}, {hi}], got {v!r}")
    return v


def want_pair(where: str, params: dict, key: str, lo: int, hi: int) -> tuple[int, int]:
    """An int or a two-element list of ints (torch accepts both for 2-D window params)."""
    v = params.get(key)
    if isinstance(v, list) and len(v) == 2:
        pair = v
    elif isinstance(v, int) and not isinstance(v, bool):
        pair = [v, v]
    else:
        raise CaseError(f"{where}param {key!r} must be an int or [int, int], got {v!r}")
    for x in pair:
        if isinstance(x, bool) or not isinstance(x, int) or not lo <= x <= hi:
            raise CaseError(f"{where}param {key!r} entries must be integers in [{lo}, {hi}], got {v!r}")
    return pair[0], pair[1]


def want_bool(where: str, params: dict, key: str) -> bool:
    v = params.get(key)
    if not isinstance(v, bool):
        raise CaseError(f"{where}param {key!r} must be true or false, got {v!r}")
    return v


def want_float(where: str, params: dict, key: str, optional: bool = False) -> float | None:
    v = params.get(key)
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise CaseError(f"{where}param {key!r} must be a finite number, got {v!r}")
    return float(v)


def want_choice(where: str, params: dict, key: str, choices: Sequence[Any]) -> Any:
    v = params.get(key)
    # Compare types too: JSON's true must not pass for 1, nor 1 for true.
    if not any(v == c and type(v) is type(c) for c in choices):
        raise CaseError(f"{where}param {key!r} must be one of {list(choices)}, got {v!r}")
    return v


def reject_unknown(where: str, params: dict, allowed: Sequence[str]) -> None:
    extra = sorted(set(params) - set(allowed))
    if extra:
        raise CaseError(f"{where}unknown param(s) {extra}; allowed: {sorted(allowed)}")


def want_rank(where: str, op: OpSpec, shape: Shape, ranks: Sequence[int]) -> None:
    if len(shape) not in ranks:
        raise CaseError(f"{where}{op.name} needs a rank {' or '.join(map(str, ranks))} input, got shape {list(shape)}")


def py(value: Any) -> str:
    """Render a validated param value as Python source.

    Only plain data reaches here (validation rejects everything else), and this re-checks it:
    a case file must never be able to inject code into a generated model or repro script.
    """
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CaseError(f"non-finite value {value!r} cannot be rendered")
        return repr(value)
    if isinstance(value, str):
        if not value.replace("_", "").isalnum():
            raise CaseError(f"string value {value!r} cannot be rendered")
        return repr(value)
    if isinstance(value, (list, tuple)):
        inner = ", ".join(py(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    raise CaseError(f"value {value!r} of type {type(value).__name__} cannot be rendered")


def kwargs_src(params: dict[str, Any], keys: Sequence[str]) -> str:
    """``k=v`` pairs for the given keys present in params, in the given order."""
    return ", ".join(f"{k}={py(params[k])}" for k in keys if k in params)


def numel(shape: Shape) -> int:
    return math.prod(shape)


def check_elements(where: str, out: Sequence[int]) -> None:
    """An output larger than MAX_ELEMENTS is refused (lowering and the reference model slow down)."""
    if numel(out) > MAX_ELEMENTS:
        raise CaseError(f"{where}output {list(out)} exceeds {MAX_ELEMENTS} elements")


class TemplatedOp(OpSpec):
    """An op whose spellings are source templates, so each op declares them as a table.

    ``forms`` maps a spelling to ``(init, call)``: ``init`` is the constructor expression for
    ``self.<attr>`` (or ``None``), ``call`` the forward expression. Templates see ``{x}``,
    ``{y}`` (inputs), ``{xs}`` (all inputs as a tuple), ``{attr}`` and every param rendered
    with :func:`py`. Templates live in armfuzz's code; only validated data is substituted.
    """

    forms: ClassVar[dict[str, tuple[str | None, str]]]

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if "forms" in cls.__dict__:
            cls.spellings = tuple(cls.forms)

    def _fmt(self, template: str, attr: str, args: list[str], params: dict[str, Any]) -> str:
        fields = {k: py(v) for k, v in params.items()}
        fields.update(attr=attr, xs=f"({', '.join(args)},)" if len(args) == 1 else f"({', '.join(args)})")
        fields.update(x=args[0] if args else "", y=args[1] if len(args) > 1 else "")
        return template.format(**fields)

    def emit_init(self, params: dict[str, Any], spelling: str, in_shapes: Sequence[Shape]) -> str | None:
        init = self.forms[spelling][0]
        return None if init is None else self._fmt(init, "", [], params)

    def emit_call(self, attr: str, args: list[str], params: dict[str, Any], spelling: str) -> str:
        return self._fmt(self.forms[spelling][1], attr, args, params)


class UnaryElementwise(TemplatedOp):
    """Shape-preserving one-input ops; subclasses list their param names in ``param_names``."""

    param_names: ClassVar[tuple[str, ...]] = ()

    def infer(self, where: str, in_shapes: Sequence[Shape], params: dict[str, Any]) -> Shape:
        reject_unknown(where, params, self.param_names)
        self.check_params(where, params)
        return tuple(in_shapes[0])

    def check_params(self, where: str, params: dict[str, Any]) -> None:
        """Override to validate params (none by default)."""
