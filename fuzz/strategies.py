"""``from fuzz.strategies import cases``: the public path of the Hypothesis strategies, which
live in fuzz.generate.strategies."""

from fuzz.generate.strategies import cases

__all__ = ["cases"]
