"""hypothesis strategies for the fuzz targets: inputs built from the pieces each parser cares
about (instructions, flags, heredocs, shell operators, manifest fields, tar members), mixed
with arbitrary text and bytes, so a few hundred examples reach the odd corners."""

from __future__ import annotations

import io
import json
import struct
import tarfile
from collections.abc import Iterable

from hypothesis import strategies as st

from fuzz.mutators import JSON_KEYS, JSON_SCALARS, JSON_STRINGS
from fuzz.samples import DOCKERFILES, SCRIPTS

_INSTRUCTIONS = (
    "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
    "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "from",
)  # fmt: skip
_PIECES = (
    " ", "  ", "\t", "\n", "\r\n", "\\\n", "\\", "`", "#", "# escape=`\n", "# escape=\\\n",
    "# syntax=x\n", "# scratchpack ignore=SP200\n", "# hadolint global ignore=DL3008\n",
    "<<EOF", "<<-EOF", "<<'EOF'", "\nEOF\n", "EOF", "--from=", "--mount=type=cache,target=/x",
    "--platform=$P", "--chmod=", "--chown=", "--link", " AS ", "=", '"', "'", "[", "]", '["',
    '", "', '"]', "$", "${", "}", ":-", ":+", "$(", ")", "(", "&&", "||", "|", ";", "&", ">",
    "<", "scratch", "alpine", "debian:12@sha256:", "apt-get install -y ", "apt-get update",
    "pip install ", "npm install", "npm ci", "curl -o /x ", "rm -rf /", "sudo ", "sh -c '",
    "chmod 777 ", "/tmp/*", "\u00e9", "\ufeff", "\x0b", "\x0c", "\u2028",
)  # fmt: skip
_OPERATORS = (
    " ", "\n", "&&", "||", "|", "|&", ";", ";;", "&", "(", ")", "{ ", " }", "$(", "`", "'",
    '"', "\\", "<<EOF\n", "\nEOF\n", "<<<", ">", ">>", "2>&1", "<(", "${", "}", "=", "#",
    "if ", "then ", "fi", "for x in ", "do ", "done", "case ", " in ", "esac", "[[ ", " ]]",
    "sh -c ", "bash -c ", "sudo ", "env A=1 ", "apt-get", "install", "-y", "curl", "pip",
)  # fmt: skip


def _line() -> st.SearchStrategy[str]:
    words = st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=8)), max_size=8)
    return st.builds(
        lambda cmd, rest: cmd + " " + "".join(rest), st.sampled_from(_INSTRUCTIONS), words
    )


def _spliced(
    samples: Iterable[str], pieces: tuple[str, ...], reach: int
) -> st.SearchStrategy[bytes]:
    """A sample with one piece inserted somewhere in its first ``reach`` characters."""
    return st.builds(
        lambda base, at, piece: (base[:at] + piece + base[at:]).encode(),
        st.sampled_from(sorted(samples)),
        st.integers(0, reach),
        st.sampled_from(pieces),
    )


def dockerfiles() -> st.SearchStrategy[bytes]:
    structured = st.builds(
        lambda lines, pieces: ("".join(f"{line}\n" for line in lines) + "".join(pieces)).encode(),
        st.lists(_line(), min_size=1, max_size=12),
        st.lists(st.sampled_from(_PIECES), max_size=4),
    )
    spliced = _spliced(DOCKERFILES.values(), _PIECES, 400)
    return st.one_of(structured, spliced, st.binary(max_size=200))


def scripts() -> st.SearchStrategy[bytes]:
    tokens = st.lists(st.one_of(st.sampled_from(_OPERATORS), st.text(max_size=6)), max_size=40)
    built = tokens.map(lambda parts: "".join(parts).encode("utf-8", "surrogatepass"))
    spliced = _spliced(SCRIPTS.values(), _OPERATORS, 300)
    return st.one_of(built, spliced, st.binary(max_size=200))


