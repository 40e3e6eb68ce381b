"""Checking uploaded photos: real images of an accepted format, within the size limit."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

from PIL import Image, UnidentifiedImageError

from dispatch.errors import InvalidInput
from dispatch.events.models import Attachment

ACCEPTED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


@dataclass(frozen=True)
class Photo:
    filename: str
    content_type: str
    data: bytes
    width_px: int
    height_px: int


def check_photo(filename: str, data: bytes, *, max_bytes: int, index: int) -> Photo:
    """A Photo if `data` is a JPEG/PNG/WebP image of at most `max_bytes`; InvalidInput naming it otherwise."""
    field = f"photos[{index}]"
    if len(data) > max_bytes:
        raise InvalidInput(f"照片 {filename} 超过 {max_bytes // (1024 * 1024)} MB", field=field)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            image_format = image.format or ""
            width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidInput(f"文件 {filename} 不是有效的图片", field=field) from exc
    if image_format not in ACCEPTED_FORMATS:
        raise InvalidInput(f"照片 {filename} 格式 {image_format} 不受支持（仅 JPEG/PNG/WebP）", field=field)
    return Photo(filename[:255] or "photo", ACCEPTED_FORMATS[image_format], data, width, height)


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
