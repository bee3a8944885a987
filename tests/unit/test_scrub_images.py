"""Pictures lose EXIF, GPS, XMP, IPTC, comments and text chunks, and still look the same."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import pytest
from PIL import Image, ImageCms

from storage.scrub import Scrubbed, scrub
from storage.scrub.images import MAX_PIXELS
from tests.helpers import evidence

IMAGES: dict[str, tuple[Callable[[], bytes], str, str]] = {
    "jpeg": (evidence.jpeg_with_gps, "image/jpeg", "JPEG"),
    "png": (evidence.png_with_text_chunks, "image/png", "PNG"),
    "webp": (evidence.webp_with_exif, "image/webp", "WEBP"),
    "gif": (evidence.gif_with_comment, "image/gif", "GIF"),
    # HEIC is converted: officers' devices do not all show it.
    "heic": (evidence.heic_with_gps, "image/jpeg", "JPEG"),
}


def _open(result: Scrubbed) -> Image.Image:
    image = Image.open(io.BytesIO(result.data))
    image.load()
    return image


@pytest.mark.parametrize("kind", sorted(IMAGES))
def test_no_marker_survives_in_a_scrubbed_picture(kind: str) -> None:
    original = IMAGES[kind][0]()
    assert evidence.surviving_markers(original), "the builder must embed the markers"

    result = scrub(original, "application/octet-stream", "IMG_2026.raw", 1)

    assert result.status == "clean"
    assert evidence.surviving_markers(result.data) == []


@pytest.mark.parametrize("kind", sorted(IMAGES))
def test_a_scrubbed_picture_reopens_as_its_declared_type_at_its_size(kind: str) -> None:
    build, mime, pillow_format = IMAGES[kind]
    original = build()
    before = Image.open(io.BytesIO(original)).size

    result = scrub(original, "image/" + kind, "photo." + kind, 4)
    image = _open(result)

    assert (result.mime, image.format, image.size) == (mime, pillow_format, before)
    assert result.name == "证据4." + ("jpg" if pillow_format == "JPEG" else kind)
    assert not image.getexif()
    assert not {"exif", "xmp", "comment", "photoshop"} & set(image.info)


def test_a_phone_photo_reports_location_device_author_and_more_as_removed() -> None:
    result = scrub(evidence.jpeg_with_gps(), "image/jpeg", "IMG_0001.JPG", 1)

    assert set(result.removed) >= {
        "file_name",
        "location",
        "device",
        "author",
        "dates",
        "comments",
        "exif",
        "xmp",
        "iptc",
    }
    assert result.reason is None


def test_png_text_chunks_are_reported_and_gone() -> None:
    result = scrub(evidence.png_with_text_chunks(), "image/png", "a.png", 1)
    chunks = _png_chunk_types(result.data)

    assert "text_chunks" in result.removed
    assert not chunks & {b"tEXt", b"iTXt", b"zTXt", b"eXIf", b"tIME"}


def test_a_portrait_photo_with_orientation_6_comes_out_rotated_upright() -> None:
    # Stored landscape 60x40, top half red; orientation 6 means "rotate 90° clockwise to show".
    original = evidence.jpeg_with_gps(size=(60, 40), orientation=6)

    image = _open(scrub(original, "image/jpeg", "IMG.jpg", 1))

    assert image.size == (40, 60)
    assert _is_red(image.getpixel((35, 30))), "the red top must now be on the right"
    assert _is_blue(image.getpixel((5, 30)))
    assert image.getexif().get(0x0112) is None


def test_an_upright_photo_keeps_its_layout() -> None:
    image = _open(scrub(evidence.jpeg_with_gps(size=(60, 40)), "image/jpeg", "a.jpg", 1))

    assert image.size == (60, 40)
    assert _is_red(image.getpixel((30, 5)))
    assert _is_blue(image.getpixel((30, 35)))


def test_heic_becomes_a_jpeg_without_location() -> None:
    result = scrub(evidence.heic_with_gps(), "image/heic", "IMG_0042.HEIC", 42)

    assert (result.status, result.mime, result.name) == ("clean", "image/jpeg", "证据42.jpg")
    assert "location" in result.removed
    assert _open(result).format == "JPEG"


def test_an_animated_gif_keeps_its_frames() -> None:
    original = evidence.gif_with_comment(frames=3)

    image = _open(scrub(original, "image/gif", "a.gif", 1))

    assert getattr(image, "n_frames", 1) == 3
    assert "comment" not in image.info


def test_the_colour_profile_is_kept() -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(out, "JPEG", icc_profile=profile)

    image = _open(scrub(out.getvalue(), "image/jpeg", "a.jpg", 1))

    assert image.info.get("icc_profile") == profile


def test_a_jpeg_named_and_declared_as_pdf_is_scrubbed_as_a_jpeg() -> None:
    result = scrub(evidence.jpeg_with_gps(), "application/pdf", "合同.pdf", 3)

    assert (result.status, result.mime, result.name) == ("clean", "image/jpeg", "证据3.jpg")
    assert evidence.surviving_markers(result.data) == []


def test_a_picture_over_the_pixel_limit_is_not_decoded() -> None:
    # A PNG that declares 56 Mpx but holds almost nothing: a decompression bomb (kept under
    # Pillow's own 89 Mpx warning, so that only our limit can stop it).
    width, height = 8_000, 7_000
    assert width * height > MAX_PIXELS
    bomb = _png_declaring(width, height)

    result = scrub(bomb, "image/png", "big.png", 1)

    assert (result.status, result.reason) == ("unscrubbable", "too_large")
    assert result.data == bomb


def test_a_truncated_picture_is_undecodable_and_handed_back_unchanged() -> None:
    original = evidence.jpeg_with_gps()
    broken = original[: len(original) // 2]

    result = scrub(broken, "image/jpeg", "a.jpg", 1)

    assert (result.status, result.reason, result.data) == ("unscrubbable", "undecodable", broken)
    assert result.name == "证据1.jpg"


def _png_chunk_types(data: bytes) -> set[bytes]:
    types, position = set(), 8
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        types.add(kind)
        position += 12 + length
    return types


def _png_declaring(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


def _is_red(pixel: object) -> bool:
    red, green, blue = pixel[:3]  # type: ignore[index]
    return red > 200 and green < 60 and blue < 60


def _is_blue(pixel: object) -> bool:
    red, green, blue = pixel[:3]  # type: ignore[index]
    return blue > 200 and red < 60 and green < 60
