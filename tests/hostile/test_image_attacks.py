"""The image attack list (reliability.md §3.6, §6 item 12) through the whole path — an image message, the
worker's media/get download, the photo gate — not just the gate function: every bomb, disallowed format
and broken file is refused with a reason the rep can read, and nothing is stored (no file, no usable photo
row; the refusal itself is recorded as evidence). A real 12 MP phone photo with GPS EXIF is the control:
stored, re-encoded, with no EXIF left in the file.

Photos are gated in the photo sandbox's child processes (bot/photo_sandbox.py): a photo over its time or
memory budget is refused like any other bad photo, the rep's visit is untouched, and the other reps'
photos are judged meanwhile."""

from __future__ import annotations

import struct
import zlib
from io import BytesIO
from pathlib import Path

import pytest
from PIL import ExifTags, Image, ImageOps
from sqlalchemy import select

from bot.photo_sandbox import REASON_TOO_SLOW, Limits, PhotoSandbox
from bot.photos import make_sample_jpeg
from bot.wecom.media import make_prefetch
from handlers import texts
from storage.inbox import InboxRow
from storage.models import PhotoRow, UserRow, VisitRow
from tests.support.bad_photos import scan_flood_jpeg, webp_memory_bomb
from tests.support.factories import WEIYUAN, org
from tests.support.harness import Harness


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A complete, valid 1-bit PNG of width×height zero pixels: 400 MP in about 48 KB."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([1, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header (SOF0) is rewritten to declare width×height."""
    out = BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(out, "JPEG")
    data = bytearray(out.getvalue())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def gif_with_oversized_frame() -> bytes:
    """A 16×16 GIF whose image descriptor claims a 65535×65535 frame."""
    out = BytesIO()
    Image.new("P", (16, 16)).save(out, "GIF")
    data = bytearray(out.getvalue())
    desc = data.index(b"\x2c")  # the image separator
    struct.pack_into("<HH", data, desc + 5, 65535, 65535)
    return bytes(data)


def fits() -> bytes:
    cards = [
        "SIMPLE  =                    T",
        "BITPIX  =                    8",
        "NAXIS   =                    2",
        "NAXIS1  =                10000",
        "NAXIS2  =                10000",
        "END",
    ]
    header = "".join(c.ljust(80) for c in cards).ljust(2880).encode()
    return header + b"\x00" * 2880


def _saved(fmt: str, **kw) -> bytes:
    out = BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 10)).save(out, fmt, **kw)
    return out.getvalue()


ATTACKS = {
    "png_400_megapixels": (png_bomb(), "image/png"),
    "jpeg_10000x10000": (jpeg_declaring(10_000, 10_000), "image/jpeg"),
    "gif_oversized_frame": (gif_with_oversized_frame(), "image/gif"),
    "fits": (fits(), "image/jpeg"),
    "bmp": (_saved("BMP"), "image/bmp"),
    "tiff": (_saved("TIFF"), "image/tiff"),
    "svg_with_script": (
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "image/svg+xml",
    ),
    "html_as_jpeg": (b"<html><body>not a photo</body></html>", "image/jpeg"),
    "truncated_jpeg": (make_sample_jpeg(800, 600)[:20_000], "image/jpeg"),
    "over_10_mb": (b"\xff\xd8\xff\xe0" + b"\x00" * (11 * 1024 * 1024), "image/jpeg"),
    "progressive_jpeg_scan_flood": (scan_flood_jpeg(), "image/jpeg"),  # refused by the scan cap, cheaply
    "webp_memory_bomb": (webp_memory_bomb(), "image/webp"),  # refused by the child's address-space limit
}


def _gps_photo() -> bytes:
    img = Image.open(BytesIO(make_sample_jpeg()))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef], gps[ExifTags.GPS.GPSLatitude] = "N", (31.0, 13.0, 48.0)
    gps[ExifTags.GPS.GPSLongitudeRef], gps[ExifTags.GPS.GPSLongitude] = "E", (121.0, 28.0, 12.0)
    out = BytesIO()
    img.save(out, "JPEG", exif=exif, quality=85)
    return out.getvalue()


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.fixture
def h(db_url, tmp_path, redis_server, clock):
    harness = Harness(db_url, tmp_path, redis_server, clock)
    with harness.session_factory() as s:
        org(s, touched_at=clock.now())
    return harness


def test_every_image_attack_is_refused_and_nothing_is_stored(h, tmp_path):
    # one rep per attack: two identical refusals to one person within 30 min would be one message (see the
    # report: enable_duplicate_check suppresses a repeated identical reply)
    reps = {name: f"rep_img{n}" for n, name in enumerate(ATTACKS)}
    with h.session_factory() as s:
        s.add_all([UserRow(userid=u, name=u, role="rep", manager_userid="sup01") for u in reps.values()])
        s.commit()
    for name, (data, ctype) in ATTACKS.items():
        assert h.peer.image(reps[name], data, content_type=ctype).status_code == 200, name
    h.tick()
    for name, rep in reps.items():
        said = h.texts(rep)
        assert len(said) == 1 and said[0].startswith(texts.PHOTO_REJECTED.split("{")[0]), (name, said)
    assert _files(tmp_path / "data" / "photos") == []
    with h.session_factory() as s:
        rows = list(s.scalars(select(PhotoRow).order_by(PhotoRow.id)))
    assert [r.verdict for r in rows] == ["rejected"] * len(ATTACKS)
    assert all(r.path is None and r.phash is None and r.exif_lat is None and r.reason for r in rows)
    by_reason = {r.reason for r in rows}
    assert any("像素" in r for r in by_reason) and any("格式" in r for r in by_reason)
    assert any("损坏" in r or "不完整" in r for r in by_reason) and any("10MB" in r for r in by_reason)
    assert any("结构异常" in r for r in by_reason) and any("无法处理" in r for r in by_reason)


