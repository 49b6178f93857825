"""Scoring every lead at once (after the score card changed, or to check): exact by construction and
set-based. Leads share few distinct combinations of the facts the card reads (source, credit grade, inquiries,
contact role, industry, downloads), so:

1. the distinct combinations are read in one pass (a hash aggregate);
2. each is scored by core/leads/score.py itself — the very function the chat and the import use;
3. the results go into a temporary table; every lead whose score, grade or points per dimension differ is set
   and gets an audit row (before and after: score and grade) — PostgreSQL 18: one UPDATE … RETURNING old.*
   feeding the audit INSERT in the same statement; SQLite and older PostgreSQL: one INSERT … SELECT (audit),
   then one UPDATE … FROM. Leads already scored so are not written. On PostgreSQL the join is a hash join
   walked in the table's order (the update writes page after page), and `leads` keeps half of each page free
   (fillfactor 50, migration 0028) so that a re-score writes the new row version on the same page without a
   new index entry (a HOT update: score, grade and points are in no index).
The points are compared as stored text (the JSON the ORM writes is the JSON written here).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import JSON

from core.leads.policy import COUNT_FACTS, FACTS, LeadPolicy
from core.leads.score import LeadFacts, score
from storage.leads.models import LeadRow
from storage.leads.pg_settings import local_settings
from storage.models import AuditRow

NULL_TEXT = (
    "\x01"  # stands for NULL in the join keys (no fact holds it: text cells refuse control characters)
)
_meta = MetaData()
SCORES = Table(
    "lead_score_tmp",
    _meta,
    *[Column(f, Integer if f in COUNT_FACTS else String(64)) for f in FACTS],
    Column("score", Float),
    Column("grade", String(4)),
    Column("detail", Text),
    prefixes=["TEMPORARY"],
)


def _key(col: Any, fact: str) -> Any:
    return func.coalesce(col, -1 if fact in COUNT_FACTS else NULL_TEXT)


def rescore_bulk(session: Session, *, policy: LeadPolicy, now: datetime, actor: str, reason: str) -> int:
    """Re-score every lead in the database; audit and update those that change. Returns how many changed."""
    cols = [getattr(LeadRow, f) for f in FACTS]
    combos = session.execute(select(*cols).distinct()).all()
    rows = []
    for combo in combos:
        facts = dict(zip(FACTS, combo, strict=True))
        card = score(
            LeadFacts(**{k: (int(v or 0) if k in COUNT_FACTS else v) for k, v in facts.items()}), policy
        )
        rows.append(
            {
                **facts,
                "score": float(card.score),
                "grade": card.grade,
                "detail": json.dumps(card.detail()),
            }
        )
    conn = session.connection()
    SCORES.drop(conn, checkfirst=True)
    SCORES.create(conn)
    try:
        if rows:
            session.execute(insert(SCORES), rows)
        pg = session.get_bind().dialect.name == "postgresql"
        if pg:
            session.execute(text("ANALYZE lead_score_tmp"))  # a hash join, not a loop over the combinations
        # A hash join of the few combinations, probed by the leads in the table's order, so that the update
        # writes the leads page after page. The planner's merge join sorted the leads by their facts first
        # (91 MB on disk) and so updated them in random order: every new row version and index entry went to
        # another page, and the 128 MB of shared buffers wrote out ~7 GB (1,000,000 leads: 103 s → 25 s;
        # docs/bench.md § Leads). 64 MB of work_mem keep the changed rows (RETURNING, ~60 MB) in memory.
        with local_settings(session, work_mem="64MB", enable_mergejoin="off"):
            if pg and session.connection().dialect.server_version_info >= (18,):
                changed = _update_and_audit_pg18(session, now=now, actor=actor, reason=reason)
            else:
                changed = _audit_then_update(session, pg=pg, now=now, actor=actor, reason=reason)
    finally:
        SCORES.drop(conn, checkfirst=True)
    for obj_ in list(session.identity_map.values()):  # the ORM's copies of re-scored leads are stale
        if isinstance(obj_, LeadRow):
            session.expire(obj_)
    return changed


def _audit_then_update(session: Session, *, pg: bool, now: datetime, actor: str, reason: str) -> int:
    """SQLite and PostgreSQL before 18: one INSERT … SELECT writes the audit rows, one UPDATE … FROM the leads."""
    joined = and_(*[_key(getattr(LeadRow, f), f) == _key(SCORES.c[f], f) for f in FACTS])
    differs = or_(
        LeadRow.score.is_distinct_from(SCORES.c.score),
        LeadRow.grade.is_distinct_from(SCORES.c.grade),
        cast(LeadRow.score_detail, Text).is_distinct_from(SCORES.c.detail),
    )
    obj = func.json_build_object if pg else func.json_object
    audit_rows = (
        select(
            literal(now, type_=AuditRow.at.type),
            literal(actor),
            literal("update"),
            literal("lead"),
            LeadRow.lead_id,
            obj("score", LeadRow.score, "grade", LeadRow.grade),
            obj("score", SCORES.c.score, "grade", SCORES.c.grade),
            literal(reason[:256]),
        )
        .select_from(LeadRow)
        .join(SCORES, joined)
        .where(differs)
    )
    names = ["at", "actor", "action", "entity", "entity_id", "before", "after", "reason"]
    session.execute(insert(AuditRow).from_select(names, audit_rows))
    result = session.execute(
        update(LeadRow)
        .where(joined, differs)
        .values(
            score=SCORES.c.score,
            grade=SCORES.c.grade,
            score_detail=cast(SCORES.c.detail, JSON) if pg else SCORES.c.detail,
            scored_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


# PostgreSQL 18's RETURNING old.*: the leads are updated and their audit rows written by one statement (one
# pass over the table instead of two). Rows whose score, grade and points are already the card's are skipped.
_JOIN = " AND ".join(
    f"COALESCE(leads.{f}, {k}) = COALESCE(s.{f}, {k})"
    for f, k in ((f, "-1" if f in COUNT_FACTS else "chr(1)") for f in FACTS)  # chr(1): NULL_TEXT
)
_PG18 = f"""
WITH up AS (
  UPDATE leads SET score = s.score, grade = s.grade, score_detail = CAST(s.detail AS json), scored_at = :now
  FROM lead_score_tmp s
  WHERE {_JOIN}
    AND (leads.score IS DISTINCT FROM s.score OR leads.grade IS DISTINCT FROM s.grade
         OR CAST(leads.score_detail AS text) IS DISTINCT FROM s.detail)
  RETURNING leads.lead_id, old.score AS old_score, old.grade AS old_grade, new.score AS new_score,
            new.grade AS new_grade
)
INSERT INTO audit (at, actor, action, entity, entity_id, before, after, reason)
SELECT :now, CAST(:actor AS varchar), 'update', 'lead', lead_id,
       json_build_object('score', old_score, 'grade', old_grade),
       json_build_object('score', new_score, 'grade', new_grade), CAST(:reason AS varchar)
FROM up
"""


def _update_and_audit_pg18(session: Session, *, now: datetime, actor: str, reason: str) -> int:
    result = session.execute(text(_PG18), {"now": now, "actor": actor, "reason": reason[:256]})
    return int(result.rowcount or 0)
