"""Clean Office Open XML packages (DOCX, XLSX, PPTX): zip in, zip out, XML parsed by lxml.

lxml rather than the standard library's ElementTree (with or without defusedxml): Office
files name namespace prefixes inside attribute values (mc:Ignorable="w14 w15"), and
ElementTree renames prefixes when it writes, which Word and Excel then reject as corrupt.
The parser never resolves entities, loads DTDs or reaches the network, and a part with a
DOCTYPE at all is refused, since no Office part has one.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from collections.abc import Callable

from lxml import etree

from storage.scrub import sniff
from storage.scrub.embedded import strip_jpeg, strip_png
from storage.scrub.result import REFUSED, UNSCRUBBABLE, ScrubError

__all__ = [
    "MAX_MEMBERS",
    "MAX_NESTING",
    "MAX_UNCOMPRESSED",
    "PSEUDONYM",
    "clean_office",
    "main_content_types",
]

# A real document rarely unpacks past tens of MiB; a zip bomb unpacks to gigabytes.
MAX_UNCOMPRESSED = 256 * 1024 * 1024
MAX_MEMBERS = 10_000
# Charts keep their data in an embedded workbook; deeper nesting is not needed.
MAX_NESTING = 2
# People in comments and tracked changes keep distinct labels, so a discussion stays readable.
PSEUDONYM = "匿名{n}"

_CONTENT_TYPES = "[Content_Types].xml"
_CONTENT_TYPES_LIMIT = 1024 * 1024
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # zip entry times are the local time of the last save
_MACRO_CONTENT = "application/vnd.ms-office.vbaproject"  # compared in lower case
_MACRO_KINDS = frozenset({"docm", "xlsm", "pptm"})
_PACKAGE_KINDS = frozenset({"docx", "xlsx", "pptx"})

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
_PKG_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "http://schemas.openxmlformats.org/package/2006/content-types"
_CORE_CODES = {"creator": "author", "lastModifiedBy": "author"}
_DATE_NAMES = frozenset({"created", "modified", "lastPrinted"})
_APP_DROP = {
    "Company": "document_properties",
    "Manager": "author",
    "HyperlinkBase": "document_properties",
    "Template": "document_properties",
}
_DROPPED_PARTS = re.compile(r"^docProps/(custom\.xml|thumbnail\.[A-Za-z0-9]+)$")
_RSID = re.compile(r"^rsid")
# Marks a change that has no code of its own (a reference to a dropped part).
_RELINKED = ""
_LOCAL_PATH = re.compile(r"^(file:|[A-Za-z]:[\\/]|\\\\)")


def main_content_types(archive: zipfile.ZipFile) -> list[str]:
    """Return the content types named in the package's [Content_Types].xml."""
    info = archive.getinfo(_CONTENT_TYPES)
    if info.file_size > _CONTENT_TYPES_LIMIT:
        return []
    root = _parse(archive.read(info))
    return [str(node.get("ContentType", "")) for node in root]


def clean_office(data: bytes, kind: str) -> tuple[bytes, tuple[str, ...]]:
    """Return the package without people, dates and properties, and the codes of what was found."""
    found: set[str] = set()
    try:
        budget = [MAX_UNCOMPRESSED]
        cleaned = _clean_package(data, found, _People(), budget, depth=0)
    except ScrubError:
        raise
    except Exception as error:  # damaged zip or XML from an untrusted sender
        raise ScrubError(UNSCRUBBABLE, "undecodable") from error
    return cleaned, tuple(sorted(found))


