"""Which Debian archives to read: the machine's apt sources, or the ones a spec names.

Both formats apt reads are understood: deb822 ``.sources`` files (``Types``, ``URIs``,
``Suites``, ``Components``, ``Signed-By``) and one-line ``.list`` entries
(``deb [signed-by=KEYRING] URI SUITE COMPONENT...``). Only ``deb`` (binary) entries over
http(s) or file: URIs are used; ``deb-src``, disabled files and other schemes are skipped.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from scratchpack.errors import UsageError

APT_DIR = Path("/etc/apt")


@dataclass(frozen=True)
class Source:
    uri: str  # without a trailing slash
    suite: str
    components: tuple[str, ...]
    signed_by: str | None = None  # a keyring file, or None for apt's trusted keyrings

    def __str__(self) -> str:
        return f"{self.uri} {self.suite} {' '.join(self.components)}"


def _usable(uri: str) -> bool:
    return uri.startswith(("http://", "https://", "file:"))


def parse_deb822(text: str, where: str = "sources") -> list[Source]:
    from debian.deb822 import Deb822

    found: list[Source] = []
    for para in Deb822.iter_paragraphs(text.splitlines(), use_apt_pkg=False):
        if para.get("Enabled", "yes").strip().lower() == "no":
            continue
        if "deb" not in para.get("Types", "").split():
            continue
        uris, suites = para.get("URIs", "").split(), para.get("Suites", "").split()
        components = tuple(para.get("Components", "").split())
        if not uris or not suites:
            raise UsageError(f"{where}: a deb entry needs URIs and Suites")
        signed_by = para.get("Signed-By", "").strip() or None
        if signed_by and "\n" in signed_by:
            signed_by = None  # an inline key block: apt's own keyrings then
        for uri in uris:
            if not _usable(uri):
                continue
            for suite in suites:
                found.append(Source(uri.rstrip("/"), suite, components, signed_by))
    return found


def parse_one_line(text: str, where: str = "sources.list") -> list[Source]:
    found: list[Source] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = shlex.split(line)
        if words[0] != "deb":
            continue
        options: dict[str, str] = {}
        rest = words[1:]
        if rest and rest[0].startswith("["):
            joined = line[line.index("[") + 1 : line.index("]")]
            for option in joined.split():
                key, _, value = option.partition("=")
                options[key] = value
            rest = shlex.split(line[line.index("]") + 1 :])
        if len(rest) < 2:
            raise UsageError(f"{where}:{number}: expected 'deb URI SUITE [COMPONENT...]'")
        uri, suite, components = rest[0], rest[1], tuple(rest[2:])
        if _usable(uri):
            found.append(Source(uri.rstrip("/"), suite, components, options.get("signed-by")))
    return found


def system_sources(apt_dir: Path = APT_DIR) -> list[Source]:
    """The machine's apt sources, in apt's reading order (sources.list, then sources.list.d
    sorted by name)."""
    found: list[Source] = []
    main = apt_dir / "sources.list"
    if main.is_file():
        found += parse_one_line(main.read_text(), str(main))
    directory = apt_dir / "sources.list.d"
    if directory.is_dir():
        for path in sorted(directory.iterdir()):
            if path.suffix == ".list":
                found += parse_one_line(path.read_text(), str(path))
            elif path.suffix == ".sources":
                found += parse_deb822(path.read_text(), str(path))
    if not found:
        raise UsageError(
            f"no usable deb sources in {apt_dir}: name them in the spec ([[source]] uri, suite, "
            "components)"
        )
    return found
