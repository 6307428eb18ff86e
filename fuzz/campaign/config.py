"""What a campaign is asked to do: its seed, targets, budget, limits and engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


def parse_budget(text: str | None) -> float | None:
    """'2h', '30m', '90s', '1h30m' or plain seconds -> seconds."""
    if not text:
        return None
    total, num = 0.0, ""
    for ch in text.strip():
        if ch.isdigit() or ch == ".":
            num += ch
        elif ch in "hms" and num:
            total += float(num) * {"h": 3600, "m": 60, "s": 1}[ch]
            num = ""
        else:
            raise ValueError(f"budget {text!r}: use forms like 2h, 30m, 90s or 1h30m")
    if num:
        total += float(num)
    return total


@dataclass
class CampaignConfig:
    root: Path
    seed: int
    targets: list[str]
    cases: int | None = None
    budget: float | None = None
    workers: int = 2
    timeout: float = 300.0
    memory_mb: int = 8192
    #: Test seam: case index -> fault injected in that case's child (see fuzz.execution.worker).
    inject: dict[int, str] = field(default_factory=dict)
    #: Aim new cases at the regimes this campaign has reached least (coverage feedback).
    steer: bool = True
    #: Interpreter the workers run on: another release's venv, a source build, a nightly
    #: (None: this one). The controller needs nothing from it but the worker protocol.
    python: str | None = None
    #: Ray cluster address (or "auto"): the workers become actors there (fuzz.execution.ray_pool).
    ray: str | None = None
    #: Measure statement and branch coverage of executorch/backends/arm in the workers
    #: (fuzz.execution.backend_coverage); costs throughput, so it is asked for.
    coverage: bool = False
    #: "random": seeded generation steered by regimes; "guided": libFuzzer over bytes decoded
    #: into cases, fed the backend blocks each case ran (fuzz.campaign.engines.guided).
    engine: str = "random"
    #: Guided engine: directories of inputs (raw bytes, or a guided campaign) to start from.
    seed_corpus: list[Path] = field(default_factory=list)
