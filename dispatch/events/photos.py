"""Uploaded photos: checked (a real JPEG/PNG/WebP within the byte and pixel limits), then stored as our
own re-encoding, never as the uploaded bytes; and the headers a stored photo is served with.

The stored copy keeps the uploaded format (JPEG, PNG or WebP; PNG/WebP keep their transparency). It is
upright (the EXIF orientation applied to the pixels), at most `photo_stored_max_side_px` on its long
side, and carries no metadata: no EXIF (so no GPS position: an event's place is its own lon/lat), XMP,
ICC profile, text chunks or comments, and nothing that trailed the image data (a PNG+HTML polyglot
loses its HTML).
"""

from __future__ import annotations

import io
import re
import struct
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from urllib.parse import quote

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from dispatch.config import get_settings
from dispatch.errors import InvalidInput
from dispatch.events.models import Attachment

ACCEPTED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
JPEG_QUALITY = 85
WEBP_QUALITY = 85
# A stored photo is only ever an image: never run as a page (sandboxed, no sources), never sniffed
# (the X-Content-Type-Options: nosniff that dispatch.security adds to every answer), kept out of
# shared caches.
SERVED_PHOTO_HEADERS = {"Content-Security-Policy": "default-src 'none'; sandbox", "Cache-Control": "private"}
_UNSAFE_ASCII = re.compile(r"[^A-Za-z0-9._-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Photo:
    filename: str
    content_type: str
    data: bytes
    width_px: int
    height_px: int


# A 40-megapixel photo takes a few hundred MB while it is decoded and re-encoded: two at a time per process,
# however many reports arrive together, so a burst of uploads cannot run the API out of memory.
DECODING = threading.BoundedSemaphore(2)


def check_photo(filename: str, data: bytes, *, max_bytes: int, index: int) -> Photo:
    """A Photo re-encoded from `data` if that is a JPEG/PNG/WebP image within the byte and pixel limits;
    InvalidInput naming it (field photos[index]) otherwise."""
    field = f"photos[{index}]"
    if len(data) > max_bytes:
        raise InvalidInput(f"照片 {filename} 超过 {max_bytes // (1024 * 1024)} MB", field=field)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = image.format or ""
            if image_format not in ACCEPTED_FORMATS:
                raise InvalidInput(
                    f"照片 {filename} 格式 {image_format} 不受支持（仅 JPEG/PNG/WebP）", field=field
                )
            _check_dimensions(filename, image.size, field=field)
            image.verify()
        with DECODING, Image.open(io.BytesIO(data)) as image:
            stored, width, height = _reencode(image, image_format)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own guard (far above ours), raised while reading the header.
        raise InvalidInput(_too_large_text(filename, None), field=field) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise InvalidInput(f"文件 {filename} 不是有效的图片", field=field) from exc
    return Photo(filename[:255] or "photo", ACCEPTED_FORMATS[image_format], stored, width, height)


def _check_dimensions(filename: str, size: tuple[int, int], *, field: str) -> None:
    """Refuse before decoding: a small file can declare a huge image (a decompression bomb)."""
    settings = get_settings()
    width, height = size
    if width * height > settings.photo_max_pixels or max(size) > settings.photo_max_side_px:
        raise InvalidInput(_too_large_text(filename, size), field=field)


def _too_large_text(filename: str, size: tuple[int, int] | None) -> str:
    settings = get_settings()
    declared = f"（{size[0]}×{size[1]} 像素）" if size else ""
    return (
        f"照片 {filename} 像素过大{declared}：上限 {settings.photo_max_pixels / 1_000_000:g} 百万像素、"
        f"单边 {settings.photo_max_side_px} 像素，请缩小后重新上传"
    )


def _reencode(image: ImageFile.ImageFile, image_format: str) -> tuple[bytes, int, int]:
    """The image decoded, turned upright, bounded on its long side and encoded again without metadata."""
    side_px = get_settings().photo_stored_max_side_px
    if image_format == "JPEG":
        image.draft(None, (side_px, side_px))  # libjpeg decodes at 1/2, 1/4 or 1/8 when that still fits
    source: Image.Image = image
    if image_format != "JPEG" and max(image.size) >= 2 * side_px:
        source = image.reduce(max(image.size) // side_px)  # shrink before the copies below, not after
    upright = _storable_mode(ImageOps.exif_transpose(source), image_format)
    upright.thumbnail((side_px, side_px), Image.Resampling.LANCZOS)
    upright.info = {}  # encoders fall back to info for comments, ICC profiles, PNG text
    out = io.BytesIO()
    if image_format == "JPEG":
        upright.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    elif image_format == "PNG":
        upright.save(out, "PNG")
    else:
        upright.save(out, "WEBP", quality=WEBP_QUALITY)
    return out.getvalue(), upright.width, upright.height


def _storable_mode(image: Image.Image, image_format: str) -> Image.Image:
    """The image in a mode its format stores plainly: L/RGB, or RGBA when a PNG/WebP has transparency."""
    if image_format != "JPEG" and (image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info):
        return image if image.mode == "RGBA" else image.convert("RGBA")
    if image_format != "WEBP" and image.mode == "L":
        return image
    return image if image.mode == "RGB" else image.convert("RGB")


def attachment_row(photo: Photo, *, ticket_id: int, event_id: int | None, at: datetime) -> Attachment:
    """The database row that stores a checked photo with its ticket (and intake event, if any)."""
    return Attachment(
        ticket_id=ticket_id,
        event_id=event_id,
        filename=photo.filename,
        content_type=photo.content_type,
        size_bytes=len(photo.data),
        width_px=photo.width_px,
        height_px=photo.height_px,
        created_at=at,
        data=photo.data,
    )


def served_type(content_type: str) -> str:
    """The Content-Type a stored photo is served with: its own if allow-listed, else opaque bytes."""
    return content_type if content_type in EXTENSIONS else "application/octet-stream"


def served_headers(*, filename: str, content_type: str) -> dict[str, str]:
    """Headers for serving a stored photo (rows from before re-encoding too): shown inline as an image
    under a safe name (ASCII, plus the UTF-8 name per RFC 5987), sandboxed, private to the browser."""
    stem = _CONTROL.sub("", PurePosixPath(filename.replace("\\", "/")).stem).strip()[:100]
    extension = EXTENSIONS.get(content_type, ".bin")
    ascii_stem = _UNSAFE_ASCII.sub("_", stem).strip("._-")[:100] or "photo"
    disposition = "inline" if content_type in EXTENSIONS else "attachment"
    return {
        **SERVED_PHOTO_HEADERS,
        "Content-Disposition": (
            f'{disposition}; filename="{ascii_stem}{extension}"; '
            f"filename*=UTF-8''{quote((stem or 'photo') + extension, safe='')}"
        ),
    }
