"""Target registry: which quantizer, compile spec, partitioner and stages each target uses.

Pure data, importable without torch; :mod:`fuzz.judge.compat` turns an entry into executorch objects.
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
    #: TOSA extensions a case on this target may use: the target's spec carries them, or
    #: takes them on when a case needs them (``spec_for``). A hand-declared mirror of
    #: executorch's TosaSpecification (``support_extension``) of each compile spec, so the
    #: registry stays importable without torch; tests/test_config_validity.py checks it
    #: against executorch's spec objects for every target.
    extensions: tuple[str, ...] = ()
    #: Activations forced by the target (tosa-int16 *is* the a16w8 flow of seed 001).
    forced_activations: str | None = None
    #: Whether the delegate's own bytes run here (a TOSA delegate, on the reference model).
    #: Ethos-U and VGF delegates hold vela's or model-converter's output, which needs an FVP
    #: or a Vulkan device: their programs run with the TOSA graph executorch handed to that
    #: tool instead, so numerics are judged up to the tool, not through it.
    executes: bool = False
    #: External compiler run during lowering (its failures are attributed to it).
    compiler: str | None = None

    @property
    def compile_only(self) -> bool:
        return not self.executes

    @property
    def int16(self) -> bool:
        """Whether the spec has the int16 extension (a16w8 allowed)."""
        return "int16" in self.extensions

    def spec_for(self, four_bit_weights: bool) -> str | None:
        """The TOSA spec string a case runs on: the target's, plus the ``int4`` extension when
        its weights are 4-bit. executorch refuses INT4 tensors on a spec without it
        (tosa/mapping.py ``TosaArg.__validate``); upstream's a8w4 tests ask for it
        (``tosa_extensions=["int4"]``) and VgfCompileSpec's default spec carries it. Ethos-U
        specs come from the accelerator and already carry int4 (ethosu/compile_spec.py
        ``_tosa_spec_for_target``): None here. Every TOSA 1.0 INT spec may take int4
        (tosa/specification.py ``Tosa_1_00.valid_extensions["INT"]``)."""
        if self.tosa_spec is None:
            return None
        if four_bit_weights and "int4" in self.extensions and "+int4" not in self.tosa_spec:
            return self.tosa_spec + "+int4"
        return self.tosa_spec


TARGETS: dict[str, Target] = {
    t.name: t
    for t in [
        # TOSA / VGF: int4 is added on demand (spec_for); int16 only where the spec names it.
        Target("tosa-int", "tosa", tosa_spec="TOSA-1.0+INT", extensions=("int4",), executes=True),
        Target("tosa-int-fp", "tosa", tosa_spec="TOSA-1.0+INT+FP", extensions=("int4",), executes=True),
        Target("tosa-int16", "tosa", tosa_spec="TOSA-1.0+INT+int16", extensions=("int16", "int4"), forced_activations="int16",
               executes=True),
        # Ethos-U: executorch fixes the spec, "TOSA-1.0+INT+int16+int4" plus +u55 / +cf
        # (ethosu/compile_spec.py EthosUCompileSpec._tosa_spec_for_target); vela documents
        # EXT-INT16 and EXT-INT4 ("4-bit integer weights") for U55 and U85
        # (ethosu/vela/vela.py generate_supported_ops).
        Target("ethos-u55-128", "ethos-u", accelerator="ethos-u55-128", extensions=("int16", "int4"), compiler="vela"),
        Target("ethos-u85-256", "ethos-u", accelerator="ethos-u85-256", extensions=("int16", "int4"), compiler="vela"),
        Target("vgf-int", "vgf", tosa_spec="TOSA-1.0+INT", extensions=("int4",), compiler="model-converter"),
        Target("vgf-int-fp", "vgf", tosa_spec="TOSA-1.0+INT+FP", extensions=("int4",), compiler="model-converter"),
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
