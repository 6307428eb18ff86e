"""armfuzz: a fuzzer and minimal-repro reducer for the ExecuTorch Arm backend.

The package is layered; each layer imports only the ones below it (``.importlinter``, checked
in CI), and the data flows upward: case -> lowering -> verdict -> bug -> report.

- ``fuzz.views``: the CLI, campaign summary, dashboard, surface (top; ``reducer`` sits below it)
- ``fuzz.campaign`` | ``fuzz.replay``: campaigns and their engines | the corpus and the release matrix
- ``fuzz.execution``: warm forked workers, pools (local, Ray), release venvs, backend coverage
- ``fuzz.triage``: signatures grouped into bugs
- ``fuzz.judge``: one case through the real lowering, and the oracles that judge it
- ``fuzz.generate``: the case format, the op registry, the generator
- ``fuzz.core``: errors, files, the target table and its option domains, the release table

Only ``fuzz.judge`` and ``fuzz.execution.worker`` import executorch, so the parent process of
a campaign never pays the ~12 s Arm backend import.
"""

__version__ = "0.1.0"
