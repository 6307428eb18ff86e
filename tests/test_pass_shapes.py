"""The pass watcher names the pass that changed a graph output's size (fuzz.judge.pass_shapes).
Its end-to-end use (ConvertMinMaxPass on a real lowering) is tested in tests/test_repro.py."""

from __future__ import annotations

import torch
from torch.fx.passes.infra.pass_base import PassBase, PassResult
from torch.fx.passes.shape_prop import ShapeProp

from fuzz.judge.pass_shapes import output_sizes, watch_pass_output_sizes


class _Widen(PassBase):
    """Gives the graph's output another size, as a pass with a wrong shape rule does."""

    def call(self, graph_module):
        out = next(n for n in graph_module.graph.nodes if n.op == "output")
        out.args[0].meta["val"] = torch.zeros(2, 4)
        return PassResult(graph_module, True)


class _Keep(PassBase):
    def call(self, graph_module):
        return PassResult(graph_module, False)


def _graph():
    gm = torch.fx.symbolic_trace(lambda x: x + 1)
    ShapeProp(gm).propagate(torch.zeros(2, 3))
    for n in gm.graph.nodes:  # ShapeProp writes tensor_meta; passes read meta["val"]
        if "tensor_meta" in n.meta:
            n.meta["val"] = torch.zeros(n.meta["tensor_meta"].shape)
    return gm


def test_the_first_pass_that_changes_an_output_size_is_recorded_and_the_watch_comes_off():
    original = PassBase.__call__
    changes: list[dict] = []
    unwatch = watch_pass_output_sizes(changes)
    try:
        gm = _graph()
        assert output_sizes(gm) == [6]
        _Keep()(gm)
        assert changes == []
        _Widen()(gm)
    finally:
        unwatch()
    assert changes == [{"pass": "_Widen", "output": 0, "before": 6, "after": 8}]
    assert PassBase.__call__ is original
    _Widen()(_graph())  # unwatched: nothing more is recorded
    assert len(changes) == 1
