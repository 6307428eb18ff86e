"""The reducer: shrink a failing case while it keeps failing the same way.

Greedy passes to a fixed point (C-Reduce/Hypothesis style): each pass proposes candidates
biggest cut first; they are checked for validity for free, then lowered in batches as wide as
the worker pool; the first candidate (in proposal order, so the result does not depend on
which worker finished first) that still shows the signature (or names fewer of the ops of a
numerics span, :func:`narrows`) becomes the new case and the pass starts over on it. Every lowering is cached by case hash. The loop ends at a fixed point or
when the evaluation or time budget runs out; the final case is then re-run N times so a flaky
signature is reported as such, never silently kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from fuzz.core.errors import CaseError
from fuzz.generate.case import Case
from fuzz.judge.outcome import Outcome
from fuzz.judge.signature import CULPRIT_LABEL, NODE_RULES, SPAN_LABEL
from fuzz.replay.corpus import observed
from reducer.passes import PASSES, cost, prune

#: Runs a batch of cases (in parallel where it can) and returns their outcomes in order.
Evaluate = Callable[[list[Case]], list[Outcome]]


def same_bug(want: str, got: str, allow_target_change: bool) -> bool:
    """Signatures match, or ``got`` narrows ``want``'s numerics span (:func:`narrows`); across
    targets, only the part after ``<target>/`` must."""
    want_target, _, want_rest = want.partition("/")
    got_target, _, got_rest = got.partition("/")
    if got_target != want_target and not allow_target_change:
        return False
    return got_rest == want_rest or narrows(want_rest, got_rest)


def narrows(want: str, got: str) -> bool:
    """``got`` names fewer of the ops of ``want``'s span, with the same symptom: a smaller
    span, or one node of it found wrong on its own. A span is a value gone wrong somewhere
    among nodes whose lowered values were not matched; dropping nodes from the case can match
    them, which is the reduction working, not another bug (``sin(span)`` -> ``sin(alone)``).
    The node alone may also be named by the rule its error breaks: an int16 ``max-error@sin(span)``
    whose sin, alone, is ``table-interpolation@sin(alone)`` (a span's rule can only be judged
    through the reference values of its unmatched producers).
    An unlocalised output or a propagated verdict never narrows a span."""
    span = SPAN_LABEL.match(want)
    if span is None:
        return False
    ops = set(span["ops"].split("+"))
    smaller = SPAN_LABEL.match(got)
    if smaller is not None:
        return smaller["head"] == span["head"] and set(smaller["ops"].split("+")) < ops
    one = CULPRIT_LABEL.match(got)
    if one is None or one["op"] not in ops or one["context"] == "unlocalized":
        return False
    return one["head"] == span["head"] or one["head"] in {f"compare/numerics-{rule}@" for rule in NODE_RULES}


@dataclass
class Budget:
    evaluations: int = 400
    seconds: float = 1800.0


@dataclass
class Step:
    pass_name: str
    description: str
    nodes: int
    evaluation: int
    seconds: float


@dataclass
class Reduction:
    original: Case
    signature: str
    reduced: Case
    #: The reduced case's own outcome (its signature may name a simpler target).
    outcome: Outcome | None
    reproduced: bool
    evaluations: int = 0
    cache_hits: int = 0
    seconds: float = 0.0
    fixed_point: bool = False
    steps: list[Step] = field(default_factory=list)
    #: Re-runs of the final case that showed the signature, out of how many.
    confirm: tuple[int, int] = (0, 0)

    @property
    def flaky(self) -> bool:
        return self.confirm[1] > 0 and self.confirm[0] < self.confirm[1]

    def summary(self) -> dict:
        return {
            "signature": self.signature,
            "reduced_signature": self.outcome.signature if self.outcome else None,
            "reproduced": self.reproduced,
            "nodes_before": len(self.original.nodes),
            "nodes_after": len(self.reduced.nodes),
            "ops_after": [n.op for n in self.reduced.nodes],
            "target_before": self.original.target,
            "target_after": self.reduced.target,
            "evaluations": self.evaluations,
            "cache_hits": self.cache_hits,
            "seconds": round(self.seconds, 1),
            "fixed_point": self.fixed_point,
            "confirmed": f"{self.confirm[0]}/{self.confirm[1]}",
            "flaky": self.flaky,
            "steps": [s.__dict__ for s in self.steps],
        }


class Reducer:
    def __init__(
        self,
        evaluate: Evaluate,
        width: int = 1,
        budget: Budget | None = None,
        allow_target_change: bool = True,
        confirm_runs: int = 3,
        on_step: Callable[[Step], None] | None = None,
    ) -> None:
        self.evaluate = evaluate
        self.width = max(1, width)
        self.budget = budget or Budget()
        self.allow_target_change = allow_target_change
        self.confirm_runs = confirm_runs
        self.on_step = on_step
        self.cache: dict[str, Outcome] = {}
        self.evaluations = 0
        self.cache_hits = 0

    # -- evaluation with a cache ------------------------------------------------------
    def _outcomes(self, cases: list[Case]) -> list[Outcome]:
        todo = [c for c in dict((c.case_id, c) for c in cases).values() if c.case_id not in self.cache]
        self.cache_hits += len(cases) - len(todo)
        if todo:
            for c, o in zip(todo, self.evaluate(todo)):
                self.cache[c.case_id] = o
            self.evaluations += len(todo)
        return [self.cache[c.case_id] for c in cases]

    def _out_of_budget(self) -> bool:
        return self.evaluations >= self.budget.evaluations or time.monotonic() - self._t0 >= self.budget.seconds

    # -- the loop ---------------------------------------------------------------------
    def run(self, case: Case, signature: str) -> Reduction:
        self._t0 = time.monotonic()
        first = self._outcomes([case])[0]
        result = Reduction(case, signature, case, first, reproduced=same_bug(signature, observed(first), False))
        if not result.reproduced:
            return self._finish(result)
        current, current_outcome = case, first
        # What a candidate must still show: the signature, or the narrower span (or span
        # node) a kept candidate showed, so later steps cannot wander to another of its ops.
        want = observed(first)
        pruned = prune(case)
        if pruned.to_json() != case.to_json():
            o = self._outcomes([pruned])[0]
            if self._keeps(want, o):
                current, current_outcome, want = pruned, o, observed(o)
        progress = True
        while progress and not self._out_of_budget():
            progress = False
            for name, proposer in PASSES:
                while not self._out_of_budget():
                    found = self._first_hit(proposer(current), current, want)
                    if found is None:
                        break
                    desc, current, current_outcome = found
                    want = observed(current_outcome)
                    progress = True
                    step = Step(name, desc, len(current.nodes), self.evaluations, round(time.monotonic() - self._t0, 1))
                    result.steps.append(step)
                    if self.on_step is not None:
                        self.on_step(step)
        result.fixed_point = not progress and not self._out_of_budget()
        result.reduced, result.outcome = current, current_outcome
        if self.confirm_runs:
            # The run that accepted the final case is the first of the confirmation's runs;
            # the others are fresh reruns (with 2 workers, 3 runs cost one batch, not two).
            reruns = self.evaluate([current] * (self.confirm_runs - 1)) if self.confirm_runs > 1 else []
            self.evaluations += len(reruns)
            result.confirm = (1 + sum(self._keeps(want, o) for o in reruns), self.confirm_runs)
        return self._finish(result)

    def _keeps(self, signature: str, o: Outcome) -> bool:
        return same_bug(signature, observed(o), self.allow_target_change)

    def _first_hit(self, proposals, current: Case, signature: str):
        """The first proposal, in order, that is valid, smaller and still fails the same way."""
        size = cost(current)
        batch: list[tuple[str, Case]] = []
        seen: set[str] = set()
        for desc, cand in proposals:
            try:
                cand.validate()
            except CaseError:
                continue
            if cost(cand) >= size or cand.case_id in seen:
                continue
            seen.add(cand.case_id)
            batch.append((desc, cand))
            if len(batch) == self.width:
                hit = self._try(batch, signature)
                if hit is not None or self._out_of_budget():
                    return hit
                batch = []
        return self._try(batch, signature) if batch else None

    def _try(self, batch: list[tuple[str, Case]], signature: str):
        outcomes = self._outcomes([c for _, c in batch])
        for (desc, cand), o in zip(batch, outcomes):
            if self._keeps(signature, o):
                return desc, cand, o
        return None

    def _finish(self, result: Reduction) -> Reduction:
        result.evaluations = self.evaluations
        result.cache_hits = self.cache_hits
        result.seconds = time.monotonic() - self._t0
        return result
