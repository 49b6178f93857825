"""The photo gate: untrusted image bytes from WeCom `media/get` → a clean JPEG, a thumbnail and facts.

Order matters (see docs/reliability.md §3.6):
1. byte cap (10 MiB) before anything is parsed;
2. `Image.open(..., formats=["JPEG", "PNG", "WEBP"])` — an allow-list, so GIF, BMP, TIFF, FITS, PSD...
   never reach a decoder (MPO, the multi-picture JPEG many Android phones write, opens as JPEG); it
   reads the header only;
3. pixel cap (50 MP) from the header's size, BEFORE decoding: a 48 KB PNG declaring 20000×20000 is
   refused without allocating its 1.2 GB. Pillow's own DecompressionBombWarning (89 MP) is turned into
   an error too, and its DecompressionBombError (179 MP) is caught;
4. EXIF read while it is still there: capture time (DateTimeOriginal, else DateTimeDigitized; with
   OffsetTimeOriginal when the camera wrote one, otherwise the naive time is Asia/Shanghai) → aware
   UTC; GPS latitude/longitude → floats (0,0 and out-of-range values are dropped). Broken EXIF is
   ignored, it does not reject the photo;
5. decode with `draft()` for JPEGs (DCT scaling: decoding a 12 MP photo at 1/2 scale when 1600 px is
   all we keep), refusing truncated or corrupt data (Pillow's LOAD_TRUNCATED_IMAGES stays False);
6. `ImageOps.exif_transpose` (orientation applied to the pixels), alpha flattened on white;
7. re-encode to JPEG q85, long side ≤ 1600 px, WITHOUT `exif=` — no GPS or any EXIF leaves in the
   stored bytes; a 320 px thumbnail; a 64-bit perceptual hash (imagehash.phash, 16 hex digits).
Rejections raise `PhotoRejected` whose `reason_zh` is the sentence to show the rep.

Decoding is CPU work (~80 ms for a 12 MP JPEG on one core with draft): run it in a worker, never in
the callback path. `bench_photo()` prints the figure for this machine.
"""

from __future__ import annotations

import math
import statistics
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from io import BytesIO

import imagehash
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from core.clock import SHANGHAI

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 50_000_000
LONG_SIDE = 1600
THUMB_SIDE = 320
QUALITY = 85
THUMB_QUALITY = 80
FORMATS = ("JPEG", "PNG", "WEBP")

_EXIF_DATETIME_ORIGINAL = 0x9003
_EXIF_DATETIME_DIGITIZED = 0x9004
_EXIF_OFFSET_ORIGINAL = 0x9011
_EXIF_OFFSET_DIGITIZED = 0x9012
_GPS_LAT_REF, _GPS_LAT, _GPS_LNG_REF, _GPS_LNG = 1, 2, 3, 4


class PhotoRejected(Exception):
    """The photo cannot be used; `reason_zh` is shown to the rep, `code` is for logs and metrics."""

    def __init__(self, reason_zh: str, code: str):
        super().__init__(reason_zh)
        self.reason_zh = reason_zh
        self.code = code


@dataclass(frozen=True)
class ProcessedPhoto:
    jpeg: bytes  # re-encoded, oriented, ≤ LONG_SIDE, no EXIF
    thumb: bytes  # ≤ THUMB_SIDE JPEG
    width: int  # of `jpeg`
    height: int
    phash: str  # 16 hex digits
    taken_at: datetime | None  # aware UTC, from EXIF
    exif_lat: float | None
    exif_lng: float | None
    source_format: str = ""  # JPEG | MPO (a JPEG with extra frames) | PNG | WEBP
    source_width: int = 0  # as sent, before orientation
    source_height: int = 0


