"""Decide what a file really is from its first bytes, not from the name or mime it came with."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

__all__ = ["FileType", "sniff"]


@dataclass(frozen=True)
class FileType:
    """A recognised file type: a short kind, its canonical mime and the extension we give it."""

    kind: str
    mime: str
    ext: str


JPEG = FileType("jpeg", "image/jpeg", "jpg")
PNG = FileType("png", "image/png", "png")
GIF = FileType("gif", "image/gif", "gif")
WEBP = FileType("webp", "image/webp", "webp")
HEIC = FileType("heic", "image/heic", "heic")
HEIF = FileType("heif", "image/heif", "heif")
AVIF = FileType("avif", "image/avif", "avif")
TIFF = FileType("tiff", "image/tiff", "tif")
BMP = FileType("bmp", "image/bmp", "bmp")
PDF = FileType("pdf", "application/pdf", "pdf")
DOCX = FileType(
    "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"
)
XLSX = FileType(
    "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"
)
PPTX = FileType(
    "pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation", "pptx"
)
DOCM = FileType("docm", "application/vnd.ms-word.document.macroEnabled.12", "docm")
XLSM = FileType("xlsm", "application/vnd.ms-excel.sheet.macroEnabled.12", "xlsm")
PPTM = FileType("pptm", "application/vnd.ms-powerpoint.presentation.macroEnabled.12", "pptm")
# Compound File Binary: legacy .doc/.xls/.ppt, and also password-protected OOXML.
OLE2 = FileType("ole2", "application/x-ole-storage", "bin")
ZIP = FileType("zip", "application/zip", "zip")
RTF = FileType("rtf", "application/rtf", "rtf")
TEXT = FileType("text", "text/plain", "txt")
CSV = FileType("csv", "text/csv", "csv")
MP4 = FileType("mp4", "video/mp4", "mp4")
MOV = FileType("mov", "video/quicktime", "mov")
M4A = FileType("m4a", "audio/mp4", "m4a")
OGG = FileType("ogg", "audio/ogg", "ogg")
MP3 = FileType("mp3", "audio/mpeg", "mp3")
WAV = FileType("wav", "audio/wav", "wav")
AVI = FileType("avi", "video/x-msvideo", "avi")
MKV = FileType("mkv", "video/x-matroska", "mkv")
AMR = FileType("amr", "audio/amr", "amr")
FLAC = FileType("flac", "audio/flac", "flac")
UNKNOWN = FileType("unknown", "application/octet-stream", "bin")

_HEIC_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1", b"mif2"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_M4A_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P "})

# Main document part (as named in [Content_Types].xml) -> the type it makes.
_OOXML_MAIN = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": DOCX,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml": DOCX,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": XLSX,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml": XLSX,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml": PPTX,
    "application/vnd.openxmlformats-officedocument.presentationml.template.main+xml": PPTX,
    "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml": PPTX,
    "application/vnd.ms-word.document.macroEnabled.main+xml": DOCM,
    "application/vnd.ms-word.template.macroEnabledTemplate.main+xml": DOCM,
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml": XLSM,
    "application/vnd.ms-excel.template.macroEnabled.main+xml": XLSM,
    "application/vnd.ms-excel.addin.macroEnabled.main+xml": XLSM,
    "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml": PPTM,
    "application/vnd.ms-powerpoint.slideshow.macroEnabled.main+xml": PPTM,
    "application/vnd.ms-powerpoint.template.macroEnabled.main+xml": PPTM,
}

# How far into a file "%PDF-" may start: readers accept leading junk, so must we.
_PDF_HEADER_WINDOW = 1024
_TEXT_MIMES = {"text/plain": TEXT, "text/csv": CSV}


def sniff(data: bytes, mime: str) -> FileType:
    """Return the real type of `data`; the declared mime only decides between text kinds."""
    found = _by_magic(data)
    if found is not UNKNOWN:
        return found
    declared = _TEXT_MIMES.get(mime.split(";", 1)[0].strip().lower())
    if declared is not None and _looks_like_text(data):
        return declared
    return UNKNOWN


def _by_magic(data: bytes) -> FileType:
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return WAV
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return AVI
    if head[4:8] == b"ftyp":
        return _by_ftyp(data)
    if b"%PDF-" in data[:_PDF_HEADER_WINDOW]:
        return PDF
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return OLE2
    if head.startswith(b"PK\x03\x04"):
        return _by_zip(data)
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return TIFF
    if head.startswith(b"BM") and len(data) > 26:
        return BMP
    if head.startswith(b"{\\rtf"):
        return RTF
    if head.startswith(b"OggS"):
        return OGG
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return MP3
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return MKV
    if head.startswith(b"#!AMR"):
        return AMR
    if head.startswith(b"fLaC"):
        return FLAC
    return UNKNOWN


def _by_ftyp(data: bytes) -> FileType:
    """ISO base media files (HEIF, MP4, MOV) name their brands in the first box."""
    size = int.from_bytes(data[:4], "big")
    box = data[8 : min(max(size, 16), 256)]
    brands = {box[:4]} | {box[i : i + 4] for i in range(8, len(box) - 3, 4)}
    if brands & _AVIF_BRANDS:
        return AVIF
    if brands & _HEIC_BRANDS:
        return HEIC
    if brands & _HEIF_BRANDS:
        return HEIF
    if brands & _M4A_BRANDS:
        return M4A
    if b"qt  " in brands:
        return MOV
    return MP4


def _by_zip(data: bytes) -> FileType:
    """Office Open XML is a zip whose [Content_Types].xml names the main part."""
    # Imported here so that sniffing images never pays for the XML stack.
    from storage.scrub.office import main_content_types

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if "[Content_Types].xml" not in names:
                return ZIP
            content_types = main_content_types(archive)
    except Exception:  # a damaged archive is simply not Office
        return ZIP
    for content_type in content_types:
        if content_type in _OOXML_MAIN:
            return _OOXML_MAIN[content_type]
    return ZIP


def _looks_like_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return True
    return False
