"""Real evidence files that carry identifying metadata, and a way to look for it afterwards.

Every builder embeds the same recognisable markers (a GPS position, a camera serial, an
author and a company), so a test anywhere (unit, or end to end through a channel) can send
one and then assert with `surviving_markers(received)` that none of them came through.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator

import docx
import openpyxl
import pikepdf
import pillow_heif
import pptx
from lxml import etree
from openpyxl.comments import Comment
from openpyxl.packaging.custom import StringProperty
from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo
from PIL.TiffImagePlugin import IFDRational

__all__ = [
    "AUTHOR",
    "COMPANY",
    "GPS",
    "GPS_EXIF_LATITUDE",
    "MARKERS",
    "SERIAL",
    "docm_with_macros",
    "edit_package",
    "docx_with_author",
    "encrypted_pdf",
    "exposed_bytes",
    "gif_with_comment",
    "heic_with_gps",
    "jpeg_with_gps",
    "legacy_doc",
    "pdf_with_author",
    "png_with_text_chunks",
    "pptx_with_author",
    "surviving_markers",
    "webp_with_exif",
    "xlsx_with_author",
    "zip_bomb_docx",
]

pillow_heif.register_heif_opener()

GPS = (31.2304, 121.4737)
SERIAL = "SN-4711-XF"
AUTHOR = "张三 Zhang San"
COMPANY = "某某集团"
GPS_TEXT = "31.2304,121.4737"
# 31.2304° N = 31° 13' 49.44"; EXIF stores it as three rationals, written big-endian by Pillow.
_LATITUDE = (IFDRational(31, 1), IFDRational(13, 1), IFDRational(1236, 25))
_LONGITUDE = (IFDRational(121, 1), IFDRational(28, 1), IFDRational(1329, 25))
GPS_EXIF_LATITUDE = struct.pack(">6L", 31, 1, 13, 1, 1236, 25)

# None of these may survive scrubbing, in any encoding (checked in UTF-8 and UTF-16 too).
MARKERS: tuple[bytes, ...] = (
    SERIAL.encode(),
    AUTHOR.encode(),
    COMPANY.encode(),
    b"31.2304",
    b"121.4737",
    GPS_EXIF_LATITUDE,
)

_XMP = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:aux="http://ns.adobe.com/exif/1.0/aux/" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/">
   <dc:creator><rdf:Seq><rdf:li>{AUTHOR}</rdf:li></rdf:Seq></dc:creator>
   <aux:SerialNumber>{SERIAL}</aux:SerialNumber>
   <photoshop:Credit>{COMPANY}</photoshop:Credit>
   <photoshop:Source>{GPS_TEXT}</photoshop:Source>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode()


def _exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Huawei"  # Make
    exif[0x0110] = "P60 Pro"  # Model
    exif[0x0112] = orientation
    exif[0x013B] = AUTHOR  # Artist (UTF-8, as phones write it)
    exif[0x8298] = COMPANY  # Copyright
    exif[0x010E] = f"taken at {GPS_TEXT}"  # ImageDescription
    exif[0x9C9D] = AUTHOR.encode("utf-16-le") + b"\x00\x00"  # XPAuthor, UTF-16 by definition
    exif[0x0132] = "2026:03:02 09:30:00"  # DateTime
    details = exif.get_ifd(0x8769)
    details[0xA431] = SERIAL  # BodySerialNumber
    details[0xA430] = AUTHOR  # CameraOwnerName
    details[0x9003] = "2026:03:02 09:30:00"  # DateTimeOriginal
    exif.get_ifd(0x8825).update({1: "N", 2: _LATITUDE, 3: "E", 4: _LONGITUDE})
    return exif


def _iptc_app13() -> bytes:
    """A Photoshop APP13 segment with an IPTC by-line (author): Pillow cannot write one."""
    by_line = AUTHOR.encode()
    iptc = b"\x1c\x02\x50" + struct.pack(">H", len(by_line)) + by_line
    if len(iptc) % 2:
        iptc += b"\x00"
    resource = b"8BIM\x04\x04\x00\x00" + struct.pack(">L", len(iptc)) + iptc
    body = b"Photoshop 3.0\x00" + resource
    return b"\xff\xed" + struct.pack(">H", len(body) + 2) + body


def _two_tone(size: tuple[int, int]) -> Image.Image:
    """Top half red, bottom half blue: rotation is visible even after JPEG compression."""
    image = Image.new("RGB", size, (0, 0, 255))
    ImageDraw.Draw(image).rectangle((0, 0, size[0], size[1] // 2 - 1), fill=(255, 0, 0))
    return image


def jpeg_with_gps(size: tuple[int, int] = (60, 40), orientation: int = 1) -> bytes:
    """A JPEG with EXIF (GPS, serial, owner, dates), XMP, IPTC and a comment, top half red."""
    out = io.BytesIO()
    _two_tone(size).save(
        out,
        "JPEG",
        quality=95,
        exif=_exif(orientation).tobytes(),
        xmp=_XMP,
        comment=f"{SERIAL} {GPS_TEXT}".encode(),
        extra=_iptc_app13(),
    )
    return out.getvalue()


def png_with_text_chunks(size: tuple[int, int] = (60, 40)) -> bytes:
    """A PNG with tEXt, iTXt, zTXt (compressed), eXIf and XMP chunks."""
    info = PngInfo()
    info.add_text("Serial", SERIAL)  # tEXt
    info.add_itxt("Author", AUTHOR)  # iTXt, uncompressed
    info.add_itxt("Company", COMPANY, zip=True)  # iTXt, compressed
    info.add_text("Location", GPS_TEXT, zip=True)  # zTXt
    info.add_itxt("XML:com.adobe.xmp", _XMP.decode())
    out = io.BytesIO()
    _two_tone(size).save(out, "PNG", pnginfo=info, exif=_exif().tobytes())
    return out.getvalue()


def webp_with_exif(size: tuple[int, int] = (60, 40)) -> bytes:
    """A WebP with EXIF (GPS, serial) and XMP chunks."""
    out = io.BytesIO()
    _two_tone(size).save(out, "WEBP", quality=95, exif=_exif().tobytes(), xmp=_XMP)
    return out.getvalue()


def gif_with_comment(frames: int = 1, size: tuple[int, int] = (60, 40)) -> bytes:
    """A GIF (animated when frames > 1) with a comment extension naming the markers."""
    # Frames differ (a moving green square), or Pillow merges them into one.
    images = []
    for index in range(frames):
        frame = _two_tone(size)
        ImageDraw.Draw(frame).rectangle((index * 4, 0, index * 4 + 3, 3), fill=(0, 255, 0))
        images.append(frame.quantize(8))
    out = io.BytesIO()
    images[0].save(
        out,
        "GIF",
        save_all=frames > 1,
        append_images=images[1:],
        duration=120,
        loop=0,
        comment=f"{SERIAL} {AUTHOR} {COMPANY} {GPS_TEXT}".encode(),
    )
    return out.getvalue()


def heic_with_gps(size: tuple[int, int] = (64, 48)) -> bytes:
    """A HEIC (HEVC) picture with EXIF (GPS, serial, owner) and XMP, written by pillow-heif."""
    out = io.BytesIO()
    _two_tone(size).save(out, "HEIF", quality=90, exif=_exif().tobytes(), xmp=_XMP)
    return out.getvalue()


def pdf_with_author() -> bytes:
    """A PDF with Info (author, creator, producer, title...), XMP on the document and page,
    a text annotation by the author, and a photo whose JPEG stream keeps its EXIF."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(200, 200))
    page = pdf.pages[0]
    pdf.trailer.Info = pdf.make_indirect(
        pikepdf.Dictionary(
            Author=pikepdf.String(AUTHOR),
            Creator=pikepdf.String(f"Scanner {SERIAL}"),
            Producer=pikepdf.String(COMPANY),
            Title=pikepdf.String(f"{COMPANY} report"),
            Subject=pikepdf.String(GPS_TEXT),
            Keywords=pikepdf.String(AUTHOR),
            CreationDate=pikepdf.String("D:20260302093000+08'00'"),
        )
    )
    pdf.Root.Metadata = pdf.make_stream(_XMP, Type=pikepdf.Name.Metadata, Subtype=pikepdf.Name.XML)
    page.obj.Metadata = pdf.make_stream(_XMP, Type=pikepdf.Name.Metadata, Subtype=pikepdf.Name.XML)
    photo = jpeg_with_gps()
    image = pdf.make_stream(
        photo,
        Type=pikepdf.Name.XObject,
        Subtype=pikepdf.Name.Image,
        Width=60,
        Height=40,
        ColorSpace=pikepdf.Name.DeviceRGB,
        BitsPerComponent=8,
        Filter=pikepdf.Name.DCTDecode,
    )
    page.obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image))
    page.obj.Contents = pdf.make_stream(b"q 60 0 0 40 20 20 cm /Im0 Do Q")
    note = pikepdf.Dictionary(
        Type=pikepdf.Name.Annot,
        Subtype=pikepdf.Name.Text,
        Rect=[10, 150, 30, 170],
        Contents=pikepdf.String("请核实"),
        T=pikepdf.String(AUTHOR),
        M=pikepdf.String("D:20260302093000+08'00'"),
    )
    page.obj.Annots = pikepdf.Array([pdf.make_indirect(note)])
    out = io.BytesIO()
    pdf.save(out, compress_streams=True, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    return out.getvalue()


def encrypted_pdf() -> bytes:
    """A PDF that needs a password to open (its Info names the author)."""
    source = pikepdf.open(io.BytesIO(pdf_with_author()))
    out = io.BytesIO()
    source.save(out, encryption=pikepdf.Encryption(user="secret", owner="owner"))
    return out.getvalue()


# --- Office Open XML -------------------------------------------------------------------

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "http://schemas.openxmlformats.org/package/2006/content-types"
_CUSTOM_REL = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties"
)
_THUMB_REL = "http://schemas.openxmlformats.org/package/2006/relationships/metadata/thumbnail"
_PEOPLE_REL = "http://schemas.microsoft.com/office/2011/relationships/people"
_TEMPLATE_REL = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships/attachedTemplate"
)


