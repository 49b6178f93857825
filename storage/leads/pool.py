"""The dormancy sweep's two moves (docs/leads.md § Pools), set-based and audited per lead:

- into the nurture pool: an open lead in its owner's hands whose dormancy clock (`quiet_since`: the latest
  effective interaction, claim or creation) is older than `dormant_after` (72 h). The owner keeps it;
- into the public pool: an open lead with an owner (in hand or nurtured) whose clock is older than
  `public_after` (15 days). It loses its owner.
Each call moves at most `limit` leads (oldest clock first; the next sweep takes the rest), each with one audit
row (before and after: pool, owner, pool_since). PostgreSQL 18: one UPDATE … RETURNING old.* moves the leads
and feeds their audit rows (same statement); past `limit`, the limit-th oldest clock bounds it. Older
PostgreSQL: one statement chooses the leads (locked with SKIP LOCKED, so a lead a chat claim or interaction
holds is left for the next sweep), moves them and writes their audit rows. SQLite (one writer): the candidates are read, the audit rows inserted, the leads moved with one
UPDATE per 10,000 ids. The candidates are found by the partial index `ix_leads_pool_quiet` (open leads in hand
or nurtured: a lead moved to the public pool leaves it), the public pool's reads by `ix_leads_public`
(storage/leads/models.py: a move writes an entry only into the indexes whose predicate the new row meets).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from core.leads.policy import LeadPolicy
from storage.audit import jsonable
from storage.importer.run import _among, bulk_insert
from storage.leads.models import LeadRow
from storage.leads.pg_settings import local_settings
from storage.leads.store import OPEN_STAGES
from storage.models import AuditRow

CHUNK = 10_000


@dataclass(frozen=True)
class Moved:
    lead_id: str
    company: str
    owner: str  # the owner before the move
    pool: str  # nurture | public
    grade: str | None
    quiet_since: datetime


def _due(session: Session, *, in_hand_only: bool, before: datetime, limit: int) -> list[Any]:
    q = select(
        LeadRow.lead_id,
        LeadRow.company,
        LeadRow.owner_userid,
        LeadRow.pool,
        LeadRow.pool_since,
        LeadRow.grade,
        LeadRow.quiet_since,
    ).where(LeadRow.owner_userid.is_not(None), LeadRow.stage.in_(OPEN_STAGES), LeadRow.quiet_since < before)
    q = (
        q.where(LeadRow.pool.is_(None))
        if in_hand_only
        else q.where(LeadRow.pool.is_(None) | (LeadRow.pool == "nurture"))
    )
    q = q.order_by(LeadRow.quiet_since, LeadRow.lead_id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return list(session.execute(q))


def _move(
    session: Session, rows: list[Any], pool: str, *, now: datetime, actor: str, reason: str
) -> list[Moved]:
    if not rows:
        return []
    public = pool == "public"
    audits = []
    for r in rows:
        before = {"pool": r.pool, "owner_userid": r.owner_userid, "pool_since": jsonable(r.pool_since)}
        after = {
            "pool": pool,
            "owner_userid": None if public else r.owner_userid,
            "pool_since": now.isoformat(),
        }
        audits.append(
            {
                "at": now,
                "actor": actor,
                "action": "update",
                "entity": "lead",
                "entity_id": r.lead_id,
                "before": before,
                "after": after,
                "reason": reason[:256],
            }
        )
    bulk_insert(session, AuditRow.__table__, audits)
    values: dict[str, Any] = {"pool": pool, "pool_since": now}
    if public:
        values["owner_userid"] = None
    ids = [r.lead_id for r in rows]
    for start in range(0, len(ids), CHUNK):
        session.execute(
            update(LeadRow)
            .where(_among(session, LeadRow.lead_id, ids[start : start + CHUNK]))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    return [Moved(r.lead_id, r.company, r.owner_userid or "", pool, r.grade, r.quiet_since) for r in rows]


# each move's audit row (before and after) and the moved rows, in the move's own statement
_AUDIT_MOVED = """), audited AS (
  INSERT INTO audit (at, actor, action, entity, entity_id, before, after, reason)
  SELECT :now, CAST(:actor AS varchar), 'update', 'lead', lead_id,
         json_build_object('pool', old_pool, 'owner_userid', old_owner, 'pool_since', old_since),
         json_build_object('pool', CAST(:pool AS text), 'owner_userid', {owner_after},
                           'pool_since', CAST(:now_iso AS text)),
         CAST(:reason AS varchar)
  FROM moved
)
SELECT lead_id, company, old_owner, grade, quiet_since FROM moved
"""

_PG_MOVE = (
    """
