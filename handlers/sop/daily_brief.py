"""The daily brief (每日简报): at 08:30 local, each supervisor gets three figures for their scope
(everyone below them in the tree, and themselves):

- 今日待办拜访数: open follow-ups of the scope due today;
- 超72小时未更新客户 (the policy's hours): active customers of the scope with no touch for `stale_after` (never touched too);
- 高频需求标签TOP3: the commonest tags on the scope's visits of the last `brief_tag_days` days;
- when the scope holds open leads: 线索A+/A/B/C (the grade mix) and 超时线索SOP步骤 (docs/leads.md § Lead board).

The brief is one recurring timer `daily_brief:<local date>`; firing it writes one message per
recipient (each spread a few minutes off :30) and books the next day's brief in the same transaction.
"""

from __future__ import annotations

from datetime import time, timedelta

from sqlalchemy import func, select

from core.org import scope_of, visible_people
from core.sop import times as sop_times
from handlers.context import Ctx
from handlers.links.dashboard import dashboard_url
from handlers.messages import Card
from handlers.sop import texts as T
from handlers.sop.policy import SOP_ACTOR, FireResult, policy_of
from storage import outbox, people, timers, touches
from storage.leads import queries as lead_queries
from storage.models import CustomerRow, PromiseRow, TimerRow, VisitRow, VisitTagRow

KIND = "daily_brief"
OLDEST_SHOWN = 3


def schedule_next_brief(ctx: Ctx, *, after) -> TimerRow:  # noqa: ANN001
    day, at = sop_times.next_daily_brief(after, policy_of(ctx))
    return timers.schedule(
        ctx.session,
        kind=KIND,
        business_key=f"daily_brief:{day.isoformat()}",
        subject_type="org",
        subject_id="org",
        due_at=at,
        payload={"day": day.isoformat()},
        now=ctx.now,
        actor=SOP_ACTOR,
        reason="recurring",
    )


def fire_daily_brief(ctx: Ctx, timer: TimerRow) -> FireResult:
    policy = policy_of(ctx)
    s = ctx.session
    tree = people.whole_tree(s)
    # a deactivated person gets no brief (their people stay in their manager's figures)
    recipients = sorted({u for role in policy.brief_roles for u in tree.with_role(role, active_only=True)})
    today = sop_times.local_day(ctx.now, policy)
    day_start = sop_times.at_local(today, time(0, 0), policy)
    day_end = day_start + timedelta(days=1)
    cutoff = ctx.now - policy.stale_after
    tag_since = ctx.now - timedelta(days=policy.brief_tag_days)
    for userid in recipients:
        scope = visible_people(tree, userid)
        visits_due = (
            s.scalar(
                select(func.count())
                .select_from(PromiseRow)
                .where(
                    PromiseRow.kind == "follow_up",
                    PromiseRow.status == "open",
                    PromiseRow.rep_userid.in_(scope),
                    PromiseRow.due_at >= day_start,
                    PromiseRow.due_at < day_end,
                )
            )
            or 0
        )
        stale_count, oldest = touches.stale_customers(
            s, owners=scope, cutoff=cutoff, cutoff_day=sop_times.local_day(cutoff, policy), limit=OLDEST_SHOWN
        )
        top = s.execute(
            select(VisitTagRow.tag, func.count().label("n"))
            .join(VisitRow, VisitRow.visit_id == VisitTagRow.visit_id)
            .join(CustomerRow, CustomerRow.customer_id == VisitRow.customer_id)
            .where(CustomerRow.owner_userid.in_(scope), VisitRow.checked_in_at >= tag_since)
            .group_by(VisitTagRow.tag)
            .order_by(func.count().desc(), VisitTagRow.tag)
            .limit(3)
        ).all()
        tags = "、".join(f"{tag}({n})" for tag, n in top) or T.BRIEF_NO_TAGS
        oldest_text = T.BRIEF_OLDEST.format(names="、".join(name for _, name, _ in oldest)) if oldest else ""
        fields = [
            (T.BRIEF_VISITS, T.BRIEF_COUNT.format(n=visits_due)),
            (
                T.BRIEF_STALE.format(hours=T.hours(policy.stale_after)),
                T.BRIEF_CUSTOMERS.format(n=stale_count),
            ),
            (T.BRIEF_TAGS, tags),
        ]
        fields += _lead_fields(ctx, tree, userid)
        card = Card(
            title=T.BRIEF_TITLE.format(day=T.day(today)),
            description=T.BRIEF_DESC.format(people=len(scope), oldest=oldest_text),
            fields=fields,
            url=dashboard_url(userid, ctx.now, ctx.deps) or "",
        )
        key = f"brief:{today.isoformat()}:{userid}"
        outbox.enqueue(
            s,
            recipient=userid,
            message=card.to_dict(),
            dedupe_key=key,
            now=ctx.now,
            not_before=sop_times.avoid_rush(ctx.now, key),
        )
    schedule_next_brief(ctx, after=ctx.now)
    return "done", f"brief to {len(recipients)}"


def _lead_fields(ctx: Ctx, tree, userid: str) -> list[tuple[str, str]]:  # noqa: ANN001 - an OrgTree
    """The lead board's two figures (storage/leads/queries.py, the recipient's scope inside the query): the
    A+/A/B/C mix of open leads and the overdue SOP steps — only when the team holds open leads."""
    lead_scope = scope_of(tree, userid)
    mix = lead_queries.grade_mix(ctx.session, lead_scope)
    if not sum(mix.values()):
        return []
    overdue, _ = lead_queries.overdue_steps(ctx.session, lead_scope, now=ctx.now, limit=0)
    return [
        (T.BRIEF_LEADS, T.BRIEF_LEAD_MIX.format(ap=mix["A+"], a=mix["A"], b=mix["B"], c=mix["C"])),
        (T.BRIEF_LEAD_OVERDUE, T.BRIEF_COUNT.format(n=overdue)),
    ]
