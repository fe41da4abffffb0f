"""One pass over every layer: the file system, the small files the checks read, secrets found
in file contents, and the bytes of the entrypoint candidates.

Each layer is streamed once (decompressed on the fly, digest-checked at its end). Contents are
kept only for what the checks need: small configuration files (``/etc/passwd``, ``os-release``,
``ld.so.conf``...), and of the files whose name is the entrypoint's, their first line and what
the loader needs (``elf.ElfProbe``: a few capped pieces, never the whole file). The one file
that may be copied whole is a Rust binary ``sbom`` reads cargo-auditable's section from
(memory up to 32 MiB, then an unlinked temporary file, deleted at the end).

Hostile tar members (see ``layers/reader.py``) are collected as :class:`Hostile` records for
the audit to report, not followed.
"""

from __future__ import annotations

import functools
import posixpath
import queue
import re
import struct
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import IO, Any

from scratchpack import progress
from scratchpack.layers.reader import CountingReader, LayerEntry, every_file, read_layer
from scratchpack.model.image import Image
from scratchpack.operations.contents.filesystem import FileSystem
from scratchpack.operations.elf import TLS_MARKERS, DamagedElf, ElfProbe, StartupNeeds
from scratchpack.operations.sbom.packages import (
    GO_MAGIC,
    go_build_info,
    is_package_file,
    package_file_limit,
)
from scratchpack.secrets import find_secrets, is_sample_path

SPOOL_IN_MEMORY = 32 << 20
SMALL_FILE_LIMIT = 4 << 20
SECRET_SCAN_LIMIT = 1 << 20
HEAD_LIMIT = 64 << 10  # what is read of a file first, to tell what it is

# Files the checks read, by exact path.
CONFIG_FILES = frozenset(
    {
        "etc/passwd",
        "etc/group",
        "etc/os-release",
        "usr/lib/os-release",
        "etc/ld.so.conf",
        "etc/nsswitch.conf",
    }
)
# Files whose presence with credentials inside is a finding, by name.
_CREDENTIAL_FILES = re.compile(
    r"(^|/)(\.npmrc|\.pypirc|\.netrc|\.git-credentials|\.dockercfg|\.docker/config\.json|"
    r"\.aws/credentials|\.env(\.[\w-]+)?|id_(rsa|dsa|ecdsa|ed25519)|[^/]+\.(pem|key|p12|pfx))$"
)
_CREDENTIAL_CONTENT = re.compile(
    rb"(_authToken\s*=|_auth\s*=|password\s*[=:]|\bpassword\s+\S|aws_secret_access_key|"
    rb"\"auth\"\s*:|[A-Z0-9_]*(TOKEN|SECRET|PASSWORD|API_KEY)[A-Z0-9_]*\s*=\s*\S)",
    re.IGNORECASE,
)
# The names ``is_package_file`` accepts (a cheap test before it)
_PACKAGE_NAMES = frozenset({"status", "installed", "METADATA", "PKG-INFO", "package.json"})
_DPKG_STATUS_D = "var/lib/dpkg/status.d/"
# Public certificates and trust stores match *.pem but hold nothing secret.
_PUBLIC_PLACES = ("etc/ssl/certs/", "usr/share/ca-certificates/", "etc/pki/ca-trust/")
# Formats whose bytes hold no credential the rules could read (compiled code, archives,
# compressed data, images, message catalogues): not searched. A credential file by its name
# is searched whatever it holds. On a Debian golang-go root, ELF and ``ar`` (Go's ``.a``)
# files are two thirds of the bytes the search would read.
_BINARY_MAGIC = (
    b"\x7fELF", b"!<arch>\n", b"\x1f\x8b", b"PK\x03\x04", b"\x89PNG", b"\xff\xd8\xff",
    b"GIF8", b"BZh", b"\xfd7zXZ", b"(\xb5/\xfd", b"\xca\xfe\xba\xbe", b"\x00asm",
    b"\xde\x12\x04\x95", b"\x95\x04\x12\xde", b"RIFF", b"OggS", b"wOFF", b"wOF2",
)  # fmt: skip


