"""Regular expressions compiled at their first use, not when their module is imported.

Why: ``scratchpack lint FILE`` runs once per file under pre-commit and editors, and compiling
the rules' and the parser's ~40 module-level patterns cost ~10 ms of a run whose rival
(hadolint) takes ~30 ms in all; most files reach only some of them. ``re`` keeps no lazy form
(its own cache compiles on the first ``re.search(str, ...)`` call, but the code reads
``PATTERN.search(...)``), so this is the small wrapper: the methods the lint path calls,
forwarding to the pattern compiled at the first of them. Type checkers see a plain
``re.Pattern[str]`` (``lazy`` is ``re.compile`` to them), so the call sites are unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any


class LazyPattern:
    """A pattern's source and flags; compiled by the first method called."""

    __slots__ = ("_compiled", "_flags", "_source")

    def __init__(self, source: Any, flags: int = 0) -> None:
        self._source = source
        self._flags = flags
        self._compiled: re.Pattern[Any] | None = None

    def compiled(self) -> re.Pattern[Any]:
        found = self._compiled
        if found is None:
            found = self._compiled = re.compile(self._source, self._flags)
        return found

    @property
    def pattern(self) -> Any:
        return self._source

    @property
    def flags(self) -> int:
        return self.compiled().flags

    def search(self, string: Any, *args: int) -> re.Match[Any] | None:
        return self.compiled().search(string, *args)

    def match(self, string: Any, *args: int) -> re.Match[Any] | None:
        return self.compiled().match(string, *args)

    def fullmatch(self, string: Any, *args: int) -> re.Match[Any] | None:
        return self.compiled().fullmatch(string, *args)

    def finditer(self, string: Any, *args: int) -> Iterator[re.Match[Any]]:
        return self.compiled().finditer(string, *args)

    def findall(self, string: Any, *args: int) -> list[Any]:
        return self.compiled().findall(string, *args)

    def sub(self, repl: Any, string: Any, count: int = 0) -> Any:
        return self.compiled().sub(repl, string, count)

    def subn(self, repl: Any, string: Any, count: int = 0) -> tuple[Any, int]:
        return self.compiled().subn(repl, string, count)

    def split(self, string: Any, maxsplit: int = 0) -> list[Any]:
        return self.compiled().split(string, maxsplit)

    def __repr__(self) -> str:
        return f"lazy({self._source!r})"


if TYPE_CHECKING:
    lazy = re.compile
else:
    lazy = LazyPattern
