"""The tables of the web pages (docs/web-sign-in.md): sign-in sessions, and the generation of each person's
calendar feed secret. Import before create_all (storage/all_models.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, Id


class WebSessionRow(Base):
    """One signed-in browser: the SHA-256 of the cookie's random id (never the id), whose it is, until when.
    Ended (sign-out, deactivation) rows stay until the retention sweep; `ended_reason` says why."""

    __tablename__ = "web_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    userid: Mapped[str] = mapped_column(Id, index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    ended_at: Mapped[datetime | None]
    ended_reason: Mapped[str | None] = mapped_column(String(16))  # signed_out | deactivated
    via: Mapped[str] = mapped_column(String(8))  # oauth (inside WeCom) | qr (desktop)


class CalendarFeedRow(Base):
    """The generation of a person's ICS feed URL (core/ics_token.py); no row: generation 0, never reset."""

    __tablename__ = "calendar_feeds"
    userid: Mapped[str] = mapped_column(Id, primary_key=True)
    generation: Mapped[int] = mapped_column(Integer)
    rotated_at: Mapped[datetime]
