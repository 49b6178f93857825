"""The photo gate: untrusted image bytes from WeCom `media/get` → a clean JPEG, a thumbnail and facts.

In the server this code runs only inside the sandbox's child processes (bot/photo_sandbox.py: CPU-time,
address-space and wall-clock limits per photo); calling `process_photo` directly decodes in the calling
process, which is what tests, the fuzzer and the benchmark do.

Order matters (see docs/reliability.md §3.6):
1. byte cap (10 MiB) before anything is parsed;
2. `Image.open(..., formats=["JPEG", "PNG", "WEBP"])` — an allow-list, so GIF, BMP, TIFF, FITS, PSD...
   never reach a decoder (MPO, the multi-picture JPEG many Android phones write, opens as JPEG); it
   reads the header only;
3. pixel cap (50 MP) from the header's size, BEFORE decoding: a 48 KB PNG declaring 20000×20000 is
   refused without allocating its 1.2 GB. Pillow's own DecompressionBombWarning (89 MP) is turned into
   an error too, and its DecompressionBombError (179 MP) is caught;
4. scan cap (JPEG): the start-of-scan markers of the first frame are counted from the bytes, BEFORE
   decoding. A progressive JPEG is decoded scan by scan and every scan is a pass over the whole frame, so
   a few hundred KB of tiny scans (a "pathological scan script") keep libjpeg busy for minutes; libjpeg
   only warns about such a progression and Pillow sets no limit. libjpeg's default progressive script
   writes 10 scans for a colour image (6 for grey), Photoshop 3–5, optimising encoders (mozjpeg, jpegli)
   stay under about 20: MAX_SCANS = 32 leaves room for all of them, and at the pixel cap the worst
   32-scan file we could build decodes in about 1 s here (each full-frame refinement scan of a 48 MP
   4:4:4 frame costs ~27 ms);
5. EXIF read while it is still there: capture time (DateTimeOriginal, else DateTimeDigitized; with
   OffsetTimeOriginal when the camera wrote one, otherwise the naive time is Asia/Shanghai) → aware
   UTC; GPS latitude/longitude → floats (0,0 and out-of-range values are dropped); the orientation
   tag. Broken EXIF is ignored, it does not reject the photo;
6. a JPEG (MPO: its first frame) is STORED AS SENT with its metadata cut out losslessly
   (`strip_jpeg_metadata`): its marker segments are walked and only the decoding tables, the frame, the
   scans, the restart interval and three blocks that change how pixels look are copied — APP0 JFIF, APP2
   ICC_PROFILE, APP14 Adobe; every other APPn (APP1 EXIF and XMP, APP2 MPF, APP13 IPTC, maker notes),
   every comment and everything after the first EOI (MPO's other frames, trailing bytes) is dropped, and
   when the orientation tag is not 1 an EXIF block we write ourselves holding only that tag is put back, so
   viewers show the photo upright. A structure the walk does not know (a segment it has no rule for, a
   missing EOI) falls back to step 8;
7. decode at the scale the outputs need: `draft()` for JPEGs (DCT scaling: a 12 MP photo is decoded at
   1/8, 500×375, when only the 320 px thumbnail and the hash are made from pixels) — the decoder still
   reads every coefficient, so truncated or corrupt data is refused (Pillow's LOAD_TRUNCATED_IMAGES stays
   False); a MemoryError (the sandbox's address-space limit) is a refusal; alpha flattened on white; the
   thumbnail by a whole-factor reduce(), orientation applied once to it, and the 64-bit perceptual hash
   (imagehash.phash, 16 hex digits) from the thumbnail;
8. PNG, WebP, and a JPEG step 6 could not walk: decoded at the scale 1600 px needs, ONE BOX resize to
   long side ≤ 1600 px, orientation applied once to that image, re-encoded to JPEG q85 WITHOUT `exif=`;
   the thumbnail and the hash from it.
Rejections raise `PhotoRejected` whose `reason_zh` is the sentence to show the rep.

Stored-file policy: a JPEG is the ORIGINAL, metadata cut out (step 6); anything else is RE-ENCODED (step
8). `ProcessedPhoto.stored` says which. The original keeps the rep's full resolution and costs no JPEG
generation; what it keeps of the sender's bytes is the entropy-coded pixel data and the three appearance
blocks, nothing that can hold a place or a time (GPS lives in EXIF, XMP and MPO's per-frame EXIF, all
dropped); no page serves photos today, and every response of the server carries `nosniff`. Its costs, on a 12 MP phone photo
(`bench_photo`, CPU time on one core of this machine, 2026-12-07): the gate ~37 ms (the 1/8-scale decode
~34 ms — Huffman decoding of every coefficient dominates — the walk, EXIF, thumbnail and hash ~3 ms),
against ~69 ms for the 1600 px re-encode (1/2-scale decode ~45 ms, resize ~15 ms, transpose ~3 ms, encode
~5 ms); the stored file is the size sent (WeCom's compressed chat photo ~0.2–0.5 MB, an original 12 MP
photo ~4 MB, against ~0.4 MB re-encoded), and a Display-P3 photo keeps its profile.

Decoding is CPU work (~37 ms CPU for a 12 MP JPEG on one core at 1/8 scale): never in the callback path,
and in the server never in its own process. `bench_photo()` prints the figure for this machine.
"""

