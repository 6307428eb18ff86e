"""Compile-spec options a case may set on its target: the configuration a user picks.

A target (fuzz.core.targets) names the backend and its default configuration, e.g. ethos-u55-128
with vela's default system config and memory mode. A case may override it with
``Case.options``:

- Ethos-U: another MAC configuration of the same NPU, another system config and memory
  mode, vela's other optimisation strategy. The domain is read from vela itself: its
  accelerator list, the sections of the vela.ini executorch passes it (``Arm/vela.ini``,
  EthosUCompileSpec's default), and vela's own configuration checks, which refuse e.g.
  ``Dedicated_Sram`` on a system whose second AXI port is flash.
- TOSA and VGF targets with the FP profile: the ``bf16`` extension on their spec (TOSA 1.0's
  FP extensions as executorch lists them, ``Tosa_1_00.valid_extensions``).
- Every target: the Arm pass pipeline's lowering choices (``ArmPassPipelineConfig``:
  softmax decomposition, leaky_relu lowering), read from executorch's enums, and only
  drawn for a case holding an op they change.

A configuration the tool or executorch refuses is never generated; one they accept and
then fail on is a finding.
"""

from __future__ import annotations

import configparser
import contextlib
import dataclasses
import functools
import io
import random
from pathlib import Path
from typing import Any

from fuzz.core.errors import CaseError, NotOnThisRelease

#: Ethos-U option keys, in the order a configuration is described.
ETHOS_U_KEYS = ("accelerator", "system_config", "memory_mode", "optimise")
#: ArmPassPipelineConfig fields a case may set, and the registry ops whose lowering they
#: change (arm_pass_manager.py: the softmax mode picks the softmax decomposition passes,
#: the leaky_relu mode TABLE or DECOMPOSE lowering of a quantized leaky_relu).
PIPELINE_OPS = {"softmax": {"softmax", "log_softmax"}, "leaky_relu": {"leaky_relu"}}
#: The spec extension a case may add (``extension``): what issue 12 names; the other FP
#: extensions (fp8, fft, var, cf) need tensors or control flow the generator never makes.
FP_EXTENSIONS = ("bf16",)
KEYS = ETHOS_U_KEYS + tuple(PIPELINE_OPS) + ("extension",)
#: Share of generated FP-profile TOSA/VGF cases whose spec takes an extra extension.
EXTENSION_SHARE = 0.25

#: Chance that a generated Ethos-U case keeps the target's default configuration: the one
#: users get without asking stays the most fuzzed.
DEFAULT_SHARE = 0.5


@dataclasses.dataclass(frozen=True)
class Domains:
    """What one executorch release and its vela accept: the domains a case's options are
    drawn from. Each warm worker reports its own when ready (:func:`local_domains`), so a
    campaign on another release draws only what that release can express; 1.2.0 has no pass
    pipeline config its compile specs take, for one."""

    #: "default" and "u55" -> ArmPassPipelineConfig field -> values (:func:`pipeline_domain`)
    pipeline: dict[str, dict[str, list[str]]]
    #: the FP extensions the TOSA specification takes (:func:`fp_extensions`)
    fp_extensions: list[str]
    #: per NPU: accelerators, (system config, memory mode) pairs, strategies (:func:`ethos_u_domain`)
    ethos_u: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Domains":
        return cls(pipeline=d["pipeline"], fp_extensions=list(d["fp_extensions"]), ethos_u=d["ethos_u"])

    def digest(self) -> str:
        """A short stable name for these domains: events record it, so a logged case is
        regenerated with the domains it was drawn from (fuzz.campaign.store)."""
        import hashlib
        import json

        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


def local_domains() -> Domains:
    """The domains of the executorch and vela installed in this interpreter (a worker's)."""
    try:
        ethos_u = {npu: {**d, "pairs": [list(p) for p in d["pairs"]]} for npu, d in ethos_u_domain().items()}
    except ImportError:  # no vela in this venv: no Ethos-U options to draw
        ethos_u = {}
    return Domains(pipeline={"default": pipeline_domain(False), "u55": pipeline_domain(True)},
                   fp_extensions=fp_extensions(), ethos_u=ethos_u)


def _ethos_u(domains: Domains | None, npu: str) -> dict[str, Any]:
    return (domains.ethos_u if domains is not None else ethos_u_domain())[npu]


def _pipeline(domains: Domains | None, u55: bool) -> dict[str, list[str]]:
    return domains.pipeline["u55" if u55 else "default"] if domains is not None else pipeline_domain(u55)


def _fp_extensions(domains: Domains | None) -> list[str]:
    return domains.fp_extensions if domains is not None else fp_extensions()


def _npu(accelerator: str) -> str:
    """'ethos-u55-128' -> 'u55': system configs are named for one NPU (Ethos_U55_...)."""
    return accelerator.split("-")[1]


