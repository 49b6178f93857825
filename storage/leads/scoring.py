"""Scoring every lead at once, in the database: the score card (core/leads/policy.py) compiled into one SQL
expression per dimension, so re-scoring a million leads after the score card changed is two statements, not a
million round trips. The result is the one core/leads/score.py computes (tests/leads/test_lead_scale.py
compares them): each dimension's points are the policy's weight × fraction rounded half-up to one decimal
(computed here in Python, so the SQL only picks a constant), kept as whole tenths; the score is
(tenths + 5) // 10, which is the half-up rounding of their sum.

Each lead whose score, grade or explanation changes gets an audit row (before and after: score and grade;
the explanation is reproducible from the facts and the score card) and its new values, in the caller's
transaction.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Integer, and_, case, cast, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.types import String

from core.leads.policy import COUNT_FACTS, Dimension, LeadPolicy
from storage.leads.models import LeadRow
from storage.models import AuditRow

UNKNOWN_VALUE = "未提供"


def _tenths(weight: float, fraction: float) -> int:
    points = Decimal(repr(weight * fraction)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return int(points * 10)


def _contains(pg: bool, haystack: Any, needle: str) -> Any:
    return (func.strpos(haystack, needle) if pg else func.instr(haystack, needle)) > 0


def _dimension(d: Dimension, pg: bool) -> tuple[Any, Any, Any]:
    """(tenths, value shown, matched) as SQL expressions for one dimension."""
    col = getattr(LeadRow, d.key)
    if d.key in COUNT_FACTS:
        count = func.coalesce(col, 0)
        ordered = sorted(d.steps, key=lambda s: -s[0])  # the highest threshold reached wins
        tenths = case(
            *[(count >= t, _tenths(d.weight, f)) for t, f in ordered], else_=_tenths(d.weight, d.unknown)
        )
        matched = case(*[(count >= t, f"≥{t}次") for t, f in ordered], else_=None)
        value = func.concat(cast(count, String), "次") if pg else cast(count, String).op("||")("次")
        return tenths, value, matched
    text = func.trim(col)
    present = and_(col.is_not(None), text != "")
    # the best fraction whose word the fact contains; among equal fractions the first in the table
    ordered = sorted(enumerate(d.table), key=lambda x: (-x[1][1], x[0]))
    whens = [(and_(present, _contains(pg, text, w)), (w, f)) for _, (w, f) in ordered if w]
    tenths = case(*[(c, _tenths(d.weight, f)) for c, (w, f) in whens], else_=_tenths(d.weight, d.unknown))
    matched = case(*[(c, w) for c, (w, f) in whens], else_=None)
    value = case((present, text), else_=UNKNOWN_VALUE)
    return tenths, value, matched


def compiled(session: Session, policy: LeadPolicy) -> tuple[Any, Any, Any, Any]:
    """(score, grade, score_detail, differs) as SQL expressions over the leads table; `differs` holds for a
    lead whose stored score, grade or explanation is not the one the policy gives."""
    pg = session.get_bind().dialect.name == "postgresql"
    obj = func.json_build_object if pg else func.json_object
    arr = func.json_build_array if pg else func.json_array
    total: Any = literal(0)
    parts = []
    checks = []
    for i, d in enumerate(policy.dimensions):
        tenths, value, matched = _dimension(d, pg)
        total = total + tenths
        points = cast(tenths, Integer) / 10.0
        shown = {
            "key": d.key,
            "label": d.label,
            "value": value,
            "matched": matched,
            "points": points,
            "max": literal(d.weight),
        }
        parts.append(obj(*[x for kv in shown.items() for x in kv]))
        if not pg:  # SQLite keeps JSON as text (escaped by Python, raw by json_object): compare the values
            checks += [
                func.json_extract(LeadRow.score_detail, f"$[{i}].{k}").is_distinct_from(v)
                for k, v in shown.items()
            ]
    score = (total + 5) // 10  # floor division of whole tenths: the half-up rounding of their sum
    grade = case(*[(score >= threshold, g) for g, threshold in policy.grades], else_="C")
    detail = arr(*parts)
    if pg:
        detail_differs = func.to_jsonb(LeadRow.score_detail).is_distinct_from(func.to_jsonb(detail))
    else:
        n = func.json_array_length(LeadRow.score_detail)
        detail_differs = or_(
            LeadRow.score_detail.is_(None), n.is_distinct_from(len(policy.dimensions)), *checks
        )
    differs = or_(
        LeadRow.score.is_distinct_from(score), LeadRow.grade.is_distinct_from(grade), detail_differs
    )
    return score, grade, detail, differs


def rescore_bulk(session: Session, *, policy: LeadPolicy, now: datetime, actor: str, reason: str) -> int:
    """Re-score every lead in the database; audit and update those that change. Returns how many changed."""
    pg = session.get_bind().dialect.name == "postgresql"
    score, grade, detail, differs = compiled(session, policy)
    obj = func.json_build_object if pg else func.json_object
    audit_rows = select(
        literal(now, type_=AuditRow.at.type),
        literal(actor),
        literal("update"),
        literal("lead"),
        LeadRow.lead_id,
        obj("score", LeadRow.score, "grade", LeadRow.grade),
        obj("score", score, "grade", grade),
        literal(reason[:256]),
    ).where(differs)
    cols = ["at", "actor", "action", "entity", "entity_id", "before", "after", "reason"]
    session.execute(insert(AuditRow).from_select(cols, audit_rows))
    result = session.execute(
        update(LeadRow)
        .where(differs)
        .values(score=score, grade=grade, score_detail=detail, scored_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)