from __future__ import annotations

import math
import re
import statistics
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from io import BytesIO

import imagehash
from PIL import ExifTags, Image, UnidentifiedImageError

from core.clock import SHANGHAI

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 50_000_000
LONG_SIDE = 1600
THUMB_SIDE = 320
QUALITY = 85
THUMB_QUALITY = 80
FORMATS = ("JPEG", "PNG", "WEBP")
MAX_SCANS = 32  # start-of-scan markers in a JPEG's first frame (see the module docstring, step 4)

_EXIF_DATETIME_ORIGINAL = 0x9003
_EXIF_DATETIME_DIGITIZED = 0x9004
_EXIF_OFFSET_ORIGINAL = 0x9011
_EXIF_OFFSET_DIGITIZED = 0x9012
_GPS_LAT_REF, _GPS_LAT, _GPS_LNG_REF, _GPS_LNG = 1, 2, 3, 4
_ORIENTATION = {  # EXIF Orientation → the transpose that shows the photo upright (as ImageOps.exif_transpose)
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

REASON_TOO_MANY_PIXELS = "图片像素太多，请发送普通手机照片"
REASON_CORRUPT = "图片不完整或已损坏，请重新拍摄后发送"
REASON_TOO_MANY_SCANS = "图片文件结构异常，请发送普通手机照片"
REASON_TOO_MUCH_MEMORY = "图片太大，无法处理，请发送普通手机照片"


class PhotoRejected(Exception):
    """The photo cannot be used; `reason_zh` is shown to the rep, `code` is for logs and metrics."""

    def __init__(self, reason_zh: str, code: str):
        super().__init__(reason_zh)
        self.reason_zh = reason_zh
        self.code = code

    def __reduce__(self):  # picklable with both arguments (a Future carries it across threads)
        return (PhotoRejected, (self.reason_zh, self.code))


@dataclass(frozen=True)
class ProcessedPhoto:
    jpeg: bytes  # what is stored: the original JPEG, metadata cut out; or re-encoded, oriented, ≤ LONG_SIDE
    thumb: bytes  # ≤ THUMB_SIDE JPEG
    width: int  # of `jpeg` as shown (after its orientation)
    height: int
    phash: str  # 16 hex digits
    taken_at: datetime | None  # aware UTC, from EXIF
    exif_lat: float | None
    exif_lng: float | None
    source_format: str = ""  # JPEG | MPO (a JPEG with extra frames) | PNG | WEBP
    source_width: int = 0  # as sent, before orientation
    source_height: int = 0
    stored: str = (
        "reencoded"  # "original": the JPEG as sent, metadata cut out; "reencoded": decoded and written
    )


def process_photo(
    data: bytes,
    *,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
    max_scans: int = MAX_SCANS,
    keep_original: bool = True,
) -> ProcessedPhoto:
    """Check, clean and describe one uploaded photo; raises PhotoRejected (see the module docstring).
    `keep_original=False` re-encodes a JPEG too (step 8; the bench's "before" figure)."""
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
            raise PhotoRejected(REASON_TOO_MANY_PIXELS, "too_many_pixels") from exc
        except UnidentifiedImageError as exc:
            raise PhotoRejected("不支持的图片格式，请发送 JPG、PNG 或 WEBP 照片", "format") from exc
        except MemoryError as exc:
            raise PhotoRejected(REASON_TOO_MUCH_MEMORY, "too_much_memory") from exc
        except Exception as exc:  # a malformed header: Pillow raises SyntaxError, ValueError, struct.error...
            raise PhotoRejected(REASON_CORRUPT, "corrupt") from exc
        with im:
            try:
                return _process_open(im, data, max_pixels, max_scans, keep_original)
            except MemoryError as exc:  # the sandbox's address-space limit, anywhere past the header
                raise PhotoRejected(REASON_TOO_MUCH_MEMORY, "too_much_memory") from exc


def _process_open(
    im: Image.Image, data: bytes, max_pixels: int, max_scans: int, keep_original: bool = True
) -> ProcessedPhoto:
    fmt = im.format or ""
    width, height = im.size
    if width <= 0 or height <= 0 or width * height > max_pixels:
        raise PhotoRejected(REASON_TOO_MANY_PIXELS, "too_many_pixels")
    is_jpeg = fmt in ("JPEG", "MPO")  # MPO: the multi-picture JPEG many Android phones write
    if is_jpeg and count_jpeg_scans(data, stop_after=max_scans) > max_scans:
        raise PhotoRejected(REASON_TOO_MANY_SCANS, "too_many_scans")
    taken_at, lat, lng, orientation = _read_exif(im)
    # JPEG: the original is stored with its metadata cut out (below), so the pixels are needed only for the
    # thumbnail and the hash: decoded at the smallest DCT scale that leaves ≥ THUMB_SIDE px. Decoding still
    # reads every coefficient of the first frame, so truncated or corrupt data is refused as before.
    kept = strip_jpeg_metadata(data, orientation=_orientation_tag(im)) if is_jpeg and keep_original else None
    side = THUMB_SIDE if kept is not None else LONG_SIDE
    try:
        if is_jpeg:
            scale = side / max(width, height)
            if scale < 1:  # the largest DCT reduction that still leaves ≥ `side` px
                im.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
        im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PhotoRejected(REASON_TOO_MANY_PIXELS, "too_many_pixels") from exc
    except MemoryError:
        raise
    except Exception as exc:  # OSError "image file is truncated", decoder errors, SyntaxError...
        raise PhotoRejected(REASON_CORRUPT, "corrupt") from exc
    img = _to_rgb(im)
    if kept is not None:
        img.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BOX, reducing_gap=1.0)
        if orientation is not None:
            img = img.transpose(orientation)
        turned = orientation in _TURNS
        return ProcessedPhoto(
            kept,
            _encode(img, THUMB_QUALITY),
            height if turned else width,
            width if turned else height,
            str(imagehash.phash(img)),
            taken_at,
            lat,
            lng,
            fmt,
            width,
            height,
            stored="original",
        )
    # The one resize of the decoded frame. After draft() at most a 2× shrink is left (a 12 MP photo:
    # 2000 → 1600 px); BOX averages exactly the source area under each output pixel, which at that ratio
    # is an antialiased shrink that looks like BILINEAR and costs ~25% less (~15 vs ~19 ms here).
    img.thumbnail((LONG_SIDE, LONG_SIDE), Image.Resampling.BOX, reducing_gap=2.0)
    if orientation is not None:  # once, on the stored-size image: the thumbnail and hash inherit it
        img = img.transpose(orientation)
    stored_width, stored_height = img.size
    jpeg = _encode(img, QUALITY)
    # The thumbnail from the stored-size image, in place (it is encoded already): reducing_gap=1 makes
    # Pillow shrink by the whole factor with reduce() (a box average, 1600 → 320 px in ~1.5 ms) and leaves
    # a BOX resize of less than 2× (none for 1600 → 320); LANCZOS from 800 px cost ~7 ms for the same hash.
    img.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BOX, reducing_gap=1.0)
    thumb = _encode(img, THUMB_QUALITY)
    phash = str(imagehash.phash(img))
    return ProcessedPhoto(
        jpeg, thumb, stored_width, stored_height, phash, taken_at, lat, lng, fmt, width, height, "reencoded"
    )


