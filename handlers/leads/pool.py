"""The pools on the clock and in chat (docs/leads.md § Pools).

- `lead_scan` (recurring, every `scan_every`, 60 min): when the score card changed, every lead is re-scored
  (storage/leads/scoring.py); then storage/leads/pool.py moves what is due — quiet for
  72 h → the nurture pool (the owner keeps it), quiet for 15 days → the public pool (no owner). Each move is
  audited there; each owner gets ONE message per scan naming the leads moved, and each nurtured lead gets its
  nurture sequence: `lead_nurture` timers, one per item of the policy's `nurture` list, due `after` the move.
- `lead_nurture`: if the lead is still nurtured by the same owner, the owner gets the material to forward to
  the lead (sending it to the lead directly needs WeCom 客户联系, not connected here); else it is cancelled.
- 「线索公海」: the public pool's best leads, with 领取 buttons; 「领取线索 编号/公司」 and the button claim
  within the per-rep cap (refused over it, with the cap in words). A claimed lead starts its grade's sequence.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime

from core.org import scope_of
from core.sop import times as sop_times
from handlers.context import Ctx
from handlers.leads import sop as lead_sop
from handlers.leads import texts as T
from handlers.leads.policy import LEADS_ACTOR, FireResult, policy_of
from handlers.messages import Button, Card, CardAction, CardUpdate, Inbound, Text, card_key, text_of
from storage import audit, people, timers
from storage.leads import pool, queries, scoring, store
from storage.leads.models import LeadRow
from storage.models import OrgConfigRow, TimerRow

SCAN_KIND = "lead_scan"
NURTURE_KIND = "lead_nurture"
POOL_COMMAND = r"^\s*(线索公海|公海线索|公海)\s*$"
CLAIM_COMMAND = r"^\s*领取线索"
SHOWN = 5
BUTTONS = 3
NAMES_SHOWN = 5


def schedule_next_scan(ctx: Ctx, *, after) -> TimerRow:  # noqa: ANN001
    every = int(policy_of(ctx).scan_every.total_seconds())
    at = sop_times.avoid_rush(
        datetime.fromtimestamp((int(after.timestamp()) // every + 1) * every + 180, tz=UTC),
        SCAN_KIND,
    )
    return timers.schedule(
        ctx.session,
        kind=SCAN_KIND,
        business_key=f"{SCAN_KIND}:{int(at.timestamp())}",
        subject_type="org",
        subject_id="org",
        due_at=at,
        payload={},
        now=ctx.now,
        actor=LEADS_ACTOR,
        reason="recurring",
    )


def _names(items: list[str]) -> str:
    shown = "、".join(items[:NAMES_SHOWN])
    return shown + (f"等{len(items)}条" if len(items) > NAMES_SHOWN else "")


CARD_KEY = "lead_score_card"  # org_config: the fingerprint of the score card every lead was scored with


def rescore_if_card_changed(ctx: Ctx, *, reason: str) -> int | None:
    """Re-score every lead (in SQL, audited per lead) when the score card is not the one they were scored with.
    A score card change re-grades without restarting sequences (a sequence starts on a lead's own change)."""
    policy = policy_of(ctx)
    fingerprint = policy.card_fingerprint()
    row = ctx.session.get(OrgConfigRow, CARD_KEY)
    if row is not None and row.value.get("fingerprint") == fingerprint:
        return None
    changed = scoring.rescore_bulk(ctx.session, policy=policy, now=ctx.now, actor=LEADS_ACTOR, reason=reason)
    before = audit.snapshot(row)
    if row is None:
        row = OrgConfigRow(key=CARD_KEY, value={})
        ctx.session.add(row)
    row.value = {"fingerprint": fingerprint, "at": ctx.now.isoformat(), "rescored": changed}
    ctx.session.flush()
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=LEADS_ACTOR,
        action="update" if before else "create",
        entity="org_config",
        entity_id=CARD_KEY,
        before=before,
        after=audit.snapshot(row),
        reason=reason,
    )
    return changed


