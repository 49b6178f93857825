"""Leads typed in chat: 「新线索 …」 (parsed offline, scored, graded, explained; its sequence starts),
「跟进线索 公司 方式 备注」 (an interaction, effective or not; 补充 changes facts and re-scores), 「转客户 公司」
and 「线索输单 公司 原因」, and the lead card buttons (a step done, a claim)."""

from __future__ import annotations

import re

from core.leads.parse import LABELS, is_lead_line, parse_lead
from core.leads.policy import KIND_WORDS
from core.org import Scope, scope_of
from core.roles import ORG_WIDE
from handlers.context import Ctx
from handlers.leads import pool as lead_pool
from handlers.leads import sop as lead_sop
from handlers.leads import texts as T
from handlers.leads.policy import policy_of
from handlers.messages import (
    Card,
    CardClick,
    CardUpdate,
    ExternalContactAdded,
    Inbound,
    Text,
    parse_card_key,
    text_of,
)
from storage import people
from storage.leads import queries, store
from storage.leads.models import LeadRow, LeadSopStepRow

NEW_COMMAND = r"^\s*(新线索|新增线索|线索登记|录入线索)"
FOLLOW_COMMAND = r"^\s*(跟进线索|线索跟进)"
CONVERT_COMMAND = r"^\s*(转客户|线索转化|线索转客户)"
LOST_COMMAND = r"^\s*线索输单"
# the words of an interaction's kind (the first that starts the piece wins)
KIND_OF_WORD = (
    ("打电话", "call"),
    ("电话", "call"),
    ("通话", "call"),
    ("上门", "visit"),
    ("拜访", "visit"),
    ("会议", "meeting"),
    ("开会", "meeting"),
    ("面谈", "meeting"),
    ("微信", "wecom"),
    ("企微", "wecom"),
    ("邮件", "email"),
    ("方案", "proposal"),
    ("报价", "proposal"),
    ("案例", "case"),
    ("询价", "inquiry"),
    ("资料下载", "download"),
    ("下载", "download"),
    ("群发", "mass"),
    ("表情", "sticker"),
)
FACT_KEYS = ("contact_name", "contact_role", "phone", "industry", "source", "region", "credit_grade")


def _scope(ctx: Ctx) -> Scope:
    return scope_of(people.whole_tree(ctx.session), ctx.userid)


def lead_card(
    ctx: Ctx, lead: LeadRow, *, rest: list[str] | None = None, missing: list[str] | None = None
) -> Card:
    policy = policy_of(ctx)
    card = store.card_of(lead, policy)
    steps = policy.sequence(lead.grade)
    nxt = f"{steps[0].label}（{T.span(steps[0].within)}内）" if steps and lead.owner_userid else T.NO_SEQUENCE
    desc = T.NEW_LEAD_DESC.format(explanation=card.explanation())
    if rest:
        desc += "\n" + T.REST_NOT_READ.format(rest="、".join(rest))
    if missing:
        desc += "\n" + T.MISSING.format(missing="、".join(missing), company=lead.company)
    return Card(
        title=T.NEW_LEAD_TITLE.format(
            company=lead.company, grade=T.GRADE_WORDS.get(card.grade, card.grade), score=card.score
        ),
        description=desc,
        fields=[
            (T.FIELD_CONTACT, " ".join(x for x in (lead.contact_name, lead.contact_role) if x) or T.NONE),
            (T.FIELD_PHONE, lead.phone or T.NONE),
            (T.FIELD_INDUSTRY, lead.industry or T.NONE),
            (T.FIELD_SOURCE, lead.source or T.NONE),
            (T.FIELD_PAINS, "、".join(lead.pain_words or []) or T.NONE),
            (T.FIELD_NEXT, nxt),
        ],
    )


def on_new_lead(ctx: Ctx, event: Inbound) -> bool | None:
    said = text_of(event) or ""
    if not is_lead_line(said):
        return False
    draft = parse_lead(said)
    if not draft.company:
        ctx.reply(Text(content=T.NEW_LEAD_HELP))
        return None
    values = {k: getattr(draft, k) for k in (*FACT_KEYS, "company", "inquiries", "downloads", "pain_words")}
    lead = store.create_lead(
        ctx.session,
        values=values,
        owner=ctx.userid,
        now=ctx.now,
        actor=ctx.userid,
        reason=ctx.source,
        policy=policy_of(ctx),
    )
    ctx.reply(lead_card(ctx, lead, rest=draft.rest, missing=[m for m in draft.missing if m != "公司"]))
    lead_sop.start_sequence(ctx, lead, reason=ctx.source)
    return None


