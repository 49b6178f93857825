"""Privacy: reps' whereabouts are kept 180 days (storage/retention.py), wherever a copy lives — the visit, the
photo's EXIF columns, the raw inbox event, the audit snapshots — and the logs never carry a decrypted message
body or a phone number."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta
from io import BytesIO

import pytest
from PIL import ExifTags, Image
from sqlalchemy import func, select

from bot.logs import JsonFormatter, setup_logging
from bot.photos import make_sample_jpeg
from storage import retention
from storage.models import AuditRow, InboxRow, OrgConfigRow, PhotoRow, VisitRow
from tests.support.factories import WEIYUAN, org
from tests.support.harness import Harness

DAY = timedelta(days=1)


def _visits(s, now, n: int, *, age_days: float, prefix: str) -> None:  # noqa: ANN001
    for i in range(n):
        at = now - DAY * age_days - timedelta(minutes=i)
        s.add(
            VisitRow(
                visit_id=f"{prefix}{i}",
                customer_id="C001",
                rep_userid="rep01",
                checked_in_at=at,
                lat=31.234567 + i / 1e5,
                lng=121.474747,
                photo_count=0,
                source="chat",
                status="closed",
                location_source="gps",
                distance_m=12.5,
            )
        )
        s.flush()
        s.add(
            PhotoRow(
                visit_id=f"{prefix}{i}",
                rep_userid="rep01",
                media_id=f"m{prefix}{i}",
                verdict="ok",
                received_at=at,
                exif_lat=31.2345,
                exif_lng=121.4747,
            )
        )
        s.add(
            InboxRow(
                dedupe_key=f"evt:{prefix}{i}",
                sender="rep01",
                kind="location_report",
                status="done",
                received_at=at,
                attempts=0,
                event={
                    "type": "location_report",
                    "sender": "rep01",
                    "at": 1,
                    "lat": 31.2345,
                    "lng": 121.4747,
                    "precision": 15.0,
                },
            )
        )
        s.add(
            AuditRow(
                at=at,
                actor="rep01",
                action="create",
                entity="visit",
                entity_id=f"{prefix}{i}",
                after={"visit_id": f"{prefix}{i}", "lat": 31.234567, "lng": 121.474747, "distance_m": 12.5},
            )
        )
    s.commit()


def _count(s, model, *where) -> int:  # noqa: ANN001
    return s.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def seeded(session_factory, clock):
    with session_factory() as s:
        org(s, touched_at=clock.now())
        _visits(s, clock.now(), 4, age_days=200, prefix="old")
        _visits(s, clock.now(), 3, age_days=30, prefix="new")
    return session_factory


def test_purge_removes_old_coordinates_everywhere_and_keeps_recent_ones(seeded, clock):
    with seeded() as s:
        counts = retention.purge_visit_gps(s, now=clock.now())
        s.commit()
    assert counts == {"visits": 4, "photos": 4, "inbox": 4, "audit": 4}
    with seeded() as s:
        for v in s.scalars(select(VisitRow)):
            old = v.visit_id.startswith("old")
            assert (v.lat is None and v.lng is None) == old and v.distance_m == 12.5
        for p in s.scalars(select(PhotoRow)):
            assert (p.exif_lat is None and p.exif_lng is None) == p.visit_id.startswith("old")
        for row in s.scalars(select(InboxRow)):
            assert (row.event["lat"] is None) == row.dedupe_key.startswith("evt:old")
            assert row.event["precision"] == 15.0 and row.event["sender"] == "rep01"
        for a in s.scalars(select(AuditRow).where(AuditRow.entity == "visit")):
            assert (a.after["lat"] is None) == a.entity_id.startswith("old") and a.after["distance_m"] == 12.5
        (purge,) = s.scalars(select(AuditRow).where(AuditRow.action == "purge"))
        assert (
            purge.actor == "system:retention"
            and purge.after["visits"] == 4
            and purge.after["mode"] == "removed"
        )
    with seeded() as s:  # idempotent: nothing left, no second audit row
        assert retention.purge_visit_gps(s, now=clock.now()) == {
            "visits": 0,
            "photos": 0,
            "inbox": 0,
            "audit": 0,
        }
        s.commit()
        assert _count(s, AuditRow, AuditRow.action == "purge") == 1


def test_coarsening_keeps_a_one_kilometre_grid_and_is_idempotent(seeded, clock):
    with seeded() as s:
        counts = retention.purge_visit_gps(s, now=clock.now(), coarsen_to_m=1000)
        s.commit()
    assert counts["visits"] == 4 and counts["photos"] == 4 and counts["audit"] == 4
    with seeded() as s:
        old = {v.visit_id: (v.lat, v.lng) for v in s.scalars(select(VisitRow))}
        assert all(old[f"old{i}"] == (31.23, 121.47) for i in range(4))
        assert old["new0"] == (31.234567, 121.474747)
        assert {
            (p.exif_lat, p.exif_lng)
            for p in s.scalars(select(PhotoRow).where(PhotoRow.visit_id.like("old%")))
        } == {(31.23, 121.47)}
        a = s.scalars(select(AuditRow).where(AuditRow.entity_id == "old0")).one()
        assert (a.after["lat"], a.after["lng"]) == (31.23, 121.47)
        raw = s.scalars(select(InboxRow).where(InboxRow.dedupe_key == "evt:old0")).one()
        assert raw.event["lat"] is None  # raw copies lose their coordinates in either mode
    with seeded() as s:
        again = retention.purge_visit_gps(s, now=clock.now(), coarsen_to_m=1000)
        s.commit()
    assert again == {"visits": 0, "photos": 0, "inbox": 0, "audit": 0}
    assert (
        retention.decimals_for(1000) == 2
        and retention.decimals_for(100) == 3
        and retention.decimals_for(500) == 2
    )


def test_sweep_runs_at_most_once_a_day_in_batches_with_one_audit_row_each(seeded, clock):
    # 4 visits + 4 photos + 4 raw events + 4 audit rows, and the 4 raw events' bodies (older than 90 days)
    assert retention.sweep(seeded, clock, batch=3) == 20
    with seeded() as s:
        assert _count(s, AuditRow, AuditRow.action == "purge") == 2  # batches of 3, then the remaining 1
        marker = s.get(OrgConfigRow, retention.MARKER_KEY).value
        before = {t: _count(s, m) for t, m in (("audit", AuditRow), ("visits", VisitRow))}
    with seeded() as s:  # more old data arrives (an import of history), the same day: not looked at
        _visits(s, clock.now(), 2, age_days=400, prefix="hist")
    clock.advance(hours=23)
    assert retention.sweep(seeded, clock, batch=3) == 0
    with seeded() as s:
        assert s.get(OrgConfigRow, retention.MARKER_KEY).value == marker
        assert _count(s, AuditRow) == before["audit"] + 2 and _count(s, VisitRow, VisitRow.lat.is_(None)) == 4
    clock.advance(hours=2)  # the next day
    assert retention.sweep(seeded, clock, batch=3) == 10  # the 2 new raw events' bodies purged too
    with seeded() as s:
        assert _count(s, VisitRow, VisitRow.visit_id.like("hist%"), VisitRow.lat.is_not(None)) == 0


def _gps_photo() -> bytes:
    img = Image.open(BytesIO(make_sample_jpeg(1200, 900)))
    exif = Image.Exif()
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef], gps[ExifTags.GPS.GPSLatitude] = "N", (31.0, 13.0, 49.0)
    gps[ExifTags.GPS.GPSLongitudeRef], gps[ExifTags.GPS.GPSLongitude] = "E", (121.0, 28.0, 25.0)
    out = BytesIO()
    img.save(out, "JPEG", exif=exif)
    return out.getvalue()


def test_a_real_check_in_loses_its_coordinates_after_180_days(db_url, tmp_path, redis_server, clock):
    """Through the chat: a GPS check-in and a photo with GPS EXIF; 181 days later the tick's sweep (installed by
    bot.bootstrap, GPS_RETENTION_DAYS) purges them."""
    h = Harness(db_url, tmp_path, redis_server, clock)
    with h.session_factory() as s:
        org(s, touched_at=clock.now())
    h.peer.location_report("rep01", *WEIYUAN, precision=10)
    h.peer.image("rep01", _gps_photo())
    h.tick()
    with h.session_factory() as s:
        (visit,) = s.scalars(select(VisitRow))
        (photo,) = s.scalars(select(PhotoRow))
        assert visit.lat is not None and photo.exif_lat is not None
        assert _count(s, AuditRow, AuditRow.entity.in_(("visit", "photo"))) > 0
    clock.advance(days=181)
    h.tick()
    with h.session_factory() as s:
        assert (
            s.scalars(select(VisitRow.lat)).one() is None
            and s.scalars(select(PhotoRow.exif_lat)).one() is None
        )
        for row in s.scalars(select(InboxRow).where(InboxRow.kind.in_(retention.LOCATION_KINDS))):
            assert row.event.get("lat") is None and row.event.get("lng") is None  # or the whole body purged
        for a in s.scalars(select(AuditRow).where(AuditRow.entity.in_(("visit", "photo")))):
            text = json.dumps([a.before, a.after])
            assert str(WEIYUAN[0]) not in text and "31.23" not in text, text
        assert _count(s, AuditRow, AuditRow.action == "purge") == 1


def test_logs_at_info_never_show_a_message_body_or_a_phone_number(db_url, tmp_path, redis_server, clock):
    """What `serve` prints (bot.logs at INFO) while the assistant handles messages carrying a phone number."""
    phone, secret = "13800138000", "紫色长颈鹿暗号"
    root = logging.getLogger()
    saved = (
        root.handlers[:],
        root.level,
        {n: logging.getLogger(n).level for n in ("httpx", "uvicorn.access", "apscheduler")},
    )
    stream = io.StringIO()
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    try:
        setup_logging("INFO")
        capture = logging.StreamHandler(stream)
        capture.setFormatter(JsonFormatter())
        root.addHandler(capture)
        root.addHandler(Keep())
        h = Harness(db_url, tmp_path, redis_server, clock)
        with h.session_factory() as s:
            org(s, touched_at=clock.now())
        h.peer.text("rep01", f"{secret} 客户电话 {phone}，嫌贵 周五前送样品")
        h.peer.text("sup01", f"{secret} 打给 {phone} 的客户")
        h.peer.text("stranger", f"{secret} {phone}")
        h.peer.location_report("rep01", *WEIYUAN, precision=10)
        h.tick()
        assert h.wecom.all_deliveries()  # the messages really were handled and answered
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)
    printed = stream.getvalue()
    assert printed.count("\n") >= 3  # the callback and the worker did log
    raw = "\n".join(r.getMessage() + " " + str(getattr(r, "trace", "")) for r in records)
    for text in (printed, raw):
        assert phone not in text and secret not in text
        assert "access_token" not in text and "CDATA" not in text