@dataclass(frozen=True)
class SecretHit:
    path: str
    layer: int
    what: str
    sample: bool = False  # under a test, test data, documentation or example path


@dataclass(frozen=True)
class Hostile:
    """A tar member no honest image holds (see ``layers/reader.py``), as the tar names it."""

    name: str
    layer: int
    what: str


HOSTILE_KEPT = 200  # the first ones are kept for the report; the rest are counted
CANDIDATES_KEPT = 256  # entrypoint candidates probed in the first pass (more: read again)


@dataclass
class Executable:
    """What the first pass learnt of a file named like the entrypoint, instead of its bytes:
    its first line (for ``#!``), and for an ELF file what the loader needs."""

    head: bytes
    needs: StartupNeeds | None = None
    damage: str = ""  # why the ELF headers could not be read
    behind: tuple[int, int] | None = None  # a range to read on a second pass
    uses_tls: bool = False


@dataclass
class Scan:
    filesystem: FileSystem
    uncompressed_sizes: list[int]
    config_files: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    secrets: list[SecretHit] = field(default_factory=list)
    hostile: list[Hostile] = field(default_factory=list)
    hostile_count: int = 0
    # (path, layer) -> what the first pass learnt of an entrypoint candidate
    binaries: dict[tuple[str, int], Executable] = field(default_factory=dict)
    # files spooled whole for a reader that needs random access (cargo-auditable's section)
    spooled: dict[tuple[str, int], IO[bytes]] = field(default_factory=dict)
    # package databases and metadata files (dpkg, apk, dist-info, package.json), by (path, layer)
    package_files: dict[tuple[str, int], bytes] = field(default_factory=dict)
    # Go build info (version, modinfo) of executables, and executables that may carry a
    # cargo-auditable section, by (path, layer)
    go_binaries: dict[tuple[str, int], tuple[str, str]] = field(default_factory=dict)
    rust_candidates: set[tuple[str, int]] = field(default_factory=set)

    def present(self, path: str, layer: int) -> bool:
        """Whether what a layer held at ``path`` is what the final file system holds."""
        node = self.filesystem.nodes.get(path)
        return node is not None and node.layer == layer

    def config_file(self, path: str) -> bytes | None:
        """A small file's content if it is in the final file system as it was captured."""
        captured = self.config_files.get(path)
        node = self.filesystem.nodes.get(path)
        if captured is None or node is None or node.layer != captured[0]:
            return None
        return captured[1]

    def binary(self, path: str) -> Executable | None:
        node = self.filesystem.nodes.get(path)
        return None if node is None else self.binaries.get((path, node.layer))

    def report(self, layer: int) -> Callable[[str, str], None]:
        def hostile(name: str, what: str) -> None:
            self.hostile_count += 1
            if len(self.hostile) < HOSTILE_KEPT:
                self.hostile.append(Hostile(name, layer, what))

        return hostile


# What every name _CREDENTIAL_FILES accepts starts or ends with: a cheap test before it.
_CREDENTIAL_STARTS = (".", "id_")
_CREDENTIAL_ENDS = (".pem", ".key", ".p12", ".pfx", "config.json", "credentials")


def _credential_file(path: str, name: str) -> bool:
    """(The caller has tested the name's start and end.)"""
    return _CREDENTIAL_FILES.search(path) is not None and not path.startswith(_PUBLIC_PLACES)


# What every executable is searched for, in one pass of one automaton (``ahocorasick-rs``,
# Rust, without the GIL) instead of one ``bytes.find`` per marker and a copy of each chunk
# joined to the last one's tail: Go's build info magic, and the name of cargo-auditable's
# section. On the 600 MB Debian golang image this was a fifth of the main thread's time.
_GO, _RUST = 0, 1
_MARKERS = (GO_MAGIC, b".dep-v0")
_EDGE = max(map(len, _MARKERS)) - 1  # a marker across two chunks starts in the last ones


