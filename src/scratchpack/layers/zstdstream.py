"""A streaming zstd reader that notices a stream cut short, wherever it is cut.

Why by hand: python-zstandard's ``stream_reader`` ends quietly when its input runs out inside
a frame. A cut into the data is noticed later anyway (a layer's diff_id does not match, a
``.deb``'s tar has no end-of-archive), but a cut inside a frame's final 4-byte content checksum
leaves every byte of data intact and the frame unchecked: nothing downstream can tell. No
library reports where the input ended, so :class:`FrameTracker` follows the frame layout of
RFC 8878 as the compressed bytes pass through it (frame headers, block headers, checksums,
skippable frames; only lengths, no decoding) and raises at the end of the input when that
end is not the end of a frame.
"""

from __future__ import annotations

from typing import IO, Protocol, cast

_ZSTD_MAGIC = 0xFD2FB528
_SKIPPABLE_MASK = 0xFFFFFFF0
_SKIPPABLE_MAGIC = 0x184D2A50
_DICT_ID_SIZES = (0, 1, 2, 4)
_CONTENT_SIZE_SIZES = (0, 2, 4, 8)  # by Frame_Content_Size_flag; flag 0 is 1 if single segment
_EXPECTED = {"magic": "a frame's magic number", "descriptor": "a frame header",
             "block": "a block header", "size": "a skippable frame's header"}  # fmt: skip


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class TruncatedZstd(EOFError):
    """The compressed input ended inside a frame. An ``EOFError``, so that every reader of
    compressed streams here, which already turns ``EOFError`` into its one clear error line,
    reports it with its own context (the layer digest, the package file)."""


class FrameTracker:
    """The compressed input, passed through unchanged, its frame boundaries followed.

    States: expecting a frame's 4-byte magic (``magic``), a zstd frame's header descriptor
    (``descriptor``), a block header (``block``) or a skippable frame's size (``size``);
    ``_skip`` bytes (header fields, block contents, the checksum, skippable data) are passed
    over in any state. Input that is not a frame is left to zstd to refuse (``passthrough``).
    """

    def __init__(self, raw: _Readable) -> None:
        self._raw = raw
        self._state = "magic"
        self._want = 4
        self._pending = b""
        self._skip = 0
        self._skipping = ""  # what the skipped bytes are, for the error message
        self._checksum = False
        self._after_skip = "magic"

    def read(self, size: int = -1, /) -> bytes:
        data = self._raw.read(size)
        if data:
            self._feed(data)
        elif self.inside():
            raise TruncatedZstd(f"the zstd stream is truncated: it ends inside {self._where()}")
        return data

    def inside(self) -> bool:
        """Whether the input so far stops inside a frame (a cut here would be truncation)."""
        if self._state == "passthrough":
            return False
        return self._skip > 0 or bool(self._pending) or self._state != "magic"

    def _where(self) -> str:
        if self._skip > 0:
            return self._skipping
        return _EXPECTED[self._state]

    def _feed(self, data: bytes) -> None:
        pos, end = 0, len(data)
        while pos < end and self._state != "passthrough":
            if self._skip:
                taken = min(self._skip, end - pos)
                self._skip -= taken
                pos += taken
                if not self._skip:
                    self._pass_over(0, "", self._after_skip)
                continue
            need = self._want - len(self._pending)
            self._pending += data[pos : pos + need]
            pos += min(need, end - pos)
            if len(self._pending) == self._want:
                header, self._pending = self._pending, b""
                self._header(int.from_bytes(header, "little"))

    def _expect(self, state: str) -> None:
        self._state = state
        self._want = {"magic": 4, "descriptor": 1, "block": 3, "size": 4}[state]

    def _pass_over(self, count: int, what: str, then: str) -> None:
        """Skip ``count`` bytes of ``what``, then expect ``then`` (``checksum``: the 4 bytes
        of a frame's content checksum, then the next frame)."""
        if count:
            self._skip, self._skipping, self._after_skip = count, what, then
        elif then == "checksum":
            self._pass_over(4, "the frame's content checksum", "magic")
        else:
            self._expect(then)

    def _header(self, value: int) -> None:
        if self._state == "magic":
            if value == _ZSTD_MAGIC:
                self._expect("descriptor")
            elif value & _SKIPPABLE_MASK == _SKIPPABLE_MAGIC:
                self._expect("size")
            else:
                self._state = "passthrough"  # not a frame: zstd itself says what is wrong
        elif self._state == "descriptor":
            single_segment = bool(value >> 5 & 1)
            self._checksum = bool(value >> 2 & 1)
            fcs_flag = value >> 6
            rest = (0 if single_segment else 1) + _DICT_ID_SIZES[value & 3]
            rest += _CONTENT_SIZE_SIZES[fcs_flag] or (1 if single_segment else 0)
            self._pass_over(rest, "a frame header", "block")
        elif self._state == "block":
            last, kind, size = value & 1, value >> 1 & 3, value >> 3
            if kind == 3:
                self._state = "passthrough"  # a reserved block type: zstd refuses it
                return
            content = 1 if kind == 1 else size  # an RLE block stores its one byte
            then = "block" if not last else "checksum" if self._checksum else "magic"
            self._pass_over(content, "a block", then)
        elif self._state == "size":
            self._pass_over(value, "a skippable frame", "magic")


def zstd_reader(source: IO[bytes] | _Readable) -> IO[bytes]:
    """A streaming decompressor of ``source`` across frames, as ``stream_reader`` with
    ``read_across_frames``, that raises :class:`TruncatedZstd` when the input ends inside a
    frame. zstandard is imported here: it is slow to import and only zstd streams need it."""
    import zstandard

    tracker = FrameTracker(source)
    # stream_reader only calls read(); its stub asks for a whole IO
    reader = zstandard.ZstdDecompressor().stream_reader(
        cast(IO[bytes], tracker), read_across_frames=True
    )
    return cast(IO[bytes], reader)
