"""Spelling families: ``spelling-not-delegated`` findings grouped by the reason executorch gives.

A finding's signature names the aten op(s) the spelling exported to, as the quantizer was
given them (fuzz.judge.delegation): ``neg(negative)``, ``elu(elu_)``,
``where(not_equal+where)``. Its canonical spelling of the same computation was quantized and
delegated, so the difference is the op the spelling exported to. executorch 1.5.1's Arm
quantizer (the composable one, its default: ``TOSAQuantizer(use_composable_quantizer=True)``
builds ``_TOSAQuantizerV2`` in ``quantizer/arm_quantizer.py``) annotates a node only when its
exact ``OpOverload`` is listed: the pattern matcher looks the tuple of node targets up in
``quantizer/quantizer_support.py:TOSA_QUANTIZER_SUPPORT_DICT``
(``backends/cortex_m/quantizer/pattern_matcher.py:_get_match``), and
``SharedQspecQuantizer.SHARED_QSPEC_OPS_DEFAULT`` (``quantizer/arm_quantizer_utils.py``)
lists the ops that share their input's qparams. An op in neither stays in float, on the CPU.
Why the spelling's op is in neither list is the family, and each family is what one change
to executorch closes:

* ``inplace``: the spelling exported to an in-place op (torch names them with a trailing
  underscore, ``native_functions.yaml``: ``elu_``, ``clamp_``, ``hardsigmoid_``, ``relu6_``).
  Both lists name in-place overloads one by one (``relu_``, ``hardtanh_``, ``hardswish_``,
  ``leaky_relu_``, ``silu_``, ``add_``, ``sub_``, ``mul_``, ``div_``, ``squeeze_``,
  ``dropout_``, ...), and the only pass that turns an in-place op into its functional form
  before annotation, ``_passes/rewrite_inplace_arithmetic_pass.py`` (``OP_MAP``), maps
  ``add_``, ``sub_``, ``mul_`` and ``div_`` only. One fix: functionalise in-place ops before
  annotating (or annotate each in-place overload like its functional one).
* ``alias``: the spelling exported to an op torch defines as a composite of other aten ops
  (a ``CompositeImplicitAutograd`` kernel: the aliases ``negative``, ``swapdims``,
  ``swapaxes``, ``clip``, ``absolute``, ``greater``, ``not_equal``, ``subtract``, ``mT``,
  ``adjoint``, and composites like ``broadcast_to``, ``min.other``, ``relu6``,
  ``special_log_softmax``). ``torch.export.export`` keeps them whole (measured on torch 2.13:
  ``x.swapdims(1, 2)`` exports ``aten.swapdims.default``), the lists name only the ops they
  decompose into (``transpose.int``, ``neg.default``, ``clamp.default``, ``expand.default``,
  ``minimum.default``, ``hardtanh.default``, ``log_softmax.int``), and no pass of the
  quantizer's ``transform_for_annotation`` pipeline (``_passes/arm_pass_manager.py``)
  decomposes them. One fix: decompose composite ops (or map aliases to their canonical
  overload) before annotating.
* ``unlisted-op``: any other op the lists miss, neither in place nor composite
  (``rsub``, ``split_with_sizes_copy``): one entry each in the lists, or a decomposition.

A spelling that is both in place and composite (``relu6_``) is ``inplace``: the in-place
form is what the quantizer saw, and functionalising it is the first of the two fixes.

The signature names overload packets (``min``), not overloads (``min.other``), and a few
packets mix composite and primitive overloads. Measured on torch 2.13 over every op the
registry exports (``max``, ``min``, ``split``, ``upsample_bilinear2d``, ``var``, ``where``),
the composite overload of each is another spelling of its primitive sibling (``min.other`` is
``minimum``, ``where.ScalarOther`` is ``where.self`` with a scalar). So a mixed packet that is
a spelling's only op is composite; beside other ops (``where`` after its comparison, in
``where(greater+where)``) the others decide: the ``where`` every spelling of the op exports
is ``where.self``, which the lists name.
"""

from __future__ import annotations

import re
from functools import lru_cache

#: Family -> what executorch does not do, for bug titles.
FAMILIES = {
    "inplace": "the Arm quantizer does not annotate the in-place form of an op it annotates",
    "alias": "the Arm quantizer does not annotate an alias or composite op that torch.export keeps whole",
    "unlisted-op": "the Arm quantizer does not list the op a spelling exports to",
}

#: lower/spelling-not-delegated@<op>(<exported aten ops, '+'-joined>) (fuzz.judge.delegation)
_SPELLING = re.compile(r"^lower/spelling-not-delegated@(?P<variant>\w+\((?P<exported>[\w+]+)\))$")


def spelling_variant(key: str) -> tuple[str, list[str]] | None:
    """``('neg(negative)', ['negative'])`` for a spelling finding's per-spelling key, else None."""
    m = _SPELLING.match(key)
    return (m["variant"], m["exported"].split("+")) if m else None


def family_of(exported: list[str]) -> str:
    """The family of a spelling that exported to these aten ops (their overload packet names)."""
    if any(_inplace(name) for name in exported):
        return "inplace"
    kinds = [_composite(name) for name in exported]
    if "all" in kinds or kinds == ["mixed"]:
        return "alias"
    return "unlisted-op"


def family_key(family: str) -> str:
    return f"lower/spelling-not-delegated:{family}"


def family_of_key(key: str) -> str | None:
    """``alias`` for ``lower/spelling-not-delegated:alias``, else None."""
    prefix = family_key("")
    return key[len(prefix):] if key.startswith(prefix) and key[len(prefix):] in FAMILIES else None


def _inplace(name: str) -> bool:
    """torch's naming of in-place variants: ``add_``, not a dunder (``__and__``)."""
    return name.endswith("_") and not name.startswith("__")


@lru_cache(maxsize=None)
def _composite(name: str) -> str:
    """``all``, ``mixed`` or ``none``: how many overloads of ``aten.<name>`` (not ``out=``
    ones) have a ``CompositeImplicitAutograd`` kernel, torch's own record that an op is defined
    by other aten ops. Asked of the torch armfuzz runs on; aliases are stable across releases."""
    import torch

    packet = getattr(torch.ops.aten, name, None)
    if packet is None:
        return "none"
    key = torch._C.DispatchKey.CompositeImplicitAutograd
    seen = set()
    for overload in packet.overloads():
        if overload == "out" or overload.endswith("_out"):
            continue
        try:
            seen.add(getattr(packet, overload).has_kernel_for_dispatch_key(key))
        except RuntimeError:  # a listed overload torch cannot resolve (aten::mT lists "a")
            continue
    return "mixed" if len(seen) == 2 else "all" if seen == {True} else "none"