@functools.cache
def _markers(wanted: tuple[int, ...]) -> Any:
    """An automaton over the markers still wanted (each alone is several times faster)."""
    import ahocorasick_rs

    return ahocorasick_rs.BytesAhoCorasick([_MARKERS[n] for n in wanted])


class _Watch:
    """Streams an executable after its first piece, noting what goes by: where Go's build
    info starts (and the 64 KiB from there ``go_build_info`` reads), the cargo-auditable
    section name, TLS code markers (for a candidate), and the pieces an :class:`ElfProbe`
    wants. Chunks are read as they are buffered (short reads), never joined."""

    def __init__(self, head: bytes, rest: IO[bytes], probe: ElfProbe | None) -> None:
        self._read = getattr(rest, "read1", rest.read)
        self.probe = probe
        self.go: bytes | None = None  # the bytes from the build info magic on, once found
        self.go_done = False
        self.rust = False
        self.tls = probe is not None and TLS_MARKERS.search(head) is not None
        self._tail = head[-64:]
        self._edge = b""
        self._look(head)
        if self.go is not None and len(self.go) >= 64 << 10:
            self.go_done = True

    def _look(self, chunk: bytes) -> None:
        """Markers in ``chunk`` and across its edge with the chunk before."""
        wanted = tuple(n for n, done in ((_GO, self.go is not None), (_RUST, self.rust))
                       if not done)  # fmt: skip
        if not wanted:
            return
        automaton = _markers(wanted)
        edge = self._edge
        self._edge = chunk[-_EDGE:]
        hits: list[tuple[int, int, int]] = []
        if edge:  # (a marker wholly inside either side is found in its own search)
            joined = edge + chunk[:_EDGE]
            hits = [(wanted[k], s - len(edge), e) for k, s, e in
                    automaton.find_matches_as_indexes(joined, overlapping=True)]  # fmt: skip
        hits += [(wanted[k], s, e) for k, s, e in
                 automaton.find_matches_as_indexes(chunk, overlapping=True)]  # fmt: skip
        for marker, start, _ in sorted(hits, key=lambda h: h[1]):
            if marker == _RUST:
                self.rust = True
            elif self.go is None:  # the first one, as a search front to back finds it
                self.go = (edge[start:] + chunk) if start < 0 else chunk[start:]

    def read(self, n: int) -> bytes:
        chunk = self._read(n)
        if not chunk:
            self.go_done = True  # (what was found of the build info is all there is)
            return chunk
        if self.go is not None and not self.go_done:
            self.go += chunk
        if self.go is None or not self.rust:
            self._look(chunk)
        if self.go is not None and not self.go_done:
            self.go_done = len(self.go) >= 64 << 10
        if self.probe is not None:
            if not self.tls and TLS_MARKERS.search(self._tail + chunk):
                self.tls = True
            self._tail = chunk[-64:]
            if not self.probe.done:
                self.probe.feed(chunk)
        return chunk

    @property
    def satisfied(self) -> bool:
        """Nothing more to learn from the rest of the file."""
        if not self.go_done or not self.rust:
            return False  # (Go's build info is looked for up to the end of the file)
        return self.probe is None or (self.tls and self.probe.done)


# One file of a batch: path, layer, name, whether its name makes it a credential file, and
# for a hit known without a search (a .git directory) the hit, kept in its place in tar order.
_Pending = tuple[str, int, str, bool, "SecretHit | None"]


class _Batch:
    """One batch handed to the worker: its hits once searched (or what the search raised)."""

    def __init__(self, data: bytes, starts: list[int], files: list[_Pending],
                 special: list[int]) -> None:  # fmt: skip
        self.args = (data, starts, files, special)
        self.done = threading.Event()
        self.hits: list[SecretHit] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.hits = _search(*self.args)
        except BaseException as exc:  # raised again in the caller's thread
            self.error = exc
        finally:
            self.args = (b"", [], [], [])
            self.done.set()

    def result(self) -> list[SecretHit]:
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.hits


