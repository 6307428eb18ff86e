"""Lowering and judging one case on one target: the real PT2E quantization and Arm lowering
(pipeline, with compat shims per release), and the oracles that judge it (numerics, TOSA
validity, delegation, regimes, localisation), ending in an Outcome and its signature."""
