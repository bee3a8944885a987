"""Evidence uploads: the type is decided by the file's content, not by what the browser
claims, and must agree with the file name's extension."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath

from handlers.inbound import FileIn

__all__ = ["UploadRejected", "check_upload", "clean_name"]

_ZIP_TYPES = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    # Accepted here only so the conversation can say why they are refused (macros).
    ".docm": "application/vnd.ms-word.document.macroEnabled.12",
    ".xlsm": "application/vnd.ms-excel.sheet.macroEnabled.12",
    ".pptm": "application/vnd.ms-powerpoint.presentation.macroEnabled.12",
}
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
_OLE_TYPES = {".doc": "application/msword", ".xls": "application/vnd.ms-excel"}
_EXTENSIONS = {
    "image/png": {".png"},
    "image/jpeg": {".jpg", ".jpeg", ".jfif"},
    "image/gif": {".gif"},
    "image/webp": {".webp"},
    "application/pdf": {".pdf"},
    "text/plain": {".txt", ".log", ".csv"},
    "audio/mpeg": {".mp3"},
    "audio/wav": {".wav"},
    "audio/amr": {".amr"},
    "image/heic": {".heic", ".heif"},
    "video/mp4": {".mp4", ".m4a", ".mov", ".m4v"},
}
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")


class UploadRejected(Exception):  # noqa: N818 - a refusal with a reason code
    """The upload is not a file type we accept; ``code`` says why."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class _Sniffed:
    mime: str
    kind: str  # photo | document


def clean_name(name: str) -> str:
    """A file name without directories, control characters or path tricks."""
    base = PureWindowsPath(PurePosixPath(name).name).name
    base = unicodedata.normalize("NFC", _UNSAFE.sub("_", base)).strip(" .")
    return base[-100:] or "file"


def _sniff(data: bytes, ext: str) -> str | None:
    head = data[:16]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"PK\x03\x04"):
        return _ZIP_TYPES.get(ext)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return _OLE_TYPES.get(ext)
    if head.startswith(b"#!AMR"):
        return "audio/amr"
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    if head[4:8] == b"ftyp":
        return "image/heic" if head[8:12] in _HEIF_BRANDS else "video/mp4"
    if ext in _EXTENSIONS["text/plain"] and b"\x00" not in data:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return "text/plain"
    return None


def check_upload(name: str, data: bytes, max_bytes: int) -> FileIn:
    """Return the upload as a FileIn, or raise UploadRejected (too_big, empty, type)."""
    if len(data) > max_bytes:
        raise UploadRejected("too_big")
    if not data:
        raise UploadRejected("empty")
    safe = clean_name(name)
    ext = PurePosixPath(safe.lower()).suffix
    mime = _sniff(data, ext)
    if mime is None:
        raise UploadRejected("type")
    allowed = set(_EXTENSIONS.get(mime, ())) | {
        e for e, m in {**_ZIP_TYPES, **_OLE_TYPES}.items() if m == mime
    }
    if ext not in allowed:
        raise UploadRejected("type")  # a .html named .png, or a PDF named .exe
    kind = "photo" if mime.startswith("image/") else "document"
    return FileIn(kind, safe, mime, data)