# Pieces of the Dockerfiles ``lint --fix`` rewrites: every fixable rule (apt-get without
# --no-install-recommends or list cleanup, a lone apt-get update, apk without --no-cache, pip
# without --no-cache-dir, CMD/ENTRYPOINT in shell form), in the shapes that broke fixes before
# (a trailing ``;`` or ``&``, a comment after the command, continuations, sh -c, heredocs).
_FIX_RUNS = (
    "RUN apt-get update",
    "RUN apt-get install -y {p}",
    "RUN apt-get update && apt-get install -y {p}",
    "RUN apt-get install -y {p};",
    "RUN apt-get install -y {p} &",
    "RUN apt-get install -y {p} # why",
    "RUN apk add {p}",
    "RUN pip install {p}",
    "RUN pip3 install -r r.txt && pip install {p}",
    "RUN set -e; apt-get update; apt-get install -y {p}",
    "RUN apt-get update \\\n    && apt-get install -y \\\n      {p} \\\n    # note\n    && true",
    "RUN sh -c 'apt-get update && apt-get install -y {p}'",
    "RUN <<EOF\napt-get update\napt-get install -y {p}\nEOF",
    "RUN if true; then apt-get install -y {p}; fi",
    "RUN apt-get install -y {p} || exit 1",
    "RUN f() {{ apk add {p}; }}; f",
    "RUN --mount=type=cache,target=/var/cache/apt apt-get install -y {p}",
    'RUN ["sh", "-c", "pip install {p}"]',
    "RUN curl -fsSL https://example.com/x | sh",
)
_FIX_CONTEXT = (
    "USER 1000",
    "USER root",
    "WORKDIR /src",
    "ENV A=b",
    'SHELL ["/bin/bash", "-c"]',
    "COPY . /src",
    "ARG V=1",
)
_FIX_FINAL = (
    "CMD /app --port 8080",
    "CMD exec /app",
    "ENTRYPOINT app -v",
    "CMD app 'a b'",
    "CMD node server.js # start",
    "CMD app \\\n    --flag",
    'CMD ["/app"]',
    "CMD $HOME/x",
)
_FIX_PACKAGES = (
    "curl",
    "git",
    "python3-pip",
    "ca-certificates curl",
    "'x=1.*'",
    "$PKGS",
    "a\\\n  b",
)


def fixable_dockerfiles() -> st.SearchStrategy[bytes]:
    """Stages of fixable RUNs between context changes, a final CMD, maybe the ` escape or CRLF
    line ends, maybe one piece of _PIECES spliced in somewhere."""
    run = st.builds(
        lambda t, p: t.format(p=p), st.sampled_from(_FIX_RUNS), st.sampled_from(_FIX_PACKAGES)
    )
    body = st.lists(st.one_of(run, st.sampled_from(_FIX_CONTEXT)), min_size=1, max_size=6)
    stage = st.builds(
        lambda base, lines: [f"FROM {base}", *lines],
        st.sampled_from(("debian:12", "alpine:3.20", "python:3.12", "stage0", "scratch")),
        body,
    )

    def assemble(stages: list[list[str]], final: str, style: int, at: int, piece: str) -> bytes:
        lines = [line for n, s in enumerate(stages) for line in (f"{s[0]} AS stage{n}", *s[1:])]
        text = "\n".join([*lines, "USER 1", final]) + "\n"
        if style == 1 and "<<" not in text:
            text = "# escape=`\n" + text.replace("\\\n", "`\n")
        elif style == 2:
            text = text.replace("\n", "\r\n")
        elif style == 3:
            text = text[:at] + piece + text[at:]
        return text.encode()

    return st.builds(
        assemble,
        st.lists(stage, min_size=1, max_size=3),
        st.sampled_from(_FIX_FINAL),
        st.integers(0, 6),
        st.integers(0, 400),
        st.sampled_from(_PIECES),
    )


_CONFIG_KEYS = (
    "ignored",
    "override",
    "trustedRegistries",
    "label-schema",
    "failure-threshold",
    "no-fail",
    "format",
    "strict-labels",
    "ignore",
    "severity",
    "trusted-registries",
    "shellcheck",
    "error",
    "warning",
    "info",
    "style",
    "DL3008",
    "SP200",
    "x\ny",
)
_YAML_SCALARS = (
    "DL3008",
    "SP200",
    "error",
    "none",
    "sarif",
    "true",
    "1",
    "~",
    "'a\\nb'",
    '"x"',
    "docker.io",
    "url",
    "rfc3339",
    "{}",
    "[]",
    "1e999",
    "!!binary aGk=",
    "*nope",
)
# A billion-laughs alias bomb: nine levels of nine references to the level below.
_BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]\n" for n in range(1, 9)
)


