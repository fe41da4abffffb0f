#!/usr/bin/env python3
"""atheris entry point for the documents target (see tests/fuzz/targets.py and docs/fuzzing.md)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz.harness import main

if __name__ == "__main__":
    main("documents")
