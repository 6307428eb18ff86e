"""Signature normalisation: the same bug gives the same string, different bugs differ."""

from __future__ import annotations

import sys

from fuzz.judge.signature import crash_signature, locate, normalise_message, raised_in_harness


def test_seed_message_normalises_to_the_documented_signature():
    msg = "RewriteConvPass: No output quantization parameter found in node tosa_conv2d_default\noriginal_aten=aten.convolution.default"
    sig = crash_signature("tosa-int-fp", "lower", "ValueError", "RewriteConvPass", msg)
    assert sig == "tosa-int-fp/lower/ValueError@RewriteConvPass: RewriteConvPass: No output quantization parameter found in node <node>"


def test_node_names_numbers_and_addresses_are_normalised():
    a = normalise_message("bad shape [1, 4, 16, 16] for aten_convolution_default_3 at 0x7f3a2b1c")
    b = normalise_message("bad shape [1, 8, 5, 5] for aten_convolution_default_11 at 0x55d0")
    assert a == b == "bad shape [<n>, <n>, <n>, <n>] for <node> at <addr>"


def test_lifted_constant_names_are_normalised():
    a = normalise_message("Expected tensor b__frozen_param1 in tosa.CONV2D.default to have dtype INT48")
    b = normalise_message("Expected tensor _frozen_param12 in tosa.CONV2D.default to have dtype INT48")
    assert a == b == "Expected tensor <param> in tosa.CONV2D.default to have dtype INT48"


def test_different_messages_stay_different():
    assert normalise_message("scale must be positive") != normalise_message("zero point out of range")


def test_op_and_dtype_names_survive():
    assert normalise_message("int8 input to aten.convolution.default") == "int8 input to aten.convolution.default"


def test_paths_are_normalised():
    assert normalise_message("cannot open /tmp/tmpab12/out.tosa") == normalise_message("cannot open /tmp/tmpzz99/out.tosa")


_FAKE_PASS_SRC = """
class FoldSomethingPass:
    def call(self):
        helper()

def helper():
    raise ValueError("No output quantization parameter found in node tosa_conv2d_default")

class Tool:
    def run(self):
        raise RuntimeError("vela: unsupported operator")
"""


def _traceback_from(filename: str, call: str):
    ns: dict = {}
    exec(compile(_FAKE_PASS_SRC, filename, "exec"), ns)
    try:
        eval(call, ns)
    except Exception:  # noqa: BLE001
        return sys.exc_info()[2]
    raise AssertionError("expected an exception")


def test_locate_names_the_running_pass_even_when_a_helper_raised():
    tb = _traceback_from("/site-packages/executorch/backends/arm/_passes/fold_something_pass.py", "FoldSomethingPass().call()")
    assert locate(tb) == ("FoldSomethingPass", None)
    assert raised_in_harness(tb) is False


def test_locate_ignores_pass_named_classes_outside_executorch():
    tb = _traceback_from("/home/user/mycode.py", "FoldSomethingPass().call()")
    assert locate(tb)[0] != "FoldSomethingPass"


def test_locate_attributes_vela_failures_to_the_compile_stage():
    tb = _traceback_from("/site-packages/executorch/backends/arm/arm_vela.py", "Tool().run()")
    where, stage = locate(tb)
    assert where.startswith("vela:") and stage == "compile"


def test_harness_frames_are_recognised():
    from fuzz.judge import signature

    tb = _traceback_from(signature.__file__, "FoldSomethingPass().call()")
    assert raised_in_harness(tb) is True
