"""httpx, imported without its command-line client.

``import httpx`` runs ``from ._main import main`` for httpx's ``httpx`` command, and that module
imports click, pygments and rich when they are installed: about 60 ms that scratchpack never
uses (measured with ``python -X importtime``, issue 17). httpx guards that import with
``except ImportError`` (the CLI is its optional ``cli`` extra), and the import system raises
ImportError for a name whose ``sys.modules`` entry is None (documented in the Python
reference, "The module cache"). So a None entry is set for the time of the import only, and
removed after, so that anyone may still import ``httpx._main`` later. Every module of
scratchpack that talks HTTP imports httpx from here: ``from scratchpack.httpclient import
httpx``.
"""

from __future__ import annotations

import sys

_CLI = "httpx._main"

if "httpx" not in sys.modules and _CLI not in sys.modules:
    sys.modules[_CLI] = None  # type: ignore[assignment]
    try:
        import httpx
    finally:
        if sys.modules.get(_CLI, "") is None:
            del sys.modules[_CLI]
else:
    import httpx

__all__ = ["httpx"]
