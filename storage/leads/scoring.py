"""Scoring every lead at once (after the score card changed, or to check): exact by construction and
set-based. Leads share few distinct combinations of the facts the card reads (source, credit grade, inquiries,
contact role, industry, downloads), so:

1. the distinct combinations are read in one pass (a hash aggregate);
2. each is scored by core/leads/score.py itself — the very function the chat and the import use;
3. the results go into a temporary table, and one INSERT … SELECT writes an audit row (before and after: score
   and grade) for every lead whose score, grade or explanation differs, and one UPDATE … FROM sets them.
The explanation is compared as stored text (the JSON the ORM writes is the JSON written here).
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
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ANALYZE lead_score_tmp"))  # a hash join, not a loop over the combinations
        joined = and_(*[_key(getattr(LeadRow, f), f) == _key(SCORES.c[f], f) for f in FACTS])
        differs = or_(
            LeadRow.score.is_distinct_from(SCORES.c.score),
            LeadRow.grade.is_distinct_from(SCORES.c.grade),
            cast(LeadRow.score_detail, Text).is_distinct_from(SCORES.c.detail),
        )
        pg = session.get_bind().dialect.name == "postgresql"
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
        changed = int(result.rowcount or 0)
    finally:
        SCORES.drop(conn, checkfirst=True)
    for obj_ in list(session.identity_map.values()):  # the ORM's copies of re-scored leads are stale
        if isinstance(obj_, LeadRow):
            session.expire(obj_)
    return changed