def edit_package(data: bytes, edits: dict[str, Callable[[bytes | None], bytes | None]]) -> bytes:
    """Rewrite a package: each edit gets a member's bytes (None if absent) and returns new
    bytes (None to drop it)."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        names = source.namelist()
        for name in names + [name for name in edits if name not in names]:
            body = source.read(name) if name in names else None
            if name in edits:
                body = edits[name](body)
            if body is not None:
                target.writestr(name, body)
    return out.getvalue()


def _xml_edit(change: Callable[[etree._Element], None]) -> Callable[[bytes | None], bytes]:
    def edit(body: bytes | None) -> bytes:
        assert body is not None
        root = etree.fromstring(body)
        change(root)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)

    return edit


def _add_override(part: str, content_type: str) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        etree.SubElement(root, f"{{{_CT}}}Override", PartName=part, ContentType=content_type)

    return change


def _add_default(ext: str, content_type: str) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        if not any(node.get("Extension") == ext for node in root):
            etree.SubElement(root, f"{{{_CT}}}Default", Extension=ext, ContentType=content_type)

    return change


def _chain(*changes: Callable[[etree._Element], None]) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        for step in changes:
            step(root)

    return change


def _add_rel(
    rel_id: str, rel_type: str, target: str, external: bool = False
) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        rel = etree.SubElement(root, f"{{{_PKG_RELS}}}Relationship", Id=rel_id)
        rel.set("Type", rel_type)
        rel.set("Target", target)
        if external:
            rel.set("TargetMode", "External")

    return change


def _set_app_company(root: etree._Element) -> None:
    namespace = etree.QName(root).namespace
    for local, value in (("Company", COMPANY), ("Manager", AUTHOR)):
        node = root.find(f"{{{namespace}}}{local}")
        if node is None:
            node = etree.SubElement(root, f"{{{namespace}}}{local}")
        node.text = value


_APP_XML = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
    b"<Application>Microsoft Office Word</Application></Properties>"
)
_APP_CT = "application/vnd.openxmlformats-officedocument.extended-properties+xml"
_APP_REL = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties"
)


def _custom_xml() -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"'
        ' xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
        '<property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="Owner">'
        f"<vt:lpwstr>{AUTHOR} {SERIAL}</vt:lpwstr></property></Properties>"
    ).encode()


def _common_package_edits(data: bytes) -> dict[str, Callable[[bytes | None], bytes | None]]:
    """Company/manager in app.xml, a custom properties part and a thumbnail with GPS."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        has_app = "docProps/app.xml" in archive.namelist()
        has_custom = "docProps/custom.xml" in archive.namelist()
    content_types = [_add_default("jpeg", "image/jpeg")]
    root_rels = [_add_rel("rIdThumb", _THUMB_REL, "docProps/thumbnail.jpeg")]
    if not has_app:
        content_types.append(_add_override("/docProps/app.xml", _APP_CT))
        root_rels.append(_add_rel("rIdApp", _APP_REL, "docProps/app.xml"))
    edits: dict[str, Callable[[bytes | None], bytes | None]] = {
        "docProps/app.xml": lambda body: _xml_edit(_set_app_company)(body or _APP_XML),
        "docProps/thumbnail.jpeg": lambda _body: jpeg_with_gps(),
    }
    if not has_custom:
        content_types.append(
            _add_override(
                "/docProps/custom.xml",
                "application/vnd.openxmlformats-officedocument.custom-properties+xml",
            )
        )
        root_rels.append(_add_rel("rIdCustom", _CUSTOM_REL, "docProps/custom.xml"))
        edits["docProps/custom.xml"] = lambda _body: _custom_xml()
    edits["[Content_Types].xml"] = _xml_edit(_chain(*content_types))
    edits["_rels/.rels"] = _xml_edit(_chain(*root_rels))
    return edits


