"""Exception types that separate 'this input is wrong' from 'executorch failed'."""


class CaseError(ValueError):
    """A case is malformed: unknown op, dangling input, impossible shape, bad value.

    The message always names the offending node or field so the user can fix the file.
    """


class ToolMissing(RuntimeError):
    """A required external tool (vela, model-converter, reference model) is not installed."""


class NotOnThisRelease(CaseError):
    """A well-formed case asks for what the running executorch cannot express (an option or
    pass-pipeline field drawn for another release): no verdict on executorch is possible here,
    and it is not armfuzz's bug either when the case came from elsewhere (a corpus replay)."""
