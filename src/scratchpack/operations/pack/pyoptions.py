"""The options ``pack DIR`` of a Python project adds to :class:`PackOptions`, apart from
``python.py`` so that the CLI and the dispatch name them without importing the packer.
``--test`` is not one of them: :attr:`PackOptions.test` holds it for Node and Python alike."""

from __future__ import annotations

from typing import NamedTuple


class PythonOptions(NamedTuple):
    """(A NamedTuple, not a dataclass: imported by every ``pack``, where ``dataclasses`` and
    ``inspect`` were ~25 ms of a static pack's start-up, issue 17.)"""

    keep_modules: tuple[str, ...] = ()  # standard library modules the import graph cannot see
    no_sources: bool = False  # .pyc only: smaller, but tracebacks lose their source lines
    trace: bool = False  # a traced run first, keeping the standard modules it imported
