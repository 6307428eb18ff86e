"""armfuzz command line: one Typer app; each module registers the commands of one concern.

A new command goes in the module of its concern (or a new one imported here).
"""

# Imported in the order their commands appear in --help.
from fuzz.views.cli import run, campaign, releases, reduce  # noqa: F401, I001  (registration side effect)
from fuzz.views.cli.app import app

__all__ = ["app"]
