"""python -m fuzz.views.cli"""

from fuzz.views.cli import app

app()
