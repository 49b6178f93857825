"""Tables of leads (docs/leads.md): the lead, its interactions, its stage history, its SOP steps, and the
products catalogue the recommendations read.

Import this module before `Base.metadata.create_all` / Alembic (storage/all_models.py does).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId, Id

LEADS_FILLFACTOR = 50
POOL_QUIET_WHERE = "(pool IS NULL OR pool = 'nurture') AND stage IN ('new', 'contacted', 'proposal')"


def _where(condition: str, *, sqlite: bool = True) -> dict[str, Any]:
    """A partial index's predicate. SQLite uses a partial index only when the query repeats its terms
    (bound parameters do not count), so the sweep's index stays whole there (`sqlite=False`)."""
    return {"postgresql_where": text(condition), **({"sqlite_where": text(condition)} if sqlite else {})}


class LeadRow(Base):
    """A lead: who, where from, whose (or which pool), how good (score, grade), how far (stage)."""

    __tablename__ = "leads"
    lead_id: Mapped[str] = mapped_column(Id, primary_key=True)
    company: Mapped[str] = mapped_column(String(128))  # found by infix LIKE: a btree would not help
    contact_name: Mapped[str | None] = mapped_column(String(64))
    contact_role: Mapped[str | None] = mapped_column(String(32))
    phone: Mapped[str | None] = mapped_column(String(32))
    industry: Mapped[str | None] = mapped_column(String(32))
    region: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str | None] = mapped_column(String(32))
    credit_grade: Mapped[str | None] = mapped_column(String(8))  # the company's credit grade: A | B | C | D
    inquiries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # 询价次数
    downloads: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # 资料下载次数
    pain_words: Mapped[list[Any]] = mapped_column(JSON, default=list)
    first_contact_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column()
    # the owner; NULL while in the public pool. pool: NULL (in the owner's hands) | nurture | public
    owner_userid: Mapped[str | None] = mapped_column(Id)
    pool: Mapped[str | None] = mapped_column(String(16))
    pool_since: Mapped[datetime | None] = mapped_column()
    # the dormancy clock: the latest effective interaction, claim, hand-over or creation (docs/leads.md)
    quiet_since: Mapped[datetime] = mapped_column()
    last_effective_at: Mapped[datetime | None] = mapped_column()
    score: Mapped[float | None] = mapped_column(Float)
    grade: Mapped[str | None] = mapped_column(
        String(4)
    )  # A+ | A | B | C (read per owner: no index of its own)
    # the points per dimension, {"source": 16.0, …} (core/leads/score.py ScoreCard.detail); the words are derived
    score_detail: Mapped[dict[str, float] | None] = mapped_column(JSON)
    scored_at: Mapped[datetime | None] = mapped_column()
    stage: Mapped[str] = mapped_column(String(16), default="new")  # new|contacted|proposal|converted|lost
    stage_since: Mapped[datetime] = mapped_column()
    lost_reason: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.customer_id"))
    opportunity_id: Mapped[str | None] = mapped_column(Id)
    converted_at: Mapped[datetime | None] = mapped_column()
    sop_gen: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # SOP sequence generation

    # Every non-HOT update of a lead writes one entry into each index whose predicate the new version meets:
    # the indexes are partial so that a move to the public pool (no owner, no customer) writes two entries,
    # not four, and a move to the nurture pool three (migration 0028, docs/bench.md § Leads). Score, grade
    # and points are in no index and `leads` keeps half of each page free (fillfactor 50): a re-score is a
    # HOT update (the new version on the same page, no index entry).
    __table_args__ = (
        Index("ix_leads_owner_userid", "owner_userid", **_where("owner_userid IS NOT NULL")),
        Index("ix_leads_customer_id", "customer_id", **_where("customer_id IS NOT NULL")),
        # the dormancy sweep's candidates: open leads in hand or nurtured, by their clock
        Index("ix_leads_pool_quiet", "pool", "quiet_since", **_where(POOL_QUIET_WHERE, sqlite=False)),
        Index("ix_leads_public", "quiet_since", **_where("pool = 'public'")),  # the public pool's reads
        {"postgresql_with": {"fillfactor": LEADS_FILLFACTOR}},
    )


class LeadInteractionRow(Base):
    """Something that happened with a lead. `effective` is decided when it is written (core/leads/policy.py)."""

    __tablename__ = "lead_interactions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    lead_id: Mapped[str] = mapped_column(ForeignKey("leads.lead_id"), index=True)
    rep_userid: Mapped[str | None] = mapped_column(Id)
    at: Mapped[datetime] = mapped_column()
    kind: Mapped[str] = mapped_column(
        String(16)
    )  # call|visit|meeting|wecom|email|proposal|case|mass|sticker…
    effective: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="chat")  # chat | import | event

    __table_args__ = (Index("ix_lead_interactions_lead_at", "lead_id", "at"),)


class LeadStageRow(Base):
    """One stay of a lead in a stage (entered, left): the board's average time per stage."""

    __tablename__ = "lead_stages"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    lead_id: Mapped[str] = mapped_column(ForeignKey("leads.lead_id"), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    entered_at: Mapped[datetime] = mapped_column()
    left_at: Mapped[datetime | None] = mapped_column()


class LeadSopStepRow(Base):
    """One step of a lead's grade-driven sequence: due, done (by whom, how), late (escalated to whom)."""

    __tablename__ = "lead_sop_steps"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    lead_id: Mapped[str] = mapped_column(ForeignKey("leads.lead_id"), index=True)
    gen: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)  # 1, 2, 3 … in the sequence
    step: Mapped[str] = mapped_column(String(32))  # first_call | proposal | case | …
    label: Mapped[str] = mapped_column(String(64))
    grade: Mapped[str] = mapped_column(String(4))
    owner_userid: Mapped[str] = mapped_column(Id, index=True)
    due_at: Mapped[datetime] = mapped_column(index=True)
    done_at: Mapped[datetime | None] = mapped_column()
    done_by: Mapped[str | None] = mapped_column(String(64))  # a userid, or interaction:<id>
    escalated_at: Mapped[datetime | None] = mapped_column()
    escalated_to: Mapped[str | None] = mapped_column(Id)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done | late | cancelled

    __table_args__ = (UniqueConstraint("lead_id", "gen", "seq"),)


class ProductRow(Base):
    """The catalogue the recommendations rank (imported: docs/import-format.md § products)."""

    __tablename__ = "products"
    product_id: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    category: Mapped[str | None] = mapped_column(String(32))
    industries: Mapped[list[Any]] = mapped_column(JSON, default=list)
    pain_keywords: Mapped[list[Any]] = mapped_column(JSON, default=list)
    pitch: Mapped[str | None] = mapped_column(Text)
    competitors: Mapped[str | None] = mapped_column(Text)  # the comparison with competitors