def process_photo(data: bytes, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> ProcessedPhoto:
    """Check, clean and describe one uploaded photo; raises PhotoRejected (see the module docstring)."""
    if not data:
        raise PhotoRejected("图片是空的，请重新发送", "empty")
    if len(data) > max_bytes:
        raise PhotoRejected(f"图片太大（超过{max_bytes // (1024 * 1024)}MB），请压缩后再发", "too_many_bytes")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Pillow's chatter about corrupt EXIF in rep photos
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(BytesIO(data), formats=list(FORMATS))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise PhotoRejected("图片像素太多，请发送普通手机照片", "too_many_pixels") from exc
        except UnidentifiedImageError as exc:
            raise PhotoRejected("不支持的图片格式，请发送 JPG、PNG 或 WEBP 照片", "format") from exc
        except Exception as exc:  # a malformed header: Pillow raises SyntaxError, ValueError, struct.error...
            raise PhotoRejected("图片不完整或已损坏，请重新拍摄后发送", "corrupt") from exc
        with im:
            return _process_open(im, max_pixels)


def _process_open(im: Image.Image, max_pixels: int) -> ProcessedPhoto:
    fmt = im.format or ""
    width, height = im.size
    if width <= 0 or height <= 0 or width * height > max_pixels:
        raise PhotoRejected("图片像素太多，请发送普通手机照片", "too_many_pixels")
    taken_at, lat, lng = _read_exif(im)
    try:
        if fmt in ("JPEG", "MPO"):  # MPO: the multi-picture JPEG many Android phones write
            scale = LONG_SIDE / max(width, height)
            if scale < 1:
                im.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
        im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PhotoRejected("图片像素太多，请发送普通手机照片", "too_many_pixels") from exc
    except Exception as exc:  # OSError "image file is truncated", decoder errors, SyntaxError...
        raise PhotoRejected("图片不完整或已损坏，请重新拍摄后发送", "corrupt") from exc
    try:
        ImageOps.exif_transpose(im, in_place=True)
    except Exception:  # a broken orientation tag: keep the pixels as stored
        pass
    img = _to_rgb(im)
    # Pillow's BILINEAR is a true (antialiased) triangle filter when shrinking; at the ≤ 2× ratio left
    # after draft() it looks like LANCZOS and costs half as much.
    img.thumbnail((LONG_SIDE, LONG_SIDE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    jpeg = _encode(img, QUALITY)
    thumb_img = img.copy()
    thumb_img.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS, reducing_gap=2.0)
    thumb = _encode(thumb_img, THUMB_QUALITY)
    phash = str(imagehash.phash(thumb_img))
    return ProcessedPhoto(jpeg, thumb, img.width, img.height, phash, taken_at, lat, lng, fmt, width, height)


def _encode(img: Image.Image, quality: int) -> bytes:
    out = BytesIO()
    img.save(out, "JPEG", quality=quality, optimize=False, progressive=False)  # no exif= → no EXIF
    return out.getvalue()


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        gray = im.convert("I") if im.mode != "I" else im
        lo, hi = gray.getextrema()  # type: ignore[misc]
        span = max(1, int(hi) - int(lo))
        return gray.point(lambda v: (v - lo) * 255 / span).convert("L").convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return im.convert("RGB")


# --- EXIF --------------------------------------------------------------------------------------------
def _read_exif(im: Image.Image) -> tuple[datetime | None, float | None, float | None]:
    try:
        exif = im.getexif()
    except Exception:  # malformed EXIF is ignored, not fatal
        return None, None, None
    taken_at = lat = lng = None
    try:
        sub = exif.get_ifd(ExifTags.IFD.Exif)
        raw = sub.get(_EXIF_DATETIME_ORIGINAL) or sub.get(_EXIF_DATETIME_DIGITIZED)
        offset = sub.get(_EXIF_OFFSET_ORIGINAL) or sub.get(_EXIF_OFFSET_DIGITIZED)
        taken_at = parse_exif_datetime(raw, offset)
    except Exception:
        taken_at = None
    try:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        lat = _coordinate(gps.get(_GPS_LAT), gps.get(_GPS_LAT_REF), 90)
        lng = _coordinate(gps.get(_GPS_LNG), gps.get(_GPS_LNG_REF), 180)
        if lat is None or lng is None or (lat == 0 and lng == 0):
            lat = lng = None
    except Exception:
        lat = lng = None
    return taken_at, lat, lng


def parse_exif_datetime(raw: object, offset: object = None) -> datetime | None:
    """'2026:11:23 09:15:00' (+ optional '+08:00') → aware UTC; naive means Asia/Shanghai."""
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "replace")
    if not isinstance(raw, str):
        return None
    text = raw.strip("\x00 ").strip()
    try:
        naive = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    if naive.year < 1990:  # 0000:00:00 placeholders and dead camera clocks
        return None
    tz: timezone | object = SHANGHAI
    if isinstance(offset, bytes):
        offset = offset.decode("ascii", "replace")
    if isinstance(offset, str):
        o = offset.strip("\x00 ").strip()
        if len(o) == 6 and o[0] in "+-" and o[3] == ":" and o[1:3].isdigit() and o[4:].isdigit():
            minutes = int(o[1:3]) * 60 + int(o[4:])
            if minutes <= 14 * 60:
                tz = timezone(timedelta(minutes=minutes if o[0] == "+" else -minutes))
    return naive.replace(tzinfo=tz).astimezone(UTC)  # type: ignore[arg-type]


def _coordinate(value: object, ref: object, limit: float) -> float | None:
    if value is None:
        return None
    parts = list(value) if isinstance(value, (tuple, list)) else [value]
    if not 1 <= len(parts) <= 3:
        return None
    total = 0.0
    for part, div in zip(parts, (1, 60, 3600), strict=False):
        number = float(part)
        if not math.isfinite(number):
            return None
        total += number / div
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    if isinstance(ref, str) and ref.strip("\x00 ").upper() in ("S", "W"):
        total = -total
    if not math.isfinite(total) or abs(total) > limit:
        return None
    return round(total, 7)


# --- benchmark ---------------------------------------------------------------------------------------
def make_sample_jpeg(
    width: int = 4000, height: int = 3000, *, seed: int = 7, quality: int = 90, noise: float = 0.2
) -> bytes:
    """A photo-like JPEG (gradients, shapes and sensor noise) for benchmarks and tests; at 4000×3000 with
    the default noise it weighs about 3.8 MB, like a phone's 12 MP photo."""
    import random

    from PIL import ImageDraw, ImageFilter

    rnd = random.Random(seed)
    small = Image.new("RGB", (width // 8, height // 8))
    draw = ImageDraw.Draw(small)
    for y in range(small.height):
        draw.line(
            [(0, y), (small.width, y)], fill=(40 + y * 150 // small.height, 90, 160 - y * 100 // small.height)
        )
    for _ in range(40):
        x, y = rnd.randrange(small.width), rnd.randrange(small.height)
        r = rnd.randrange(5, max(6, small.width // 6))
        color = (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
        if rnd.random() < 0.5:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=color)
        else:
            draw.rectangle([x - r, y - r // 2, x + r, y + r // 2], fill=color)
    big = small.resize((width, height), Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(2))
    grain = Image.effect_noise((width, height), 40).convert("RGB")
    photo = Image.blend(big, grain, noise)
    out = BytesIO()
    photo.save(out, "JPEG", quality=quality)
    return out.getvalue()


def bench_photo(runs: int = 5, data: bytes | None = None) -> float:
    """Median milliseconds of `process_photo` on a 12 MP JPEG (4000×3000) on this machine, one core."""
    sample = data if data is not None else make_sample_jpeg()
    process_photo(sample)  # warm up
    timings = []
    for _ in range(max(1, runs)):
        started = time.perf_counter()
        process_photo(sample)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


if __name__ == "__main__":
    print(f"process_photo, 12 MP JPEG: {bench_photo():.0f} ms (median of 5)")