WITH due AS (
  SELECT lead_id, owner_userid, pool, pool_since FROM leads
  WHERE owner_userid IS NOT NULL AND stage IN ('new', 'contacted', 'proposal') AND quiet_since < :before
    AND {pools}
  ORDER BY quiet_since, lead_id LIMIT :limit FOR UPDATE SKIP LOCKED
), moved AS (
  UPDATE leads SET pool = CAST(:pool AS varchar), pool_since = :now{owner_set}
  FROM due WHERE leads.lead_id = due.lead_id
  RETURNING leads.lead_id, leads.company, leads.grade, leads.quiet_since,
            due.owner_userid AS old_owner, due.pool AS old_pool, due.pool_since AS old_since
"""
    + _AUDIT_MOVED
)


_PG18_MOVE = (
    """
WITH moved AS (
  UPDATE leads SET pool = CAST(:pool AS varchar), pool_since = :now{owner_set}
  WHERE {due}
  RETURNING leads.lead_id, leads.company, leads.grade, leads.quiet_since,
            old.owner_userid AS old_owner, old.pool AS old_pool, old.pool_since AS old_since
"""
    + _AUDIT_MOVED
)
_DUE = "owner_userid IS NOT NULL AND stage IN ('new', 'contacted', 'proposal') AND quiet_since < :before AND {pools}"


def _move_pg(
    session: Session,
    *,
    from_pool: str | None,
    before: datetime,
    limit: int,
    pool: str,
    now: datetime,
    actor: str,
    reason: str,
) -> list[Moved]:
    """PostgreSQL: choose, lock, move and audit in one statement. One pool at a time, so the choice walks the
    (pool, quiet_since) index and a sweep with nothing due reads almost nothing."""
    public = pool == "public"
    if session.connection().dialect.server_version_info >= (18,):
        return _move_pg18(
            session,
            from_pool=from_pool,
            before=before,
            limit=limit,
            pool=pool,
            now=now,
            actor=actor,
            reason=reason,
        )
    sql = _PG_MOVE.format(
        pools="pool IS NULL" if from_pool is None else "pool = 'nurture'",
        owner_set=", owner_userid = NULL" if public else "",
        owner_after="NULL" if public else "old_owner",
    )
    params = {
        "before": before,
        "limit": limit,
        "pool": pool,
        "now": now,
        "now_iso": now.isoformat(),
        "actor": actor,
        "reason": reason[:256],
    }
    return [Moved(r[0], r[1], r[2] or "", pool, r[3], r[4]) for r in session.execute(text(sql), params)]


def _move_pg18(
    session: Session,
    *,
    from_pool: str | None,
    before: datetime,
    limit: int,
    pool: str,
    now: datetime,
    actor: str,
    reason: str,
) -> list[Moved]:
    """PostgreSQL 18: one UPDATE … RETURNING old.* moves the due leads and writes their audit rows, with no
    separate pass to choose and lock them. Over `limit`, the limit-th oldest clock (read from the
    (pool, quiet_since) index) bounds the move. A lead a chat holds is waited for (milliseconds), and its
    condition re-checked on the version the chat wrote: a lead followed up meanwhile is not moved."""
    public = pool == "public"
    due = _DUE.format(pools="pool IS NULL" if from_pool is None else "pool = 'nurture'")
    params: dict[str, Any] = {
        "before": before,
        "pool": pool,
        "now": now,
        "now_iso": now.isoformat(),
        "actor": actor,
        "reason": reason[:256],
    }
    edge = session.execute(
        text(
            f"SELECT quiet_since, lead_id FROM leads WHERE {due} ORDER BY quiet_since, lead_id OFFSET :skip LIMIT 1"
        ),
        {**params, "skip": limit},
    ).first()
    if edge is not None:  # more than `limit` due: the oldest `limit` only
        due += " AND (quiet_since, lead_id) < (:edge_quiet, :edge_id)"
        params.update(edge_quiet=edge[0], edge_id=edge[1])
    sql = _PG18_MOVE.format(
        due=due,
        owner_set=", owner_userid = NULL" if public else "",
        owner_after="NULL" if public else "old_owner",
    )
    return [Moved(r[0], r[1], r[2] or "", pool, r[3], r[4]) for r in session.execute(text(sql), params)]


def sweep(
    session: Session, *, now: datetime, policy: LeadPolicy, actor: str, reason: str, limit: int = 100_000
) -> list[Moved]:
    """Move what is due: first the leads quiet for `public_after` to the public pool, then those quiet for
    `dormant_after` to the nurture pool. Returns the moves (for the announcements)."""
    if session.get_bind().dialect.name == "postgresql":
        session.flush()
        moved: list[Moved] = []
        # the moved rows are read twice (the audit rows, the announcements): in memory, not spilled to disk
        with local_settings(session, work_mem="64MB"):
            for from_pool, to_pool, quiet in (
                (None, "public", policy.public_after),
                ("nurture", "public", policy.public_after),
                (None, "nurture", policy.dormant_after),
            ):
                if limit - len(moved) <= 0:
                    break
                moved += _move_pg(
                    session,
                    from_pool=from_pool,
                    before=now - quiet,
                    limit=limit - len(moved),
                    pool=to_pool,
                    now=now,
                    actor=actor,
                    reason=reason,
                )
        _expire_leads(session)
        return moved
    moved = _move(
        session,
        _due(session, in_hand_only=False, before=now - policy.public_after, limit=limit),
        "public",
        now=now,
        actor=actor,
        reason=reason,
    )
    left = limit - len(moved)
    if left > 0:
        rows = _due(session, in_hand_only=True, before=now - policy.dormant_after, limit=left)
        moved += _move(session, rows, "nurture", now=now, actor=actor, reason=reason)
    _expire_leads(session)
    return moved


def _expire_leads(session: Session) -> None:
    for obj in list(session.identity_map.values()):  # the ORM's copies of the moved leads are stale
        if isinstance(obj, LeadRow):
            session.expire(obj)
