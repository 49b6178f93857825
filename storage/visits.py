"""Reading and writing visits, their tags, photos and promises — every write audited."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from core.visits import Place
from storage import audit
from storage.models import CustomerRow, PhotoRow, PromiseRow, VisitRow, VisitTagRow


def new_visit_id(now: datetime) -> str:
    return f"W{now:%Y%m%d}-{uuid.uuid4().hex[:8]}"


def open_visit(session: Session, rep: str) -> VisitRow | None:
    return session.scalars(
        select(VisitRow)
        .where(VisitRow.rep_userid == rep, VisitRow.status == "open")
        .order_by(VisitRow.checked_in_at.desc())
    ).first()


def rep_places(session: Session, rep: str) -> list[Place]:
    rows = session.execute(
        select(CustomerRow.customer_id, CustomerRow.name, CustomerRow.lat, CustomerRow.lng).where(
            CustomerRow.owner_userid == rep,
            CustomerRow.status == "active",
            CustomerRow.lat.is_not(None),
            CustomerRow.lng.is_not(None),
        )
    )
    return [Place(*r) for r in rows]


def rep_customers(session: Session, rep: str) -> list[tuple[str, str]]:
    return [
        tuple(r)
        for r in session.execute(
            select(CustomerRow.customer_id, CustomerRow.name).where(
                CustomerRow.owner_userid == rep, CustomerRow.status == "active"
            )
        )
    ]


def tags_of(session: Session, visit_id: str) -> list[str]:
    return list(
        session.scalars(
            select(VisitTagRow.tag).where(VisitTagRow.visit_id == visit_id).order_by(VisitTagRow.tag)
        )
    )


def valid_photo_count(session: Session, visit_id: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(PhotoRow)
            .where(PhotoRow.visit_id == visit_id, PhotoRow.verdict == "ok")
        )
        or 0
    )


def promises_of(session: Session, visit_id: str, *, status: str = "open") -> list[PromiseRow]:
    return list(
        session.scalars(
            select(PromiseRow)
            .where(PromiseRow.visit_id == visit_id, PromiseRow.status == status)
            .order_by(PromiseRow.id)
        )
    )


def start_visit(
    session: Session,
    *,
    rep: str,
    customer_id: str,
    now: datetime,
    lat: float | None,
    lng: float | None,
    source: str | None,
    precision: float | None,
    distance: float | None,
    grade: str | None,
    tolerance: float | None,
    why: str,
) -> VisitRow:
    visit = VisitRow(
        visit_id=new_visit_id(now),
        customer_id=customer_id,
        rep_userid=rep,
        checked_in_at=now,
        lat=lat,
        lng=lng,
        photo_count=0,
        source="chat",
        status="open",
        location_source=source,
        location_precision_m=precision,
        distance_m=distance,
        location_grade=grade,
        location_tolerance_m=tolerance,
        last_activity_at=now,
    )
    audit.add_created(
        session,
        visit,
        at=now,
        actor=rep,
        entity="visit",
        reason=why,
    )
    return visit


def set_location(
    session: Session,
    visit: VisitRow,
    *,
    lat: float,
    lng: float,
    source: str,
    precision: float | None,
    distance: float | None,
    grade: str | None,
    tolerance: float | None,
    now: datetime,
    actor: str,
    why: str,
) -> None:
    before = audit.snapshot(visit)
    visit.lat, visit.lng, visit.location_source = lat, lng, source
    visit.location_precision_m, visit.distance_m, visit.last_activity_at = precision, distance, now
    visit.location_grade, visit.location_tolerance_m = grade, tolerance
    audit.record(
        session,
        at=now,
        actor=actor,
        action="update",
        entity="visit",
        entity_id=visit.visit_id,
        before=before,
        after=audit.snapshot(visit),
        reason=why,
    )


def close_visit(session: Session, visit: VisitRow, *, now: datetime, actor: str, why: str) -> None:
    before = audit.snapshot(visit)
    visit.status, visit.closed_at = "closed", now
    audit.record(
        session,
        at=now,
        actor=actor,
        action="update",
        entity="visit",
        entity_id=visit.visit_id,
        before=before,
        after=audit.snapshot(visit),
        reason=why,
    )


def add_tags(
    session: Session, visit: VisitRow, tags: list[str], *, now: datetime, actor: str, why: str
) -> list[str]:
    have = set(tags_of(session, visit.visit_id))
    added = [t for t in tags if t not in have]
    for t in added:
        session.add(VisitTagRow(visit_id=visit.visit_id, tag=t))
        audit.record(
            session,
            at=now,
            actor=actor,
            action="create",
            entity="visit_tag",
            entity_id=f"{visit.visit_id}:{t}",
            after={"visit_id": visit.visit_id, "tag": t},
            reason=why,
        )
    if added:
        _recount(session, visit.visit_id)
    return added


def _recount(session: Session, visit_id: str) -> None:
    """visits.tag_count is kept by database triggers (storage.triggers.visit_tags): write the tag rows now and
    let a loaded visit read its count again, so that a later audit snapshot shows the stored value."""
    session.flush()
    visit = session.identity_map.get(session.identity_key(VisitRow, visit_id))  # type: ignore[arg-type]
    if visit is not None:
        session.expire(visit, ["tag_count"])


def remove_tag(session: Session, visit_id: str, tag: str, *, now: datetime, actor: str, why: str) -> bool:
    n = session.execute(
        delete(VisitTagRow).where(VisitTagRow.visit_id == visit_id, VisitTagRow.tag == tag)
    ).rowcount
    if n:
        _recount(session, visit_id)
        audit.record(
            session,
            at=now,
            actor=actor,
            action="delete",
            entity="visit_tag",
            entity_id=f"{visit_id}:{tag}",
            before={"visit_id": visit_id, "tag": tag},
            reason=why,
        )
    return bool(n)


def add_promise(
    session: Session,
    *,
    visit: VisitRow,
    kind: str,
    text: str,
    due_at: datetime,
    now: datetime,
    actor: str,
    why: str,
) -> PromiseRow:
    p = PromiseRow(
        kind=kind,
        visit_id=visit.visit_id,
        customer_id=visit.customer_id,
        rep_userid=visit.rep_userid,
        text=text[:256],
        due_at=due_at,
        status="open",
        created_at=now,
    )
    audit.add_created(
        session,
        p,
        at=now,
        actor=actor,
        entity="promise",
        reason=why,
    )
    return p


def set_promise_status(
    session: Session, promise: PromiseRow, status: str, *, now: datetime, actor: str, why: str
) -> None:
    before = audit.snapshot(promise)
    promise.status = status
    audit.record(
        session,
        at=now,
        actor=actor,
        action="update",
        entity="promise",
        entity_id=str(promise.id),
        before=before,
        after=audit.snapshot(promise),
        reason=why,
    )


def restore_promise(
    session: Session, removed: PromiseRow, *, now: datetime, actor: str, why: str
) -> PromiseRow:
    """Bring a cancelled promise back as a new open row with its kind, text and due time (the cancelled row,
    its timers and its calendar entry stay as they were: the new row gets its own). Audited."""
    restored = PromiseRow(
        kind=removed.kind,
        visit_id=removed.visit_id,
        customer_id=removed.customer_id,
        rep_userid=removed.rep_userid,
        text=removed.text,
        due_at=removed.due_at,
        status="open",
        created_at=now,
    )
    audit.add_created(
        session,
        restored,
        at=now,
        actor=actor,
        entity="promise",
        reason=f"{why} (restores promise {removed.id})",
    )
    return restored


def set_note(
    session: Session, visit: VisitRow, note: str | None, *, now: datetime, actor: str, why: str
) -> None:
    before = audit.snapshot(visit)
    visit.note, visit.last_activity_at = note, now
    audit.record(
        session,
        at=now,
        actor=actor,
        action="update",
        entity="visit",
        entity_id=visit.visit_id,
        before=before,
        after=audit.snapshot(visit),
        reason=why,
    )


def refresh_photo_count(session: Session, visit: VisitRow) -> int:
    visit.photo_count = valid_photo_count(session, visit.visit_id)
    return visit.photo_count


def add_photo(session: Session, photo: PhotoRow, *, now: datetime, why: str) -> PhotoRow:
    audit.add_created(
        session,
        photo,
        at=now,
        actor=photo.rep_userid,
        entity="photo",
        reason=why,
    )
    return photo


def unattached_photos(session: Session, rep: str, *, since: datetime) -> list[PhotoRow]:
    """Photos a rep sent before checking in (they count once the visit opens)."""
    return list(
        session.scalars(
            select(PhotoRow)
            .where(PhotoRow.rep_userid == rep, PhotoRow.visit_id.is_(None), PhotoRow.received_at >= since)
            .order_by(PhotoRow.id)
        )
    )


def similar_hashes(session: Session, bands: tuple[int, int, int, int], *, exclude_media: str) -> list[str]:
    """Earlier photos whose perceptual hash may be within 7 bits of this one (the candidates).

    Multi-index hashing: the 64-bit hash is stored as four indexed 16-bit bands. Two hashes at most 7 bits
    apart have, by pigeonhole, one band at most 1 bit apart, so each band is looked up with its 17
    neighbours (itself and every one-bit flip): exact for any distance ≤ 7, and selective.
    """

    def near(b: int) -> list[int]:
        return [b] + [b ^ (1 << k) for k in range(16)]

    q = (
        select(PhotoRow.phash)
        .where(
            or_(
                PhotoRow.ph0.in_(near(bands[0])),
                PhotoRow.ph1.in_(near(bands[1])),
                PhotoRow.ph2.in_(near(bands[2])),
                PhotoRow.ph3.in_(near(bands[3])),
            ),
            PhotoRow.media_id != exclude_media,
            PhotoRow.phash.is_not(None),
        )
        .limit(5000)
    )
    return [h for h in session.scalars(q) if h]


def visits_between(session: Session, rep: str, start: datetime, end: datetime) -> list[VisitRow]:
    return list(
        session.scalars(
            select(VisitRow)
            .where(VisitRow.rep_userid == rep, VisitRow.checked_in_at >= start, VisitRow.checked_in_at < end)
            .order_by(VisitRow.checked_in_at)
        )
    )


def idle_open_visits(session: Session, *, idle_since: datetime) -> list[VisitRow]:
    return list(
        session.scalars(
            select(VisitRow).where(VisitRow.status == "open", VisitRow.last_activity_at < idle_since)
        )
    )


def recent_window(now: datetime, minutes: int) -> datetime:
    return now - timedelta(minutes=minutes)


def promises_of_visit(session: Session, visit_id: str) -> list[PromiseRow]:
    return list(
        session.scalars(select(PromiseRow).where(PromiseRow.visit_id == visit_id).order_by(PromiseRow.id))
    )


def has_tag(session: Session, visit_id: str, tag: str) -> bool:
    return (
        session.scalar(
            select(VisitTagRow.visit_id).where(VisitTagRow.visit_id == visit_id, VisitTagRow.tag == tag)
        )
        is not None
    )
