"""Re-encode pictures with Pillow so that nothing but the pixels (and colour profile) survives.

Re-encoding rather than deleting known segments is the point: whatever a camera, phone or
editor hid in the file (EXIF, GPS, maker notes, XMP, IPTC, thumbnails, PNG text, trailers)
is not copied, because only decoded pixels are written back.
"""

from __future__ import annotations

import io
from typing import Any

import pillow_heif
from PIL import ExifTags, Image, ImageOps, ImageSequence

from storage.scrub import sniff
from storage.scrub.result import UNSCRUBBABLE, ScrubError
from storage.scrub.sniff import FileType

__all__ = ["IMAGE_KINDS", "JPEG_QUALITY", "MAX_FRAMES", "MAX_PIXELS", "clean_image"]

# Registering the HEIF opener is idempotent and only adds a format to Pillow's registry.
pillow_heif.register_heif_opener()

# Well below Pillow's own bomb limit (~89 Mpx): a phone photo is 12-50 Mpx.
MAX_PIXELS = 50_000_000
# An animation may have many small frames; bound the pixels decoded in total.
MAX_TOTAL_PIXELS = 4 * MAX_PIXELS
MAX_FRAMES = 1000
JPEG_QUALITY = 90
WEBP_QUALITY = 90

# Which Pillow decoders may open each sniffed kind (a phone JPEG with a second picture
# opens as MPO), so that a file is never decoded as something other than what it is.
_DECODERS = {
    "jpeg": ["JPEG", "MPO"],
    "png": ["PNG"],
    "gif": ["GIF"],
    "webp": ["WEBP"],
    "heic": ["HEIF"],
    "heif": ["HEIF"],
}
IMAGE_KINDS = frozenset(_DECODERS)

# Output format per kind: HEIC/HEIF become JPEG, which every officer's device shows.
_OUTPUT = {
    "jpeg": ("JPEG", sniff.JPEG),
    "heic": ("JPEG", sniff.JPEG),
    "heif": ("JPEG", sniff.JPEG),
    "png": ("PNG", sniff.PNG),
    "gif": ("GIF", sniff.GIF),
    "webp": ("WEBP", sniff.WEBP),
}

_T = ExifTags.Base
_DEVICE_TAGS = {
    _T.Make, _T.Model, _T.Software, _T.HostComputer, _T.MakerNote, _T.BodySerialNumber,
    _T.LensMake, _T.LensModel, _T.LensSerialNumber, _T.LensSpecification, _T.ImageUniqueID,
}  # fmt: skip
_AUTHOR_TAGS = {_T.Artist, _T.Copyright, _T.XPAuthor, _T.CameraOwnerName}
_COMMENT_TAGS = {
    _T.ImageDescription, _T.UserComment, _T.XPComment, _T.XPTitle, _T.XPSubject, _T.XPKeywords,
}  # fmt: skip
_DATE_TAGS = {
    _T.DateTime, _T.DateTimeOriginal, _T.DateTimeDigitized, _T.OffsetTime,
    _T.OffsetTimeOriginal, _T.OffsetTimeDigitized, _T.SubsecTime, _T.SubsecTimeOriginal,
    _T.SubsecTimeDigitized,
}  # fmt: skip
# Info keys that only say how to draw frames; everything else in `info` is dropped.
_FRAME_KEYS = ("duration", "transparency")


def clean_image(data: bytes, ftype: FileType) -> tuple[bytes, FileType, tuple[str, ...]]:
    """Return re-encoded pixels, the output type and the codes of what was found and dropped."""
    try:
        with Image.open(io.BytesIO(data), formats=_DECODERS[ftype.kind]) as image:
            _check_size(image)
            found = _found_metadata(image, ftype)
            out_format, out_type = _OUTPUT[ftype.kind]
            animated = out_format != "JPEG" and getattr(image, "n_frames", 1) > 1
            if animated:
                encoded = _encode_animation(image, out_format)
            else:
                encoded = _encode_still(_upright(image), out_format)
    except ScrubError:
        raise
    except Image.DecompressionBombError as error:
        raise ScrubError(UNSCRUBBABLE, "too_large") from error
    except Exception as error:  # any decoder failure on untrusted bytes means "cannot read"
        raise ScrubError(UNSCRUBBABLE, "undecodable") from error
    return encoded, out_type, found