def _tracked_insert(root: etree._Element) -> None:
    """Add a tracked insertion and a tracked deletion by the author, with editing-session ids."""
    body = root.find(f"{{{_W}}}body")
    assert body is not None
    paragraph = etree.Element(f"{{{_W}}}p")
    paragraph.set(f"{{{_W}}}rsidR", "00A1B2C3")
    for kind, text_tag in (("ins", "t"), ("del", "delText")):
        change = etree.SubElement(paragraph, f"{{{_W}}}{kind}")
        change.set(f"{{{_W}}}id", "90" if kind == "ins" else "91")
        change.set(f"{{{_W}}}author", AUTHOR)
        change.set(f"{{{_W}}}date", "2026-03-02T09:30:00Z")
        run = etree.SubElement(change, f"{{{_W}}}r")
        etree.SubElement(run, f"{{{_W}}}{text_tag}").text = "补发工资"
    body.insert(0, paragraph)


def _people_xml() -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<w15:people xmlns:w15="http://schemas.microsoft.com/office/word/2012/wordml">'
        f'<w15:person w15:author="{AUTHOR}">'
        f'<w15:presenceInfo w15:providerId="AD" w15:userId="S-1-5-21-{SERIAL}"/>'
        "</w15:person></w15:people>"
    ).encode()


