"""The first day of a team: an import of history becomes one catch-up digest per person, not a flood.

An import (`python main.py import`, the demo's sample data) brings history, and with it items that are due
already: customers not touched for longer than `stale_after`, contracts past their due day and unpaid.
Fired one by one they were a flood (a card per customer to every rep, a card per contract to supervisors
and finance). `after_import` runs in the import's transaction (the importer's `on_imported` hook, wired by
bot/bootstrap.py) and, with the policy's `import_backlog` = "digest":

1. books their timers already done, with the import's marker as the outcome — the stale episode
   `stale:<customer>:<touch>` and the payment timer `payment:<contract>:<due_on>` are taken, so neither the
   hourly stale scan nor a later rematch alerts them again;
2. books one `catch_up:<import epoch>` timer, due at once.

The first sweep fires it (`fire_catch_up`): each person gets ONE message — a rep their own stale customers,
the stale ladder's roles (supervisor, regional manager) their team's, the payment roles (supervisor, finance
director) the overdue contracts — with counts, the few oldest items, and the question that lists the rest
(「超过72小时未跟进的客户」, 「回款逾期的合同」). Items are re-checked when it fires (a customer touched
since, a contract paid since, is left out). Items that fall due after the import alert as before.
With `import_backlog` = "alerts" the import only matches payments, and every item alerts on its own.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.sop import times as sop_times
from core.sop.policy import SopPolicy
from handlers.context import Ctx
from handlers.messages import Text
from handlers.sop import payments
from handlers.sop import texts as T
from handlers.sop.policy import SOP_ACTOR, FireResult, load_policy, policy_of
from storage import audit, people, timers, touches
from storage import payments as contract_match
from storage.models import ContractRow, CustomerRow, TimerRow

KIND = "catch_up"
NAME_CHARS = 24  # a long store name is cut in the digest (WeCom clips a text message at 2048 bytes)


def held_outcome(marker: str) -> str:
    """The outcome of a timer held back for the digest `marker` (the catch-up timer's business key)."""
    return f"held for {marker}"


def after_import(session: Session, now: datetime, *, payments_loaded: bool) -> dict[str, int]:
    """The import's SOP step, inside its transaction: match payments (when contracts or payments came in) and
    hold what is already due for one catch-up digest. Returns {"stale": n, "payments": m} held back."""
    policy = load_policy(session)
    if policy.import_backlog != "digest":
        if payments_loaded:
            payments.rematch_contracts(session, now, policy=policy)
        return {}
    marker = timers.free_key(session, f"{KIND}:{sop_times.epoch_seconds(now)}")
    held = held_outcome(marker)
    summary: dict[str, int] = {}
    if payments_loaded:
        summary = payments.rematch_contracts(session, now, policy=policy, held=held)
    cutoff = now - policy.stale_after
    stale = touches.insert_stale_ladders(
        session, now=now, cutoff=cutoff, cutoff_day=sop_times.local_day(cutoff, policy), held=held
    )
    result = {"stale": stale, "payments": summary.get("held", 0)}
    audit.record(
        session,
        at=now,
        actor=SOP_ACTOR,
        action="create",
        entity="catch_up",
        entity_id=marker,
        after=result,
        reason="import: items already due are held for one catch-up digest",
    )
    if stale or result["payments"]:
        timers.schedule(
            session,
            kind=KIND,
            business_key=marker,
            subject_type="org",
            subject_id="org",
            due_at=now,
            payload=result,
            now=now,
            actor=SOP_ACTOR,
            reason="import",
        )
    return result


# --- the digest ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stale:
    customer: str
    owner: str
    last: datetime | None


@dataclass(frozen=True)
class _Overdue:
    customer: str
    contract_no: str
    due_on: date
    left: Decimal


@dataclass
class _Digest:
    own: list[_Stale] = field(default_factory=list)
    team: list[_Stale] = field(default_factory=list)
    overdue: list[_Overdue] = field(default_factory=list)


def fire_catch_up(ctx: Ctx, timer: TimerRow) -> FireResult:
    policy = policy_of(ctx)
    s = ctx.session
    held = held_outcome(timer.business_key)
    tree = people.whole_tree(s)
    digests: dict[str, _Digest] = defaultdict(_Digest)
    ladder_roles = tuple(dict.fromkeys(step.role for step in policy.stale_ladder))

    stale_rows = s.execute(
        select(TimerRow.payload, CustomerRow.name, CustomerRow.owner_userid, CustomerRow.last_touch_at)
        .join(CustomerRow, CustomerRow.customer_id == TimerRow.subject_id)
        .where(
            TimerRow.kind == touches.STALE_KIND,
            TimerRow.status == "done",
            TimerRow.outcome == held,
            CustomerRow.status == "active",
        )
    )
    stale_items = 0
    for payload, name, owner, last in stale_rows:
        if sop_times.epoch_seconds(last) != int(payload.get("touch", -1)):
            continue  # touched since the import: that episode is over
        item = _Stale(customer=name, owner=owner, last=last)
        stale_items += 1
        digests[owner].own.append(item)
        # each manager once, even when a deactivated rung makes two roles land on the same person
        for above in dict.fromkeys(tree.approver_for(owner, role) for role in ladder_roles):
            if above and above != owner:
                digests[above].team.append(item)

    unpaid = {no: (due_on, amount - paid) for no, due_on, amount, paid in contract_match.unpaid_contracts(s)}
    payment_rows = s.execute(
        select(TimerRow.payload, ContractRow.contract_no, CustomerRow.name, CustomerRow.owner_userid)
        .join(ContractRow, ContractRow.contract_no == TimerRow.subject_id)
        .join(CustomerRow, CustomerRow.customer_id == ContractRow.customer_id)
        .where(TimerRow.kind == payments.KIND, TimerRow.status == "done", TimerRow.outcome == held)
    )
    overdue_items = 0
    for payload, no, name, owner in payment_rows:
        due_on, left = unpaid.get(no, (None, Decimal(0)))
        if due_on is None or due_on.isoformat() != payload.get("due_on"):
            continue  # paid since, or its due date moved (a new timer alerts that one)
        item = _Overdue(customer=name, contract_no=no, due_on=due_on, left=left)
        overdue_items += 1
        notify = {tree.approver_for(owner, role) for role in policy.payment_notify_roles}
        for who in sorted(w for w in notify if w):
            digests[who].overdue.append(item)

    names = people.names(s, {i.owner for d in digests.values() for i in d.team})
    # a deactivated owner gets no digest of their own: their items are in their active managers' team lists
    to = sorted(u for u in digests if tree.is_active(u))
    for userid in to:
        ctx.send(userid, Text(content=_text(ctx.now, digests[userid], names, policy)))
    return "done", f"catch-up digest to {len(to)} ({stale_items} stale, {overdue_items} overdue)"


def _text(now: datetime, d: _Digest, names: dict[str, str], policy: SopPolicy) -> str:
    top = policy.backlog_digest_items
    hours = T.hours(policy.stale_after)
    ask_stale = T.CATCH_UP_ASK.format(question=T.STALE_QUESTION.format(hours=hours))
    lines = [T.CATCH_UP_HEAD]
    oldest = sorted(d.own, key=_untouched_longest)
    if oldest:
        lines += ["", T.CATCH_UP_OWN_STALE.format(hours=hours, n=len(oldest))]
        lines += [
            T.CATCH_UP_STALE_LINE.format(i=i, customer=_short(x.customer), age=_age(now, x))
            for i, x in enumerate(oldest[:top], 1)
        ]
        lines.append(ask_stale)
    team = sorted(d.team, key=_untouched_longest)
    if team:
        lines += [
            "",
            T.CATCH_UP_TEAM_STALE.format(hours=hours, n=len(team), people=len({x.owner for x in team})),
        ]
        lines += [
            T.CATCH_UP_TEAM_STALE_LINE.format(
                i=i, customer=_short(x.customer), owner=names.get(x.owner, x.owner), age=_age(now, x)
            )
            for i, x in enumerate(team[:top], 1)
        ]
        lines.append(ask_stale)
    overdue = sorted(d.overdue, key=lambda x: (x.due_on, x.contract_no))
    if overdue:
        total = sum((x.left for x in overdue), Decimal(0))
        lines += ["", T.CATCH_UP_PAYMENTS.format(n=len(overdue), left=T.money(total))]
        lines += [
            T.CATCH_UP_PAYMENT_LINE.format(
                i=i, customer=_short(x.customer), no=x.contract_no, due=T.day(x.due_on), left=T.money(x.left)
            )
            for i, x in enumerate(overdue[:top], 1)
        ]
        lines.append(T.CATCH_UP_ASK.format(question=T.PAYMENT_QUESTION))
    return "\n".join(lines)


def _untouched_longest(x: _Stale) -> tuple[bool, datetime | None, str]:
    """Never touched first, then the longest untouched (as the question's list is sorted)."""
    return (x.last is not None, x.last, x.customer)


def _age(now: datetime, x: _Stale) -> str:
    if x.last is None:
        return T.CATCH_UP_NOT_YET
    return T.CATCH_UP_NOT_SINCE.format(age=T.age(now - x.last))


def _short(name: str) -> str:
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"
