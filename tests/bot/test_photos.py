"""The photo gate (bot/photos.py), the evidence rules (core/photos.py) and the file store."""

from __future__ import annotations

import os
import subprocess
import sys
import zlib
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import pytest
from PIL import ExifTags, Image, ImageDraw, ImageFile, ImageOps

from bot.photos import (
    LONG_SIDE,
    THUMB_SIDE,
    PhotoRejected,
    bench_photo,
    make_sample_jpeg,
    parse_exif_datetime,
    process_photo,
    strip_jpeg_metadata,
)
from core.clock import SHANGHAI
from core.photos import Verdict, hamming_hex, judge_photo, nearest
from core.ports import FileStore
from storage.files import LocalFileStore, sanitize_key

ROOT = Path(__file__).resolve().parents[2]


# --- helpers -----------------------------------------------------------------------------------------
def _exif(
    *,
    taken: str | None = "2026:11:23 09:15:00",
    offset: str | None = None,
    gps: tuple[str, tuple, str, tuple] | None = ("N", (31.0, 13.0, 48.0), "E", (121.0, 28.0, 12.0)),
    orientation: int | None = 6,
) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestPhone"
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    if taken is not None:
        sub[ExifTags.Base.DateTimeOriginal] = taken
    if offset is not None:
        sub[ExifTags.Base.OffsetTimeOriginal] = offset
    if gps is not None:
        g = exif.get_ifd(ExifTags.IFD.GPSInfo)
        g[ExifTags.GPS.GPSLatitudeRef], g[ExifTags.GPS.GPSLatitude] = gps[0], gps[1]
        g[ExifTags.GPS.GPSLongitudeRef], g[ExifTags.GPS.GPSLongitude] = gps[2], gps[3]
    return exif


