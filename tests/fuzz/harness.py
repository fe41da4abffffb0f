"""The atheris (libFuzzer) driver behind tests/fuzz/fuzz_*.py.

libFuzzer options and corpus directories pass straight through, e.g.::

    .venv/bin/python tests/fuzz/fuzz_dockerfile.py -runs=100000 /tmp/w tests/fuzz/corpus/dockerfile

With ``SCRATCHPACK_FUZZ_KEEP_GOING=DIR`` a crash does not stop the run: the input is saved as
``DIR/crash-<target>-<signature>`` (one file per distinct exception type and place, with the
traceback beside it as ``.txt``) and fuzzing goes on, so a long run counts every distinct crash
of code that is not fixed yet instead of stopping at the first.
"""

from __future__ import annotations

import hashlib
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import atheris

from fuzz.mutators import mutate_json, mutate_tar

with atheris.instrument_imports(include=["scratchpack"]):
    from fuzz.targets import TARGETS

MUTATORS = {"model": mutate_json, "layer": mutate_tar, "osv": mutate_json}

# The innermost frames that tell one bug from another (a RecursionError repeats one frame).
_SIGNATURE_FRAMES = 3


def signature(exc: BaseException) -> str:
    """Exception type and the innermost frames inside scratchpack: one per distinct bug."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "scratchpack" in f.filename]
    where = [f"{Path(f.filename).name}:{f.name}:{f.lineno}" for f in frames[-_SIGNATURE_FRAMES:]]
    return f"{type(exc).__name__}@{'|'.join(where) or 'outside scratchpack'}"


def keep_going(name: str, target: Callable[[bytes], None], where: Path) -> Callable[[bytes], None]:
    seen: set[str] = set()

    def run(data: bytes) -> None:
        try:
            target(data)
        except Exception as exc:
            sig = signature(exc)
            if sig in seen:
                return
            seen.add(sig)
            digest = hashlib.sha256(sig.encode()).hexdigest()[:12]
            base = where / f"crash-{name}-{digest}"
            base.write_bytes(data)
            text = "".join(traceback.format_exception(exc))
            base.with_suffix(".txt").write_text(f"{sig}\n\n{text}")
            sys.stderr.write(f"\n== new crash {sig} -> {base}\n")

    return run


def main(name: str) -> None:
    target = TARGETS[name]
    where = os.environ.get("SCRATCHPACK_FUZZ_KEEP_GOING")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        target = keep_going(name, target, Path(where))
    structured = MUTATORS.get(name)
    if structured is None:
        atheris.Setup(sys.argv, target)
    else:

        def mutator(data: bytes, max_size: int, seed: int) -> bytes:
            return structured(data, max_size, seed, atheris.Mutate)

        atheris.Setup(sys.argv, target, custom_mutator=mutator)
    atheris.Fuzz()
