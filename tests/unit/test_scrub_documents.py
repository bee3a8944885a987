"""Documents lose authors, companies, dates and editing traces; risky formats are refused."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import docx
import openpyxl
import pikepdf
import pptx
import pytest
from lxml import etree
from PIL import Image

from storage.scrub import scrub
from storage.scrub.office import MAX_UNCOMPRESSED
from tests.helpers import evidence

DOCUMENTS: dict[str, Callable[[], bytes]] = {
    "pdf": evidence.pdf_with_author,
    "docx": evidence.docx_with_author,
    "xlsx": evidence.xlsx_with_author,
    "pptx": evidence.pptx_with_author,
}
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.mark.parametrize("kind", sorted(DOCUMENTS))
def test_no_marker_survives_in_a_scrubbed_document_or_anything_inside_it(kind: str) -> None:
    original = DOCUMENTS[kind]()
    assert len(evidence.surviving_markers(original)) == len(evidence.MARKERS)

    result = scrub(original, "application/octet-stream", f"举报材料.{kind}", 9)

    assert (result.status, result.name) == ("clean", f"证据9.{kind}")
    assert evidence.surviving_markers(result.data) == []


def test_a_scrubbed_pdf_has_no_info_no_xmp_and_keeps_its_page_and_note() -> None:
    result = scrub(evidence.pdf_with_author(), "application/pdf", "a.pdf", 1)

    with pikepdf.open(io.BytesIO(result.data)) as pdf:
        assert "/Info" not in pdf.trailer
        assert all(
            "/Metadata" not in obj
            for obj in pdf.objects
            if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream)
        )
        page = pdf.pages[0]
        note = page.obj.Annots[0]
        assert str(note.Contents) == "请核实"
        assert "/T" not in note
        photo = pikepdf.PdfImage(page.obj.Resources.XObject.Im0).as_pil_image()
        assert photo.size == (60, 40)
    assert {"author", "device", "xmp", "comment_authors", "embedded_media_metadata"} <= set(
        result.removed
    )


def test_a_pdf_that_needs_a_password_is_unscrubbable_and_handed_back() -> None:
    original = evidence.encrypted_pdf()

    result = scrub(original, "application/pdf", "a.pdf", 2)

    assert (result.status, result.reason, result.data) == ("unscrubbable", "encrypted", original)


def test_a_pdf_with_only_an_owner_password_is_cleaned() -> None:
    source = pikepdf.open(io.BytesIO(evidence.pdf_with_author()))
    out = io.BytesIO()
    source.save(out, encryption=pikepdf.Encryption(user="", owner="owner"))

    result = scrub(out.getvalue(), "application/pdf", "a.pdf", 2)

    assert result.status == "clean"
    assert evidence.surviving_markers(result.data) == []


def test_a_damaged_pdf_is_undecodable() -> None:
    result = scrub(b"%PDF-1.7\nnot really a pdf\n%%EOF", "application/pdf", "a.pdf", 1)

    assert (result.status, result.reason) == ("unscrubbable", "undecodable")


def test_a_scrubbed_docx_reopens_with_its_text_and_pseudonymous_people() -> None:
    result = scrub(evidence.docx_with_author(), "application/msword", "a.docx", 1)
    parts = _members(result.data)

    document = docx.Document(io.BytesIO(result.data))
    assert "三个月未发工资。" in [paragraph.text for paragraph in document.paragraphs]
    assert document.core_properties.author == ""
    body = etree.fromstring(parts["word/document.xml"])
    changes = body.findall(f".//{_W}ins") + body.findall(f".//{_W}del")
    comments = etree.fromstring(parts["word/comments.xml"]).findall(f"{_W}comment")
    people = {node.get(f"{_W}author") for node in changes + comments}
    assert people == {"匿名1"}, "one person keeps one pseudonym across comments and changes"
    assert all(node.get(f"{_W}date") is None for node in changes + comments)
    assert b"rsid" not in parts["word/document.xml"] + parts["word/settings.xml"]
    assert b"presenceInfo" not in parts["word/people.xml"]
    assert {"author", "comment_authors", "tracked_changes", "revision_ids"} <= set(result.removed)


def test_dropped_parts_are_no_longer_referenced() -> None:
    result = scrub(evidence.docx_with_author(), "", "a.docx", 1)
    parts = _members(result.data)

    assert not [name for name in parts if name.startswith(("docProps/custom", "docProps/thumb"))]
    assert b"custom" not in parts["_rels/.rels"] and b"thumbnail" not in parts["_rels/.rels"]
    assert b"/docProps/custom.xml" not in parts["[Content_Types].xml"]
    assert {"thumbnail", "document_properties"} <= set(result.removed)


def test_a_local_template_path_keeps_only_the_file_name() -> None:
    parts = _members(scrub(evidence.docx_with_author(), "", "a.docx", 1).data)

    assert b'Target="Normal.dotm"' in parts["word/_rels/settings.xml.rels"]


def test_a_photo_inside_a_docx_loses_its_exif_but_not_its_pixels() -> None:
    result = scrub(evidence.docx_with_author(), "", "a.docx", 1)
    media = [body for name, body in _members(result.data).items() if "/media/" in name]

    assert len(media) == 1
    photo = Image.open(io.BytesIO(media[0]))
    assert (photo.size, dict(photo.getexif())) == ((60, 40), {})
    assert "embedded_media_metadata" in result.removed


def test_a_scrubbed_xlsx_reopens_with_its_values_and_a_pseudonymous_comment() -> None:
    result = scrub(evidence.xlsx_with_author(), "", "a.xlsx", 1)

    sheet = openpyxl.load_workbook(io.BytesIO(result.data)).active
    assert sheet is not None
    assert (sheet["A1"].value, sheet["B1"].value) == ("应发工资", 5200)
    assert sheet["B1"].comment is not None and sheet["B1"].comment.author == "匿名1"
    assert b"absPath" not in _members(result.data)["xl/workbook.xml"]


def test_a_scrubbed_pptx_reopens_without_its_author() -> None:
    result = scrub(evidence.pptx_with_author(), "", "a.pptx", 1)

    presentation = pptx.Presentation(io.BytesIO(result.data))
    assert presentation.core_properties.author == ""
    assert len(presentation.slides) == 1
    assert b'name="\xe5\x8c\xbf\xe5\x90\x8d1"' in _members(result.data)["ppt/commentAuthors.xml"]


@pytest.mark.parametrize(
    ("build", "declared"),
    [
        (evidence.docm_with_macros, "application/vnd.ms-word.document.macroEnabled.12"),
        (evidence.legacy_doc, "application/msword"),
    ],
)
def test_macro_capable_and_legacy_office_files_are_refused(
    build: Callable[[], bytes], declared: str
) -> None:
    original = build()

    result = scrub(original, declared, "工资表.doc", 5)

    assert (result.status, result.reason, result.data) == ("refused", "macro_format", original)
    assert result.removed == ("file_name",)


def test_a_docx_that_hides_a_vba_project_is_refused() -> None:
    original = evidence.edit_package(
        evidence.docx_with_author(), {"word/vbaProject.bin": lambda _body: b"\x00" * 64}
    )

    result = scrub(original, "application/vnd.openxmlformats", "a.docx", 1)

    assert (result.status, result.reason) == ("refused", "macro_format")


def test_a_password_protected_office_file_is_unscrubbable() -> None:
    # Office saves a protected DOCX as a Compound File holding an "EncryptedPackage" stream.
    original = evidence.legacy_doc() + "EncryptedPackage".encode("utf-16-le") + bytes(64)

    result = scrub(original, "application/vnd.openxmlformats", "a.docx", 1)

    assert (result.status, result.reason) == ("unscrubbable", "encrypted")


def test_a_zip_bomb_is_not_unpacked() -> None:
    bomb = evidence.zip_bomb_docx(unpacked_mib=MAX_UNCOMPRESSED // (1024 * 1024) + 8)
    assert len(bomb) < 2 * 1024 * 1024

    result = scrub(bomb, "", "a.docx", 1)

    assert (result.status, result.reason) == ("unscrubbable", "too_large")


def test_an_office_part_with_a_doctype_is_not_parsed() -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<Properties>&lol2;</Properties>"
    )
    original = evidence.edit_package(
        evidence.docx_with_author(), {"docProps/app.xml": lambda _body: laughs}
    )

    result = scrub(original, "", "a.docx", 1)

    assert (result.status, result.reason) == ("unscrubbable", "undecodable")


def test_plain_text_is_kept_as_is_under_a_neutral_name() -> None:
    text = "经理张某要求我们无偿加班。\n".encode()

    result = scrub(text, "text/plain; charset=utf-8", "我的投诉.txt", 12)

    assert (result.status, result.data, result.mime) == ("clean", text, "text/plain")
    assert (result.name, result.removed) == ("证据12.txt", ("file_name",))


def test_audio_is_unsupported_and_handed_back_for_the_employee_to_decide() -> None:
    voice = b"OggS\x00\x02" + bytes(200)

    result = scrub(voice, "audio/ogg", "voice_2026-03-02.ogg", 3)

    assert (result.status, result.reason, result.data) == ("unscrubbable", "unsupported", voice)
    assert (result.name, result.mime) == ("证据3.ogg", "audio/ogg")


def test_unknown_bytes_are_unsupported_whatever_their_claimed_type() -> None:
    result = scrub(b"\x00\x01\x02binary", "text/plain", "notes.txt", 4)

    assert (result.status, result.reason, result.name) == (
        "unscrubbable",
        "unsupported",
        "证据4.bin",
    )


def test_a_file_already_named_neutrally_does_not_report_a_removed_name() -> None:
    result = scrub(b"hello", "text/plain", "证据5.txt", 5)

    assert result.removed == ()