def _check_size(image: Image.Image) -> None:
    width, height = image.size
    frames = getattr(image, "n_frames", 1)
    if (
        width * height > MAX_PIXELS
        or frames > MAX_FRAMES
        or width * height * frames > MAX_TOTAL_PIXELS
    ):
        raise ScrubError(UNSCRUBBABLE, "too_large")


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation to the pixels, since the tag itself is about to go."""
    image.load()
    turned = ImageOps.exif_transpose(image)
    return turned if turned is not None else image


def _bare(frame: Image.Image, icc: bytes | None) -> Image.Image:
    """A copy whose `info` holds only what drawing needs: savers fall back to `info`."""
    copy = frame.copy()
    copy.info = {key: frame.info[key] for key in _FRAME_KEYS if key in frame.info}
    if icc:
        copy.info["icc_profile"] = icc
    return copy


def _encode_still(image: Image.Image, out_format: str) -> bytes:
    icc = image.info.get("icc_profile")
    bare = _bare(image, icc)
    options: dict[str, Any] = {}
    if out_format == "JPEG":
        bare = _for_jpeg(bare)
        options = {"quality": JPEG_QUALITY}
    elif out_format == "WEBP":
        options = {"quality": WEBP_QUALITY}
    if icc:
        options["icc_profile"] = icc
    out = io.BytesIO()
    bare.save(out, out_format, **options)
    return out.getvalue()


def _for_jpeg(image: Image.Image) -> Image.Image:
    """JPEG has no alpha or palette: flatten transparency onto white, as viewers show it."""
    if image.mode in ("RGB", "L", "CMYK"):
        return image
    info = image.info
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
    else:
        flat = image.convert("RGB")
    flat.info = {"icc_profile": info["icc_profile"]} if "icc_profile" in info else {}
    return flat


def _encode_animation(image: Image.Image, out_format: str) -> bytes:
    icc = image.info.get("icc_profile")
    loop = image.info.get("loop", 0)
    frames: list[Image.Image] = []
    durations: list[int] = []
    for frame in ImageSequence.Iterator(image):
        durations.append(int(frame.info.get("duration", 100)))
        upright = ImageOps.exif_transpose(frame.copy())
        frames.append(_bare(upright if upright is not None else frame, icc))
    options: dict[str, Any] = {
        "save_all": True,
        "append_images": frames[1:],
        "duration": durations,
        "loop": loop,
    }
    if out_format == "WEBP":
        options["quality"] = WEBP_QUALITY
    if icc and out_format != "GIF":
        options["icc_profile"] = icc
    out = io.BytesIO()
    frames[0].save(out, out_format, **options)
    return out.getvalue()


def _found_metadata(image: Image.Image, ftype: FileType) -> tuple[str, ...]:
    """Name what the original carried, so that the employee can be told what was removed."""
    found: set[str] = set()
    info = image.info
    exif = image.getexif()
    if len(exif) or info.get("exif"):
        found.add("exif")
        try:
            found |= _exif_codes(exif)
        except Exception:  # a broken sub-IFD only makes the report vaguer: it is dropped anyway
            found.add("device")
    if any(key in info for key in ("xmp", "XML:com.adobe.xmp")):
        found.add("xmp")
    if "photoshop" in info or "iptc" in info:
        found.add("iptc")
    if info.get("comment"):
        found.add("comments")
    if ftype.kind == "jpeg" and (getattr(image, "n_frames", 1) > 1 or "mp" in info):
        found.add("thumbnail")  # MPF: a second, preview or depth, picture in the file
    if ftype.kind in ("heic", "heif") and (info.get("thumbnails") or info.get("metadata")):
        found.add("thumbnail" if info.get("thumbnails") else "exif")
    text = getattr(image, "text", None)  # PNG tEXt/iTXt/zTXt, read after loading
    if text:
        found.add("text_chunks")
        if "XML:com.adobe.xmp" in text:
            found.add("xmp")
    return tuple(sorted(found))


def _exif_codes(exif: Image.Exif) -> set[str]:
    codes: set[str] = set()
    base = set(exif)
    details = set(exif.get_ifd(ExifTags.IFD.Exif))
    tags = base | details
    if exif.get_ifd(ExifTags.IFD.GPSInfo) or ExifTags.IFD.GPSInfo in base:
        codes.add("location")
    if tags & _DEVICE_TAGS or exif.get_ifd(ExifTags.IFD.MakerNote):
        codes.add("device")
    if tags & _AUTHOR_TAGS:
        codes.add("author")
    if tags & _COMMENT_TAGS:
        codes.add("comments")
    if tags & _DATE_TAGS:
        codes.add("dates")
    if exif.get_ifd(ExifTags.IFD.IFD1):
        codes.add("thumbnail")
    return codes