def configs() -> st.SearchStrategy[bytes]:
    """YAML (hadolint's keys, nested values, an alias bomb referenced under any key, deep
    nesting) and TOML documents with values of the right and of the wrong type."""
    scalar = st.one_of(st.sampled_from(_YAML_SCALARS), st.text(max_size=6).map(json.dumps))
    value = st.recursive(
        scalar,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3).map(lambda v: "[" + ", ".join(v) + "]"),
            st.dictionaries(st.sampled_from(_CONFIG_KEYS).map(json.dumps), inner, max_size=3).map(
                lambda d: "{" + ", ".join(f"{k}: {v}" for k, v in d.items()) + "}"
            ),
        ),
        max_leaves=8,
    )
    yaml_doc = st.builds(
        lambda bomb, pairs: (
            (_BOMB if bomb else "") + "".join(f"{json.dumps(k)}: {v}\n" for k, v in pairs)
        ).encode(),
        st.booleans(),
        st.lists(
            st.tuples(st.sampled_from(_CONFIG_KEYS), st.one_of(value, st.just("*a8"))), max_size=5
        ),
    )
    toml_value = st.sampled_from(
        (
            '"SP200"',
            '["SP200", "DL3008"]',
            "5",
            "[[1]]",
            "true",
            '{SP103 = "warning"}',
            "{SP103 = [1]}",
            '"x"',
            "[]",
            "{}",
        )
    )
    toml_doc = st.lists(st.tuples(st.sampled_from(_CONFIG_KEYS), toml_value), max_size=5).map(
        lambda pairs: "".join(f"{json.dumps(k)} = {v}\n" for k, v in pairs).encode()
    )
    # deeper ones are the corpus seed's: 2,000 levels take 0.8 s, too slow for every example
    deep = st.integers(1, 200).map(lambda n: ("ignored: " + "[" * n + "]" * n + "\n").encode())
    return st.one_of(yaml_doc, toml_doc, deep, st.binary(max_size=300))


_json_values = st.recursive(
    st.one_of(st.sampled_from(JSON_SCALARS), st.sampled_from(JSON_STRINGS), st.text(max_size=5)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(JSON_KEYS), inner, max_size=4),
    ),
    max_leaves=12,
)
_DOCUMENTS = ("oci-manifest", "oci-index", "config")


def replaced(doc: object, changes: list[tuple[list[str], object]], *, into_lists: bool) -> bytes:
    """``doc`` with the value at each path replaced (a path that leaves the objects stops
    where it can go no further; ``into_lists`` steps into a list's first item), as JSON."""
    for path, value in changes:
        node = doc
        for part in path[:-1]:
            child = node.get(part) if isinstance(node, dict) else None
            if into_lists and isinstance(child, list) and child:
                child = child[0]
            if not isinstance(child, dict):
                break
            node = child
        if isinstance(node, dict):
            node[path[-1]] = value
    return json.dumps(doc).encode("utf-8", "surrogatepass")


def model_documents() -> st.SearchStrategy[bytes]:
    """A valid manifest, index or config (from make_corpus) with some fields replaced."""
    from fuzz.make_corpus import model_documents as valid

    documents = valid()

    def mutate(name: str, changes: list[tuple[list[str], object]]) -> bytes:
        return replaced(json.loads(json.dumps(documents[name])), changes, into_lists=False)

    paths = st.lists(
        st.sampled_from(("config", "rootfs", "manifests", "layers", *JSON_KEYS)),
        min_size=1,
        max_size=3,
    )
    changes = st.lists(st.tuples(paths, _json_values), min_size=1, max_size=3)
    return st.one_of(
        st.builds(mutate, st.sampled_from(_DOCUMENTS), changes),
        _json_values.map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass")),
        st.binary(max_size=100),
    )


_TAR_TYPES = (tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE,
              tarfile.CHRTYPE, tarfile.FIFOTYPE, b"7", b"S", b"V", b"Z")  # fmt: skip
_TAR_NAMES = ("a", "./a/b", "../x", "/abs", ".wh.x", "d/.wh..wh..opq", "caf\u00e9", "a" * 120, "")


def _tar(members: list[tuple[str, bytes, str, bytes, dict[str, str]]], fmt: int) -> bytes:
    try:
        return _write_tar(members, fmt)
    except (ValueError, UnicodeError, tarfile.TarError):  # tarfile will not write this one
        return b""


