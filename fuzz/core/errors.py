"""Exception types that separate 'this input is wrong' from 'executorch failed'."""


class CaseError(ValueError):
    """A case is malformed: unknown op, dangling input, impossible shape, bad value.

    The message always names the offending node or field so the user can fix the file.
    """


class ToolMissing(RuntimeError):
    """A required external tool (vela, model-converter, reference model) is not installed."""