def _settings_traces(root: etree._Element) -> None:
    rsids = etree.SubElement(root, f"{{{_W}}}rsids")
    etree.SubElement(rsids, f"{{{_W}}}rsidRoot").set(f"{{{_W}}}val", "00A1B2C3")
    template = etree.Element(f"{{{_W}}}attachedTemplate")
    template.set(f"{{{_R}}}id", "rIdTemplate")
    root.insert(0, template)


def docx_with_author() -> bytes:
    """A DOCX by the author: core and app properties, custom properties, a thumbnail, a
    comment, tracked changes, people.xml, an attached template path and a photo with GPS."""
    document = docx.Document()
    properties = document.core_properties
    properties.author = AUTHOR
    properties.last_modified_by = AUTHOR
    properties.title = f"{COMPANY} 工资单"
    properties.keywords = SERIAL
    properties.comments = GPS_TEXT
    paragraph = document.add_paragraph("三个月未发工资。")
    document.add_comment(paragraph.runs, text="属实", author=AUTHOR, initials="ZS")
    document.add_picture(io.BytesIO(jpeg_with_gps()))
    out = io.BytesIO()
    document.save(out)
    data = out.getvalue()
    edits = _common_package_edits(data)
    package_types = edits["[Content_Types].xml"]
    edits["[Content_Types].xml"] = lambda body: _xml_edit(
        _add_override(
            "/word/people.xml",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.people+xml",
        )
    )(package_types(body))
    edits["word/document.xml"] = _xml_edit(_tracked_insert)
    edits["word/people.xml"] = lambda _body: _people_xml()
    edits["word/_rels/document.xml.rels"] = _xml_edit(
        _add_rel("rIdPeople", _PEOPLE_REL, "people.xml")
    )
    edits["word/settings.xml"] = _xml_edit(_settings_traces)
    edits["word/_rels/settings.xml.rels"] = lambda _body: _xml_edit(
        _add_rel(
            "rIdTemplate",
            _TEMPLATE_REL,
            f"file:///C:\\Users\\{AUTHOR}\\AppData\\Roaming\\Microsoft\\Templates\\Normal.dotm",
            external=True,
        )
    )(f'<Relationships xmlns="{_PKG_RELS}"/>'.encode())
    return edit_package(data, edits)


