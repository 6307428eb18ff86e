"""The backend's operator surface against the registry: a real measurement on the installed
executorch (its support lists and checks), printed so the gap is visible in every run."""

from __future__ import annotations

import pytest

from fuzz.generate.ops import all_ops


@pytest.mark.pipeline
def test_surface_lists_what_the_registry_lacks(capsys):
    from fuzz.views.surface import surface

    # One sample in one spelling per op (230 s -> under a minute in CI); `armfuzz surface`
    # measures every spelling on three samples.
    s = surface(samples=1, every_spelling=False)
    d = s.to_dict()
    with capsys.disabled():
        print(f"\nregistry reaches at least {len(d['reached'])} of the backend's {d['backend_ops']} supported aten ops "
              f"(one sample, one spelling per op; `armfuzz surface` for all)")
    # What the registry writes must be found as what the backend supports: a conv case that
    # no longer exports to aten.convolution would be a registry bug, not a gap.
    for packet, op in (("aten.convolution", "conv2d"), ("aten.relu", "relu"), ("aten.cat", "cat"), ("aten.add", "add"),
                       ("aten.avg_pool2d", "avg_pool2d"), ("aten.max_pool2d", "max_pool2d"), ("aten.view_copy", "reshape")):
        assert packet in d["reached"] and any(by.startswith(op + "/") for by in d["reached"][packet]), (packet, d["reached"])
    # Every registry op reaches at least one supported aten op, and the lists are disjoint.
    reached_by = {by.split("/")[0] for bys in d["reached"].values() for by in bys}
    assert reached_by == set(all_ops()), set(all_ops()) - reached_by
    assert not set(d["missing"]) & set(d["reached"])
    assert d["backend_ops"] == len(d["reached"]) + len(d["missing"])
