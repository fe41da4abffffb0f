"""Allow ``python -m scratchpack``."""

from scratchpack.cli.entry import run

run()