def _workbook_abs_path(root: etree._Element) -> None:
    mc = "http://schemas.openxmlformats.org/markup-compatibility/2006"
    x15ac = "http://schemas.microsoft.com/office/spreadsheetml/2010/11/ac"
    alternate = etree.Element(f"{{{mc}}}AlternateContent", nsmap={"mc": mc})
    choice = etree.SubElement(alternate, f"{{{mc}}}Choice", Requires="x15ac")
    path = etree.SubElement(choice, f"{{{x15ac}}}absPath", nsmap={"x15ac": x15ac})
    path.set("url", f"C:\\Users\\{AUTHOR}\\Desktop\\")
    root.insert(0, alternate)


def xlsx_with_author() -> bytes:
    """An XLSX by the author: core, app and custom properties, a thumbnail, a cell comment
    and the folder it was saved in."""
    workbook = openpyxl.Workbook()
    workbook.properties.creator = AUTHOR
    workbook.properties.lastModifiedBy = AUTHOR
    workbook.properties.title = COMPANY
    workbook.custom_doc_props.append(StringProperty(name="Owner", value=f"{AUTHOR} {SERIAL}"))
    sheet = workbook.active
    assert sheet is not None
    sheet["A1"] = "应发工资"
    sheet["B1"] = 5200
    sheet["B1"].comment = Comment("三月未发", AUTHOR)
    out = io.BytesIO()
    workbook.save(out)
    data = out.getvalue()
    edits = _common_package_edits(data)
    edits["xl/workbook.xml"] = _xml_edit(_workbook_abs_path)
    return edit_package(data, edits)


def _comment_authors() -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<p:cmAuthorLst xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main">'
        f'<p:cmAuthor id="0" name="{AUTHOR}" initials="ZS" lastIdx="1" clrIdx="0"/>'
        "</p:cmAuthorLst>"
    ).encode()


def pptx_with_author() -> bytes:
    """A PPTX by the author: core and app properties, a thumbnail and comment authors."""
    presentation = pptx.Presentation()
    presentation.core_properties.author = AUTHOR
    presentation.core_properties.last_modified_by = AUTHOR
    presentation.core_properties.title = COMPANY
    slide = presentation.slides.add_slide(presentation.slide_layouts[5])
    if slide.shapes.title is not None:
        slide.shapes.title.text = "加班记录"
    out = io.BytesIO()
    presentation.save(out)
    data = out.getvalue()
    edits = _common_package_edits(data)
    package_types = edits["[Content_Types].xml"]
    edits["[Content_Types].xml"] = lambda body: _xml_edit(
        _add_override(
            "/ppt/commentAuthors.xml",
            "application/vnd.openxmlformats-officedocument.presentationml.commentAuthors+xml",
        )
    )(package_types(body))
    edits["ppt/commentAuthors.xml"] = lambda _body: _comment_authors()
    edits["ppt/_rels/presentation.xml.rels"] = _xml_edit(
        _add_rel(
            "rIdAuthors",
            "http://schemas.openxmlformats.org/officeDocument/2006/relationships/commentAuthors",
            "commentAuthors.xml",
        )
    )
    return edit_package(data, edits)


