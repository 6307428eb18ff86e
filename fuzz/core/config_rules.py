"""Errors that mean "this configuration is not supported": our mistake, not executorch's bug.

A fuzzer that samples a configuration executorch documents as unsupported files false bug
reports. Such an error gets the ``rejected-config`` verdict: counted and shown, never
bucketed, never reported. The table is deliberately narrow: an accepted configuration that
then crashes, or a partitioned graph that then fails to lower for another reason, stays a
bug. Each rule cites the executorch code that documents the configuration as unsupported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ConfigRule:
    name: str
    #: type name of the root-cause exception
    exception: str
    #: the raising function, as fuzz.judge.signature.locate names it
    where: str
    message: re.Pattern[str]
    #: where executorch says the configuration is unsupported
    cites: str


RULES = (
    ConfigRule(
        "dtype-needs-extension",
        "ValueError",
        "mapping.__init__",
        # INT4 / BF16 / FP8 tensors exist only with their TOSA extension; a spec without it
        # refuses them when the tensor is serialised. FP32 is deliberately absent: a float
        # tensor reaching an INT-only spec means the partitioner delegated what it should
        # not have, which is executorch's bug.
        re.compile(r"doesn't support tensor .*dtype=(INT4|BF16|FP8E4M3|FP8E5M2)\b"),
        "executorch/backends/arm/tosa/mapping.py TosaArg.__init__ raises when TosaArg.__validate finds "
        "the spec without the dtype's extension (support_extension('int4'/'bf16'/'fp8e4m3'/'fp8e5m2'))",
    ),
)


def rejected(exception: str, where: str, message: str) -> ConfigRule | None:
    """The rule an error matches, or None when it is not a configuration rejection."""
    for rule in RULES:
        if rule.exception == exception and rule.where == where and rule.message.search(message):
            return rule
    return None


#: Ops whose weights executorch cannot quantize per channel to 4 bits, with the citation. The
#: generator gives such a graph per-tensor 4-bit weights instead: nothing rejects the
#: configuration cleanly (it crashes, emits an invalid RESCALE or is silently wrong,
#: depending on the shape), but upstream documents it as unsupported.
NO_PER_CHANNEL_INT4 = {
    "conv_transpose2d": "executorch/backends/arm/test/ops/test_transpose_conv2d.py marks per-channel a8w4 xfail: "
                        "'per-channel int4 weight quantization is not supported for transpose conv yet.'",
}
