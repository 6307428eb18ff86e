"""Oracle arithmetic and the static partition-boundary check."""

from __future__ import annotations

import operator

import torch

from fuzz.judge import oracle

Q = {"scale": 0.1, "zp": 0, "qmin": -127, "qmax": 127}


def _rep(ref, got, q=Q):
    return oracle.compare_outputs([[torch.tensor(ref)]], [[torch.tensor(got)]], [q], ["out"])[0]


def test_identical_outputs_pass():
    r = _rep([0.1, 0.2, -0.3], [0.1, 0.2, -0.3])
    assert r["symptom"] is None and r["max_lsb"] < 1e-6


def test_one_lsb_rounding_is_tolerated_but_two_is_not():
    assert _rep([0.1, 0.2], [0.2, 0.2])["symptom"] is None
    assert _rep([0.1, 0.2], [0.3, 0.2])["symptom"] == "max-error"


def test_systematic_one_lsb_bias_is_caught_although_each_element_is_in_tolerance():
    ref = [0.1 * (i % 20) for i in range(100)]
    got = [v + 0.1 for v in ref]
    r = _rep(ref, got, {"scale": 0.1, "zp": 0, "qmin": -128, "qmax": 127})
    assert r["max_lsb"] <= 1.0 + 1e-6
    assert r["symptom"] == "bias" and abs(r["mean_lsb"] - 1.0) < 1e-6


def test_code_saturated_at_the_dtype_bound_below_a_narrow_qmin_is_narrow_range():
    """act_qmin -127, a lowered -128: the dtype's bound, one step past the quantizer's."""
    r = _rep([-12.7, 0.0], [-12.8, 0.0])
    assert r["symptom"] == "narrow-range" and r["out_of_range"] == 1 and r["narrow_range"]


def test_a_wrong_value_at_the_storage_bound_is_named_as_it_is_with_a_full_range():
    """At the dtype bound past a narrow qmin but 128 LSB off: the missing clamp explains 1 LSB
    of it; the rest is a wrong value, named as the same value is with act_qmin -128 (seed
    000's relu: one rule, one bug whatever the activation range)."""
    narrow = _rep([0.0, 0.0], [-12.8, 0.0])
    full = _rep([0.0, 0.0], [-12.8, 0.0], {"scale": 0.1, "zp": 0, "qmin": -128, "qmax": 127})
    assert narrow["out_of_range"] == 1 and narrow["narrow_range"] and narrow["clamped_max_lsb"] == 127
    assert narrow["symptom"] == full["symptom"] == "max-error"
    # a shift besides the missing clamp: bias, as without the narrow range
    ref = [0.1 * (i % 20) for i in range(100)] + [-12.7]
    got = [v + 0.1 for v in ref[:-1]] + [-12.8]
    assert _rep(ref, got)["symptom"] == "bias"


def test_code_past_a_narrow_range_short_of_the_storage_bound_is_out_of_range():
    # Inside the int8 type but outside a narrower quantizer range: not the dtype bound, not
    # the narrow-range rule, whatever its error.
    r = _rep([-10.0, 0.0], [-11.0, 0.0], {"scale": 0.1, "zp": 0, "qmin": -100, "qmax": 100})
    assert r["symptom"] == "out-of-range" and not r["narrow_range"]
    assert _rep([-10.0, 0.0], [-10.1, 0.0], {"scale": 0.1, "zp": 0, "qmin": -100, "qmax": 100})["symptom"] == "out-of-range"


def test_nonfinite_is_reported():
    assert _rep([0.0], [float("nan")])["symptom"] == "nonfinite"


def _delegate_graph(consumer):
    """A hand-built lowered-program shape: delegate -> getitem (int8) -> consumer."""

    def executorch_call_delegate(*args):  # name is what the oracle recognises
        return (args[0],)

    g = torch.fx.Graph()
    x = g.placeholder("x")
    call = g.call_function(executorch_call_delegate, (x,))
    item = g.call_function(operator.getitem, (call, 0))
    item.meta["val"] = torch.empty(2, dtype=torch.int8)
    out = consumer(g, item)
    g.output(out)
    return torch.fx.GraphModule(torch.nn.Module(), g)


def test_static_check_flags_integer_delegate_output_into_cpu_op():
    gm = _delegate_graph(lambda g, item: g.call_function(torch.relu, (item,)))
    errors = oracle.static_program_errors(gm)
    assert len(errors) == 1 and "feeds CPU op" in errors[0]


def test_static_check_accepts_dequantized_delegate_output():
    def dequantize_per_tensor(x, *a):
        return x

    gm = _delegate_graph(lambda g, item: g.call_function(dequantize_per_tensor, (item, 0.1, 0, -128, 127, torch.int8)))
    assert oracle.static_program_errors(gm) == []


def test_static_check_flags_integer_program_output():
    gm = _delegate_graph(lambda g, item: item)
    assert "program output" in oracle.static_program_errors(gm)[0]


def test_exact_one_lsb_difference_with_float32_residue_is_within_tolerance():
    """Regression: (got - ref) / scale in float gave 1.0000023 and flagged an exact 1-LSB."""
    scale = 0.0006976
    codes = torch.arange(-20, 20, dtype=torch.float32)
    ref = (codes * scale).float()
    got = ((codes + (codes % 5 == 0).float()) * scale).float()  # some elements one code up
    q = {"scale": scale, "zp": 0, "qmin": -128, "qmax": 127, "dtype": "int8"}
    r = oracle.compare_outputs([[ref]], [[got]], [q], ["out"])[0]
    assert r["max_lsb"] == 1.0 and r["symptom"] is None