def docm_with_macros() -> bytes:
    """A macro-enabled Word document: a DOCX with a VBA project and the macro content type."""

    def macro_type(root: etree._Element) -> None:
        for node in root:
            if node.get("PartName") == "/word/document.xml":
                node.set("ContentType", "application/vnd.ms-word.document.macroEnabled.main+xml")

    return edit_package(
        docx_with_author(),
        {
            "[Content_Types].xml": _xml_edit(macro_type),
            "word/vbaProject.bin": lambda _body: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504),
        },
    )


def legacy_doc() -> bytes:
    """The start of a Compound File Binary (.doc/.xls/.ppt), as Office 97-2003 writes it."""
    return (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16) + b"\x3e\x00\x03\x00\xfe\xff" + bytes(482)
    )


def zip_bomb_docx(unpacked_mib: int = 300) -> bytes:
    """A DOCX with a member that compresses a few hundred MiB of zeros into a small file."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(docx_with_author())) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for name in source.namelist():
            target.writestr(name, source.read(name))
        with target.open("word/media/padding.bin", "w") as member:
            chunk = bytes(1024 * 1024)
            for _ in range(unpacked_mib):
                member.write(chunk)
    return out.getvalue()


# --- looking for markers -----------------------------------------------------------------


def exposed_bytes(data: bytes) -> Iterator[bytes]:
    """Yield the file and everything a reader could unpack from it: zip members (nested),
    decoded PDF streams and strings, decompressed PNG text chunks."""
    yield data
    if data.startswith(b"PK\x03\x04"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in archive.namelist():
                yield name.encode()
                yield from exposed_bytes(archive.read(name))
    elif b"%PDF-" in data[:1024]:
        yield from _pdf_exposed(data)
    elif data.startswith(b"\x89PNG\r\n\x1a\n"):
        yield from _png_text(data)


def _pdf_exposed(data: bytes) -> Iterator[bytes]:
    try:
        pdf = pikepdf.open(io.BytesIO(data))
    except pikepdf.PasswordError:
        return
    with pdf:
        for obj in pdf.objects:
            yield from _pdf_values(obj, depth=0)
            if isinstance(obj, pikepdf.Stream):
                try:
                    yield obj.read_bytes()
                except pikepdf.PdfError:
                    yield obj.read_raw_bytes()
        yield from _pdf_values(pdf.trailer, depth=0)


def _pdf_values(obj: object, depth: int) -> Iterator[bytes]:
    if depth > 20:
        return
    if isinstance(obj, pikepdf.String):
        yield str(obj).encode()
    elif isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
        for key in obj.keys():  # noqa: SIM118
            value = obj.get(key)
            if not (isinstance(value, pikepdf.Object) and value.is_indirect):
                yield from _pdf_values(value, depth + 1)
    elif isinstance(obj, pikepdf.Array):
        for item in obj:
            if not (isinstance(item, pikepdf.Object) and item.is_indirect):
                yield from _pdf_values(item, depth + 1)


def _png_text(data: bytes) -> Iterator[bytes]:
    position = 8
    while position + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        if kind == b"zTXt":
            yield zlib.decompress(body.split(b"\x00", 1)[1][1:])
        elif kind == b"iTXt":
            keyword, rest = body.split(b"\x00", 1)
            compressed, text = rest[0], rest[2:].split(b"\x00", 2)[2]
            yield zlib.decompress(text) if compressed else text
        position += 12 + length


def surviving_markers(data: bytes) -> list[bytes]:
    """Return the MARKERS found anywhere in `data` or what unpacks from it (UTF-8 or UTF-16)."""
    found = []
    blobs = list(exposed_bytes(data))
    for marker in MARKERS:
        forms = {marker}
        try:
            text = marker.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None:
            forms |= {text.encode("utf-16-le"), text.encode("utf-16-be")}
        if any(form in blob for form in forms for blob in blobs):
            found.append(marker)
    return found