def _write_tar(members: list[tuple[str, bytes, str, bytes, dict[str, str]]], fmt: int) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for name, kind, link, content, pax in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = link
            info.pax_headers = pax
            info.size = len(content) if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(content) if kind == tarfile.REGTYPE else None)
    return out.getvalue()


def damaged(data: bytes, changes: list[tuple[int, bytes]], cut: int | None) -> bytes:
    """``data`` with bytes overwritten at a few offsets, then maybe cut short."""
    out = bytearray(data)
    for at, patch in changes:
        out[at : at + len(patch)] = patch
    return bytes(out[:cut] if cut is not None else out)


def layers() -> st.SearchStrategy[bytes]:
    """A tar written by tarfile (odd names, types and PAX records), then maybe corrupted:
    bytes overwritten at a few places, or cut short."""
    pax = st.dictionaries(
        st.sampled_from(
            (
                "path",
                "linkpath",
                "size",
                "uid",
                "mtime",
                "GNU.sparse.size",
                "GNU.sparse.map",
                "hdrcharset",
                "comment",
            )
        ),
        st.sampled_from(("1", "-1", "x", "", "1e3", "0,10", "BINARY", "99999999999")),
        max_size=2,
    )
    member = st.tuples(
        st.one_of(st.sampled_from(_TAR_NAMES), st.text(min_size=1, max_size=10)),
        st.sampled_from(_TAR_TYPES),
        st.sampled_from(_TAR_NAMES),
        st.binary(max_size=600),
        pax,
    )
    tars = st.builds(
        _tar,
        st.lists(member, max_size=4),
        st.sampled_from((tarfile.PAX_FORMAT, tarfile.GNU_FORMAT)),
    )
    corrupt = st.lists(
        st.tuples(st.integers(0, 4096), st.binary(min_size=1, max_size=8)), max_size=3
    )

    return st.one_of(
        st.builds(damaged, tars, corrupt, st.one_of(st.none(), st.integers(0, 4096))),
        st.binary(max_size=1200),
    )


_OSV_KEYS = ("id", "modified", "withdrawn", "aliases", "summary", "details", "severity",
             "affected", "package", "ecosystem", "name", "ranges", "type", "events",
             "introduced", "fixed", "last_affected", "limit", "versions", "ecosystem_specific",
             "urgency", "database_specific", "score")  # fmt: skip
_OSV_STRINGS = ("0", "1.0", "1:2.0-1~b", "v0.0.0-2023-abc", "ECOSYSTEM", "SEMVER", "GIT",
                "Debian:12", "Alpine:v3.19", "PyPI", "npm", "Go", "crates.io", "CVSS_V3",
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CVSS:4.0/AV:N", "HIGH",
                "unimportant", "\x00", "\ud800", "9" * 400)  # fmt: skip
_osv_values = st.recursive(
    st.one_of(st.sampled_from(JSON_SCALARS), st.sampled_from(_OSV_STRINGS), st.text(max_size=5)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(_OSV_KEYS), inner, max_size=4)
    ),
    max_leaves=16,
)


def osv_documents() -> st.SearchStrategy[bytes]:
    """A real advisory of tests/data/osv with fields replaced, or arbitrary JSON, deep
    nesting or bytes."""
    from fuzz.make_corpus import osv_documents as valid

    documents = valid()

    def mutate(name: str, changes: list[tuple[list[str], object]]) -> bytes:
        return replaced(json.loads(documents[name]), changes, into_lists=True)

    paths = st.lists(st.sampled_from(_OSV_KEYS), min_size=1, max_size=4)
    changes = st.lists(st.tuples(paths, _osv_values), min_size=1, max_size=3)
    deep = st.integers(1, 3000).map(lambda n: b'{"id": "X", "a": ' + b"[" * n + b"]" * n + b"}")
    return st.one_of(
        st.builds(mutate, st.sampled_from(sorted(documents)), changes),
        _osv_values.map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass")),
        deep,
        st.binary(max_size=200),
    )


_IGNORE_PIECES = ("ignore:\n", "  - id: ", "CVE-2023-1", "\n", "    package: ", "    reason: ",
                  "    expires: ", "2020-01-01", "2999-12-31", "someday", "[[ignore]]\n",
                  'id = "X"\n', "expires = 2024-01-01\n", "&a [*a]", "!!python/object:os.system",
                  '{"statements": [', '{"status": "not_affected", "vulnerability": ',
                  '{"name": "X"}', '"products": [{"@id": "pkg:npm/x"}]', "]}", '"vulnerabilities"',
                  '"analysis": {"state": "not_affected"}', ",", ":", "{", "}",
                  "[", "]")  # fmt: skip


