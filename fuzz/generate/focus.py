"""The regimes a case can aim at: what the generator steers toward (its focus) and what the
regime observer (fuzz.judge.regimes) reports a case reached. One vocabulary for both sides,
kept here, below the observer, so generation never imports the lowering.
"""

from __future__ import annotations

from fuzz.core.targets import TARGETS

#: Regime name -> what it means. Order is the report order.
REGIMES: dict[str, str] = {
    "act-nonfuseable": "relu/relu6/hardtanh/clamp output zp != qmin: cannot fuse into its producer",
    "clamp-inside-range": "clamp/hardtanh/relu6 bounds cut inside the input's or the output's quantized range",
    "shared-domain-mismatch": "cat inputs with very different natural ranges forced into one domain",
    "scale-at-min": "a tensor whose scale is at the quantizer's minimum (near-constant or all-zero)",
    "scale-huge": "a tensor whose quantized range spans 100 or more (outliers)",
    "zp-at-qmax": "a tensor with zp at qmax (all-negative data)",
    "zp-at-qmin-nonact": "a non-activation tensor with zp at qmin (one-sided data)",
    "weight-zero-channel": "per-channel weights with an all-zero or tiny output channel",
    "weight-channel-spread": "per-channel weight scales spread over 100x or more",
    "int16-int48-bias": "int16 activations into a conv/linear with bias (int48 bias, seed 001)",
    "config-act-qmin-127": "activation range [-127, 127]",
    "config-act-qmin-128": "activation range [-128, 127]",
    "config-per-tensor-weights": "per-tensor weight quantization",
    "config-a8w4": "4-bit weights (weight range [-7, 7])",
    "config-a16w8": "16-bit activations, 8-bit weights",
}


def applicable_regimes(target: str) -> list[str]:
    """Regimes a target can reach at all (int16 ones need the int16 extension)."""
    t = TARGETS[target]
    out = []
    for r in REGIMES:
        if r in ("int16-int48-bias", "config-a16w8") and not t.int16:
            continue
        # int16 activations take no act range and no 4-bit weights (QuantConfig.four_bit_weights).
        if t.forced_activations == "int16" and r in ("config-act-qmin-127", "config-act-qmin-128", "zp-at-qmin-nonact", "config-a8w4"):
            continue
        if r == "config-a8w4" and "int4" not in t.extensions:
            continue
        out.append(r)
    return out
