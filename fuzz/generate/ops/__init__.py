"""Op registry. Importing this package registers every op module listed below."""

from fuzz.generate.ops import activation, conv, movement, norm, pad, pointwise, reduce, slicing, tensor  # noqa: F401  (registration side effect)
from fuzz.generate.ops.activation import FUSEABLE
from fuzz.generate.ops.base import (
    MAX_ELEMENTS,
    MOVEMENT_OPS,
    OpSpec,
    Sampled,
    Shape,
    all_ops,
    check_spelling,
    get_op,
    py,
)

__all__ = ["FUSEABLE", "MAX_ELEMENTS", "MOVEMENT_OPS", "OpSpec", "Sampled", "Shape", "all_ops", "check_spelling", "get_op", "py"]