class _People:
    """Consistent pseudonyms across every part of one document (comments link to people)."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}

    def alias(self, name: str) -> str:
        if name not in self._names:
            self._names[name] = PSEUDONYM.format(n=len(self._names) + 1)
        return self._names[name]


def _clean_package(
    data: bytes, found: set[str], people: _People, budget: list[int], depth: int
) -> bytes:
    parts = _read_parts(data, budget, found)
    content_types = _parse(parts[_CONTENT_TYPES]) if _CONTENT_TYPES in parts else None
    if _has_macros(parts, content_types):
        raise ScrubError(REFUSED, "macro_format")
    dropped = {name for name in parts if _DROPPED_PARTS.match(name)}
    for name in dropped:
        found.add("thumbnail" if "thumbnail" in name else "document_properties")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in parts.items():
            if name in dropped:
                continue
            cleaned = _clean_part(name, body, dropped, found, people, budget, depth)
            entry = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, cleaned)
    return out.getvalue()


def _read_parts(data: bytes, budget: list[int], found: set[str]) -> dict[str, bytes]:
    """Read every member, refusing archives that are too many or too large when unpacked."""
    parts: dict[str, bytes] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        if len(members) > MAX_MEMBERS:
            raise ScrubError(UNSCRUBBABLE, "too_large")
        declared = sum(info.file_size for info in members)
        if declared > budget[0]:
            raise ScrubError(UNSCRUBBABLE, "too_large")
        budget[0] -= declared
        if any(info.date_time != _FIXED_TIME for info in members):
            found.add("dates")  # zip entry times: the local time of the last save
        for info in members:
            # zipfile stops at the declared size and checks the CRC, so a member that
            # lies about its size fails instead of growing past the budget.
            parts[info.filename] = archive.read(info)
    return parts


def _has_macros(parts: dict[str, bytes], content_types: etree._Element | None) -> bool:
    if any(posixpath.basename(name).lower() == "vbaproject.bin" for name in parts):
        return True
    if content_types is None:
        return False
    kinds = [str(node.get("ContentType", "")).lower() for node in content_types]
    return any(_MACRO_CONTENT in kind or "macroenabled" in kind for kind in kinds)


def _clean_part(
    name: str,
    body: bytes,
    dropped: set[str],
    found: set[str],
    people: _People,
    budget: list[int],
    depth: int,
) -> bytes:
    lower = name.lower()
    if lower.endswith((".xml", ".rels")):
        return _clean_xml(name, body, dropped, found, people)
    if "/media/" in lower or lower.startswith("media/"):
        return _clean_media(body, found)
    if "/embeddings/" in lower and body.startswith(b"PK\x03\x04"):
        return _clean_embedded(body, found, people, budget, depth)
    return body


def _clean_media(body: bytes, found: set[str]) -> bytes:
    """Pictures placed in a document keep their camera EXIF, GPS included."""
    stripped = strip_jpeg(body) if body.startswith(b"\xff\xd8") else strip_png(body)
    if stripped is None:
        return body
    cleaned, removed = stripped
    if removed:
        found.add("embedded_media_metadata")
    return cleaned


def _clean_embedded(
    body: bytes, found: set[str], people: _People, budget: list[int], depth: int
) -> bytes:
    """An embedded workbook or document (chart data, pasted objects) has its own authors."""
    kind = sniff.sniff(body, "").kind
    if kind in _MACRO_KINDS:
        raise ScrubError(REFUSED, "macro_format")
    if kind not in _PACKAGE_KINDS:
        return body
    if depth + 1 > MAX_NESTING:
        raise ScrubError(UNSCRUBBABLE, "too_large")
    return _clean_package(body, found, people, budget, depth + 1)


def _parse(body: bytes) -> etree._Element:
    # One parser per call: lxml parsers must not be shared between threads.
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    root = etree.fromstring(body, parser)
    if root.getroottree().docinfo.doctype:
        raise ScrubError(UNSCRUBBABLE, "undecodable")
    return root


def _serialize(root: etree._Element) -> bytes:
    tree = root.getroottree()
    standalone = tree.docinfo.standalone
    return bytes(
        etree.tostring(tree, xml_declaration=True, encoding="UTF-8", standalone=standalone)
    )


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _clean_xml(
    name: str, body: bytes, dropped: set[str], found: set[str], people: _People
) -> bytes:
    root = _parse(body)
    # Every change adds a code to `changes` (or an empty marker), so an untouched part is
    # copied byte for byte instead of being re-serialised.
    changes: set[str] = set()
    if name == "docProps/core.xml":
        _clean_core(root, changes)
    elif name == "docProps/app.xml":
        _clean_app(root, changes)
    elif name == _CONTENT_TYPES:
        _drop_overrides(root, dropped, changes)
    elif name.endswith(".rels"):
        _clean_rels(name, root, dropped, changes)
    else:
        _clean_people(name, root, changes, people)
    if not changes:
        return body
    found |= changes - {_RELINKED}
    return _serialize(root)


def _clean_core(root: etree._Element, found: set[str]) -> None:
    """Core properties are all about the file's history: keep none of them."""
    for child in list(root):
        local = _local(child.tag)
        code = _CORE_CODES.get(local) or ("dates" if local in _DATE_NAMES else None)
        found.add(code or "document_properties")
        root.remove(child)


