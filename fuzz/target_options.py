"""Compile-spec options a case may set on its target: the Ethos-U configuration a user picks.

A target (fuzz.targets) names the backend and its default configuration, e.g. ethos-u55-128
with vela's default system config and memory mode. A case may override them with
``Case.options``: another MAC configuration of the same NPU, another system config and
memory mode, vela's other optimisation strategy. The domain is read from vela itself:
its accelerator list, the sections of the vela.ini executorch passes it (``Arm/vela.ini``,
EthosUCompileSpec's default), and vela's own configuration checks, which refuse e.g.
``Dedicated_Sram`` on a system whose second AXI port is flash. A configuration vela refuses
is never generated; one vela accepts and then fails on is a finding.

Options only exist for Ethos-U here. VGF and TOSA compile specs take no option that changes
lowering beyond the TOSA spec string (the targets and Target.spec_for pick that).
"""

from __future__ import annotations

import configparser
import contextlib
import functools
import io
import random
from pathlib import Path
from typing import Any

from fuzz.errors import CaseError

#: Every option key a case may carry, in the order a configuration is described.
KEYS = ("accelerator", "system_config", "memory_mode", "optimise")

#: Chance that a generated Ethos-U case keeps the target's default configuration: the one
#: users get without asking stays the most fuzzed.
DEFAULT_SHARE = 0.5


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


def sample(rng: random.Random, family: str, accelerator: str | None) -> dict[str, str]:
    """Options for a generated case: the default configuration half the time, else a random
    configuration vela accepts for the target's NPU."""
    if family != "ethos-u" or accelerator is None or rng.random() < DEFAULT_SHARE:
        return {}
    d = ethos_u_domain()[_npu(accelerator)]
    system, mode = rng.choice(d["pairs"])
    return {"accelerator": rng.choice(d["accelerator"]), "system_config": system, "memory_mode": mode,
            "optimise": rng.choice(d["optimise"])}


def validate(options: Any, family: str, accelerator: str | None, where: str) -> None:
    """A clear error naming the bad option; the values are checked against vela's domain."""
    if not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values()):
        raise CaseError(f"{where}options must be an object of strings, got {options!r}")
    if not options:
        return
    unknown = sorted(set(options) - set(KEYS))
    if unknown:
        raise CaseError(f"{where}unknown option(s) {unknown}; known: {', '.join(KEYS)}")
    if family != "ethos-u" or accelerator is None:
        raise CaseError(f"{where}options are Ethos-U compile-spec options; this case's target takes none (remove 'options')")
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


def describe(target_name: str, accelerator: str | None, options: dict[str, str]) -> str:
    """The full configuration in one line, for outcomes, reports and repro titles."""
    if accelerator is None:
        return target_name
    acc, kwargs = compile_spec_args(accelerator, options)
    parts = [acc] + [f"{k}={v}" for k, v in kwargs.items() if k != "extra_flags"] + kwargs.get("extra_flags", [])
    return " ".join(parts)