def on_external_contact(ctx: Ctx, event: Inbound) -> bool | None:
    """A member added an external contact (企业微信 客户联系): a lead they own, source 企业微信加好友 (with the
    渠道活码's state), to be completed with 「跟进线索 编号 补充 公司:… 职务:… 行业:…」. Once per external contact."""
    assert isinstance(event, ExternalContactAdded)
    if not event.external_userid:
        return None
    lead_id = f"WX{event.external_userid}"[:64]
    if ctx.session.get(LeadRow, lead_id) is not None:
        return None  # added again (or by a colleague): the lead exists
    source = "企业微信加好友" + (f"（{event.state[:12]}）" if event.state else "")
    lead = store.create_lead(
        ctx.session,
        values={
            "lead_id": lead_id,
            "company": T.EXTERNAL_COMPANY.format(tail=event.external_userid[-6:]),
            "source": source,
        },
        owner=ctx.userid,
        now=ctx.now,
        actor=ctx.userid,
        reason=ctx.source,
        policy=policy_of(ctx),
    )
    ctx.reply(lead_card(ctx, lead, missing=["公司", "联系人", "行业"]))
    ctx.reply(Text(content=T.EXTERNAL_HINT.format(lead_id=lead.lead_id)))
    lead_sop.start_sequence(ctx, lead, reason=ctx.source)
    return None


def _one_lead(ctx: Ctx, words: str, *, public: bool = False) -> LeadRow | None:
    found = queries.find_for(ctx.session, _scope(ctx), words, public=public)
    exact = [r for r in found if r.company == words or r.lead_id in (words, words.upper())]
    if len(exact) == 1 or len(found) == 1:
        return exact[0] if len(exact) == 1 else found[0]
    if not found:
        ctx.reply(Text(content=T.NOT_FOUND.format(words=words[:40])))
    else:
        ctx.reply(Text(content=T.MANY_FOUND.format(n=len(found), names="、".join(r.company for r in found))))
    return None


def _kind_of(piece: str) -> str | None:
    return next((kind for word, kind in KIND_OF_WORD if piece.startswith(word)), None)


def after_regrade(ctx: Ctx, lead: LeadRow, old: str | None, new: str) -> None:
    """A new grade: the new grade's sequence replaces the open steps."""
    if old != new:
        lead_sop.start_sequence(ctx, lead, reason=f"regraded {old}→{new}")


def on_follow(ctx: Ctx, event: Inbound) -> bool | None:
    said = text_of(event) or ""
    pieces = re.sub(FOLLOW_COMMAND + r"\s*[:：]?", "", said, count=1).split()
    if not pieces:
        ctx.reply(Text(content=T.FOLLOW_HELP))
        return None
    # the lead: the words before the first kind word (or 补充)
    at = next((i for i, p in enumerate(pieces) if i > 0 and (_kind_of(p) or p.startswith("补充"))), None)
    if at is None:
        ctx.reply(Text(content=T.FOLLOW_HELP))
        return None
    lead = _one_lead(ctx, " ".join(pieces[:at]))
    if lead is None:
        return None
    policy = policy_of(ctx)
    rest = pieces[at:]
    if rest[0].startswith("补充"):
        draft = parse_lead(" ".join([rest[0].removeprefix("补充"), *rest[1:]]))
        changes = {k: getattr(draft, k) for k in ("company", *FACT_KEYS) if getattr(draft, k)}
        if draft.pain_words:
            changes["pain_words"] = list(dict.fromkeys([*(lead.pain_words or []), *draft.pain_words]))
        for key in ("inquiries", "downloads"):
            if getattr(draft, key):
                changes[key] = getattr(draft, key)
        if not changes:
            ctx.reply(Text(content=T.FOLLOW_HELP))
            return None
        old, new = store.update_facts(
            ctx.session, lead, changes, now=ctx.now, actor=ctx.userid, reason=ctx.source, policy=policy
        )
        names = {k: ws[0] for k, ws in LABELS.items()}
        what = "、".join(names.get(k, k) for k in changes)
        ctx.reply(
            Text(
                content=T.FACTS_UPDATED.format(
                    company=lead.company,
                    what=what,
                    score=int(lead.score or 0),
                    grade=T.GRADE_WORDS.get(new, new),
                )
                + "\n"
                + store.card_of(lead, policy).explanation()
            )
        )
        after_regrade(ctx, lead, old, new)
        return None
    kind = _kind_of(rest[0])
    assert kind is not None
    note = " ".join(rest)[:2000]
    rec = store.record_interaction(
        ctx.session,
        lead,
        kind=kind,
        rep=ctx.userid,
        at=ctx.now,
        now=ctx.now,
        actor=ctx.userid,
        reason=ctx.source,
        policy=policy,
        note=note,
    )
    words = [
        T.FOLLOW_DONE.format(
            company=lead.company,
            kind=KIND_WORDS[kind],
            effective=T.EFFECTIVE if rec.interaction.effective else T.NOT_EFFECTIVE,
        )
    ]
    if rec.back_from_nurture:
        words.append(T.FOLLOW_BACK)
    if rec.regraded and rec.regraded[0] != rec.regraded[1]:
        words.append(
            T.FOLLOW_REGRADED.format(old=rec.regraded[0], new=rec.regraded[1], score=int(lead.score or 0))
        )
    ctx.reply(Text(content="".join(words)))
    if rec.interaction.effective:
        lead_sop.match_interaction(ctx, lead, kind, interaction_id=rec.interaction.id)
    if rec.regraded:
        after_regrade(ctx, lead, *rec.regraded)
    return None


