"""Remove authors, software, dates, XMP and annotation authors from PDFs, using pikepdf.

pikepdf (qpdf) rather than pypdf: qpdf is a fuzzed, fast C++ parser that repairs damaged
files, and it rewrites only the objects still reachable, so earlier revisions kept by
incremental saves (which still hold the old /Author) do not reach the output. Streams are
copied without decoding, so a compression bomb inside a PDF is never expanded.
"""

from __future__ import annotations

import io

import pikepdf
from pikepdf import Name

from storage.scrub.embedded import strip_jpeg
from storage.scrub.result import UNSCRUBBABLE, ScrubError

__all__ = ["clean_pdf"]

_INFO_CODES = {
    "/Author": "author",
    "/Creator": "device",
    "/Producer": "device",
    "/CreationDate": "dates",
    "/ModDate": "dates",
}
# Annotations whose /T is the name of the person who made them (for form fields /T is the
# field name, which the form needs, so widgets are left alone).
_MARKUP = frozenset(
    {
        "/Text", "/FreeText", "/Line", "/Square", "/Circle", "/Polygon", "/PolyLine",
        "/Highlight", "/Underline", "/Squiggly", "/StrikeOut", "/Stamp", "/Caret", "/Ink",
        "/FileAttachment", "/Sound", "/Redact", "/Popup",
    }
)  # fmt: skip


def clean_pdf(data: bytes) -> tuple[bytes, tuple[str, ...]]:
    """Return the PDF rewritten without identifying metadata, and the codes of what was found."""
    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            found = _scrub(pdf)
            out = io.BytesIO()
            # No encryption argument: an owner-password (permissions only) PDF is opened
            # without a password and saved unencrypted, so its cleaned strings are checkable.
            pdf.save(
                out,
                fix_metadata_version=False,
                stream_decode_level=pikepdf.StreamDecodeLevel.none,
                deterministic_id=True,
            )
    except pikepdf.PasswordError as error:
        raise ScrubError(UNSCRUBBABLE, "encrypted") from error
    except Exception as error:  # qpdf gives up on some damaged files: we cannot vouch for them
        raise ScrubError(UNSCRUBBABLE, "undecodable") from error
    return out.getvalue(), tuple(sorted(found))


def _scrub(pdf: pikepdf.Pdf) -> set[str]:
    found: set[str] = set()
    info = pdf.trailer.get(Name.Info)
    if isinstance(info, pikepdf.Dictionary):
        for key in info.keys():
            found.add(_INFO_CODES.get(key, "document_properties"))
    if Name.Info in pdf.trailer:
        del pdf.trailer[Name.Info]
    if Name.ID in pdf.trailer:
        # The file identifier of the original can match it to the copy on the sender's disk.
        del pdf.trailer[Name.ID]
    for obj in pdf.objects:
        if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
            _scrub_object(obj, found)
    for page in pdf.pages:
        for annot in page.obj.get(Name.Annots, pikepdf.Array()):
            if isinstance(annot, pikepdf.Dictionary):  # direct annotations are not in .objects
                _scrub_object(annot, found)
    return found


def _scrub_object(obj: pikepdf.Object, found: set[str]) -> None:
    if Name.Metadata in obj:  # document, page, image or font XMP packets
        del obj[Name.Metadata]
        found.add("xmp")
    if Name.PieceInfo in obj:  # private data of the authoring application
        del obj[Name.PieceInfo]
        found.add("document_properties")
    subtype = obj.get(Name.Subtype)
    is_annot = obj.get(Name.Type, Name.Annot) == Name.Annot
    if subtype is not None and str(subtype) in _MARKUP and is_annot:
        for key in (Name.T, Name.M, Name.CreationDate):
            if key in obj:
                del obj[key]
                found.add("comment_authors" if key == Name.T else "dates")
    if isinstance(obj, pikepdf.Stream) and subtype == Name.Image:
        _strip_jpeg_stream(obj, found)


def _strip_jpeg_stream(stream: pikepdf.Stream, found: set[str]) -> None:
    """Photos placed in a PDF often keep their EXIF (GPS included) inside the JPEG stream."""
    filters = stream.get(Name.Filter)
    if filters != Name.DCTDecode and not (
        isinstance(filters, pikepdf.Array) and list(filters) == [Name.DCTDecode]
    ):
        return
    stripped = strip_jpeg(stream.read_raw_bytes())
    if stripped is None or not stripped[1]:
        return
    parms = stream.get(Name.DecodeParms)
    decode_parms = parms if isinstance(parms, pikepdf.Dictionary | pikepdf.Array) else None
    stream.write(stripped[0], filter=Name.DCTDecode, decode_parms=decode_parms)
    found.add("embedded_media_metadata")
