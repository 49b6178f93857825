"""Atheris fuzz target: the photo gate (bot.photos.process_photo) on untrusted bytes. The only declared
failure is bot.photos.PhotoRejected; anything else (or a hang, or memory past -rss_limit_mb) is a crash.

    python tests/hostile/fuzz_photo.py -runs=5000 [-max_total_time=60] [-rss_limit_mb=1024] [CORPUS_DIR]

Seed the corpus with small valid JPEG/PNG/WEBP files so the mutations reach the decoders.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["bot.photos", "PIL"]):
    from bot.photos import PhotoRejected, process_photo


def one_input(data: bytes) -> None:
    try:
        process_photo(data, max_pixels=4_000_000)
    except PhotoRejected:
        pass


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
