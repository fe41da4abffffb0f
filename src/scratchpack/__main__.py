"""Allow ``python -m scratchpack``."""

from scratchpack.cli.main import main

raise SystemExit(main())
