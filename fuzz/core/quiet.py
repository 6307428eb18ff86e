"""Keep terminals and logs readable: executorch and torch warn on every lowering."""


def quiet_backend() -> None:
    """executorch and torch warn on every lowering; keep terminals and logs readable."""
    import logging
    import os
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")