@functools.cache
def ethos_u_domain() -> dict[str, dict[str, Any]]:
    """Per NPU ('u55', 'u85'): its accelerators, the (system config, memory mode) pairs vela
    accepts, and vela's optimisation strategies. Read from the installed vela."""
    from ethosu.vela import architecture_features as af
    from ethosu.vela import vela  # noqa: F401 - imports vela's modules in the order they need
    from ethosu.vela.scheduler import OptimizationStrategy

    ini = vela_ini()
    parser = configparser.ConfigParser()
    parser.read(ini)
    systems = [s.split(".", 1)[1] for s in parser.sections() if s.startswith("System_Config.")]
    modes = [s.split(".", 1)[1] for s in parser.sections() if s.startswith("Memory_Mode.")]
    domain: dict[str, dict[str, Any]] = {}
    for npu in ("u55", "u85"):
        accelerators = [a for a in af.Accelerator.member_list() if _npu(a) == npu]
        pairs = []
        for system in (s for s in systems if s.lower().startswith(f"ethos_{npu}_")):
            for mode in modes:
                try:
                    with contextlib.redirect_stdout(io.StringIO()):  # vela prints its choices
                        af.ArchitectureFeatures(vela_config_files=[str(ini)], system_config=system, memory_mode=mode,
                                                accelerator_config=accelerators[0], max_blockdep=3,
                                                verbose_config=False, arena_cache_size=None)
                except Exception:  # noqa: BLE001 - vela refuses the pair: not a configuration to fuzz
                    continue
                pairs.append((system, mode))
        domain[npu] = {"accelerator": accelerators, "pairs": pairs,
                       "optimise": [s.name for s in OptimizationStrategy]}
    return domain


def vela_ini() -> Path:
    """The vela.ini executorch hands vela (EthosUCompileSpec's ``config_ini="Arm/vela.ini"``,
    resolved inside vela's package)."""
    from ethosu.vela import architecture_features as af

    return Path(af.__file__).resolve().parent.parent / "config_files" / "Arm" / "vela.ini"


@functools.cache
def pipeline_domain(u55: bool) -> dict[str, list[str]]:
    """The values of each ArmPassPipelineConfig field in PIPELINE_OPS this executorch has
    (none on releases without the config). U55 leaves out softmax MASKED: executorch keeps
    U55 on STABLE because MASKED lowers to where/full_like, "not a good default fit for U55"
    (common/arm_compile_spec.py ``_create_default_pipeline_config``)."""
    try:
        from executorch.backends.arm.common import pipeline_config as pc
        from executorch.backends.arm.tosa.compile_spec import TosaCompileSpec
    except ImportError:
        return {}
    # A release may define the config before its compile specs take it (what
    # fuzz.judge.compat.compile_spec calls): then it has no pipeline option to draw.
    if not all(hasattr(TosaCompileSpec, m) for m in ("_get_pass_pipeline_config", "set_pass_pipeline_config")):
        return {}
    fields = {f.name: f.type for f in dataclasses.fields(pc.ArmPassPipelineConfig)}
    domain = {}
    for name in PIPELINE_OPS:
        enum = fields.get(name)
        if isinstance(enum, str):  # postponed annotations name the enum
            enum = getattr(pc, enum, None)
        if enum is None:
            continue
        domain[name] = [m.name for m in enum if not (u55 and name == "softmax" and m.name == "MASKED")]
    return domain


def sample(rng: random.Random, family: str, accelerator: str | None, tosa_spec: str | None, ops: set[str],
           domains: Domains | None = None) -> dict[str, str]:
    """Options for a generated case: the Ethos-U default configuration half the time, else a
    random configuration vela accepts for the target's NPU; a pass-pipeline mode half the
    time for a case holding an op it changes. Drawn from ``domains`` (the workers' release),
    or from this interpreter's when None: the same draws either way when the two agree."""
    options: dict[str, str] = {}
    if family == "ethos-u" and accelerator is not None and rng.random() >= DEFAULT_SHARE:
        d = _ethos_u(domains, _npu(accelerator))
        system, mode = rng.choice(d["pairs"])
        options = {"accelerator": rng.choice(d["accelerator"]), "system_config": system, "memory_mode": mode,
                   "optimise": rng.choice(d["optimise"])}
    for name, values in _pipeline(domains, _is_u55(accelerator)).items():
        if PIPELINE_OPS[name] & ops and rng.random() < 0.5:
            options[name] = rng.choice(values)
    extensions = _fp_extensions(domains)
    if _takes_fp_extension(tosa_spec) and rng.random() < EXTENSION_SHARE and extensions:
        options["extension"] = rng.choice(extensions)
    return options


@functools.cache
def fp_extensions() -> list[str]:
    """FP_EXTENSIONS that executorch's TOSA 1.0 specification accepts on the FP profile."""
    from executorch.backends.arm.tosa.specification import Tosa_1_00

    return [e for e in FP_EXTENSIONS if e in Tosa_1_00.valid_extensions["FP"]]


