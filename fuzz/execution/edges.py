"""Basic-block coverage of executorch's Arm backend for the guided engine (fuzz.campaign.engines.guided).

A warm worker, after its imports and warm-up, rewrites the bytecode of every function of
``executorch/backends/arm`` (``test/`` excluded) with atheris's instrumentation: a call of
``atheris._trace_branch(n)`` at the start of each basic block. The instrumented code looks
that name up on the ``atheris`` module at every call, so pointing it at ``set.add`` of our own
set records the blocks a forked case child runs at C speed, with no libFuzzer in the worker.
The child sends them to the controller as a bitmap; the controller's libFuzzer (in
fuzz.campaign.engines.guided_driver) gets them as its own coverage.

Block numbers are given in a fixed order (file, first line, name of each function), and the
worker reports a digest of that layout: workers that imported the same modules agree on every
block's number, and a campaign resumed on the same executorch keeps its corpus's coverage.
Modules a case imports lazily, after warm-up, stay uninstrumented (no feedback from them,
though ``--coverage`` still measures them): importing the whole package up front would count
its import-time statements as reached and inflate the comparison with the random engine.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import types
import zlib
from dataclasses import dataclass

from fuzz.execution.backend_coverage import key_of

#: Environment variable that asks a worker to instrument (set by fuzz.campaign.engines.guided for its pool).
ENV = "ARMFUZZ_EDGES"

_hits: set[int] = set()


@dataclass(frozen=True)
class Layout:
    """The instrumentation a worker made: its digest and its number of blocks."""

    digest: str
    blocks: int
    functions: int

    def to_dict(self) -> dict:
        return {"digest": self.digest, "blocks": self.blocks, "functions": self.functions}


class _Counter:
    def __init__(self) -> None:
        self.n = 0

    def take(self) -> int:
        self.n += 1
        return self.n - 1


def _backend_functions() -> list[types.FunctionType]:
    """Every loaded function whose code lives in the Arm backend, in a fixed order."""
    out = []
    for obj in gc.get_objects():
        if isinstance(obj, types.FunctionType) and key_of(obj.__code__.co_filename):
            out.append(obj)
    return sorted(out, key=lambda f: (key_of(f.__code__.co_filename), f.__code__.co_firstlineno, f.__qualname__,
                                      f.__code__.co_code))


def instrument() -> Layout:
    """Instrument the backend's loaded functions; blocks then record into this process's set."""
    try:
        import atheris
        from atheris.instrument_bytecode import patch_code
    except ImportError:
        raise SystemExit("--engine guided needs atheris: pip install 'atheris==3.0.0'") from None
    counter = _Counter()
    atheris._reserve_counter = counter.take  # block numbers are ours, not libFuzzer's
    atheris._trace_branch = _hits.add
    digest = hashlib.sha256()
    patched: dict[types.CodeType, types.CodeType] = {}  # closures share one code object
    functions = 0
    for f in _backend_functions():
        code = f.__code__
        if code not in patched:
            first = counter.n
            try:
                patched[code] = patch_code(code, trace_dataflow=False)
            except Exception:  # noqa: BLE001 - bytecode atheris cannot rewrite stays as it was
                patched[code] = code
            digest.update(f"{key_of(code.co_filename)}:{code.co_firstlineno}:{f.__qualname__}:{counter.n - first}\n".encode())
            functions += 1
        f.__code__ = patched[code]
    return Layout(digest.hexdigest()[:16], counter.n, functions)


def reset() -> None:
    """Forget the blocks run so far (a forked child starts its case with none)."""
    _hits.clear()


def collected() -> str:
    """The blocks run since ``reset``, as a compressed bitmap (base64 text for JSON)."""
    return encode(_hits)


def encode(blocks: set[int] | frozenset[int]) -> str:
    size = (max(blocks) + 8) // 8 if blocks else 0
    bits = bytearray(size)
    for b in blocks:
        bits[b >> 3] |= 1 << (b & 7)
    return base64.b64encode(zlib.compress(bytes(bits), 6)).decode()


def decode(text: str) -> set[int]:
    bits = zlib.decompress(base64.b64decode(text))
    return {i * 8 + j for i, byte in enumerate(bits) if byte for j in range(8) if byte >> j & 1}
