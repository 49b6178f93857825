"""The photo sandbox (bot/photo_sandbox.py): photos are gated in child processes with CPU-time,
address-space and wall-clock limits, and a photo over budget costs one child, not the server.

Real child processes, real limits, real pathological files (tests/support/bad_photos.py); the only
"time" in these tests is the real wall-clock budget of a child that gets killed."""

from __future__ import annotations

import resource
from io import BytesIO

import pytest
from PIL import Image, ImageFile

from bot.photo_sandbox import REASON_CRASHED, REASON_TOO_SLOW, Limits, PhotoSandbox
from bot.photos import (
    MAX_PIXELS,
    MAX_SCANS,
    REASON_TOO_MANY_SCANS,
    REASON_TOO_MUCH_MEMORY,
    PhotoRejected,
    count_jpeg_scans,
    make_sample_jpeg,
    process_photo,
)
from tests.support.bad_photos import WEBP_BOMB_SIZE, scan_flood_jpeg, webp_memory_bomb


@pytest.fixture
def sandboxes():
    made: list[PhotoSandbox] = []

    def make(**kwargs) -> PhotoSandbox:
        sandbox = PhotoSandbox(**kwargs)
        made.append(sandbox)
        sandbox.warm()  # children ready: a budget below is the photo's alone, not a child's start-up
        return sandbox

    yield make
    for sandbox in made:
        sandbox.close()


@pytest.fixture(scope="module")
def flood() -> bytes:
    return scan_flood_jpeg()


def _forbid_decoding_here(monkeypatch) -> None:
    """From now on this (the server's) process may not decode a single pixel; the children are unaffected."""

    def refuse(self, *args, **kwargs):
        raise AssertionError("pixels were decoded in the server process")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


def _photo(seed: int, size=(800, 600)) -> bytes:
    return make_sample_jpeg(*size, seed=seed, noise=0.05)


# --- the JPEG scan cap ------------------------------------------------------------------------------------
def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    out = BytesIO()
    img.save(out, fmt, **kw)
    return out.getvalue()


def test_scans_are_counted_from_the_markers():
    img = Image.open(BytesIO(_photo(1))).convert("RGB")
    assert count_jpeg_scans(_save(img, "JPEG")) == 1
    progressive = _save(img, "JPEG", progressive=True)
    assert 2 <= count_jpeg_scans(progressive) <= 12  # libjpeg's own script: 10 scans for colour
    assert count_jpeg_scans(_save(img.convert("L"), "JPEG", progressive=True)) <= 6
    # a whole JPEG inside an APP1 segment (where EXIF keeps its thumbnail) is skipped by its length
    inner = _save(img.resize((160, 120)), "JPEG", progressive=True)
    app1 = b"\xff\xe1" + (len(inner) + 8).to_bytes(2, "big") + b"Exif\x00\x00" + inner
    baseline = _save(img, "JPEG")
    assert count_jpeg_scans(baseline[:2] + app1 + baseline[2:]) == 1
    # MPO: only the first frame is ever decoded, so only its scans count
    mpo = _save(img, "MPO", save_all=True, append_images=[img.rotate(90)])
    assert count_jpeg_scans(mpo) == 1 and mpo.count(b"\xff\xda") >= 2
    assert count_jpeg_scans(b"") == 0 and count_jpeg_scans(b"\x89PNG\r\n\x1a\n") == 0
    assert count_jpeg_scans(baseline[:200]) == 0  # cut before its scan: the decoder refuses it later


def test_a_scan_flood_is_refused_before_decoding(flood, monkeypatch):
    assert 200_000 < len(flood) < 500_000  # a few hundred KB…
    assert count_jpeg_scans(flood) > 3000  # …of scans, each a full pass over a 12 MP frame
    assert count_jpeg_scans(flood, stop_after=MAX_SCANS) == MAX_SCANS + 1  # the count stops early
    _forbid_decoding_here(monkeypatch)
    with pytest.raises(PhotoRejected) as err:
        process_photo(flood)
    assert err.value.code == "too_many_scans" and err.value.reason_zh == REASON_TOO_MANY_SCANS


def test_an_ordinary_progressive_photo_passes_the_scan_cap():
    img = Image.open(BytesIO(make_sample_jpeg(2000, 1500, noise=0.05))).convert("RGB")
    photo = process_photo(_save(img, "JPEG", progressive=True, quality=90))
    assert (photo.width, photo.height, photo.stored) == (2000, 1500, "original")