def _clean_app(root: etree._Element, found: set[str]) -> None:
    for child in list(root):
        code = _APP_DROP.get(_local(child.tag))
        if code is not None:
            found.add(code)
            root.remove(child)


def _drop_overrides(root: etree._Element, dropped: set[str], changes: set[str]) -> None:
    for child in list(root):
        if _local(child.tag) == "Override" and child.get("PartName", "").lstrip("/") in dropped:
            root.remove(child)
            changes.add(_RELINKED)


def _clean_rels(name: str, root: etree._Element, dropped: set[str], changes: set[str]) -> None:
    # word/_rels/document.xml.rels holds targets relative to word/.
    base = posixpath.dirname(posixpath.dirname(name))
    for rel in list(root):
        target = rel.get("Target", "")
        if rel.get("TargetMode") == "External":
            if _LOCAL_PATH.match(target):
                # A local path (attached template, linked file) shows the sender's user name.
                rel.set("Target", re.split(r"[\\/]", target)[-1])
                changes.add("document_properties")
            continue
        path = target.lstrip("/") if target.startswith("/") else posixpath.join(base, target)
        if posixpath.normpath(path) in dropped:
            root.remove(rel)
            changes.add(_RELINKED)


def _clean_people(name: str, root: etree._Element, found: set[str], people: _People) -> None:
    """Pseudonymise people and drop editing traces in any other part."""
    in_comments = "comment" in name.lower() or "people" in name.lower() or "person" in name
    for node in list(root.iter()):
        local = _local(node.tag)
        if not local:
            continue  # comments and processing instructions
        if local in ("presenceInfo", "absPath", "rsids"):
            # Account ids (e-mail, AD name), the folder a workbook was saved in,
            # and Word's editing-session ids.
            _remove(node)
            found.add(
                {"presenceInfo": "comment_authors", "rsids": "revision_ids"}.get(
                    local, "document_properties"
                )
            )
            continue
        if local == "author" and (parent := node.getparent()) is not None and node.text:
            if _local(parent.tag) == "authors":  # xl/comments*.xml
                node.text = people.alias(node.text)
                found.add("comment_authors")
        for attr in list(node.attrib):
            _clean_attribute(node, str(attr), local, in_comments, found, people)


def _clean_attribute(
    node: etree._Element,
    attr: str,
    local: str,
    in_comments: bool,
    found: set[str],
    people: _People,
) -> None:
    attr_local = etree.QName(attr).localname
    value = node.get(attr, "")
    code = "comment_authors" if in_comments or "comment" in local.lower() else "tracked_changes"
    rename: Callable[[str], str] | None = None
    if attr_local in ("author", "userName", "displayName"):
        rename = people.alias
    elif attr_local == "name" and local in ("cmAuthor", "author"):  # PowerPoint comment authors
        rename = people.alias
    elif attr_local == "userId":
        rename = people.alias
    elif attr_local == "providerId":
        rename = lambda _value: "None"  # noqa: E731 - Office's value for "no account"
    elif attr_local == "initials":
        rename = lambda _value: ""  # noqa: E731
    if rename is not None:
        if value and rename(value) != value:
            node.set(attr, rename(value))
            found.add(code)
        return
    namespace = etree.QName(attr).namespace
    if namespace == _W and attr_local == "date":
        del node.attrib[attr]
        found.add("dates")
    elif namespace == _W and _RSID.match(attr_local):
        del node.attrib[attr]
        found.add("revision_ids")


def _remove(node: etree._Element) -> None:
    """Remove a node; an mc:AlternateContent left with nothing to offer goes with it."""
    parent = node.getparent()
    if parent is None:
        return
    parent.remove(node)
    while parent is not None and len(parent) == 0 and etree.QName(parent).namespace == _MC:
        grand = parent.getparent()
        if grand is None:
            break
        grand.remove(parent)
        parent = grand