def _marked_photo(width: int, height: int) -> Image.Image:
    """A grey photo with a red block in the stored top-left corner, to see where it ends up."""
    img = Image.open(BytesIO(make_sample_jpeg(width, height, noise=0.05))).convert("RGB")
    ImageDraw.Draw(img).rectangle([0, 0, width // 5, height // 5], fill=(255, 0, 0))
    return img


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    out = BytesIO()
    img.save(out, fmt, **kw)
    return out.getvalue()


def _png_bomb(width: int, height: int) -> bytes:
    """A real, complete 1-bit PNG of width×height zero pixels, compressed to a few dozen KB."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([1, 0, 0, 0, 0])
    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _is_red(px) -> bool:
    r, g, b = px[:3]
    return r > 200 and g < 60 and b < 60


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if any pixel data is decoded."""

    def refuse(self, *args, **kwargs):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


# --- the gate ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def phone_photo() -> bytes:
    """4000×3000 JPEG, EXIF: DateTimeOriginal, GPS (Shanghai), orientation 6 (rotate 90° clockwise)."""
    return _save(_marked_photo(4000, 3000), "JPEG", quality=90, exif=_exif())


def test_phone_photo_is_oriented_stripped_and_described(phone_photo):
    assert b"GPS" in phone_photo or b"Exif" in phone_photo  # the input really carries EXIF
    photo = process_photo(phone_photo)
    # facts taken before stripping
    assert photo.taken_at == datetime(2026, 11, 23, 9, 15, tzinfo=SHANGHAI).astimezone(UTC)
    assert photo.taken_at.tzinfo is UTC
    assert photo.exif_lat == pytest.approx(31 + 13 / 60 + 48 / 3600, abs=1e-6)
    assert photo.exif_lng == pytest.approx(121 + 28 / 60 + 12 / 3600, abs=1e-6)
    assert (photo.source_format, photo.source_width, photo.source_height) == ("JPEG", 4000, 3000)
    # stored as sent (the original's pixels, untouched), shown portrait: the top-left red block is at the
    # displayed top-right
    assert photo.stored == "original" and (photo.width, photo.height) == (3000, 4000)
    stored = Image.open(BytesIO(photo.jpeg))
    assert stored.format == "JPEG" and stored.size == (4000, 3000)
    shown = ImageOps.exif_transpose(stored).convert("RGB")
    assert shown.size == (3000, 4000)
    assert _is_red(shown.getpixel((3000 - 40, 40)))
    assert not _is_red(shown.getpixel((40, 40)))
    # of the EXIF, only the orientation we wrote: no GPS, time, make or anything else in what we keep
    assert dict(stored.getexif()) == {ExifTags.Base.Orientation: 6}
    assert not stored.getexif().get_ifd(ExifTags.IFD.GPSInfo) and not stored.getexif().get_ifd(
        ExifTags.IFD.Exif
    )
    assert b"TestPhone" not in photo.jpeg and b"2026:11:23" not in photo.jpeg
    thumb = Image.open(BytesIO(photo.thumb))
    assert max(thumb.size) == THUMB_SIDE and thumb.size[0] < thumb.size[1]
    assert b"Exif\x00\x00" not in photo.thumb
    assert len(photo.phash) == 16 and int(photo.phash, 16) >= 0


def test_photo_is_not_upscaled_and_keeps_landscape():
    small = _save(_marked_photo(800, 600), "JPEG", quality=90)
    photo = process_photo(small)
    assert (photo.width, photo.height) == (800, 600)
    assert photo.taken_at is None and photo.exif_lat is None and photo.exif_lng is None
    big = process_photo(_save(_marked_photo(3000, 2000), "JPEG", quality=90))
    assert (big.width, big.height, big.stored) == (3000, 2000, "original")  # a JPEG is kept at its size
    png = process_photo(_save(_marked_photo(3000, 2000), "PNG"))  # other formats are re-encoded, ≤ LONG_SIDE
    assert max(png.width, png.height) == LONG_SIDE and png.width > png.height and png.stored == "reencoded"
    assert Image.open(BytesIO(png.jpeg)).size == (png.width, png.height)


def test_offset_time_and_southern_western_gps():
    data = _save(
        _marked_photo(640, 480),
        "JPEG",
        exif=_exif(
            taken="2026:11:23 10:00:00",
            offset="+09:00",
            gps=("S", (33.0, 52.0, 4.0), "W", (151.0, 12.0, 26.0)),
            orientation=1,
        ),
    )
    photo = process_photo(data)
    assert photo.taken_at == datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 10:00 Tokyo
    assert photo.exif_lat == pytest.approx(-(33 + 52 / 60 + 4 / 3600), abs=1e-6)
    assert photo.exif_lng == pytest.approx(-(151 + 12 / 60 + 26 / 3600), abs=1e-6)


def test_zero_gps_and_placeholder_time_are_dropped():
    data = _save(
        _marked_photo(640, 480),
        "JPEG",
        exif=_exif(
            taken="0000:00:00 00:00:00", gps=("N", (0.0, 0.0, 0.0), "E", (0.0, 0.0, 0.0)), orientation=1
        ),
    )
    photo = process_photo(data)
    assert photo.taken_at is None and photo.exif_lat is None and photo.exif_lng is None


@pytest.mark.parametrize(
    ("raw", "offset", "expected"),
    [
        ("2026:11:23 09:15:00", None, datetime(2026, 11, 23, 1, 15, tzinfo=UTC)),
        (b"2026:11:23 09:15:00\x00", None, datetime(2026, 11, 23, 1, 15, tzinfo=UTC)),
        ("2026:11:23 09:15:00", "+00:00", datetime(2026, 11, 23, 9, 15, tzinfo=UTC)),
        ("2026:11:23 09:15:00", "-05:00", datetime(2026, 11, 23, 14, 15, tzinfo=UTC)),
        ("2026:11:23 09:15:00", "junk", datetime(2026, 11, 23, 1, 15, tzinfo=UTC)),
        ("2026-11-23 09:15:00", None, None),
        ("    :  :     :  :  ", None, None),
        (None, None, None),
        (12345, None, None),
    ],
)
def test_parse_exif_datetime(raw, offset, expected):
    assert parse_exif_datetime(raw, offset) == expected


def test_png_with_alpha_and_webp_are_accepted():
    rgba = Image.new("RGBA", (500, 400), (0, 128, 0, 0))
    ImageDraw.Draw(rgba).rectangle([100, 100, 300, 300], fill=(0, 0, 255, 255))
    photo = process_photo(_save(rgba, "PNG"))
    out = Image.open(BytesIO(photo.jpeg)).convert("RGB")
    assert out.getpixel((10, 10))[0] > 240  # transparent → white, not black
    assert photo.source_format == "PNG"
    webp = process_photo(_save(_marked_photo(600, 400), "WEBP", quality=80))
    assert webp.source_format == "WEBP" and (webp.width, webp.height) == (600, 400)
    gray16 = Image.linear_gradient("L").resize((300, 200)).convert("I;16")
    assert process_photo(_save(gray16, "PNG")).width == 300


def test_multi_picture_jpeg_from_android_phones_is_a_jpeg():
    first, second = _marked_photo(2000, 1500), Image.new("RGB", (2000, 1500), (0, 200, 0))
    data = _save(first, "MPO", save_all=True, append_images=[second], exif=_exif(orientation=1))
    photo = process_photo(data)
    assert photo.source_format == "MPO" and (photo.width, photo.height) == (2000, 1500)
    kept = Image.open(BytesIO(photo.jpeg))
    assert kept.format == "JPEG" and getattr(kept, "n_frames", 1) == 1  # the other frame is gone
    assert _is_red(kept.convert("RGB").getpixel((40, 40)))  # the first frame
    assert b"MPF\x00" not in photo.jpeg and not kept.getexif()
    assert photo.exif_lat is not None and photo.taken_at is not None


def test_400_megapixel_png_bomb_is_refused_without_decoding(no_decoding):
    bomb = _png_bomb(20_000, 20_000)
    assert len(bomb) < 1024 * 1024  # small on the wire
    with pytest.raises(PhotoRejected) as err:
        process_photo(bomb)
    assert err.value.code == "too_many_pixels"
    assert "像素" in err.value.reason_zh


@pytest.mark.parametrize(
    ("w", "h"), [(10_000, 10_000), (8_000, 7_000)]
)  # 100 MP: Pillow's warning; 56 MP: ours
def test_pixel_cap_is_checked_from_the_header(no_decoding, w, h):
    with pytest.raises(PhotoRejected) as err:
        process_photo(_png_bomb(w, h))
    assert err.value.code == "too_many_pixels"


def test_pixel_cap_is_configurable(no_decoding):
    with pytest.raises(PhotoRejected) as err:
        process_photo(_png_bomb(2_000, 2_000), max_pixels=1_000_000)
    assert err.value.code == "too_many_pixels"


def test_truncated_jpeg_is_refused_with_a_clear_reason(phone_photo):
    for cut in (len(phone_photo) // 2, len(phone_photo) - 4000):
        with pytest.raises(PhotoRejected) as err:
            process_photo(phone_photo[:cut])
        assert err.value.code == "corrupt"
        assert err.value.reason_zh == "图片不完整或已损坏，请重新拍摄后发送"


def test_garbage_after_a_jpeg_header_is_refused():
    with pytest.raises(PhotoRejected) as err:
        process_photo(b"\xff\xd8\xff\xe0" + os.urandom(2000))
    assert err.value.code in ("corrupt", "format")


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF", "ICO", "PPM"])
def test_formats_outside_the_allow_list_are_refused(fmt):
    data = _save(Image.new("RGB", (64, 64), (10, 20, 30)), fmt)
    with pytest.raises(PhotoRejected) as err:
        process_photo(data)
    assert err.value.code == "format"
    assert err.value.reason_zh == "不支持的图片格式，请发送 JPG、PNG 或 WEBP 照片"


def test_oversized_and_empty_bytes_are_refused_before_parsing(no_decoding):
    with pytest.raises(PhotoRejected) as err:
        process_photo(b"\xff\xd8" + b"\x00" * (10 * 1024 * 1024))
    assert err.value.code == "too_many_bytes" and "10MB" in err.value.reason_zh
    with pytest.raises(PhotoRejected) as err:
        process_photo(b"\x89PNG" + b"\x00" * 2000, max_bytes=1000)
    assert err.value.code == "too_many_bytes"
    with pytest.raises(PhotoRejected) as err:
        process_photo(b"")
    assert err.value.code == "empty"


def test_random_bytes_only_ever_raise_photo_rejected():
    import random

    rnd = random.Random(5)
    base = _save(_marked_photo(320, 240), "JPEG", exif=_exif())
    for _ in range(60):
        data = bytearray(base)
        for _ in range(rnd.randrange(1, 40)):
            data[rnd.randrange(len(data))] = rnd.randrange(256)
        try:
            process_photo(bytes(data))
        except PhotoRejected:
            pass


def test_bench_photo_reports_milliseconds():
    ms = bench_photo(runs=1, data=_save(_marked_photo(800, 600), "JPEG"))
    assert isinstance(ms, float) and ms > 0  # the figure itself is printed by `main.py bench`, not asserted


# --- duplicates and off-site, end to end ---------------------------------------------------------------
def test_recycled_photo_is_a_duplicate_and_a_different_one_is_not():
    original = make_sample_jpeg(2400, 1800, seed=11, noise=0.1)
    first = process_photo(original)
    img = Image.open(BytesIO(original)).convert("RGB")
    recycled = [
        _save(img, "JPEG", quality=55),  # re-encoded harder
        _save(img.resize((1200, 900)), "JPEG", quality=80),  # resized
        _save(img.resize((640, 480)), "PNG"),  # small screenshot-ish, another format
        _save(img.crop((40, 30, 2360, 1770)), "JPEG", quality=85),  # trimmed borders
    ]
    for data in recycled:
        again = process_photo(data)
        assert hamming_hex(first.phash, again.phash) <= 6
        verdict = judge_photo(
            phash=again.phash,
            earlier_hashes=["0" * 16, first.phash],
            taken_at=None,
            checked_in_at=datetime(2026, 11, 23, 9, tzinfo=SHANGHAI),
        )
        assert verdict.verdict == "duplicate" and verdict.reason_zh.startswith("疑似重复")
    other = process_photo(make_sample_jpeg(2400, 1800, seed=12, noise=0.1))
    assert hamming_hex(first.phash, other.phash) > 12
    verdict = judge_photo(
        phash=other.phash,
        earlier_hashes=[first.phash],
        taken_at=None,
        checked_in_at=datetime(2026, 11, 23, 9, tzinfo=SHANGHAI),
    )
    assert verdict.verdict == "ok"


def test_old_photo_is_off_site():
    data = _save(_marked_photo(640, 480), "JPEG", exif=_exif(taken="2026:11:20 15:00:00", orientation=1))
    photo = process_photo(data)
    verdict = judge_photo(
        phash=photo.phash,
        earlier_hashes=[],
        taken_at=photo.taken_at,
        checked_in_at=datetime(2026, 11, 23, 9, 5, tzinfo=SHANGHAI),
    )
    assert verdict.verdict == "off_site"
    assert verdict.reason_zh.startswith("非现场") and "2026-11-20 15:00" in verdict.reason_zh


# --- the pure rules ------------------------------------------------------------------------------------
CHECK_IN = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)


def test_hamming_hex():
    assert hamming_hex("0000000000000000", "0000000000000000") == 0
    assert hamming_hex("ffffffffffffffff", "0000000000000000") == 64
    assert hamming_hex("F0F0000000000000", "f0f0000000000001") == 1
    with pytest.raises(ValueError):
        hamming_hex("abc", "abcd")
    with pytest.raises(ValueError):
        hamming_hex("xyz", "abc")


def test_nearest_skips_malformed_hashes():
    assert nearest("ff00ff00ff00ff00", ["zz", "", "ff00", "ff00ff00ff00ff0f", "00ff00ff00ff00ff"]) == (
        4,
        "ff00ff00ff00ff0f",
    )
    assert nearest("ff00ff00ff00ff00", []) is None


@pytest.mark.parametrize(
    ("earlier", "distance", "verdict"),
    [
        (["ff00ff00ff00ff00"], 0, "duplicate"),
        (["ff00ff00ff00ff3f"], 6, "duplicate"),
        (["ff00ff00ff00ff7f"], 7, "ok"),
        ([], None, "ok"),
    ],
)
def test_duplicate_threshold(earlier, distance, verdict):
    v = judge_photo(
        phash="ff00ff00ff00ff00", earlier_hashes=earlier, taken_at=CHECK_IN, checked_in_at=CHECK_IN
    )
    assert (v.verdict, v.distance) == (verdict, distance)


@pytest.mark.parametrize(
    ("taken", "verdict"),
    [
        (CHECK_IN - timedelta(hours=12), "ok"),  # exactly the allowance
        (CHECK_IN - timedelta(hours=12, minutes=1), "off_site"),
        (CHECK_IN - timedelta(days=30), "off_site"),
        (CHECK_IN + timedelta(hours=2), "ok"),  # shot after check-in
        (CHECK_IN - timedelta(minutes=5), "ok"),
    ],
)
def test_off_site_rule(taken, verdict):
    v = judge_photo(phash="ff00ff00ff00ff00", earlier_hashes=[], taken_at=taken, checked_in_at=CHECK_IN)
    assert v.verdict == verdict
    if verdict == "off_site":
        assert v.reason_zh.startswith("非现场：拍摄时间")
    else:
        assert v.reason_zh == "通过"


def test_naive_times_are_shanghai_and_max_age_is_configurable():
    v = judge_photo(
        phash="ff00ff00ff00ff00",
        earlier_hashes=[],
        taken_at=datetime(2026, 11, 23, 7, 0),
        checked_in_at=datetime(2026, 11, 23, 10, 0),
        max_age=timedelta(hours=2),
    )
    assert v.verdict == "off_site" and "早3小时" in v.reason_zh


def test_no_capture_time_is_ok_but_noted():
    v = judge_photo(
        phash="ff00ff00ff00ff00", earlier_hashes=["00ff00ff00ff00ff"], taken_at=None, checked_in_at=CHECK_IN
    )
    assert v == Verdict("ok", "通过（照片没有拍摄时间信息，未核对是否现场拍摄）", 64, None)


def test_duplicate_wins_over_off_site():
    v = judge_photo(
        phash="ff00ff00ff00ff00",
        earlier_hashes=["ff00ff00ff00ff00"],
        taken_at=CHECK_IN - timedelta(days=40),
        checked_in_at=CHECK_IN,
    )
    assert v.verdict == "duplicate" and v.matched_hash == "ff00ff00ff00ff00"


def test_core_photo_rules_import_no_framework():
    code = (
        "import sys, core.photos, core.ports, core.rep_line, core.licence;"
        "bad = [m for m in ('PIL', 'imagehash', 'numpy', 'sqlalchemy', 'pydantic', 'fastapi') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- the file store --------------------------------------------------------------------------------------
def test_file_store_round_trip(tmp_path):
    store: FileStore = LocalFileStore(tmp_path / "files")
    path = store.put("photos/2026/11/23/visit-1/media_abc.jpg", b"jpeg bytes")
    assert path == "photos/2026/11/23/visit-1/media_abc.jpg"
    assert store.get(path) == b"jpeg bytes"
    assert store.put(path, b"again") == path and store.get(path) == b"again"  # a retry replaces
    store.delete(path)
    store.delete(path)  # idempotent
    with pytest.raises(FileNotFoundError):
        store.get(path)
    leftovers = [p.name for p in (tmp_path / "files").rglob("*") if p.name.startswith(".tmp-")]
    assert leftovers == []


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("../../etc/passwd", "etc/passwd"),
        ("/etc/passwd", "etc/passwd"),
        ("a/./b/../c.jpg", "a/b/c.jpg"),
        ("..\\..\\windows\\win.ini", "windows/win.ini"),
        ("photos/客户 照片.jpg", "photos/_____.jpg"),
        ("x\x00y.jpg", "x_y.jpg"),
        (".hidden/.env", "hidden/env"),
    ],
)
def test_keys_are_sanitised_inside_the_root(tmp_path, key, path):
    store = LocalFileStore(tmp_path)
    assert sanitize_key(key) == path
    assert store.put(key, b"1") == path
    assert (tmp_path / path).read_bytes() == b"1"
    assert all(p.resolve().is_relative_to(tmp_path.resolve()) for p in tmp_path.rglob("*"))


@pytest.mark.parametrize("key", ["", "..", "/", "../..", "___", "/".join(["a" * 90] * 3)])
def test_unusable_keys_are_refused(tmp_path, key):
    with pytest.raises(ValueError):
        LocalFileStore(tmp_path).put(key, b"1")


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../b", "a//b", "./a", ""])
def test_get_and_delete_refuse_paths_put_cannot_return(tmp_path, path):
    store = LocalFileStore(tmp_path)
    with pytest.raises(ValueError):
        store.get(path)
    with pytest.raises(ValueError):
        store.delete(path)


def test_a_symlink_inside_the_store_cannot_lead_out(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    root = tmp_path / "store"
    store = LocalFileStore(root)
    (root / "evil").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError):
        store.get("evil/secret.txt")
    with pytest.raises(ValueError):
        store.put("evil/new.jpg", b"x")
    assert not (outside / "new.jpg").exists()


# --- the stored file: the original, its metadata cut out losslessly ----------------------------------------
def _with_segments(jpeg: bytes, *segments: tuple[int, bytes]) -> bytes:
    """The JPEG with extra marker segments inserted right after SOI."""
    extra = b"".join(b"\xff" + bytes([m]) + (len(body) + 2).to_bytes(2, "big") + body for m, body in segments)
    return jpeg[:2] + extra + jpeg[2:]


def test_every_metadata_segment_is_cut_and_the_pixels_are_the_originals():
    base = _save(_marked_photo(1200, 900), "JPEG", quality=90, exif=_exif(orientation=1))
    xmp = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><exif:GPSLatitude>31,13.8N</exif:GPSLatitude></x:xmpmeta>"
    iptc = b"Photoshop 3.0\x008BIM\x04\x04secret-location"
    data = _with_segments(base, (0xE1, xmp), (0xED, iptc), (0xFE, b"shot at 31.23,121.47"))
    data += b"trailing bytes after EOI: GPS 31.23"
    photo = process_photo(data)
    assert photo.stored == "original"
    for needle in (b"xmpmeta", b"GPS", b"secret-location", b"31.23", b"TestPhone", b"trailing"):
        assert needle not in photo.jpeg
    kept, original = Image.open(BytesIO(photo.jpeg)), Image.open(BytesIO(base))
    assert not kept.getexif()  # orientation 1: no EXIF block at all
    assert kept.tobytes() == original.tobytes()  # lossless: the same decoded pixels, bit for bit


def test_colour_profile_and_adobe_blocks_are_kept():
    icc = b"ICC_PROFILE\x00\x01\x01" + bytes(64)
    adobe = b"Adobe\x00\x64\x00\x00\x00\x00\x01"
    data = _with_segments(_save(_marked_photo(800, 600), "JPEG"), (0xE2, icc), (0xEE, adobe))
    photo = process_photo(data)
    assert photo.stored == "original" and icc in photo.jpeg and adobe in photo.jpeg


def test_a_jpeg_the_walk_does_not_understand_is_re_encoded_instead(monkeypatch):
    good = _save(_marked_photo(2400, 1800), "JPEG", quality=90)
    assert strip_jpeg_metadata(_with_segments(good, (0xF0, b"a JPGn segment"))) is None  # unknown: not kept
    assert strip_jpeg_metadata(good[:-2]) is None  # no EOI
    assert strip_jpeg_metadata(good[:2] + b"\x00" + good[2:]) is None  # not a marker where one must be
    import bot.photos

    monkeypatch.setattr(bot.photos, "strip_jpeg_metadata", lambda data, orientation=None: None)
    photo = process_photo(good)  # the gate then decodes and writes the pixels itself, as for PNG
    assert photo.stored == "reencoded" and max(photo.width, photo.height) == LONG_SIDE