_TURNS = frozenset(
    {
        Image.Transpose.TRANSPOSE,
        Image.Transpose.ROTATE_270,
        Image.Transpose.TRANSVERSE,
        Image.Transpose.ROTATE_90,
    }
)
# Segments kept from the original JPEG: the decoding tables, frame and scans, the restart interval, and the
# three APPn blocks that change how pixels look, never where or when: APP0 JFIF (density), APP2 ICC_PROFILE
# (colour) and APP14 Adobe (the CMYK/YCCK transform). Every other APPn (APP1 EXIF and XMP, APP2 MPF, APP13
# IPTC, maker notes…), COM, and everything after the first EOI (MPO's other frames, trailing data) is dropped.
_KEEP_MARKERS = frozenset({0xC4, 0xDB, 0xDD, *range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC)})
_KEEP_APP = {0xE0: (b"JFIF\x00", b"JFXX\x00"), 0xE2: (b"ICC_PROFILE\x00",), 0xEE: (b"Adobe",)}


def strip_jpeg_metadata(data: bytes, *, orientation: int | None = None) -> bytes | None:
    """The JPEG's first frame, byte for byte, without any metadata segment (see `_KEEP_APP`), and with an
    EXIF block of our own holding only the orientation when it is not 1 (so viewers still show it upright).
    None when the structure is not the plain marker sequence expected (the caller re-encodes instead)."""
    if not data.startswith(b"\xff\xd8"):
        return None
    out = [b"\xff\xd8"]
    if orientation is not None and orientation != 1:
        exif = Image.Exif()
        exif[ExifTags.Base.Orientation] = orientation
        block = exif.tobytes()
        out.append(b"\xff\xe1" + (len(block) + 2).to_bytes(2, "big") + block)
    scans = 0
    for marker, start, end in _jpeg_segments(data):
        if marker == 0xD9:  # EOI: the first frame ends here
            out.append(b"\xff\xd9")
            return b"".join(out) if scans else None
        if marker == 0xDA:  # a scan: its header and its entropy-coded data, as they are
            scans += 1
            out.append(data[start:end])
        elif marker in _STANDALONE or marker in _KEEP_MARKERS:
            out.append(data[start:end])
        elif any(data[start + 4 : end].startswith(sig) for sig in _KEEP_APP.get(marker, ())):
            out.append(data[start:end])
        elif not (0xE0 <= marker <= 0xEF or marker == 0xFE):
            return None  # a segment this walk does not know (SOF of a kind Pillow refuses, DNL, JPG…)
    return None  # no EOI: truncated or damaged


