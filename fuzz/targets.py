"""Target registry: which quantizer, compile spec, partitioner and stages each target uses.

Pure data, importable without torch; :mod:`fuzz.compat` turns an entry into executorch objects.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    name: str
    #: "tosa", "ethos-u" or "vgf": picks the quantizer / compile spec / partitioner classes.
    family: str
    #: TOSA spec string for tosa/vgf targets; Ethos-U derives its own from the accelerator.
    tosa_spec: str | None = None
    #: Accelerator config for Ethos-U targets, e.g. "ethos-u55-128".
    accelerator: str | None = None
    #: Whether the target has the int16 extension (a16w8 allowed).
    int16: bool = False
    #: Activations forced by the target (tosa-int16 *is* the a16w8 flow of seed 001).
    forced_activations: str | None = None
    #: Whether the TOSA reference model can execute the lowered program (numerics oracle).
    executes: bool = False
    #: External compiler run during lowering (its failures are attributed to it).
    compiler: str | None = None

    @property
    def compile_only(self) -> bool:
        return not self.executes

    def spec_for(self, four_bit_weights: bool) -> str | None:
        """The TOSA spec string a case runs on: the target's, plus the ``int4`` extension when
        its weights are 4-bit. executorch refuses INT4 tensors on a spec without it
        (tosa/mapping.py ``TosaArg.__validate``); upstream's a8w4 tests ask for it
        (``tosa_extensions=["int4"]``) and VgfCompileSpec's default spec carries it. Ethos-U
        specs come from the accelerator and already carry int4 (ethosu/compile_spec.py
        ``_tosa_spec_for_target``): None here."""
        if self.tosa_spec is None:
            return None
        if four_bit_weights and "+int4" not in self.tosa_spec:
            return self.tosa_spec + "+int4"
        return self.tosa_spec


TARGETS: dict[str, Target] = {
    t.name: t
    for t in [
        Target("tosa-int", "tosa", tosa_spec="TOSA-1.0+INT", executes=True),
        Target("tosa-int-fp", "tosa", tosa_spec="TOSA-1.0+INT+FP", executes=True),
        Target("tosa-int16", "tosa", tosa_spec="TOSA-1.0+INT+int16", int16=True, forced_activations="int16", executes=True),
        Target("ethos-u55-128", "ethos-u", accelerator="ethos-u55-128", int16=True, compiler="vela"),
        Target("ethos-u85-256", "ethos-u", accelerator="ethos-u85-256", int16=True, compiler="vela"),
        Target("vgf-int", "vgf", tosa_spec="TOSA-1.0+INT", compiler="model-converter"),
        Target("vgf-int-fp", "vgf", tosa_spec="TOSA-1.0+INT+FP", compiler="model-converter"),
    ]
}

DEFAULT_TARGETS = ("tosa-int", "tosa-int-fp", "tosa-int16", "ethos-u55-128", "ethos-u85-256", "vgf-int", "vgf-int-fp")


def parse_targets(spec: str | None) -> list[str]:
    """'all' or a comma list -> validated target names (one-line error naming the bad one)."""
    if not spec or spec == "all":
        return list(DEFAULT_TARGETS)
    names = [s.strip() for s in spec.split(",") if s.strip()]
    for n in names:
        if n not in TARGETS:
            raise ValueError(f"unknown target {n!r}; known: {', '.join(TARGETS)}")
    return names