def ignore_files() -> st.SearchStrategy[bytes]:
    pieces = st.lists(st.one_of(st.sampled_from(_IGNORE_PIECES), st.text(max_size=6)), max_size=30)
    return st.one_of(
        pieces.map(lambda parts: "".join(parts).encode("utf-8", "surrogatepass")),
        st.binary(max_size=200),
    )


def elf_file(
    wide: bool = True,
    little: bool = True,
    interpreter: bytes | None = b"/lib64/ld-linux-x86-64.so.2",
    needed: tuple[bytes, ...] = (b"libc.so.6",),
    runpath: bytes | None = b"$ORIGIN/../lib",
    symbols: tuple[bytes, ...] = (b"iconv_open",),
    e_type: int = 3,
) -> bytes:
    """A small well-formed ELF executable: ELF header, program headers (PT_LOAD, PT_INTERP,
    PT_DYNAMIC), the interpreter string, a dynamic section (DT_NEEDED, DT_RUNPATH, DT_STRTAB,
    DT_STRSZ) and its string table, and section headers naming ``.dynamic`` and ``.dynstr``
    (what pyelftools reads). The layout is what a linker writes, minus code: what the start-up
    probe and pack's reader parse."""
    order = "<" if little else ">"
    word, half = ("Q", 64) if wide else ("I", 52)
    phentsize = 56 if wide else 32
    shentsize = 64 if wide else 40
    strtab = bytearray(b"\0")

    def string(value: bytes) -> int:
        strtab.extend(value + b"\0")
        return len(strtab) - len(value) - 1

    dynamic_entries = [(1, string(name)) for name in needed]
    if runpath is not None:
        dynamic_entries.append((29, string(runpath)))
    for symbol in symbols:
        string(symbol)
    shstr = b"\0.dynamic\0.dynstr\0.shstrtab\0"
    phnum = 1 + (interpreter is not None) + 1
    phoff = half
    interp_at = phoff + phnum * phentsize
    interp = (interpreter + b"\0") if interpreter is not None else b""
    dyn_at = interp_at + len(interp)
    dyn_at += -dyn_at % 8
    entry = 16 if wide else 8
    dynamic_entries += [(5, 0), (10, len(strtab)), (0, 0)]
    dyn_size = len(dynamic_entries) * entry
    str_at = dyn_at + dyn_size
    dynamic_entries[-3] = (5, str_at)  # DT_STRTAB: a virtual address, here equal to the offset
    shstr_at = str_at + len(strtab)
    sh_at = shstr_at + len(shstr)
    sh_at += -sh_at % 8
    total = sh_at + 4 * shentsize
    ident = b"\x7fELF" + bytes([2 if wide else 1, 1 if little else 2, 1, 0]) + b"\0" * 8
    header = ident + struct.pack(
        f"{order}HHI{word}{word}{word}IHHHHHH",
        e_type, 62, 1, 0, phoff, sh_at, 0, half, phentsize, phnum, shentsize, 4, 3,
    )  # fmt: skip

    def program(kind: int, offset: int, size: int, flags: int = 4) -> bytes:
        if wide:
            return struct.pack(f"{order}IIQQQQQQ", kind, flags, offset, offset, offset, size,
                               size, 8)  # fmt: skip
        return struct.pack(f"{order}IIIIIIII", kind, offset, offset, offset, size, size, flags, 4)

    def section(name: int, kind: int, offset: int, size: int, link: int = 0) -> bytes:
        if wide:
            return struct.pack(f"{order}IIQQQQIIQQ", name, kind, 2, offset, offset, size, link,
                               0, 8, entry if kind == 6 else 0)  # fmt: skip
        return struct.pack(f"{order}IIIIIIIIII", name, kind, 2, offset, offset, size, link, 0, 4,
                           entry if kind == 6 else 0)  # fmt: skip

    out = bytearray(header)
    out += program(1, 0, total, 5)
    if interpreter is not None:
        out += program(3, interp_at, len(interp))
    out += program(2, dyn_at, dyn_size, 6)
    out += interp
    out += b"\0" * (dyn_at - len(out))
    for tag, value in dynamic_entries:
        out += struct.pack(f"{order}{'qQ' if wide else 'iI'}", tag, value)
    out += strtab + shstr
    out += b"\0" * (sh_at - len(out))
    out += b"\0" * shentsize  # SHN_UNDEF
    out += section(1, 6, dyn_at, dyn_size, link=2)
    out += section(10, 3, str_at, len(strtab))
    out += section(18, 3, shstr_at, len(shstr))
    return bytes(out)


