"""Uploaded photos cannot hurt the server or the people who look at them.

A grid officer's photo is decoded and stored as our own re-encoding: a small file that declares a
huge image is refused with a clear 422 (not a 500) and leaves nothing behind; what is stored is upright,
bounded in size and free of metadata (no GPS position, comments, XMP, ICC) and of anything hidden after
the image (a PNG+HTML polyglot). Photos are served only as images: allow-listed type, never sniffed,
sandboxed, private, under a safe file name.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from PIL import ExifTags, Image, PngImagePlugin
from sqlalchemy import func
from sqlmodel import select

from dispatch import clock
from dispatch.db import new_session
from dispatch.events.models import Attachment, Event
from dispatch.tickets.models import Ticket
from tests.helpers import grids_in, inside

Headers = dict[str, str]
HTML = b"<html><body><script>alert(document.cookie)</script></body></html>"


@pytest.fixture
def officer(login: Callable[[str], Headers]) -> Headers:
    return login("wgy0001")


def _form() -> dict[str, Any]:
    lon, lat = inside(grids_in("140213")[0])
    return {
        "lon": f"{lon:.6f}",
        "lat": f"{lat:.6f}",
        "category_code": "06010",
        "description": "路边有暴露垃圾",
        "address": "演示路 1 号",
    }


def _report(client: TestClient, officer: Headers, name: str, data: bytes, kind: str) -> Any:
    return client.post(
        "/api/intake/patrol", data=_form(), files=[("photos", (name, data, kind))], headers=officer
    )


def _counts() -> tuple[int, int, int]:
    with new_session() as session:
        tickets, events, attachments = (
            session.exec(select(func.count()).select_from(model)).one()
            for model in (Ticket, Event, Attachment)
        )
    return tickets, events, attachments


def _served(client: TestClient, officer: Headers, ticket_id: int) -> Any:
    """The first photo of the ticket as the API serves it."""
    detail = client.get(f"/api/tickets/{ticket_id}", headers=officer).json()
    response = client.get(
        f"/api/tickets/{ticket_id}/attachments/{detail['attachment_ids'][0]}", headers=officer
    )
    assert response.status_code == 200, response.text
    return response


def _stored(ticket_id: int) -> Attachment:
    with new_session() as session:
        return session.exec(select(Attachment).where(Attachment.ticket_id == ticket_id)).one()


def _blank_png(width: int, height: int) -> bytes:
    """A valid black 1-bit PNG of any declared size: a few KB even for 400 million pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _two_halves(size: tuple[int, int], fmt: str, **save: Any) -> bytes:
    """Left half red, right half blue: where the halves end up shows how the image was turned."""
    image = Image.new("RGB", size, (220, 20, 20))
    image.paste((20, 20, 220), (size[0] // 2, 0, size[0], size[1]))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def test_decompression_bomb_is_refused_in_chinese_and_nothing_is_written(
    client: TestClient, officer: Headers
) -> None:
    bomb = _blank_png(20_000, 20_000)
    assert len(bomb) < 200_000  # small on disk, 400 million pixels once decoded
    before = _counts()
    response = _report(client, officer, "bomb.png", bomb, "image/png")
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["field"] == "photos[0]"
    assert "bomb.png" in body["detail"] and "像素过大" in body["detail"]
    assert _counts() == before

    # Nothing is stuck: the officer's next, ordinary report goes through.
    fine = _report(client, officer, "ok.png", _two_halves((64, 48), "PNG"), "image/png")
    assert fine.status_code == 201, fine.text
    assert _counts() == (before[0] + 1, before[1] + 1, before[2] + 1)


@pytest.mark.parametrize(
    ("width", "height"),
    [(12_000, 12_000), (20_000, 50)],  # 144 MP, which Pillow only warns about; a 20000 px long strip
)
def test_images_over_the_pixel_or_side_bound_are_refused(
    client: TestClient, officer: Headers, width: int, height: int
) -> None:
    before = _counts()
    response = _report(client, officer, "huge.png", _blank_png(width, height), "image/png")
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "photos[0]"
    assert f"{width}×{height}" in response.json()["detail"]
    assert _counts() == before


def test_pixel_bound_is_a_setting(
    client: TestClient, officer: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dispatch.config import get_settings

    monkeypatch.setenv("GRID_PHOTO_MAX_PIXELS", "1000000")
    get_settings.cache_clear()
    refused = _report(client, officer, "p.jpg", _two_halves((1200, 1000), "JPEG"), "image/jpeg")
    assert refused.status_code == 422, refused.text
    assert "1 百万像素" in refused.json()["detail"]
    accepted = _report(client, officer, "p.jpg", _two_halves((1000, 1000), "JPEG"), "image/jpeg")
    assert accepted.status_code == 201, accepted.text


def test_large_allowed_photo_is_stored_downscaled(client: TestClient, officer: Headers) -> None:
    original = _two_halves((6000, 3000), "JPEG", quality=90)
    response = _report(client, officer, "wide.jpg", original, "image/jpeg")
    assert response.status_code == 201, response.text
    ticket_id = response.json()["ticket_id"]

    served = _served(client, officer, ticket_id)
    assert served.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(served.content))
    assert (image.format, image.size) == ("JPEG", (4096, 2048))
    assert image.getpixel((100, 1024))[0] > 180 and image.getpixel((4000, 1024))[2] > 180  # still the photo
    stored = _stored(ticket_id)
    assert (stored.width_px, stored.height_px, stored.size_bytes) == (4096, 2048, len(served.content))


def test_exif_gps_comment_and_profiles_are_not_kept(client: TestClient, officer: Headers) -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestPhone"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (37.0, 5.0, 31.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (113.0, 18.0, 2.0)
    original = _two_halves(
        (320, 240),
        "JPEG",
        exif=exif,
        comment="住户王某 13912345678",
        xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>private</x:xmpmeta>",
        icc_profile=b"not-really-an-icc-profile" * 4,
    )
    uploaded = Image.open(io.BytesIO(original))
    assert uploaded.getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the upload really carries a position
    assert "comment" in uploaded.info and "xmp" in uploaded.info and "icc_profile" in uploaded.info

    response = _report(client, officer, "street.jpg", original, "image/jpeg")
    assert response.status_code == 201, response.text
    ticket_id = response.json()["ticket_id"]
    served = _served(client, officer, ticket_id).content

    image = Image.open(io.BytesIO(served))
    assert image.size == (320, 240)
    assert not image.getexif() and not image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert not {"exif", "comment", "xmp", "icc_profile"} & image.info.keys()
    assert b"Exif\0\0" not in served and b"13912345678" not in served and b"private" not in served
    # The event's place is the one the officer reported, kept with the ticket.
    ticket = client.get(f"/api/tickets/{ticket_id}", headers=officer).json()
    assert ticket["lon"] == pytest.approx(float(_form()["lon"]))


def test_exif_rotated_photo_is_stored_upright(client: TestClient, officer: Headers) -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # the camera was turned: show it rotated 90° clockwise
    response = _report(
        client, officer, "turned.jpg", _two_halves((400, 200), "JPEG", exif=exif), "image/jpeg"
    )
    assert response.status_code == 201, response.text
    ticket_id = response.json()["ticket_id"]

    image = Image.open(io.BytesIO(_served(client, officer, ticket_id).content))
    assert image.size == (200, 400)
    assert image.getexif().get(ExifTags.Base.Orientation) is None  # no viewer turns it a second time
    top, bottom = image.getpixel((100, 50)), image.getpixel((100, 350))
    assert top[0] > 180 > top[2] and bottom[2] > 180 > bottom[0]  # the red left side is now on top
    stored = _stored(ticket_id)
    assert (stored.width_px, stored.height_px) == (200, 400)


def test_png_html_polyglot_is_served_as_a_clean_sandboxed_image(client: TestClient, officer: Headers) -> None:
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", HTML.decode())
    polyglot = _two_halves((64, 48), "PNG", pnginfo=text) + HTML
    assert Image.open(io.BytesIO(polyglot)).size == (64, 48)  # a real PNG, with HTML inside and after

    response = _report(client, officer, "现场照片.png", polyglot, "image/png")
    assert response.status_code == 201, response.text
    served = _served(client, officer, response.json()["ticket_id"])

    assert b"<script" not in served.content and b"<html" not in served.content
    assert Image.open(io.BytesIO(served.content)).size == (64, 48)
    assert served.headers["content-type"] == "image/png"
    assert served.headers.get_list("x-content-type-options") == ["nosniff"]
    policy = served.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "sandbox" in policy
    assert served.headers["cache-control"] == "private"
    disposition = served.headers["content-disposition"]
    assert disposition.startswith("inline;") and disposition.isascii()
    assert 'filename="photo.png"' in disposition
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "现场照片.png"


def test_rows_stored_before_re_encoding_are_served_with_safe_headers(
    client: TestClient, officer: Headers
) -> None:
    """Photos stored by older versions keep their uploaded bytes; they are served just as safely, and a
    type outside the allow-list is never served as itself."""
    response = client.post("/api/intake/patrol", data=_form(), headers=officer)
    assert response.status_code == 201, response.text
    ticket_id = response.json()["ticket_id"]
    polyglot = _two_halves((16, 12), "PNG") + HTML
    with new_session() as session:
        rows = [
            Attachment(
                ticket_id=ticket_id,
                filename=name,
                content_type=kind,
                size_bytes=len(polyglot),
                width_px=16,
                height_px=12,
                created_at=clock.now(),
                data=polyglot,
            )
            for name, kind in (("old\r\nSet-Cookie: x=1.png", "image/png"), ("page.html", "text/html"))
        ]
        session.add_all(rows)
        session.commit()
        ids = [row.id for row in rows]

    old_png, old_html = (
        client.get(f"/api/tickets/{ticket_id}/attachments/{aid}", headers=officer) for aid in ids
    )
    assert old_png.status_code == old_html.status_code == 200
    assert old_png.headers["content-type"] == "image/png"
    assert "set-cookie" not in old_png.headers
    assert old_png.headers["content-disposition"].startswith('inline; filename="oldSet-Cookie_x_1.png"')
    assert old_html.headers["content-type"] == "application/octet-stream"
    assert old_html.headers["content-disposition"].startswith('attachment; filename="page.bin"')
    for served in (old_png, old_html):
        assert served.headers.get_list("x-content-type-options") == ["nosniff"]
        assert "sandbox" in served.headers["content-security-policy"]
        assert served.headers["cache-control"] == "private"
