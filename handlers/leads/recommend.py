"""「推荐产品 …」: the three catalogue products that best match a lead (by its company) or an industry and pain
words typed after the command (core/leads/recommend.py says how they are ranked)."""

from __future__ import annotations

import re

from sqlalchemy import select

from core.leads.parse import INDUSTRY_WORDS, PAIN_WORDS
from core.leads.recommend import Match, Product, rank
from core.markup import escape_md
from core.org import scope_of
from handlers.context import Ctx
from handlers.leads import texts as T
from handlers.leads.policy import policy_of
from handlers.messages import Inbound, Markdown, Text, text_of
from storage import people
from storage.leads import queries
from storage.leads.models import LeadRow, ProductRow

COMMAND = r"^\s*(推荐产品|产品推荐)"
_PREFIX = re.compile(COMMAND + r"\s*[:：]?\s*")
CATALOGUE_CACHE = "lead_products"


def catalogue(ctx: Ctx) -> list[Product]:
    cached = ctx.cache.get(CATALOGUE_CACHE)
    if isinstance(cached, list):
        return cached
    rows = ctx.session.scalars(select(ProductRow).order_by(ProductRow.product_id))
    out = [
        Product(
            product_id=r.product_id,
            name=r.name,
            category=r.category,
            industries=tuple(r.industries or ()),
            pain_keywords=tuple(r.pain_keywords or ()),
            pitch=r.pitch,
            competitors=r.competitors,
        )
        for r in rows
    ]
    ctx.cache[CATALOGUE_CACHE] = out
    return out


def for_lead(ctx: Ctx, lead: LeadRow) -> list[Match]:
    return rank(
        catalogue(ctx), industry=lead.industry, pains=list(lead.pain_words or []), policy=policy_of(ctx)
    )


def _words(rest: str) -> tuple[str | None, list[str]]:
    """An industry and pain words from free text: the first piece with an industry word is the industry."""
    industry, pains = None, []
    for piece in re.split(r"[\s，,、；;]+", rest):
        if not piece:
            continue
        if (
            industry is None
            and any(w in piece for w in INDUSTRY_WORDS)
            and not any(w in piece for w in PAIN_WORDS)
        ):
            industry = piece
        else:
            pains.append(piece)
    return industry, pains


def render(who: str, matches: list[Match]) -> Markdown | Text:
    if not matches:
        return Text(content=T.RECOMMEND_NONE.format(who=who))
    lines = [f"**{escape_md(T.RECOMMEND_TITLE.format(who=who))}**"]
    for n, m in enumerate(matches, start=1):
        why = []
        if m.industry:
            why.append(T.WHY_INDUSTRY.format(industry=m.industry))
        if m.pains:
            why.append(T.WHY_PAINS.format(pains="、".join(m.pains)))
        lines.append(
            T.RECOMMEND_LINE.format(
                n=n,
                name=escape_md(m.product.name),
                points=f"{m.points:g}",
                why=escape_md("，".join(why)),
                pitch=escape_md(m.product.pitch or T.NONE),
                vs=escape_md(m.product.competitors or T.NONE),
            )
        )
    return Markdown(content="\n".join(lines))


def on_recommend(ctx: Ctx, event: Inbound) -> bool | None:
    said = text_of(event) or ""
    rest = _PREFIX.sub("", said, count=1).strip()
    if not rest:
        ctx.reply(Text(content=T.RECOMMEND_HELP))
        return None
    scope = scope_of(people.whole_tree(ctx.session), ctx.userid)
    leads = queries.find_for(ctx.session, scope, rest, limit=1)
    if leads:
        lead = leads[0]
        ctx.reply(render(lead.company, for_lead(ctx, lead)))
        return None
    industry, pains = _words(rest)
    matches = rank(catalogue(ctx), industry=industry, pains=pains, policy=policy_of(ctx))
    ctx.reply(render(rest[:40], matches))
    return None