def elves() -> st.SearchStrategy[bytes]:
    """A small ELF of either class and byte order, then maybe damaged: header fields and
    offsets overwritten (huge counts, offsets past the end, zero sizes), bytes patched
    anywhere, or the file cut short; or arbitrary bytes behind the ELF magic."""
    valid = st.builds(
        elf_file,
        st.booleans(),
        st.booleans(),
        st.one_of(st.none(), st.sampled_from((b"/lib64/ld-linux-x86-64.so.2", b"", b"x" * 300))),
        st.lists(
            st.sampled_from((b"libc.so.6", b"libssl.so.3", b"/abs/lib.so", b"", b"\xff")),
            max_size=4,
        ).map(tuple),
        st.one_of(st.none(), st.sampled_from((b"$ORIGIN/../lib", b"", b"a:b::c"))),
        st.lists(st.sampled_from((b"iconv_open", b"getaddrinfo")), max_size=2).map(tuple),
        st.sampled_from((2, 3, 1, 4)),
    )
    fields = st.lists(
        st.tuples(
            st.sampled_from((16, 18, 20, 24, 32, 40, 48, 52, 54, 56, 58, 60, 62, 64, 72, 80, 96)),
            st.sampled_from((b"\xff" * 8, b"\0" * 8, b"\xff\xff", b"\x01\0", b"\0\0\0\x80")),
        ),
        max_size=3,
    )
    patches = st.lists(st.tuples(st.integers(0, 600), st.binary(min_size=1, max_size=8)),
                       max_size=3)  # fmt: skip

    return st.one_of(
        valid,
        st.builds(
            damaged,
            valid,
            st.builds(lambda a, b: a + b, fields, patches),
            st.one_of(st.none(), st.integers(0, 700)),
        ),
        st.binary(max_size=600).map(lambda tail: b"\x7fELF" + tail),
    )


def package_databases() -> st.SearchStrategy[bytes]:
    """A package database file an image may hold, as the path sbom reads it from, a line
    feed, and its bytes; valid or damaged: dpkg status paragraphs, an apk ``installed``
    database, Python ``METADATA`` and a node_modules ``package.json``, with odd fields, binary
    bytes and deep JSON."""
    dpkg = st.lists(
        st.sampled_from((b"Package: libc6", b"Status: install ok installed", b"Version: 2.36-9",
                         b"Source: glibc (2.36-9)", b"Architecture: amd64", b"Version:",
                         b" continuation", b"Package:", b"\xff\xfe", b"Source: (", b"",
                         b"Maintainer: A <a@b>", b"Status: deinstall ok config-files")),
        max_size=12,
    ).map(b"\n".join)  # fmt: skip
    apk = st.lists(
        st.sampled_from((b"P:musl", b"V:1.2.4-r2", b"o:musl", b"A:x86_64", b"L:MIT", b"",
                         b"P:", b"V:", b"\xff", b"m:x <y>", b"C:Q1abc=")),
        max_size=12,
    ).map(b"\n".join)  # fmt: skip
    metadata = st.lists(
        st.sampled_from((b"Metadata-Version: 2.1", b"Name: six", b"Version: 1.16.0",
                         b"Name:", b"License: MIT", b"\xff", b"Author-email: a <b@c>", b"")),
        max_size=8,
    ).map(b"\n".join)  # fmt: skip
    package_json = st.one_of(
        st.builds(
            lambda name, version: json.dumps({"name": name, "version": version}).encode(),
            st.one_of(st.text(max_size=8), st.integers()),
            st.one_of(st.text(max_size=8), st.none(), st.lists(st.integers())),
        ),
        st.sampled_from((b"[" * 5000 + b"]" * 5000, b"{", b"null", b"\xff")),
    )
    return st.one_of(
        dpkg.map(lambda data: b"var/lib/dpkg/status\n" + data),
        apk.map(lambda data: b"lib/apk/db/installed\n" + data),
        metadata.map(lambda data: b"usr/lib/python3/dist-packages/six.dist-info/METADATA\n" + data),
        package_json.map(lambda data: b"usr/lib/node_modules/x/package.json\n" + data),
    )


