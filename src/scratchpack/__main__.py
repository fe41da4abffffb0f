"""Allow ``python -m scratchpack``."""

from scratchpack.cli.entry import main

raise SystemExit(main())
