"""Outcome: the verdict of one case on one target, as JSON-ready data."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: Verdicts. Only ``pass`` and ``not-delegated`` are not failures of executorch; a
#: ``harness-error`` is armfuzz's own fault and is never bucketed as an executorch bug.
STATUSES = (
    "pass",
    "not-delegated",  # lowered fine but nothing reached the backend: the case tested nothing
    "crash",  # an exception in a named stage (and Arm pass / tool)
    "invalid-tosa",  # the reference model rejected the TOSA graph
    "numerics",  # lowered output disagrees with the quantized PyTorch model
    "invalid-program",  # static check of the lowered graph failed (e.g. int leaks to CPU op)
    "timeout",
    "oom",  # the case exceeded its memory limit
    "native-crash",  # the process died on a signal (vela, model-converter, reference model)
    "harness-error",
    "rejected-config",  # executorch documents the configuration as unsupported: our mistake (fuzz.core.config_rules)
    "numerics-propagated",  # output error that every node's local check explains as carried rounding (fuzz.judge.localize)
    "partially-delegated",  # an op left on the CPU that the backend delegates when alone (fuzz.judge.delegation)
    "spelling-not-delegated",  # an op left on the CPU that the backend delegates in its canonical spelling
)
FAILURES = ("crash", "invalid-tosa", "numerics", "invalid-program", "timeout", "oom", "native-crash",
            "partially-delegated", "spelling-not-delegated")


@dataclass
class Outcome:
    case_id: str
    target: str
    status: str
    #: The TOSA specification the case was lowered for (the target's, plus what its quant
    #: config needs, e.g. +int4): the full configuration, for reports and repros.
    spec: str = ""
    #: The target's whole configuration when a case sets compile-spec options, e.g.
    #: "ethos-u55-32 system_config=Ethos_U55_Deep_Embedded memory_mode=Sram_Only --optimise=Size"
    #: (fuzz.core.target_options.describe); the target's name otherwise.
    config: str = ""
    stage: str = ""
    signature: str = ""
    #: Where it failed: the Arm pass class, tool or function that raised.
    where: str = ""
    message: str = ""
    traceback: str = ""
    #: Per-output numerics in LSB of the output scale (see fuzz.judge.oracle).
    numerics: list[dict[str, Any]] = field(default_factory=list)
    #: Delegation accounting: ops delegated vs left on the CPU.
    delegation: dict[str, Any] = field(default_factory=dict)
    #: Human-readable qparams facts (e.g. non-fuseable activation zero-points).
    evidence: list[str] = field(default_factory=list)
    #: qparams of every quantized tensor, keyed by case node id or graph input name.
    qparams: dict[str, Any] = field(default_factory=dict)
    #: Quantization regimes the case reached (fuzz.generate.focus.REGIMES) and why.
    regimes: list[str] = field(default_factory=list)
    regime_evidence: list[str] = field(default_factory=list)
    #: The regimes per op family: "regime@family" (fuzz.generate.cells).
    cells: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    #: For a numerics verdict: per-node local / propagated errors and the culprit (fuzz.judge.localize).
    localization: dict[str, Any] = field(default_factory=dict)
    #: What the numerics oracle ran on the reference model: "delegate" (the TOSA a delegate
    #: carries), "compiler-input" (the TOSA executorch handed vela or model-converter; their
    #: output needs hardware this machine lacks), or "" (the program never ran).
    executed: str = ""

    @property
    def failed(self) -> bool:
        return self.status in FAILURES

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Outcome":
        return cls(**d)

    @classmethod
    def worker_died(cls, case_id: str, target: str) -> "Outcome":
        """The worker process itself (not the case's child) died: armfuzz's problem."""
        return cls(case_id, target, "harness-error", signature="harness/worker-died",
                   message="the worker process died while running this case")
