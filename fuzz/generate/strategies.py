"""Hypothesis strategies for armfuzz Cases: a public API for executorch developers who want
to property-test their own pass or operator on the graphs armfuzz generates.

    from hypothesis import given, settings
    from fuzz.strategies import cases

    @settings(max_examples=20, deadline=None)
    @given(cases(ops=["conv2d", "relu", "cat"], targets=["tosa-int"]))
    def test_my_pass(case): ...

Every choice of the generator is drawn from Hypothesis (:class:`DrawnRandom`), not from a
seed, so Hypothesis's own shrinker works on the graph: a shorter or smaller choice sequence
is a case with fewer nodes, earlier ops, smaller shapes. Every case is valid
(``Case.validate``), on a target that can take its quantization config.
"""

from __future__ import annotations

import random
from typing import Iterable

from hypothesis import strategies as st

from fuzz.core.errors import CaseError
from fuzz.core.targets import TARGETS
from fuzz.generate.case import Case, QuantConfig
from fuzz.generate.focus import REGIMES

#: Attempts at a valid case before the example is rejected (generate() uses the same bound).
ATTEMPTS = 50


class DrawnRandom(random.Random):
    """A ``random.Random`` whose every draw is a Hypothesis draw, shrinking toward the plain
    case: ``random()`` toward its top (the generator writes "do the unusual thing" as
    ``rng.random() < p``: a motif, a second motif, an adversarial recipe), every choice
    (choice, randint, randrange, shuffle, and choices, whose weights are dropped here) toward
    its first option."""

    def __init__(self, data: st.DataObject) -> None:
        super().__init__(0)
        self._data = data

    def random(self) -> float:
        return (2**53 - 1 - self._data.draw(st.integers(0, 2**53 - 1))) / 2**53

    def _randbelow(self, n: int) -> int:
        return self._data.draw(st.integers(0, n - 1)) if n > 1 else 0

    def choices(self, population, weights=None, *, cum_weights=None, k=1):  # noqa: ARG002 - see the docstring
        return [population[self._randbelow(len(population))] for _ in range(k)]


def _names(kind: str, given: Iterable[str] | None, known: Iterable[str]) -> list[str]:
    known = list(known)
    if given is None:
        return known
    given = [given] if isinstance(given, str) else list(given)
    unknown = [g for g in given if g not in known]
    if unknown or not given:
        raise ValueError(f"cases(): unknown {kind} {', '.join(map(repr, unknown)) or '(empty list)'}; "
                         f"known: {', '.join(known)}")
    return given


def _quant_fits(target: str, activations: str | None, four_bit_weights: bool | None) -> bool:
    t = TARGETS[target]
    acts = t.forced_activations or activations
    if acts == "int16" and not t.int16:
        return False
    if activations and t.forced_activations and activations != t.forced_activations:
        return False
    if four_bit_weights and ("int4" not in t.extensions or (acts or "int8") == "int16" or t.forced_activations == "int16"):
        return False
    return True


def cases(
    ops: Iterable[str] | None = None,
    targets: Iterable[str] | None = None,
    activations: str | None = None,
    per_channel: bool | None = None,
    four_bit_weights: bool | None = None,
    regimes: Iterable[str] | None = None,
) -> st.SearchStrategy[Case]:
    """Valid Cases, optionally only of these registry ``ops``, on these ``targets``, with
    ``activations`` ("int8"/"int16"), per-channel or per-tensor weights, 4-bit weights or not,
    aimed at these ``regimes`` (the generator's focus; fuzz.generate.focus.REGIMES). A combination no
    target can take is a ValueError here, not a Hypothesis health-check failure later."""
    from fuzz.generate.focus import applicable_regimes
    from fuzz.generate.generator import OP_WEIGHTS, generate_with

    op_set = frozenset(_names("op", ops, OP_WEIGHTS)) if ops is not None else None
    if activations not in (None, "int8", "int16"):
        raise ValueError(f"cases(): activations must be 'int8' or 'int16', got {activations!r}")
    target_names = [t for t in _names("target", targets, TARGETS) if _quant_fits(t, activations, four_bit_weights)]
    if not target_names:
        raise ValueError(f"cases(): no target among {list(targets or TARGETS)} takes activations={activations!r} "
                         f"with four_bit_weights={four_bit_weights!r} (int16 needs the int16 extension; 4-bit "
                         "weights need int4 and int8 activations)")
    wanted = _names("regime", regimes, REGIMES) if regimes is not None else None
    focus_by_target = {t: [r for r in applicable_regimes(t) if wanted is None or r in wanted] for t in target_names}
    if wanted is not None:
        target_names = [t for t in target_names if focus_by_target[t]]
        if not target_names:
            raise ValueError(f"cases(): no target among the chosen ones can reach regimes {wanted}")

    @st.composite
    def _case(draw: st.DrawFn) -> Case:
        data = draw(st.data())
        target = draw(st.sampled_from(target_names))
        focus = draw(st.sampled_from(focus_by_target[target] if wanted is not None else [None, *focus_by_target[target]]))
        rng = DrawnRandom(data)
        for _ in range(ATTEMPTS):
            case = generate_with(rng, target, focus, op_set)
            if case is not None and _apply_quant(case, activations, per_channel, four_bit_weights):
                return case
        from hypothesis import reject

        reject()

    return _case()


def _apply_quant(case: Case, activations: str | None, per_channel: bool | None, four_bit_weights: bool | None) -> bool:
    """Force the filtered quant fields onto a generated case; False if it is then invalid."""
    q = case.quant
    t = TARGETS[case.target]
    if activations and not t.forced_activations:
        q.activations = activations
    if per_channel is not None:
        q.per_channel = per_channel
    if four_bit_weights is not None and four_bit_weights != q.four_bit_weights:
        q.weight_qmin, q.weight_qmax = (-7, 7) if four_bit_weights else (QuantConfig.weight_qmin, QuantConfig.weight_qmax)
    try:
        case.validate()
    except CaseError:
        return False
    return True
