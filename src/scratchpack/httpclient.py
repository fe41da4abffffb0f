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

The same goes for ``zstandard`` (about 15 ms, its C backend), which httpx imports, also under
``except ImportError``, only to decode ``Content-Encoding: zstd`` answers: scratchpack asks
for ``Accept-Encoding: identity`` and reads every body raw, so httpx never needs it, and a
registry copy no longer loads it (issue 17, the no-op re-push). scratchpack's own zstd layer
code imports it later as usual.
"""

from __future__ import annotations

import sys

_CLI = "httpx._main"
_UNUSED = (_CLI, "zstandard")

if "httpx" not in sys.modules and _CLI not in sys.modules:
    blocked = [name for name in _UNUSED if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import httpx
    finally:
        for name in blocked:
            if sys.modules.get(name, "") is None:
                del sys.modules[name]
else:
    import httpx

__all__ = ["httpx"]
