"""armfuzz: a fuzzer and minimal-repro reducer for the ExecuTorch Arm backend.

The package is layered so the parent process never has to import executorch:
``case``/``ops``/``recipes``/``codegen``/``generator`` are torch-free or torch-only;
``targets``/``compat``/``pipeline`` are the only modules that touch executorch.
"""

__version__ = "0.1.0"


def quiet_backend() -> None:
    """executorch and torch warn on every lowering; keep terminals and logs readable."""
    import logging
    import os
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")
