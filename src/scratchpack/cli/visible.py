"""What the CLI writes is text a terminal or a CI log shows, never instructions to it.

Images, Dockerfiles, registries and advisories are other people's input, and their strings
reach our text output: a config's ``User``, a label, a history line, a file name in a layer,
a Dockerfile line, a registry's error message. Written raw, an ``ESC`` sequence in one of them
is obeyed by the terminal: it can erase the lines above (an audit finding gone), hide text,
move the cursor or retitle the window; a ``CR`` overwrites the start of the line; and a line
break inside a label starts a new log line, where a CI runner reads ``::add-mask::`` or
``::error::`` as a command. No library we use neutralises this: rich keeps ``ESC`` in a
``Text`` (it strips only BEL, BS, VT, FF and CR) and ``print`` writes anything.

So every text stream of the CLI goes through :class:`VisibleStream`: each C0 control but tab
and line feed, DEL, each C1 control and each bidirectional formatting character (``U+202E``
reverses what follows it on screen) is written as a visible escape (``\\x1b``, ``\\u009b``,
``\\u202e``).
Line feed stays (our own lines need it; a line break *inside* a foreign string is already
escaped where the string is formatted as one field, e.g. ``created by``). JSON output passes
through unchanged in meaning: ``json.dumps`` never writes a raw C0 control, and DEL and C1
become ``\\u007f``..., which is the same character in JSON. rich writes its own colour and
cursor sequences, so its consoles write to the stream underneath (:func:`raw`) through
:class:`VisibleConsole`, which makes the text visible before rich styles it.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from collections.abc import Iterable

    from rich.console import Console

_C0 = {code: f"\\x{code:02x}" for code in range(0x20) if code not in (0x09, 0x0A)}
_DEL_C1 = {code: f"\\u{code:04x}" for code in (0x7F, *range(0x80, 0xA0))}
# Unicode's bidirectional formatting characters (embeddings, overrides, isolates, marks) and
# its line and paragraph separators: no terminal obeys them as commands, but a U+202E in a file
# name shows the rest of the line reversed ("Trojan Source", CVE-2021-42574), so a listed
# "/etc/\u202egnp.exe" reads as "exe.png", and U+2028 breaks a line where a log has none
_FORMAT = {
    code: f"\\u{code:04x}"
    for code in (0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F),
                 *range(0x2066, 0x206A))
}  # fmt: skip
_TABLE = {**_C0, **_DEL_C1, **_FORMAT}


def visible(text: str) -> str:
    """``text`` with every control character but tab and line feed, and every bidirectional
    formatting character, written as an escape."""
    return text.translate(_TABLE)


class VisibleStream:
    """A text stream that writes :func:`visible` text to the stream it wraps; everything
    else (``isatty``, ``fileno``, ``encoding``, ``buffer``...) is the wrapped stream's."""

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(text.translate(_TABLE))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def install() -> None:
    """Wrap ``sys.stdout`` and ``sys.stderr`` (once)."""
    import sys

    if not isinstance(sys.stdout, VisibleStream):
        sys.stdout = VisibleStream(sys.stdout)
    if not isinstance(sys.stderr, VisibleStream):
        sys.stderr = VisibleStream(sys.stderr)


def raw(stream: IO[str]) -> IO[str]:
    """The stream under a :class:`VisibleStream` (the stream itself if it is none)."""
    return stream.inner if isinstance(stream, VisibleStream) else stream


def console(stream: IO[str], **options: Any) -> Console:
    """A rich console writing to ``stream``'s raw stream, with foreign text made visible."""
    from rich.console import Console
    from rich.segment import Segment

    class VisibleConsole(Console):
        def _render_buffer(self, buffer: Iterable[Segment]) -> str:
            # control segments are rich's own cursor moves (live progress): kept as they are
            return super()._render_buffer(
                segment if segment.control else Segment(visible(segment.text), segment.style)
                for segment in buffer
            )

    return VisibleConsole(file=raw(stream), **options)
