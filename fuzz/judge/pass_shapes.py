"""Which pass changed the size of a graph's outputs: the pass behind a wrong output shape.

A pass rewrites a graph without changing what it computes, so the element count of each graph
output is the same before and after it (a layout pass permutes dimensions, never their
product). When a delegate returns an output of another size than the program declares
(fuzz.judge.compat.WrongOutputShape), the first pass of the lowering that changed an output's
size is the one that computed the wrong shape: executorch 1.5.1's ConvertMinMaxPass reads
``amin(x, dim=[])`` (all dims) as no reduction at all and returns ``x``. Named by it, the
wrong shape is one bug with the crash the same pass raises when the shape meets another op
(a cat's size check while it retraces), whatever op showed it (fuzz.triage.bugs).

Every pass executorch runs is a ``torch.fx`` ``PassBase``; its ``__call__`` (or the one a
subclass such as the Arm backend's ``ArmPass`` defines) is wrapped while a lowering is watched,
so nothing here depends on a release's pass list. The check reads each output node's
``meta["val"]``: a few attribute reads per pass. (Carried verbatim into rendered repros.)
"""

from __future__ import annotations

from typing import Any


def output_sizes(graph_module: Any) -> list[int | None]:
    """The element count of each output of a graph (None where its value is not a tensor)."""
    graph = getattr(graph_module, "graph", None)
    found = graph.find_nodes(op="output") if graph is not None else []
    if not found:
        return []
    out = found[0]
    values = out.args[0] if isinstance(out.args[0], (tuple, list)) else [out.args[0]]
    sizes: list[int | None] = []
    for v in values:
        val = getattr(v, "meta", {}).get("val")
        sizes.append(int(val.numel()) if hasattr(val, "numel") and hasattr(val, "shape") else None)
    return sizes


def watch_pass_output_sizes(changes: list[dict[str, Any]]) -> Any:
    """Wrap every pass class's ``__call__`` to append to ``changes`` each pass that changes the
    size of a graph output; return the function that unwraps them."""
    from torch.fx.passes.infra.pass_base import PassBase

    classes, todo = [], [PassBase]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if "__call__" in cls.__dict__ and cls not in classes:
            classes.append(cls)
    originals = {cls: cls.__dict__["__call__"] for cls in classes}

    def watched(call: Any) -> Any:
        def __call__(self, graph_module, *args, **kwargs):
            before = output_sizes(graph_module)
            result = call(self, graph_module, *args, **kwargs)
            after = output_sizes(getattr(result, "graph_module", None))
            if len(before) == len(after):
                for i, (b, a) in enumerate(zip(before, after)):
                    if b is not None and a is not None and a != b:
                        changes.append({"pass": type(self).__name__, "output": i, "before": b, "after": a})
                        break
            return result

        return __call__

    for cls, call in originals.items():
        cls.__call__ = watched(call)

    def unwatch() -> None:
        for cls, call in originals.items():
            cls.__call__ = call

    return unwatch


def describe(change: dict[str, Any]) -> str:
    """What a recorded change says in a verdict's message (the worker's and the repro's)."""
    return f"{change['pass']} changed the size of a graph output from {change['before']} to {change['after']} elements"
