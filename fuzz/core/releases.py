"""The executorch releases armfuzz can run, and what each cannot do here.

A table of facts, below every layer: the worker's lowering needs it (fuzz.judge.compat: may
this release serialize?) and so does building a release's venv (fuzz.execution.envs).
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass

from fuzz.core.errors import CaseError


@dataclass(frozen=True)
class Release:
    """How to install one executorch release here, and what it cannot do here."""

    version: str
    pip_steps: tuple[tuple[str, ...], ...]
    #: torch 2.13 removed ``aten.transpose.Dimname``; these releases name it at import time.
    needs_dimname_placeholder: bool = False
    #: the quantized AOT kernel library does not load against torch 2.13: no to_executorch().
    serializes: bool = True


_OLD_COMMON = ("torch==2.13.0", "torchao==0.17.0", "ai_ml_sdk_model_converter==0.11.0")
#: 1.4 and later pin their own tosa-tools, vela and ml_dtypes in the [ethos-u] extra.
_NEW_COMMON = ("torch==2.13.0", "torchao==0.18.0", "ai_ml_sdk_model_converter==0.11.0")

#: Oldest first. 1.0.1 is absent: it needs a TOSA serializer only available from git.
RELEASES: dict[str, Release] = {
    r.version: r
    for r in (
        # 1.1.0 pins torchao 0.15.0, which does not import beside torch 2.13: install its
        # pins, then put 0.17.0 over it without resolving (pip refuses the pair otherwise).
        Release("1.1.0", (("executorch==1.1.0", "tosa-tools==2026.2.0", "torch==2.13.0", "ai_ml_sdk_model_converter==0.11.0"),
                          ("--no-deps", "torchao==0.17.0"), ("--no-deps", "ethos-u-vela==4.5.0")),
                needs_dimname_placeholder=True, serializes=False),
        Release("1.2.0", (("executorch==1.2.0", "tosa-tools==2026.2.0", *_OLD_COMMON), ("--no-deps", "ethos-u-vela==5.0.0")),
                needs_dimname_placeholder=True, serializes=False),
        Release("1.3.1", (("executorch==1.3.1", "tosa-tools==2026.2.1", *_OLD_COMMON), ("--no-deps", "ethos-u-vela==5.0.0")),
                needs_dimname_placeholder=True, serializes=False),
        Release("1.4.1", (("executorch[ethos-u]==1.4.1", *_NEW_COMMON),)),
        Release("1.5.1", (("executorch[ethos-u]==1.5.1", *_NEW_COMMON),)),
    )
}


def release(version: str) -> Release:
    try:
        return RELEASES[version]
    except KeyError:
        raise CaseError(
            f"executorch {version} is not in the version matrix; supported: {', '.join(RELEASES)}"
        ) from None


def installed_version() -> str:
    return importlib.metadata.version("executorch")


