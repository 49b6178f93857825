"""Pathological photos, built in the test (no binary blobs in the repository).

- `scan_flood_jpeg`: a complete progressive JPEG whose scan script repeats its last scan (the luma AC
  refinement, coefficients 1..63) thousands of times. Every scan is a full pass over the frame's blocks,
  so ~290 KB of file (3,000 extra scans of ~40 bytes each on a flat 12 MP 4:4:4 frame) keeps libjpeg-turbo
  decoding for well over ten seconds; libjpeg only warns about the repeated progression, Pillow sets no limit.
- `webp_memory_bomb`: a 32-byte lossless WebP of 8000×6000 RGBA (48 MP, under the gate's 50 MP pixel
  cap) that a decoder expands to several 192 MB buffers (~1 GB peak in one process). Its bitstream is
  written by hand (VP8L: no transform, five one-symbol prefix codes, so every pixel costs zero bits), so
  making it allocates nothing here.
"""

from __future__ import annotations

import re
from io import BytesIO

from PIL import Image

_NEXT_MARKER = re.compile(rb"\xff[\x01-\xcf\xd8-\xfe]")

WEBP_BOMB_SIZE = (8000, 6000)


def scan_flood_jpeg(extra_scans: int = 3000, size: tuple[int, int] = (4000, 3000)) -> bytes:
    out = BytesIO()
    Image.new("RGB", size, (120, 130, 140)).save(out, "JPEG", progressive=True, quality=90, subsampling=0)
    data = out.getvalue()
    last = data.rindex(b"\xff\xda")  # the last start-of-scan: the luma AC refinement
    end = _NEXT_MARKER.search(data, last + 2 + int.from_bytes(data[last + 2 : last + 4], "big")).start()
    dht = data.rfind(b"\xff\xc4", 0, last)  # the Huffman tables written for that scan, when adjacent
    start = dht if dht >= 0 and dht + 2 + int.from_bytes(data[dht + 2 : dht + 4], "big") == last else last
    return data[:end] + data[start:end] * extra_scans + data[end:]


def webp_memory_bomb(
    size: tuple[int, int] = WEBP_BOMB_SIZE, rgba: tuple[int, int, int, int] = (200, 200, 200, 128)
) -> bytes:
    width, height = size
    fields = [
        (0x2F, 8),
        (width - 1, 14),
        (height - 1, 14),
        (1, 1),
        (0, 3),  # signature, size, alpha, version
        (0, 1),
        (0, 1),
        (0, 1),
    ]  # no transform, no colour cache, no meta prefix codes
    r, g, b, a = rgba
    for symbol in (g, r, b, a):  # green, red, blue, alpha: a "simple" prefix code of one 8-bit symbol
        fields += [(1, 1), (0, 1), (1, 1), (symbol, 8)]
    fields += [(1, 1), (0, 1), (0, 1), (0, 1)]  # distance: a simple code of one 1-bit symbol, 0
    acc = n = 0
    for value, bits in fields:  # VP8L packs its fields least-significant bit first
        acc |= value << n
        n += bits
    body = acc.to_bytes((n + 7) // 8, "little")
    chunk = b"VP8L" + len(body).to_bytes(4, "little") + body + (b"\x00" if len(body) % 2 else b"")
    return b"RIFF" + (4 + len(chunk)).to_bytes(4, "little") + b"WEBP" + chunk