class _SecretSearch:
    """File heads searched for credentials in batches, by one worker thread, while the main
    thread goes on parsing: a batch is the heads of many files joined (up to 4 MiB), searched
    in one pass of the rules' automaton (``secrets.find_secrets``), which releases the GIL.
    Per-file Python work would otherwise dominate an image of many small files: the worker's
    own Python work is per hit, not per file (it holds the GIL the parser needs). At most two
    batches are in flight (memory: a few MiB); hits keep the order of the tar. A plain thread
    and a queue, not ``concurrent.futures``, whose import (with ``logging``) was a tenth of
    the audit's start-up."""

    BATCH = 4 << 20
    IN_FLIGHT = 2

    def __init__(self, scan: Scan) -> None:
        self._scan = scan
        self._jobs: queue.SimpleQueue[_Batch | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._parts: list[bytes] = []
        self._starts: list[int] = []
        self._files: list[_Pending] = []
        self._special: list[int] = []  # files looked at whatever the automaton finds
        self._size = 0
        self._flights: deque[_Batch] = deque()

    def add(self, path: str, layer: int, name: str, head: bytes, credential: bool) -> None:
        if credential:
            self._special.append(len(self._files))
        self._parts.append(head)
        self._starts.append(self._size)
        self._files.append((path, layer, name, credential, None))
        self._size += len(head) + 1
        if self._size >= self.BATCH:
            self._flush()

    def found(self, hit: SecretHit) -> None:
        """A hit found without a search (a .git directory), kept in tar order."""
        self._special.append(len(self._files))
        self._parts.append(b"")
        self._starts.append(self._size)
        self._files.append((hit.path, hit.layer, "", False, hit))
        self._size += 1

    def _land(self) -> None:
        self._scan.secrets.extend(self._flights.popleft().result())

    def _work(self) -> None:
        while (batch := self._jobs.get()) is not None:
            batch.run()

    def _flush(self) -> None:
        if not self._files:
            return
        while len(self._flights) >= self.IN_FLIGHT:
            self._land()
        self._parts.append(b"")  # each head is followed by a newline, the last one too
        batch = _Batch(b"\n".join(self._parts), self._starts, self._files, self._special)
        self._parts, self._starts, self._files, self._special, self._size = [], [], [], [], 0
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="scratchpack-secrets",
                                            daemon=True)  # fmt: skip
            self._thread.start()
        self._flights.append(batch)
        self._jobs.put(batch)

    def finish(self) -> None:
        """Wait for every batch and put the hits in the scan."""
        self._flush()
        while self._flights:
            self._land()

    def __enter__(self) -> _SecretSearch:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._jobs.put(None)  # (at most two batches are queued before it)
            self._thread.join()


def _search(data: bytes, starts: list[int], files: list[_Pending], special: list[int]
            ) -> list[SecretHit]:  # fmt: skip
    """The hits of one batch, in tar order (run in the worker thread)."""
    rules = find_secrets(data, starts)
    out: list[SecretHit] = []
    for index in sorted({*rules, *special}):
        path, layer, name, credential, known = files[index]
        if known is not None:
            out.append(known)
            continue
        rule = rules.get(index)
        what = None if rule is None else rule.what
        if what is None and credential:
            end = starts[index + 1] - 1 if index + 1 < len(starts) else len(data) - 1
            if _CREDENTIAL_CONTENT.search(data, starts[index], end):
                what = f"credentials in a {name} file"
        if what is not None:
            out.append(SecretHit(path, layer, what, is_sample_path(path)))
    return out


