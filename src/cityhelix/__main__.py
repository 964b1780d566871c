"""`python -m cityhelix` runs the command line, like the `cityhelix` script."""

from cityhelix.cli import app

app()