def _may_act(ctx: Ctx, lead: LeadRow) -> bool:
    if lead.owner_userid == ctx.userid or (ctx.user is not None and ctx.user.role in ORG_WIDE):
        return True
    return lead.owner_userid is not None and ctx.userid in people.tree_above(
        ctx.session, lead.owner_userid
    ).manager_chain(lead.owner_userid)


def on_convert(ctx: Ctx, event: Inbound) -> bool | None:
    said = text_of(event) or ""
    words = re.sub(CONVERT_COMMAND + r"\s*[:：]?", "", said, count=1).strip()
    if not words:
        ctx.reply(Text(content=T.CONVERT_HELP))
        return None
    lead = _one_lead(ctx, words)
    if lead is None:
        return None
    if not _may_act(ctx, lead):
        ctx.reply(Text(content=T.NOT_OWNER))
        return None
    customer, _ = store.convert(ctx.session, lead, now=ctx.now, actor=ctx.userid, reason=ctx.source)
    lead_sop.cancel_open(ctx, lead, reason="converted")
    ctx.reply(Text(content=T.CONVERT_DONE.format(company=lead.company, customer=customer.customer_id)))
    return None


def on_lost(ctx: Ctx, event: Inbound) -> bool | None:
    said = text_of(event) or ""
    pieces = re.sub(LOST_COMMAND + r"\s*[:：]?", "", said, count=1).split()
    if len(pieces) < 2:
        ctx.reply(Text(content=T.LOST_HELP))
        return None
    lead = _one_lead(ctx, pieces[0])
    if lead is None:
        return None
    if not _may_act(ctx, lead):
        ctx.reply(Text(content=T.NOT_OWNER))
        return None
    reason = " ".join(pieces[1:])[:64]
    store.set_stage(
        ctx.session, lead, "lost", now=ctx.now, actor=ctx.userid, reason=ctx.source, lost_reason=reason
    )
    lead_sop.cancel_open(ctx, lead, reason="lost")
    ctx.reply(Text(content=T.LOST_DONE.format(company=lead.company, reason=reason)))
    return None


def on_lead_button(ctx: Ctx, event: Inbound) -> bool | None:
    assert isinstance(event, CardClick)
    _, parts = parse_card_key(event.key)
    if len(parts) != 2:
        return False
    action, ref = parts
    if action == "claim":
        lead_pool.claim_and_start(ctx, ref, response_code=event.response_code)
        return None
    if action != "done" or not ref.isdigit():
        return False
    step = ctx.session.get(LeadSopStepRow, int(ref))
    if step is None or step.status == "cancelled":
        ctx.reply(Text(content=T.STEP_GONE))
        return None
    lead = ctx.session.get(LeadRow, step.lead_id)
    if lead is None or not _may_act(ctx, lead):
        ctx.reply(Text(content=T.STEP_NOT_YOURS))
        return None
    if event.response_code:
        ctx.reply(
            CardUpdate(
                response_code=event.response_code, replace_name=T.BTN_STEP_DONE.format(step=step.label)
            )
        )
    if step.status == "done":
        ctx.reply(Text(content=T.STEP_ALREADY.format(step=step.label, at=T.when(step.done_at or ctx.now))))
        return None
    # the confirmation first, then what comes next (the next step's card, the recommendations)
    ctx.reply(Text(content=T.STEP_DONE.format(company=lead.company, step=step.label)))
    lead_sop.complete_step(ctx, step, by=ctx.userid)
    return None