def fire_lead_scan(ctx: Ctx, timer: TimerRow) -> FireResult:
    policy = policy_of(ctx)
    rescored = rescore_if_card_changed(ctx, reason=f"timer:{timer.id}")
    moved = pool.sweep(ctx.session, now=ctx.now, policy=policy, actor=LEADS_ACTOR, reason=f"timer:{timer.id}")
    by_owner: dict[tuple[str, str], list[str]] = defaultdict(list)
    for m in moved:
        by_owner[(m.owner, m.pool)].append(m.company)
    # a lead gone to the public pool keeps no sequence: its step timers find the owner changed and end the steps
    _book_nurture(ctx, [m for m in moved if m.pool == "nurture"])
    hours = int(policy.dormant_after.total_seconds() // 3600)
    days = int(policy.public_after.total_seconds() // 86400)
    for (owner, where), names in sorted(by_owner.items()):
        if not owner:
            continue
        words = (
            T.MOVED_NURTURE.format(n=len(names), hours=hours, names=_names(names))
            if where == "nurture"
            else T.MOVED_PUBLIC.format(n=len(names), days=days, names=_names(names))
        )
        ctx.send(owner, Text(content=words))
    schedule_next_scan(ctx, after=ctx.now)
    nurtured = sum(1 for m in moved if m.pool == "nurture")
    rescored_words = "" if rescored is None else f", score card changed: {rescored} re-scored"
    return "done", f"{nurtured} to nurture, {len(moved) - nurtured} to public{rescored_words}"


def _book_nurture(ctx: Ctx, moved: list[pool.Moved]) -> int:
    """The nurture sequence of each lead just nurtured: one timer per item, set-based (a scan may nurture
    thousands of leads at once)."""
    items = policy_of(ctx).nurture
    since = int(ctx.now.timestamp())
    rows = [
        {
            "kind": NURTURE_KIND,
            "business_key": f"{NURTURE_KIND}:{m.lead_id}:{since}:{n}",
            "subject_type": "lead",
            "subject_id": m.lead_id,
            "due_at": ctx.now + item.after,
            "status": "pending",
            "attempts": 0,
            "payload": {"n": n, "owner": m.owner, "since": since},
            "created_at": ctx.now,
        }
        for m in moved
        for n, item in enumerate(items)
    ]
    return timers.insert_ignoring_duplicates(ctx.session, rows)


def fire_lead_nurture(ctx: Ctx, timer: TimerRow) -> FireResult:
    lead = ctx.session.get(LeadRow, timer.subject_id)
    owner = str(timer.payload.get("owner", ""))
    if (
        lead is None
        or lead.pool != "nurture"
        or lead.owner_userid != owner
        or lead.stage not in store.OPEN_STAGES
    ):
        return "cancelled", "no longer nurtured"
    if lead.pool_since is None or int(lead.pool_since.timestamp()) != int(timer.payload.get("since", -1)):
        return "cancelled", "an earlier stay in the nurture pool"
    items = policy_of(ctx).nurture
    n = int(timer.payload.get("n", 0))
    if n >= len(items):
        return "cancelled", "nurture item gone"
    item = items[n]
    ctx.send(
        owner,
        Card(
            title=T.NURTURE_TITLE.format(company=lead.company, title=item.title),
            description=T.NURTURE_DESC.format(text=item.text),
            fields=[
                (
                    T.FIELD_CONTACT,
                    " ".join(x for x in (lead.contact_name, lead.contact_role, lead.phone) if x) or T.NONE,
                ),
                (T.FIELD_PAINS, "、".join(lead.pain_words or []) or T.NONE),
            ],
        ),
    )
    return "done", f"nurture {n} to {owner}"


def on_pool(ctx: Ctx, event: Inbound) -> bool | None:
    policy = policy_of(ctx)
    scope = scope_of(people.whole_tree(ctx.session), ctx.userid)
    n = queries.count_leads(ctx.session, scope, pool="public")
    if n == 0:
        ctx.reply(Text(content=T.POOL_EMPTY))
        return None
    rows = queries.list_leads(ctx.session, scope, pool="public", limit=SHOWN)
    ctx.reply(
        Card(
            title=T.POOL_TITLE.format(n=n),
            description=T.POOL_DESC.format(held=store.held_by(ctx.session, ctx.userid), cap=policy.claim_cap),
            fields=[
                (f"{r.lead_id}", f"{r.company} {T.GRADE_WORDS.get(r.grade or '', '')} {int(r.score or 0)}分")
                for r in rows
            ],
            buttons=[
                Button(
                    text=T.BTN_CLAIM.format(company=r.company[:8]),
                    key=card_key(CardAction.LEAD, "claim", r.lead_id),
                    style=2,
                )
                for r in rows[:BUTTONS]
            ],
        )
    )
    return None


def on_claim(ctx: Ctx, event: Inbound) -> bool | None:
    said = text_of(event) or ""
    words = re.sub(CLAIM_COMMAND + r"\s*[:：]?", "", said, count=1).strip()
    if not words:
        ctx.reply(Text(content=T.CLAIM_HELP))
        return None
    scope = scope_of(people.whole_tree(ctx.session), ctx.userid)
    found = [r for r in queries.find_for(ctx.session, scope, words) if r.pool == "public"]
    if not found:
        ctx.reply(Text(content=T.NOT_FOUND.format(words=words[:40])))
        return None
    if len(found) > 1 and not any(r.lead_id == words.upper() or r.company == words for r in found):
        ctx.reply(Text(content=T.MANY_FOUND.format(n=len(found), names="、".join(r.company for r in found))))
        return None
    pick = next((r for r in found if r.lead_id == words.upper() or r.company == words), found[0])
    claim_and_start(ctx, pick.lead_id)
    return None


def claim_and_start(ctx: Ctx, lead_id: str, *, response_code: str = "") -> None:
    policy = policy_of(ctx)
    result = store.claim(
        ctx.session, lead_id, rep=ctx.userid, now=ctx.now, actor=ctx.userid, reason=ctx.source, policy=policy
    )
    if not result.ok:
        if result.why == "cap":
            ctx.reply(Text(content=T.CLAIM_OVER_CAP.format(held=result.held, cap=result.cap)))
        else:
            ctx.reply(
                Text(content=T.CLAIM_TAKEN.format(company=result.lead.company if result.lead else lead_id))
            )
        return
    lead = result.lead
    assert lead is not None
    if response_code:
        ctx.reply(
            CardUpdate(response_code=response_code, replace_name=T.BTN_CLAIM.format(company=lead.company[:8]))
        )
    ctx.reply(
        Text(
            content=T.CLAIM_OK.format(
                company=lead.company,
                grade=T.GRADE_WORDS.get(lead.grade or "", ""),
                score=int(lead.score or 0),
                held=result.held + 1,
                cap=result.cap,
            )
        )
    )
    lead_sop.start_sequence(ctx, lead, reason=ctx.source)
