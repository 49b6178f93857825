"""Retention of reps' whereabouts: visit GPS is sensitive personal information (PIPL Art. 28, 行踪轨迹) and is
kept only as long as it is needed (Art. 19). See docs/reliability.md §3.5.

`purge_visit_gps` removes — or, with `coarsen_to_m`, rounds to a grid at least that coarse — the coordinates
recorded more than `retain_days` ago, wherever this service keeps a copy:

- `visits.lat/lng` of visits checked in before the cut-off;
- `photos.exif_lat/exif_lng` of photos received before the cut-off (the stored files never had EXIF);
- the raw inbox copy of location messages and LOCATION events received before the cut-off (lat/lng and the
  map label are always dropped there: after processing the raw copy only serves replays, which after the
  retention period are moot);
- the before/after snapshots of `visit` and `photo` audit rows: those of the purged rows, and any older
  than the cut-off. The audit trail is append-only except for this redaction, which is itself audited.

`distance_m` (how far from the customer the check-in was) stays: it is the evidence the credibility metric
needs, and the customer's address is not the rep's whereabouts.

One audit row per call (per batch when `limit` is given) carries the counts — not one row per visit.
Calls are idempotent: a second call finds nothing left to change and writes no audit row.

Message bodies: `purge_message_bodies` drops what people wrote (inbox events) and were sent (outbox messages and
their rendered payloads) once the rows are finished and older than `message_retain_days` (MESSAGE_RETENTION_DAYS,
default 90); the rows stay, so their dedupe keys, statuses and times still audit what happened.

Web sign-in sessions (docs/web-sign-in.md) that ended or expired more than `WEB_SESSION_KEEP` ago are deleted.

`sweep(session_factory, clock)` is the form a worker's tick runs (a step of bot/bootstrap.py's tick):
at most once a day (a marker in org_config, read with one primary-key lookup), in batches of `BATCH` rows
per transaction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Float, Numeric, Text, and_, cast, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from storage import audit
from storage.db import writer_session
from storage.models import AuditRow, InboxRow, OrgConfigRow, OutboxRow, PhotoRow, VisitRow
from storage.web import sessions as web_sessions

RETAIN_DAYS = 180
MESSAGE_RETAIN_DAYS = (
    90  # inbox and outbox bodies (what people wrote and were sent): the rows stay, for audit
)
WEB_SESSION_KEEP = timedelta(days=30)  # an ended or expired sign-in session, kept for a look-back
PURGED: dict[str, Any] = {"purged": True}
BATCH = 500
MARKER_KEY = "retention_gps"
ACTOR = "system:retention"
LOCATION_KINDS = ("location", "location_report")
GPS_KEYS = ("lat", "lng", "exif_lat", "exif_lng")
METRES_PER_DEGREE = 111_320


def decimals_for(metres: float) -> int:
    """Decimal places of a degree whose step is at least `metres` (1000 m → 2: 0.01° ≈ 1.1 km)."""
    if metres <= 0:
        raise ValueError("coarsen_to_m must be positive")
    return max(0, min(6, math.floor(math.log10(METRES_PER_DEGREE / metres))))


def purge_visit_gps(
    session: Session,
    *,
    now: datetime,
    retain_days: int = RETAIN_DAYS,
    coarsen_to_m: float | None = None,
    limit: int | None = None,
) -> dict[str, int]:
    """Null (or coarsen) GPS recorded before `now - retain_days`. Returns rows changed per kind:
    {"visits", "photos", "inbox", "audit"}. Adds one audit row when anything changed; the caller commits.
    `limit`: at most this many rows of each kind (a batch); call again until every count is below it."""
    cutoff = now - timedelta(days=retain_days)
    places = decimals_for(coarsen_to_m) if coarsen_to_m else None
    dialect = session.get_bind().dialect.name

    def pending(expr):  # noqa: ANN001, ANN202 - a coordinate still to change: present, and finer than the grid
        if places is None:
            return expr.is_not(None)
        return and_(expr.is_not(None), expr != _rounded(expr, places, dialect))

    def new_value(v: float | None) -> float | None:
        return None if v is None or places is None else round(v, places)

    counts = {"visits": 0, "photos": 0, "inbox": 0, "audit": 0}
    visits = list(
        session.scalars(
            _limited(
                select(VisitRow)
                .where(VisitRow.checked_in_at < cutoff, or_(pending(VisitRow.lat), pending(VisitRow.lng)))
                .order_by(VisitRow.checked_in_at),
                limit,
            )
        )
    )
    for v in visits:
        v.lat, v.lng = new_value(v.lat), new_value(v.lng)
    counts["visits"] = len(visits)
    photos = list(
        session.scalars(
            _limited(
                select(PhotoRow)
                .where(
                    PhotoRow.received_at < cutoff, or_(pending(PhotoRow.exif_lat), pending(PhotoRow.exif_lng))
                )
                .order_by(PhotoRow.id),
                limit,
            )
        )
    )
    for p in photos:
        p.exif_lat, p.exif_lng = new_value(p.exif_lat), new_value(p.exif_lng)
    counts["photos"] = len(photos)
    raw = list(
        session.scalars(
            _limited(
                select(InboxRow)
                .where(
                    InboxRow.kind.in_(LOCATION_KINDS),
                    InboxRow.received_at < cutoff,
                    InboxRow.status.in_(("done", "failed")),
                    or_(
                        InboxRow.event["lat"].as_float().is_not(None),
                        InboxRow.event["lng"].as_float().is_not(None),
                    ),
                )
                .order_by(InboxRow.id),
                limit,
            )
        )
    )
    for row in raw:
        row.event = {**row.event, "lat": None, "lng": None, **({"label": ""} if "label" in row.event else {})}
    counts["inbox"] = len(raw)
    counts["audit"] = _redact_audit(
        session,
        cutoff=cutoff,
        visit_ids=[v.visit_id for v in visits],
        photo_ids=[str(p.id) for p in photos],
        new_value=new_value,
        pending=pending,
        limit=limit,
    )
    if any(counts.values()):
        mode = f"coarsened to {10**-places:g}°" if places is not None else "removed"
        audit.record(
            session,
            at=now,
            actor=ACTOR,
            action="purge",
            entity="gps",
            entity_id=cutoff.date().isoformat(),
            after={**counts, "cutoff": cutoff.isoformat(), "mode": mode, "retain_days": retain_days},
            reason=f"retention: GPS older than {retain_days} days {mode}",
        )
    session.flush()
    return counts


def _redact_audit(
    session: Session,
    *,
    cutoff: datetime,
    visit_ids: list[str],
    photo_ids: list[str],
    new_value: Callable[[float | None], float | None],
    pending: Callable[[Any], Any],
    limit: int | None,
) -> int:
    """Coordinates in visit/photo audit snapshots: those of the rows just purged, and any older than cutoff."""
    rows: dict[int, AuditRow] = {}
    for entity, ids in (("visit", visit_ids), ("photo", photo_ids)):
        for start in range(0, len(ids), 500):
            rows.update(
                (r.id, r)
                for r in session.scalars(
                    select(AuditRow).where(
                        AuditRow.entity == entity, AuditRow.entity_id.in_(ids[start : start + 500])
                    )
                )
            )
    snap = [AuditRow.after[k].as_float() for k in GPS_KEYS] + [
        AuditRow.before[k].as_float() for k in GPS_KEYS
    ]
    rows.update(
        (r.id, r)
        for r in session.scalars(
            _limited(
                select(AuditRow)
                .where(
                    AuditRow.entity.in_(("visit", "photo")),
                    AuditRow.at < cutoff,
                    or_(*(pending(e) for e in snap)),
                )
                .order_by(AuditRow.id),
                limit,
            )
        )
    )
    changed = 0
    for row in rows.values():
        before, after = _scrub(row.before, new_value), _scrub(row.after, new_value)
        if before != row.before or after != row.after:
            row.before, row.after = before, after
            changed += 1
    return changed


def _scrub(snapshot: dict[str, Any] | None, new_value: Callable[[float | None], float | None]) -> dict | None:
    if not snapshot:
        return snapshot
    out = dict(snapshot)
    for k in GPS_KEYS:
        if out.get(k) is not None:
            try:
                out[k] = new_value(float(out[k]))
            except (TypeError, ValueError):
                out[k] = None
    return out


def _rounded(expr, places: int, dialect: str):  # noqa: ANN001, ANN202
    if dialect == "postgresql":  # round(double precision, int) does not exist there
        return cast(func.round(cast(expr, Numeric), places), Float)
    return func.round(expr, places)


def _limited(q, limit: int | None):  # noqa: ANN001, ANN202
    return q.limit(limit) if limit else q


# --- the daily sweep ---------------------------------------------------------------------------------


def sweep(
    session_factory: sessionmaker[Session],
    clock: Any,
    *,
    retain_days: int = RETAIN_DAYS,
    coarsen_to_m: float | None = None,
    batch: int = BATCH,
    message_retain_days: int = MESSAGE_RETAIN_DAYS,
) -> int:
    """Purge once a day: returns rows changed (0 when it already ran in the last 24 hours)."""
    now = clock.now()
    with session_factory() as s:  # the cheap check every tick pays: one primary-key read
        marker = s.get(OrgConfigRow, MARKER_KEY)
        if marker is not None and _ran_recently(marker.value, now):
            return 0
    with writer_session(session_factory) as s:  # claim today's run (serialised: FOR UPDATE / the write lock)
        q = select(OrgConfigRow).where(OrgConfigRow.key == MARKER_KEY)
        if s.get_bind().dialect.name == "postgresql":
            q = q.with_for_update()
        marker = s.scalars(q).first()
        if marker is not None and _ran_recently(marker.value, now):
            return 0
        value = {"last_run_at": now.isoformat(), "retain_days": retain_days, "coarsen_to_m": coarsen_to_m}
        if marker is None:
            s.add(OrgConfigRow(key=MARKER_KEY, value=value))
        else:
            marker.value = {**marker.value, **value}
        s.commit()
    total = 0
    while True:
        with writer_session(session_factory) as s:
            counts = purge_visit_gps(
                s, now=now, retain_days=retain_days, coarsen_to_m=coarsen_to_m, limit=batch
            )
            s.commit()
        total += sum(counts.values())
        if all(n < batch for n in counts.values()) or not any(counts.values()):
            break
    while True:
        with writer_session(session_factory) as s:
            counts = purge_message_bodies(s, now=now, retain_days=message_retain_days, limit=batch)
            s.commit()
        total += sum(counts.values())
        if all(n < batch for n in counts.values()):
            break
    with writer_session(session_factory) as s:  # web sign-in sessions ended or expired a month ago
        total += web_sessions.purge(s, before=now - WEB_SESSION_KEEP)
        s.commit()
    return total


def purge_message_bodies(
    session: Session, *, now: datetime, retain_days: int = MESSAGE_RETAIN_DAYS, limit: int | None = None
) -> dict[str, int]:
    """Drop the bodies of inbox events handled and outbox rows finished more than `retain_days` ago: the event
    and the message become {"purged": true}, the rendered payload None. The rows themselves stay (their keys
    still deduplicate, their status and times still audit what happened); one audit row carries the counts."""
    cutoff = now - timedelta(days=retain_days)
    short = 20  # a purged body is '{"purged": true}': anything longer still holds a message
    inbox_ids = list(
        session.scalars(
            select(InboxRow.id)
            .where(
                InboxRow.status.in_(("done", "failed")),
                InboxRow.received_at < cutoff,
                func.length(cast(InboxRow.event, Text)) > short,
            )
            .order_by(InboxRow.id)
            .limit(limit)
        )
    )
    outbox_ids = list(
        session.scalars(
            select(OutboxRow.id)
            .where(
                OutboxRow.status.in_(("sent", "dead", "merged")),
                OutboxRow.created_at < cutoff,
                or_(OutboxRow.payload.is_not(None), func.length(cast(OutboxRow.message, Text)) > short),
            )
            .order_by(OutboxRow.id)
            .limit(limit)
        )
    )
    if inbox_ids:
        session.execute(update(InboxRow).where(InboxRow.id.in_(inbox_ids)).values(event=PURGED))
    if outbox_ids:
        session.execute(
            update(OutboxRow).where(OutboxRow.id.in_(outbox_ids)).values(message=PURGED, payload=None)
        )
    counts = {"inbox": len(inbox_ids), "outbox": len(outbox_ids)}
    if any(counts.values()):
        audit.record(
            session,
            at=now,
            actor=ACTOR,
            action="purge_messages",
            entity="messages",
            entity_id=cutoff.date().isoformat(),
            after={**counts, "cutoff": cutoff.isoformat(), "retain_days": retain_days},
            reason="message retention",
        )
    return counts


def _ran_recently(value: dict[str, Any] | None, now: datetime) -> bool:
    try:
        last = datetime.fromisoformat((value or {})["last_run_at"])
    except (KeyError, TypeError, ValueError):
        return False
    return timedelta(0) <= now - last < timedelta(hours=24)


def make_sweep(session_factory: sessionmaker[Session], clock: Any, **options: Any) -> Callable[[], int]:
    """A no-argument sweep, the form a tick step takes (bot/bootstrap.py)."""
    return lambda: sweep(session_factory, clock, **options)
