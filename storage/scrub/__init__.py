"""Remove identifying metadata from evidence files before they are stored.

Pure and synchronous (callers run it in a worker thread): bytes in, a `Scrubbed` out.
The real type is read from the bytes, never trusted from the name or the declared mime.
"""

from __future__ import annotations

import mimetypes
import re

from storage.scrub import sniff as _sniff
from storage.scrub.images import IMAGE_KINDS, clean_image
from storage.scrub.office import clean_office
from storage.scrub.pdf import clean_pdf
from storage.scrub.result import (
    CLEAN,
    REASONS,
    REFUSED,
    REMOVED_CODES,
    UNSCRUBBABLE,
    Scrubbed,
    ScrubError,
)
from storage.scrub.sniff import FileType

__all__ = [
    "CLEAN",
    "MAX_INPUT_BYTES",
    "REASONS",
    "REFUSED",
    "REMOVED_CODES",
    "UNSCRUBBABLE",
    "Scrubbed",
    "neutral_name",
    "scrub",
]

# Larger than any chat platform lets a bot download; past this we do not even parse.
MAX_INPUT_BYTES = 200 * 1024 * 1024
NAME_PATTERN = "证据{number}.{ext}"

_OFFICE_KINDS = frozenset({"docx", "xlsx", "pptx"})
_MACRO_KINDS = frozenset({"docm", "xlsm", "pptm"})
_TEXT_KINDS = frozenset({"text", "csv"})
# In a Compound File, directory entry names are UTF-16LE; this one holds an encrypted OOXML.
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
_EXT = re.compile(r"^[a-z0-9]{1,8}$")
_MIME = re.compile(r"^[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*$")
# Only Python's built-in table, so that names do not depend on the machine's mime.types.
_MIME_TABLE = mimetypes.MimeTypes(filenames=())
_AV = ("audio/", "video/")


def neutral_name(number: int, ext: str) -> str:
    """Return the neutral evidence file name for the given number and extension."""
    return NAME_PATTERN.format(number=number, ext=ext)


def scrub(data: bytes, mime: str, name: str, number: int) -> Scrubbed:
    """Return a metadata-free copy of `data`, or the reason it cannot or may not be kept."""
    if len(data) > MAX_INPUT_BYTES:
        ftype = _sniff.UNKNOWN
        return _unchanged(data, mime, name, number, ftype, UNSCRUBBABLE, "too_large")
    ftype = _sniff.sniff(data, mime)
    try:
        cleaned, out_type, removed = _clean(data, ftype)
    except ScrubError as error:
        return _unchanged(data, mime, name, number, ftype, error.status, error.reason)
    except Exception:  # a bug or a parser we did not foresee failing: never pass it on as clean
        return _unchanged(data, mime, name, number, ftype, UNSCRUBBABLE, "undecodable")
    new_name = neutral_name(number, out_type.ext)
    return Scrubbed(
        status=CLEAN,
        data=cleaned,
        mime=out_type.mime,
        name=new_name,
        removed=_ordered(removed, renamed=name != new_name),
        reason=None,
    )


def _clean(data: bytes, ftype: FileType) -> tuple[bytes, FileType, tuple[str, ...]]:
    if ftype.kind in IMAGE_KINDS:
        return clean_image(data, ftype)
    if ftype.kind == "pdf":
        cleaned, removed = clean_pdf(data)
        return cleaned, ftype, removed
    if ftype.kind in _OFFICE_KINDS:
        cleaned, removed = clean_office(data, ftype.kind)
        return cleaned, ftype, removed
    if ftype.kind in _MACRO_KINDS:
        raise ScrubError(REFUSED, "macro_format")
    if ftype.kind == "ole2":
        if _ENCRYPTED_PACKAGE in data:
            raise ScrubError(UNSCRUBBABLE, "encrypted")
        raise ScrubError(REFUSED, "macro_format")  # .doc, .xls, .ppt: may carry macros
    if ftype.kind in _TEXT_KINDS:
        return data, ftype, ()  # plain text has nowhere to hide metadata
    raise ScrubError(UNSCRUBBABLE, "unsupported")


def _unchanged(
    data: bytes, mime: str, name: str, number: int, ftype: FileType, status: str, reason: str
) -> Scrubbed:
    """The original bytes with a neutral name, for the caller to refuse or ask about."""
    real_mime, ext = ftype.mime, ftype.ext
    declared = mime.split(";", 1)[0].strip().lower()
    # Audio and video come in more containers than we sniff, so their declared type is
    # believed; for anything else the bytes already contradicted it, so the name must not
    # repeat it.
    if ftype is _sniff.UNKNOWN and declared.startswith(_AV) and _MIME.match(declared):
        real_mime = declared
        guessed = (_MIME_TABLE.guess_extension(declared) or ".bin").lstrip(".")
        ext = guessed if _EXT.match(guessed) else "bin"
    new_name = neutral_name(number, ext)
    return Scrubbed(
        status=status,
        data=data,
        mime=real_mime,
        name=new_name,
        removed=_ordered((), renamed=name != new_name),
        reason=reason,
    )


def _ordered(removed: tuple[str, ...], *, renamed: bool) -> tuple[str, ...]:
    codes = set(removed) | ({"file_name"} if renamed else set())
    return tuple(code for code in REMOVED_CODES if code in codes)