_STANZA_LINES = (
    b"Package: libc6", b"Version: 2.36-9+deb12u4", b"Architecture: amd64", b"Architecture: all",
    b"Depends: libgcc-s1, libc6 (>= 2.36) | foo", b"Pre-Depends: dpkg (>= 1.19)",
    b"Provides: libc6-x (= 1)", b"Filename: pool/main/g/glibc/libc6_2.36-9_amd64.deb",
    b"Size: 2757936", b"Size: -1", b"Size: 1e9", b"SHA256: " + b"ab" * 32, b"SHA256: xyz",
    b"Multi-Arch: same", b"Priority: optional", b"Essential: yes", b"Source: glibc (2.36-9)",
    b"Description: GNU C Library", b" continuation line", b" .", b"Package:", b"Version:",
    b"\xff\xfe", b"Package: a\r", b"#comment", b"Package: " + b"x" * 300, b"",
)  # fmt: skip


def deb_file(control: bytes, data_member: bytes, names: tuple[str, str, str]) -> bytes:
    """A .deb (ar of debian-binary, control.tar.gz, data.tar.gz) with these bytes, written
    here as dpkg-deb lays it out (the test's own generator is outside the fuzz package)."""
    out = bytearray(b"!<arch>\n")
    members = [(names[0], b"2.0\n"), (names[1], tar_gz({"./control": control})),
               (names[2], data_member)]  # fmt: skip
    for name, body in members:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{0o100644:<8o}{len(body):<10}`\n".encode() + body
        if len(body) % 2:
            out += b"\n"
    return bytes(out)


def tar_gz(files: dict[str, bytes]) -> bytes:
    import gzip

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return gzip.compress(raw.getvalue(), mtime=0)


def debian_archive_files() -> st.SearchStrategy[bytes]:
    """What a Debian mirror serves, as the kind (``Packages``, ``Release``, ``deb``), a line
    feed and the bytes: index stanzas from real fields and broken ones (blank lines, CRs,
    continuations, binary), SHA256 lists of release files with bad sizes and digests, and
    small .deb files whose control or data member is damaged, cut or renamed."""
    stanzas = st.lists(st.sampled_from(_STANZA_LINES), max_size=24).map(b"\n".join)
    packages = st.one_of(stanzas, st.builds(damaged, stanzas, st.lists(
        st.tuples(st.integers(0, 400), st.sampled_from((b"\n\n", b"\r", b"\r\n", b"\x00", b": "))),
        max_size=3), st.none()))  # fmt: skip
    sha_line = st.builds(
        lambda digest, size, name: b" " + digest + b" " + size + b" " + name,
        st.sampled_from((b"ab" * 32, b"AB" * 32, b"ab" * 31, b"zz" * 32, b"")),
        st.sampled_from((b"12", b"0", b"-1", b"1x", b"99999999999999999999999", b"")),
        st.sampled_from((b"main/binary-amd64/Packages.xz", b"", b"a b", b"\xff")),
    )
    release = st.builds(
        lambda head, lines: head + b"\n".join(lines) + b"\n",
        st.sampled_from((b"Origin: Debian\nSHA256:\n", b"SHA256:", b"MD5Sum:\n", b"SHA256: x\n")),
        st.lists(sha_line, max_size=4),
    )
    control = st.sampled_from((
        b"Package: hello\nVersion: 1.0\nArchitecture: amd64\n", b"Package: hello\n", b"",
        b"\xff\xfe", b"Package: a\nVersion: 1\nArchitecture: all\nDescription: x\n .\n",
    ))  # fmt: skip
    data_member = st.one_of(
        st.builds(lambda body: tar_gz({"./usr/bin/hello": body}), st.binary(max_size=64)),
        st.sampled_from(
            (tar_gz({"../etc/passwd": b"x"}), tar_gz({"/abs": b"x"}), b"", b"\x1f\x8b")
        ),
    )
    names = st.sampled_from((("debian-binary", "control.tar.gz", "data.tar.gz"),
                             ("debian-binary", "control.tar.gz", "data.tar.zst"),
                             ("debian-binary", "control.tar", "data.tar.gz"),
                             ("x", "control.tar.gz", "data.tar.gz")))  # fmt: skip
    deb = st.builds(deb_file, control, data_member, names)
    deb = st.one_of(deb, st.builds(damaged, deb, st.lists(
        st.tuples(st.integers(0, 300), st.binary(min_size=1, max_size=4)), max_size=2),
        st.one_of(st.none(), st.integers(0, 400))))  # fmt: skip
    return st.one_of(
        packages.map(lambda data: b"Packages\n" + data),
        release.map(lambda data: b"Release\n" + data),
        deb.map(lambda data: b"deb\n" + data),
    )


_HEX = "ab" * 32


def valid_documents() -> dict[str, object]:
    """A valid document of each kind the ``documents`` target reads."""
    return {
        "sbom": {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [
            {"type": "library", "name": "six", "version": "1.16.0",
             "purl": "pkg:pypi/six@1.16.0"}]},
        "spdx": {"spdxVersion": "SPDX-2.3", "packages": [{"name": "zlib", "externalRefs": [
            {"referenceType": "purl", "referenceLocator": "pkg:deb/debian/zlib1g@1.2.13"}]}]},
        "syft": {"artifacts": [{"purl": "pkg:npm/express@4.21.2"}]},
        "dsse": {"payloadType": "application/vnd.in-toto+json", "payload": "e30",
                 "signatures": [{"keyid": "", "sig": "AAAA"}]},
        "statement": {"_type": "https://in-toto.io/Statement/v1", "predicateType": "x",
                      "subject": [{"name": "img", "digest": {"sha256": _HEX},
                                   "annotations": {"a": "b"}}], "predicate": {}},
        "auth": {"auths": {"reg.example.com": {"auth": "dTpw"}}, "credHelpers": {
            "docker.io": "x/../evil"}, "credsStore": ""},
    }  # fmt: skip


DOCUMENT_KINDS = {"sbom": b"sbom", "spdx": b"sbom", "syft": b"sbom", "dsse": b"dsse",
          "statement": b"statement", "auth": b"auth"}  # fmt: skip


def _json_bytes(value: object) -> bytes:
    return json.dumps(value).encode("utf-8", "surrogatepass")


def documents() -> st.SearchStrategy[bytes]:
    """The JSON documents of the ``documents`` target (SBOMs of three formats, a DSSE
    envelope, an in-toto statement, a Docker config.json) with fields replaced by hostile
    values, raw JSON values, and build specs from TOML pieces; each as the kind, a line feed
    and the bytes."""
    valid = valid_documents()

    def mutate(name: str, changes: list[tuple[list[str], object]]) -> bytes:
        doc = json.loads(json.dumps(valid[name]))
        return DOCUMENT_KINDS[name] + b"\n" + replaced(doc, changes, into_lists=True)

    paths = st.lists(
        st.sampled_from(("components", "packages", "artifacts", "externalRefs", "subject",
                         "digest", "signatures", "auths", "reg.example.com", "credHelpers",
                         "purl", "referenceLocator", "sha256", "payload", "sig", "auth",
                         "credsStore", "docker.io", "annotations", *JSON_KEYS)),
        min_size=1, max_size=3,
    )  # fmt: skip
    changes = st.lists(st.tuples(paths, _json_values), min_size=1, max_size=3)
    spec_lines = st.lists(
        st.sampled_from(('[image]', 'packages = ["base-files"]', 'packages = []', "packages = 5",
                         'suite = "bookworm"', 'arch = "amd64"', 'user = "nonroot"',
                         '[source]', 'uri = "http://deb.debian.org/debian"', "x = [[[[[", "= 1",
                         'entrypoint = ["/x"]', 'packages = ["' + "a" * 300 + '"]', '[[file]]',
                         'path = "../etc/passwd"', 'mode = 0o4755', "\x00", '"\\u0000" = 1')),
        max_size=10,
    ).map(lambda lines: b"spec\n" + "\n".join(lines).encode("utf-8", "surrogatepass"))  # fmt: skip
    return st.one_of(
        st.builds(mutate, st.sampled_from(sorted(valid)), changes),
        st.builds(lambda kind, value: kind + b"\n" + _json_bytes(value),
                  st.sampled_from(sorted(set(DOCUMENT_KINDS.values()))), _json_values),
        spec_lines,
    )  # fmt: skip