def _takes_fp_extension(tosa_spec: str | None) -> bool:
    return tosa_spec is not None and "+FP" in tosa_spec


def spec_string(tosa_spec: str | None, options: dict[str, str]) -> str | None:
    """The target's TOSA spec string (Target.spec_for) with the case's extra extension."""
    if tosa_spec is None or "extension" not in options:
        return tosa_spec
    return f"{tosa_spec}+{options['extension']}"


def _is_u55(accelerator: str | None) -> bool:
    return accelerator is not None and _npu(accelerator) == "u55"


def validate(options: Any, family: str, accelerator: str | None, tosa_spec: str | None, where: str) -> None:
    """A clear error naming the bad option; the values are checked against vela's domain."""
    if not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values()):
        raise CaseError(f"{where}options must be an object of strings, got {options!r}")
    if not options:
        return
    unknown = sorted(set(options) - set(KEYS))
    if unknown:
        raise CaseError(f"{where}unknown option(s) {unknown}; known: {', '.join(KEYS)}")
    if "extension" in options:
        if not _takes_fp_extension(tosa_spec):
            raise CaseError(f"{where}option extension needs a TOSA spec with the FP profile; {tosa_spec or family} has none")
        if not fp_extensions():
            raise NotOnThisRelease(f"{where}option extension: this executorch's TOSA specification takes no FP "
                                   f"extension (the case was drawn for another release)")
        if options["extension"] not in fp_extensions():
            raise CaseError(f"{where}option extension must be one of {', '.join(fp_extensions())}, got {options['extension']!r}")
    pipeline = pipeline_domain(_is_u55(accelerator))
    for name in PIPELINE_OPS:
        if name in options and not pipeline.get(name):
            raise NotOnThisRelease(f"{where}option {name}: this executorch's compile specs take no pass-pipeline "
                                   f"{name} mode (the case was drawn for another release)")
        if name in options and options[name] not in pipeline.get(name, []):
            raise CaseError(f"{where}option {name} must be one of {', '.join(pipeline.get(name, [])) or '(none on this executorch)'}, "
                            f"got {options[name]!r}")
    if not set(options) & set(ETHOS_U_KEYS):
        return
    if family != "ethos-u" or accelerator is None:
        raise CaseError(f"{where}options {sorted(set(options) & set(ETHOS_U_KEYS))} are Ethos-U compile-spec options; "
                        f"this case's target takes none (remove them)")
    d = ethos_u_domain()[_npu(accelerator)]
    if "accelerator" in options and options["accelerator"] not in d["accelerator"]:
        raise CaseError(f"{where}accelerator {options['accelerator']!r} is not an {_npu(accelerator)} configuration; "
                        f"vela knows {', '.join(d['accelerator'])}")
    if ("system_config" in options) != ("memory_mode" in options):
        raise CaseError(f"{where}system_config and memory_mode go together (vela checks them as a pair)")
    if "system_config" in options and (options["system_config"], options["memory_mode"]) not in d["pairs"]:
        raise CaseError(f"{where}vela refuses system config {options['system_config']!r} with memory mode "
                        f"{options['memory_mode']!r}; accepted pairs are in {vela_ini()}")
    if "optimise" in options and options["optimise"] not in d["optimise"]:
        raise CaseError(f"{where}optimise must be one of {', '.join(d['optimise'])}")


def compile_spec_args(accelerator: str, options: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """EthosUCompileSpec's target and keyword arguments for these options (the target's
    defaults for what they leave out)."""
    kwargs: dict[str, Any] = {}
    if "system_config" in options:
        kwargs["system_config"] = options["system_config"]
        kwargs["memory_mode"] = options["memory_mode"]
    if "optimise" in options:
        kwargs["extra_flags"] = [f"--optimise={options['optimise']}"]
    return options.get("accelerator", accelerator), kwargs


def pipeline_options(options: dict[str, str]) -> dict[str, str]:
    """The ArmPassPipelineConfig fields a case sets (field -> enum member name)."""
    return {k: v for k, v in options.items() if k in PIPELINE_OPS}


def describe(target_name: str, accelerator: str | None, options: dict[str, str]) -> str:
    """The full configuration in one line, for outcomes, reports and repro titles."""
    parts = [target_name]
    if accelerator is not None:
        acc, kwargs = compile_spec_args(accelerator, options)
        parts = [acc] + [f"{k}={v}" for k, v in kwargs.items() if k != "extra_flags"] + kwargs.get("extra_flags", [])
    if "extension" in options:
        parts.append(f"+{options['extension']}")
    parts += [f"pipeline.{k}={v}" for k, v in pipeline_options(options).items()]
    return " ".join(parts)