@dataclass
class _Collector:
    layer: int
    names: set[str] | frozenset[str]
    scan: Scan
    stack: ExitStack
    extra: tuple[tuple[int, int], ...] = ()  # ranges an earlier pass found it needed
    spool: frozenset[str] = frozenset()  # paths to keep whole (random access needed)
    kept: int = CANDIDATES_KEPT  # candidates probed at most
    search: _SecretSearch | None = None  # where file contents go to be searched for credentials

    def sink(self, entry: LayerEntry, content: IO[bytes]) -> None:
        # (called for every regular file: the usual one, a small text file, takes the last
        # branch and goes to the search with one call)
        path = entry.path
        if self.spool and path in self.spool:
            self._spool(path, content)
            return
        name = path[path.rfind("/") + 1 :]
        search = self.search
        if path in CONFIG_FILES or path.startswith("etc/ld.so.conf.d/"):
            head = content.read(SMALL_FILE_LIMIT)
            self.scan.config_files[path] = (self.layer, head)
        elif entry.size == 0:
            if name in self.names and len(self.scan.binaries) < self.kept:
                self.scan.binaries[(path, self.layer)] = Executable(b"")
            return  # nothing to search for in an empty file
        elif (name in _PACKAGE_NAMES or path.startswith(_DPKG_STATUS_D)) and is_package_file(path):
            data = content.read(package_file_limit(path))
            self.scan.package_files[(path, self.layer)] = data
            head = data[:SECRET_SCAN_LIMIT]
        else:
            # a first piece tells what the file is; only text is read on, for the secret
            # search (a compiled or compressed file's bytes are skipped, not copied)
            head = content.read(HEAD_LIMIT)
            elf = head.startswith(b"\x7fELF")
            if name in self.names and len(self.scan.binaries) < self.kept:
                self._candidate(path, head, content)
            elif elf:
                self._executable(path, head, content, None)
            if (
                search is not None
                and not elf
                and len(head) == HEAD_LIMIT
                and not head.startswith(_BINARY_MAGIC)
            ):
                head += content.read(SECRET_SCAN_LIMIT - HEAD_LIMIT)
        if search is None or path.startswith(_PUBLIC_PLACES):
            return
        credential_file = (
            name.startswith(_CREDENTIAL_STARTS) or name.endswith(_CREDENTIAL_ENDS)
        ) and _credential_file(path, name)
        if head.startswith(_BINARY_MAGIC) and not credential_file:
            return
        search.add(path, self.layer, name, head[:SECRET_SCAN_LIMIT], credential_file)

    def _candidate(self, path: str, head: bytes, rest: IO[bytes]) -> None:
        found = Executable(head[:256])
        self.scan.binaries[(path, self.layer)] = found
        if not head.startswith(b"\x7fELF"):
            return
        probe = None
        try:
            probe = ElfProbe(head, self.extra)
        except (DamagedElf, struct.error) as exc:
            found.damage = str(exc)
        watch = self._executable(path, head, rest, probe)
        found.uses_tls = watch.tls
        if probe is not None:
            try:
                found.needs = probe.needs()
            except (DamagedElf, struct.error) as exc:
                found.damage, found.behind = str(exc), probe.behind

    def _executable(
        self, path: str, head: bytes, rest: IO[bytes], probe: ElfProbe | None
    ) -> _Watch:
        """Go build info, the cargo-auditable marker, and what ``probe`` wants: streamed (the
        rest is not kept)."""
        watch = _Watch(head, rest, probe)
        while not watch.satisfied:
            # the build info's strings need 64 KiB after its magic; else read on in chunks
            if not watch.read(64 << 10 if watch.go is not None and not watch.go_done else 1 << 20):
                break  # the section names sit near the end of the file
        if watch.go is not None:
            info = go_build_info(watch.go)
            if info is not None:
                self.scan.go_binaries[(path, self.layer)] = info
        if watch.rust:
            self.scan.rust_candidates.add((path, self.layer))
        return watch

    def _spool(self, path: str, content: IO[bytes]) -> None:
        import tempfile  # (only a Rust binary's section needs it: slow to import)

        spool = self.stack.enter_context(
            tempfile.SpooledTemporaryFile(  # noqa: SIM115 (closed with the stack)
                max_size=SPOOL_IN_MEMORY, prefix="scratchpack-"
            )
        )
        while chunk := content.read(1 << 20):
            spool.write(chunk)
        self.scan.spooled[(path, self.layer)] = spool


