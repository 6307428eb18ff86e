"""Where armfuzz's own files are: one place, so moving a module never moves a path."""

from pathlib import Path

#: the ``fuzz`` package: frames under it are armfuzz's own, not executorch's (fuzz.judge.signature)
PACKAGE_DIR = Path(__file__).resolve().parent.parent
#: the checkout: other releases' workers get it on PYTHONPATH (fuzz.execution.envs)
PROJECT_ROOT = PACKAGE_DIR.parent
#: the Jinja2 templates of models, repros, reports and the dashboard
TEMPLATE_DIR = PROJECT_ROOT / "templates"
#: bugs already filed upstream or fixed in a release (fuzz.triage.known); ARMFUZZ_KNOWN_BUGS names another file
KNOWN_BUGS = PROJECT_ROOT / "known-bugs.json"
