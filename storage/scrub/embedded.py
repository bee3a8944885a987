"""Lossless removal of metadata from JPEG and PNG pictures placed inside documents.

Pictures inside a DOCX or PDF are not re-encoded (that could change what the officer sees
and bloat the file); only the metadata segments are dropped, byte for byte.
"""

from __future__ import annotations

import struct

__all__ = ["strip_jpeg", "strip_png"]

_SOI = b"\xff\xd8"
_EOI = b"\xff\xd9"
_SOS = 0xDA
# Markers with no length field: TEM, RST0-7.
_STANDALONE = {0x01, *range(0xD0, 0xD8)}
# APP segments that only describe how to show pixels (JFIF header, ICC colour, Adobe colour
# transform); every other APPn and COM segment is metadata (Exif, XMP, IPTC, MPF, maker data).
_KEEP_APP = {0xE0: (b"JFIF\x00",), 0xE2: (b"ICC_PROFILE\x00",), 0xEE: (b"Adobe",)}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunks needed to draw the picture (including APNG animation); all others are dropped.
_PNG_KEEP = frozenset(
    {
        b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP",
        b"sBIT", b"pHYs", b"bKGD", b"hIST", b"cICP", b"mDCV", b"cLLI", b"acTL", b"fcTL",
        b"fdAT",
    }
)  # fmt: skip


def strip_jpeg(data: bytes) -> tuple[bytes, bool] | None:
    """Return the JPEG without metadata segments or trailing data, and whether any was there.

    None means the stream is not a JPEG we can walk; the caller decides what to do.
    """
    if not data.startswith(_SOI):
        return None
    out = bytearray(_SOI)
    removed = False
    i = 2
    while i < len(data):
        if data[i] != 0xFF:
            return None
        while i < len(data) and data[i] == 0xFF:  # fill bytes before a marker
            i += 1
        if i >= len(data):
            return None
        marker = data[i]
        i += 1
        if marker in _STANDALONE:
            out += bytes((0xFF, marker))
            continue
        if i + 2 > len(data):
            return None
        length = struct.unpack(">H", data[i : i + 2])[0]
        if length < 2 or i + length > len(data):
            return None
        segment = data[i + 2 : i + length]
        if marker == _SOS:
            # Entropy-coded data never holds FF D9 except as the end of the image;
            # anything after it (second pictures, vendor trailers) is dropped.
            end = data.find(_EOI, i + length)
            if end < 0:
                return None
            out += bytes((0xFF, marker)) + data[i : end + 2]
            removed = removed or end + 2 < len(data)
            return bytes(out), removed
        if _is_metadata(marker, segment):
            removed = True
        else:
            out += bytes((0xFF, marker)) + data[i : i + length]
        i += length
    return None


def _is_metadata(marker: int, segment: bytes) -> bool:
    if marker == 0xFE:  # COM
        return True
    if 0xE0 <= marker <= 0xEF:
        return not segment.startswith(_KEEP_APP.get(marker, ()))
    return False


def strip_png(data: bytes) -> tuple[bytes, bool] | None:
    """Return the PNG without text, EXIF, time or private chunks, and whether any was there."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    out = bytearray(_PNG_SIGNATURE)
    removed = False
    i = len(_PNG_SIGNATURE)
    while i + 12 <= len(data):
        length = struct.unpack(">I", data[i : i + 4])[0]
        kind = data[i + 4 : i + 8]
        end = i + 12 + length
        if end > len(data):
            return None
        if kind in _PNG_KEEP:
            out += data[i:end]
        else:
            removed = True
        if kind == b"IEND":
            return bytes(out), removed or end < len(data)
        i = end
    return None