# --- the sandbox ------------------------------------------------------------------------------------------
def test_a_photo_gated_in_a_child_is_the_gate_s_answer_and_the_server_decodes_nothing(sandboxes, monkeypatch):
    data = make_sample_jpeg(3000, 2000, seed=3, noise=0.1)
    expected = process_photo(data)
    sandbox = sandboxes(workers=1)
    _forbid_decoding_here(monkeypatch)
    got = sandbox.process(data)
    assert got == expected  # the same clean JPEG, thumbnail, hash and facts
    with pytest.raises(PhotoRejected) as err:  # refusals come back as refusals
        sandbox.process(b"<html>not a photo</html>")
    assert err.value.code == "format"
    assert sandbox.stats.photos == 2 and sandbox.stats.started == 1  # the one child, reused


def test_a_photo_over_the_wall_clock_budget_is_killed_while_the_others_are_judged(sandboxes, flood):
    sandbox = sandboxes(
        workers=2, limits=Limits(wall_seconds=3, cpu_seconds=600), gate_options={"max_scans": 1_000_000}
    )  # past the cheap check: the budget must act
    first_children = list(sandbox.stats.pids)
    bad = sandbox.submit(flood)
    good = [sandbox.submit(_photo(seed)) for seed in (1, 2, 3)]
    for future in good:  # judged by the other child while the bad one is still being decoded
        assert future.result().width == 800
    assert not bad.done()
    with pytest.raises(PhotoRejected) as err:
        bad.result()
    assert err.value.code == "too_slow" and err.value.reason_zh == REASON_TOO_SLOW
    assert "处理时间过长" in err.value.reason_zh
    assert sandbox.stats.killed == 1 and sandbox.stats.started == 3  # killed and replaced
    assert set(first_children) < set(sandbox.stats.pids)
    # the pool keeps serving: both children answer
    again = [sandbox.submit(_photo(seed)) for seed in (4, 5, 6, 7)]
    assert [f.result().width for f in again] == [800] * 4


def test_a_photo_over_the_cpu_limit_ends_its_child(sandboxes, flood):
    sandbox = sandboxes(
        workers=1, limits=Limits(cpu_seconds=1, wall_seconds=600), gate_options={"max_scans": 1_000_000}
    )
    with pytest.raises(PhotoRejected) as err:
        sandbox.process(flood)
    assert err.value.code == "too_slow" and err.value.reason_zh == REASON_TOO_SLOW
    assert sandbox.stats.died == 1 and sandbox.stats.killed == 0  # SIGXCPU from the kernel, not our kill
    assert sandbox.process(_photo(8)).width == 800


def test_a_tiny_webp_that_needs_a_gigabyte_is_refused_and_the_server_s_memory_stays_put(
    sandboxes, monkeypatch
):
    bomb = webp_memory_bomb()
    width, height = WEBP_BOMB_SIZE
    assert len(bomb) < 2048 and width * height <= MAX_PIXELS  # tiny, and under every cheap cap
    with Image.open(BytesIO(bomb)) as im:
        assert im.size == WEBP_BOMB_SIZE and im.format == "WEBP"
    one_decoded_copy_kb = width * height * 4 // 1024  # 187,500 KB; the decoder makes several
    sandbox = sandboxes(workers=1)
    _forbid_decoding_here(monkeypatch)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB
    with pytest.raises(PhotoRejected) as err:
        sandbox.process(bomb)
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert err.value.code == "too_much_memory" and err.value.reason_zh == REASON_TOO_MUCH_MEMORY
    assert peak_after - peak_before < one_decoded_copy_kb // 3  # the server's peak did not move
    assert sandbox.process(_photo(9)).width == 800  # a fresh child carries on
    assert sandbox.stats.started == 2


def test_refusals_read_as_plain_chinese():
    for reason in (REASON_TOO_SLOW, REASON_CRASHED, REASON_TOO_MUCH_MEMORY, REASON_TOO_MANY_SCANS):
        assert reason.isprintable() and not any(c.isascii() and c.isalpha() for c in reason)


def test_photos_queue_behind_busy_children_and_all_are_answered(sandboxes):
    sandbox = sandboxes(workers=2)
    photos = [_photo(seed, (640, 480)) for seed in range(10)]  # made once: the sample's grain is not seeded
    futures = [sandbox.submit(data) for data in photos]
    assert [f.result().phash for f in futures] == [process_photo(data).phash for data in photos]
    assert sandbox.stats.photos == 10 and sandbox.stats.started == 2
