"""The Arm backend's operator surface, against what the registry's cases reach.

Breadth is measured, not assumed: executorch's TOSA partitioner seeds its support checks
from per-profile sets of edge operators (``operator_support/tosa_profile_supported_op_lists.py``,
INT and FP). Every op of the registry is written in each of its spellings, exported, and the
aten operators of the exported graph are collected before and after the core-ATen
decompositions (the partitioner keeps some ops whole and sees others decomposed). What the
backend lists and no case reaches is the registry's gap: ``armfuzz surface`` prints it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from fuzz.generate.case import Case, Node, TensorSpec

#: Spellings are exported on this many sampled parameter sets each (parameters change the
#: aten op: ``mean`` over H and W with keepdim, avg_pool with or without padding, ...).
SAMPLES_PER_SPELLING = 3


def single_op_case(op_name: str, seed: int) -> Case:
    """A valid one-node case of ``op_name``, sampled by the op itself on the inputs its
    ``probe_shapes`` declare. An in-place spelling is swapped for an out-of-place one: graph
    inputs cannot be modified in place."""
    from fuzz.generate.ops import all_ops

    rng = random.Random(seed)
    op = all_ops()[op_name]
    names = "abcdefgh"[: len(op.probe_shapes)]
    inputs = [TensorSpec(n, list(s)) for n, s in zip(names, op.probe_shapes)]
    avail = {n: tuple(s) for n, s in zip(names, op.probe_shapes)}
    sampled = None
    for _ in range(50):
        sampled = op.sample(rng, avail)
        if sampled is not None:
            break
    if sampled is None:
        raise RuntimeError(f"the {op_name} sampler never produced a node on {avail}")
    spelling = sampled.spelling
    if spelling in op.inplace_spellings:
        spelling = next(x for x in op.spellings if x not in op.inplace_spellings and op.spelling_ok(x, sampled.params))
    used = [t for t in inputs if t.name in sampled.inputs]
    case = Case(inputs=used, nodes=[Node("n", op_name, list(sampled.inputs), sampled.params, spelling)], outputs=["n"])
    case.calibration = {"samples": 1, "inputs": {t.name: {"kind": "normal", "mean": 0.0, "std": 1.0} for t in used}}
    case.validate()
    return case


def _packet(name: str) -> str:
    """``aten.add.Tensor`` -> ``aten.add``: ops are compared by overload packet."""
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "aten" else name


def _aten_packets(ops) -> set[str]:
    # An EdgeOpOverload's __name__ is "aten.add.Tensor"; operator.getitem is not an aten op.
    return {_packet(op.__name__) for op in ops if str(getattr(op, "__name__", "")).startswith("aten.")}


def backend_ops() -> dict[str, set[str]]:
    """The aten overload packets the TOSA partitioner supports: its per-profile lists (INT,
    FP), and the targets of its dedicated support checks (conv, pooling, slice, where, ...,
    ``SupportedTOSAOperatorCheck`` subclasses), under "checks"."""
    import executorch.backends.arm.operator_support  # noqa: F401 - registers every check
    from executorch.backends.arm.operator_support import tosa_profile_supported_op_lists as lists
    from executorch.backends.arm.operator_support.tosa_supported_operators import SupportedTOSAOperatorCheck

    checks, todo = set(), [SupportedTOSAOperatorCheck]
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        checks |= _aten_packets(getattr(cls, "targets", None) or ())
    return {"INT": _aten_packets(lists.TOSA_PRO_INT_SupportList), "FP": _aten_packets(lists.TOSA_PRO_FP_SupportList),
            "checks": checks}


def _exported_ops(case: Case) -> set[str]:
    import torch

    from fuzz.generate.codegen import build_model, calibration_data

    model, _ = build_model(case)
    exported = torch.export.export(model, calibration_data(case)[0])
    names = set()
    for program in (exported, exported.run_decompositions()):
        names |= {_packet(str(n.target)) for n in program.graph.nodes if n.op == "call_function"}
    # to_edge turns view ops into their functional copies (view -> view_copy, permute ->
    # permute_copy), which is how the support lists name them.
    return {m for n in names if n.startswith("aten.") for m in (n, n + "_copy")}


def registry_ops(samples: int = SAMPLES_PER_SPELLING, every_spelling: bool = True) -> dict[str, set[str]]:
    """aten overload packet -> the registry ops (``op/spelling``) whose cases produce it.

    ``samples=1, every_spelling=False`` exports each op once, in its first usable spelling:
    enough to show that every op reaches the backend (the test's question) in a fifth of
    the time; the gap it prints is then an upper bound."""
    from fuzz.generate.ops import all_ops

    reached: dict[str, set[str]] = {}
    for name, op in sorted(all_ops().items()):
        for seed in range(samples):
            case = single_op_case(name, seed)
            usable = [x for x in op.spellings
                      if x not in op.inplace_spellings and op.spelling_ok(x, case.nodes[0].params)]
            for spelling in usable if every_spelling else usable[:1]:
                case.nodes[0].spelling = spelling
                for packet in _exported_ops(case):
                    reached.setdefault(packet, set()).add(f"{name}/{spelling}")
    return reached


@dataclass
class Surface:
    backend: dict[str, set[str]]
    reached: dict[str, set[str]]
    missing: list[str] = field(default_factory=list)

    @property
    def listed(self) -> set[str]:
        return set().union(*self.backend.values())

    def to_dict(self) -> dict:
        return {
            "backend_ops": len(self.listed),
            "reached": {p: sorted(self.reached[p]) for p in sorted(self.listed & set(self.reached))},
            "missing": self.missing,
            "missing_int": sorted((self.backend["INT"] | self.backend["checks"]) - set(self.reached)),
        }


def surface(samples: int = SAMPLES_PER_SPELLING, every_spelling: bool = True) -> Surface:
    """The backend's supported ops, what the registry reaches, and what it lacks."""
    backend, reached = backend_ops(), registry_ops(samples, every_spelling)
    s = Surface(backend, reached)
    s.missing = sorted(s.listed - set(reached))
    return s