def _orientation_tag(im: Image.Image) -> int | None:
    try:
        value = im.getexif().get(ExifTags.Base.Orientation)
    except Exception:  # noqa: BLE001 - malformed EXIF: no orientation, as _read_exif
        return None
    return value if value in _ORIENTATION else None


_NEXT_MARKER = re.compile(
    rb"\xff[\x01-\xcf\xd8-\xfe]"
)  # in entropy-coded data: not FF00 stuffing, RSTn or fill
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


def _jpeg_segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(marker, start, end) of each marker of a JPEG's first frame, in order, from the marker after SOI:
    lengths are skipped (so a thumbnail inside EXIF is never mistaken for the photo), and a scan's `end` is
    past its entropy-coded data (found by searching for the next marker). It ends after yielding the first
    EOI (MPO's secondary frames are never walked), or without an EOI at damaged or truncated structure."""
    n = len(data)
    if n < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return
    pos = 2
    while pos + 1 < n:
        if data[pos] != 0xFF:
            return
        while pos + 1 < n and data[pos + 1] == 0xFF:  # fill bytes before a marker
            pos += 1
        if pos + 1 >= n:
            return
        marker = data[pos + 1]
        if marker == 0xD9 or marker in _STANDALONE:  # EOI, RSTn, TEM: no length
            yield marker, pos, pos + 2
            if marker == 0xD9:
                return
            pos += 2
            continue
        if pos + 4 > n:
            return
        end = pos + 2 + ((data[pos + 2] << 8) | data[pos + 3])
        if marker == 0xDA:
            found = _NEXT_MARKER.search(data, end)
            end = found.start() if found is not None else n
        yield marker, pos, min(end, n)
        pos = end


def count_jpeg_scans(data: bytes, *, stop_after: int | None = None) -> int:
    """Start-of-scan (SOS) markers of the first frame (`_jpeg_segments`); stops at the first EOI, at damaged
    structure (the decoder refuses that later), or once the count exceeds `stop_after`."""
    scans = 0
    for marker, _start, _end in _jpeg_segments(data):
        if marker == 0xDA:
            scans += 1
            if stop_after is not None and scans > stop_after:
                break
    return scans


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
def _read_exif(im: Image.Image) -> tuple[datetime | None, float | None, float | None, Image.Transpose | None]:
    """Capture time, GPS and the transpose the orientation tag asks for; anything broken → None."""
    try:
        exif = im.getexif()
    except Exception:  # malformed EXIF is ignored, not fatal
        return None, None, None, None
    taken_at = lat = lng = None
    try:
        orientation = _ORIENTATION.get(exif.get(ExifTags.Base.Orientation))  # type: ignore[arg-type]
    except Exception:  # an unhashable or broken value: keep the pixels as stored
        orientation = None
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
    return taken_at, lat, lng, orientation


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


def bench_photo(runs: int = 5, data: bytes | None = None, *, keep_original: bool = True) -> float:
    """Median CPU milliseconds of `process_photo` on a 12 MP JPEG (4000×3000) on this machine, one core
    (process CPU time, not wall time: on a shared machine the wall clock also counts other work)."""
    sample = data if data is not None else make_sample_jpeg()
    process_photo(sample, keep_original=keep_original)  # warm up
    timings = []
    for _ in range(max(1, runs)):
        started = time.process_time()
        process_photo(sample, keep_original=keep_original)
        timings.append((time.process_time() - started) * 1000)
    return statistics.median(timings)


if __name__ == "__main__":
    print(f"process_photo, 12 MP JPEG: {bench_photo():.0f} ms (median of 5)")