def _watch_entries(
    entries: Iterator[LayerEntry],
    scan: Scan,
    layer: int,
    names: set[str],
    search: _SecretSearch | None,
) -> Iterator[LayerEntry]:
    """``.git`` directories, and symbolic links named like the entrypoint: their target's name
    becomes a candidate too, so a link to a file later in the tar (``python3 ->
    python3.11``) is followed in this pass instead of a second one."""
    for entry in entries:
        kind = entry.kind
        if kind == "symlink":
            path = entry.path
            if path[path.rfind("/") + 1 :] in names:
                link = entry.link.rstrip("/")
                names.add(link[link.rfind("/") + 1 :])
        elif (
            kind == "dir"
            and entry.path.endswith(".git")
            and (entry.path == ".git" or entry.path.endswith("/.git"))
        ):
            hit = SecretHit(entry.path, layer, "a .git directory")
            if search is None:
                scan.secrets.append(hit)
            else:
                search.found(hit)  # in its place among the files' hits
        yield entry


def scan_image(
    image: Image,
    entrypoint_names: frozenset[str],
    stack: ExitStack,
    secrets: bool = True,
    name: str = "",
) -> Scan:
    """Read every layer once, each entry as it streams by (no layer is held in memory).
    ``secrets``: search file contents for credentials (``audit`` does, unless
    ``--no-secrets``; ``sbom`` and ``pack --base`` need no such search).

    One progress step over the stored bytes of all layers (their sum is known up front),
    relabelled per layer: ``scanning layer 2/3 of NAME``."""
    scan = Scan(FileSystem(), [])
    names = set(entrypoint_names)
    search = stack.enter_context(_SecretSearch(scan)) if secrets else None
    count = len(image.layers)
    of = f" of {name}" if name else ""
    total = sum(layer.descriptor.size for layer in image.layers)
    with progress.step(f"scanning {count} layers{of}", total) as task:
        for index, layer in enumerate(image.layers):
            task.relabel(f"scanning layer {index + 1}/{count}{of}")
            collector = _Collector(index, names, scan, stack, search=search)
            report = scan.report(index)
            with layer.open_uncompressed(task.advance) as stream:
                counter = CountingReader(stream)
                entries = counter.iter_entries(every_file, collector.sink, report)
                scan.filesystem.apply(_watch_entries(entries, scan, index, names, search), report)
            scan.uncompressed_sizes.append(counter.count)
        if search is not None:
            search.finish()
    return scan


def iter_user_records(passwd: bytes) -> Iterator[tuple[str, int, int, str]]:
    """(name, uid, gid, shell) of each well-formed ``/etc/passwd`` line."""
    for raw in passwd.decode("utf-8", "replace").splitlines():
        fields = raw.split(":")
        if len(fields) < 7 or not fields[2].isdigit() or not fields[3].isdigit():
            continue
        yield fields[0], int(fields[2]), int(fields[3]), fields[6]


def _ignore(name: str, what: str) -> None:
    """The first pass has reported the layer's hostile members already."""


def fetch_file(image: Image, scan: Scan, path: str, stack: ExitStack, whole: bool = False) -> None:
    """Read one more time the one layer that holds ``path`` in the final file system, to get
    a file the first pass could not know it needed (reached through a link of another name,
    or a piece of an ELF file that went by before its place was known). ``whole``: spool the
    whole file, for a reader that needs random access."""
    node = scan.filesystem.nodes.get(path)
    if node is None or node.kind != "file":
        return
    known = scan.binaries.get((path, node.layer))
    extra = (known.behind,) if known is not None and known.behind is not None else ()
    scan.binaries.pop((path, node.layer), None)
    names = frozenset({posixpath.basename(path)})
    spool = frozenset({path}) if whole else frozenset()
    # no secret search: the first pass searched this file already
    collector = _Collector(node.layer, names, scan, stack, extra, spool, len(scan.binaries) + 1)
    with image.layers[node.layer].open_uncompressed() as stream:
        for _ in read_layer(stream, lambda e: e.path == path, collector.sink, _ignore):
            pass