def test_a_phone_photo_with_gps_is_stored_without_any_exif(h, tmp_path):
    h.peer.image("rep01", _gps_photo())
    h.tick()
    with h.session_factory() as s:
        (row,) = s.scalars(select(PhotoRow))
    assert row.verdict != "rejected" and row.path
    assert row.exif_lat == pytest.approx(31.23, abs=0.01) and row.exif_lng == pytest.approx(121.47, abs=0.01)
    stored = _files(tmp_path / "data" / "photos")
    assert len(stored) == 2  # the photo and its thumbnail
    thumb = next(f for f in stored if f.name.endswith("_t.jpg"))
    main = next(f for f in stored if f is not thumb)
    for f in stored:
        data = f.read_bytes()
        assert b"GPS" not in data
        with Image.open(f) as im:
            assert im.format == "JPEG" and not im.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    with Image.open(thumb) as im:
        assert not im.getexif() and b"Exif" not in thumb.read_bytes() and max(im.size) <= 320
    with Image.open(main) as im:  # the original's pixels; of its EXIF only the orientation we wrote ourselves
        assert dict(im.getexif()) == {ExifTags.Base.Orientation: 6}
        assert ImageOps.exif_transpose(im).size[1] > im.size[1]  # shown upright: the landscape stands up


def _visit(h, rep: str) -> dict:
    with h.session_factory() as s:
        visit = s.scalars(select(VisitRow).where(VisitRow.rep_userid == rep)).one()
        return {c.name: getattr(visit, c.name) for c in VisitRow.__table__.columns}


def test_a_photo_over_budget_is_refused_while_another_rep_s_photo_is_judged(h, tmp_path, monkeypatch):
    """rep01's photo decodes for minutes (a scan flood, let past the cheap scan cap here so that the time
    budget has to act); rep02's photo, sent after it in the same beat, is judged and recorded while rep01's
    child is still running, then rep01's child is killed at the budget and the photo refused. rep01's
    visit is untouched, nothing is lost, and the server process never decodes a pixel."""
    sandbox = PhotoSandbox(workers=2, limits=Limits(wall_seconds=3), gate_options={"max_scans": 1_000_000})
    try:
        sandbox.warm()
        h.services.worker.prefetch = make_prefetch(h.services, sandbox=sandbox)
        h.peer.location_report("rep01", WEIYUAN[0], WEIYUAN[1], precision=20)
        h.tick()
        before = _visit(h, "rep01")
        monkeypatch.setattr("PIL.ImageFile.ImageFile.load", _no_decoding_in_the_server)

        h.peer.image("rep01", scan_flood_jpeg())
        h.peer.image("rep02", make_sample_jpeg(1600, 1200, seed=21, noise=0.05))
        h.tick()

        with h.session_factory() as s:
            rows = list(s.scalars(select(PhotoRow).order_by(PhotoRow.id)))
            inbox = list(s.scalars(select(InboxRow)))
        assert [(r.rep_userid, r.verdict) for r in rows] == [
            ("rep02", "ok"),
            ("rep01", "rejected"),
        ]  # rep02 first
        assert (
            rows[1].reason == REASON_TOO_SLOW
            and rows[1].path is None
            and rows[1].visit_id == before["visit_id"]
        )
        assert h.texts("rep01")[-1] == texts.PHOTO_REJECTED.format(reason=REASON_TOO_SLOW)
        assert "拜访记录不受影响" in h.texts("rep01")[-1]
        assert h.texts("rep02")[-1] == texts.PHOTO_NO_VISIT
        assert _visit(h, "rep01") == before  # nothing of the visit changed
        assert all(r.status == "done" for r in inbox) and len(inbox) == 3
        assert sandbox.stats.killed == 1

        h.peer.image("rep01", make_sample_jpeg(1600, 1200, seed=22, noise=0.05))  # the next photo is fine
        h.tick()
        assert _visit(h, "rep01")["photo_count"] == 1
        assert h.texts("rep01")[-1] == texts.PHOTO_OK.format(count=1)
    finally:
        sandbox.close()


def _no_decoding_in_the_server(self, *args, **kwargs):
    raise AssertionError("pixels were decoded in the server process")


def test_every_photo_download_goes_through_one_http_client(h):
    prefetch = h.services.worker.prefetch
    h.peer.image("rep01", make_sample_jpeg(640, 480, seed=31))
    h.tick()
    http = prefetch.client.http
    for seed in (32, 33):
        h.peer.image("rep02" if seed == 32 else "rep01", make_sample_jpeg(640, 480, seed=seed))
        h.tick()
    assert prefetch.client.http is http and not http.is_closed  # reused, not a client per download
    assert len(h.wecom.calls_to("media/get")) == 3
    with h.session_factory() as s:
        assert [r.verdict for r in s.scalars(select(PhotoRow))] == ["ok"] * 3
