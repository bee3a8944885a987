"""The outcome of scrubbing one file, and the stable codes the caller turns into messages."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CLEAN",
    "REASONS",
    "REFUSED",
    "REMOVED_CODES",
    "UNSCRUBBABLE",
    "Scrubbed",
    "ScrubError",
]

CLEAN = "clean"
REFUSED = "refused"
UNSCRUBBABLE = "unscrubbable"

# What was taken out; the caller maps each code to a translated phrase.
REMOVED_CODES = (
    "file_name",  # the original file name
    "location",  # GPS position
    "device",  # camera/phone make, model, serial numbers, lens, software, maker notes
    "dates",  # when a photo was taken or a document created, edited or printed
    "author",  # artist, author, last editor, manager
    "comments",  # comments stored inside an image (EXIF, JPEG/GIF comment)
    "comment_authors",  # names and initials of people who commented in a document
    "tracked_changes",  # names (and times) of people who made tracked changes
    "revision_ids",  # Word's editing-session ids, which can link documents to one computer
    "document_properties",  # title, subject, keywords, company, template, custom properties
    "thumbnail",  # embedded preview picture
    "exif",  # the rest of a photo's EXIF block
    "xmp",  # XMP metadata packets
    "iptc",  # IPTC / Photoshop metadata
    "text_chunks",  # PNG tEXt/iTXt/zTXt chunks
    "embedded_media_metadata",  # EXIF/XMP inside pictures placed in a document
)

# Why a file was not cleaned.
REASONS = (
    "macro_format",  # refused: legacy binary or macro-capable Office format
    "undecodable",  # unscrubbable: damaged, or not what it claims to be
    "encrypted",  # unscrubbable: needs a password to open
    "too_large",  # unscrubbable: over the pixel or uncompressed-size limits
    "unsupported",  # unscrubbable: a type we cannot clean (audio, video, archives, ...)
)


@dataclass(frozen=True)
class Scrubbed:
    """A scrubbed (or refused) evidence file with a neutral name and what was removed."""

    status: str
    data: bytes
    mime: str
    name: str
    removed: tuple[str, ...]
    reason: str | None


class ScrubError(Exception):
    """Raised inside the package when a file cannot be cleaned; carries only codes."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason
