"""「线索看板」: the morning lead board for the asker's scope (core/org.py Scope, inside every query):
the A/B/C mix of open leads (per rep for a manager), where they are (in hand, nurture pool, public pool),
the average time in each stage, the TOP3 loss reasons and the overdue SOP steps."""

from __future__ import annotations

from core.clock import ORG_ZONE
from core.markup import escape_md
from core.org import Scope, scope_of
from core.roles import MANAGERS
from handlers.context import Ctx
from handlers.leads import texts as T
from handlers.messages import Inbound, Markdown
from storage import people
from storage.leads import queries
from storage.leads.store import STAGE_WORDS

COMMAND = r"^\s*(线索看板|线索日报|我的线索)\s*$"
STAGE_ORDER = ("new", "contacted", "proposal")


def board_lines(ctx: Ctx, scope: Scope) -> list[str]:
    s = ctx.session
    mix = queries.grade_mix(s, scope)
    pools = queries.pool_counts(s, scope)
    lines = [
        escape_md(T.BOARD_SCOPE.format(heading=scope.heading)),
        T.BOARD_MIX.format(ap=mix["A+"], a=mix["A"], b=mix["B"], c=mix["C"], u=mix[queries.UNGRADED]),
        T.BOARD_POOLS.format(hand=pools["in_hand"], nurture=pools["nurture"], public=pools["public"]),
    ]
    stays = queries.stage_durations(s, scope)
    shown = [
        f"{STAGE_WORDS[k]} {T.hours_words(stays[k][0])}（{stays[k][1]}次）" for k in STAGE_ORDER if k in stays
    ]
    lines.append(T.BOARD_STAGES.format(stages="，".join(shown)) if shown else T.BOARD_NO_STAGES)
    losses = queries.loss_reasons(s, scope, top=3)
    lines.append(
        T.BOARD_LOSS.format(reasons="，".join(f"{escape_md(r)}（{n}）" for r, n in losses))
        if losses
        else T.BOARD_NO_LOSS
    )
    n, oldest = queries.overdue_steps(s, scope, now=ctx.now, limit=3)
    items = (
        "：" + "；".join(f"{escape_md(o.company)} {o.label}（截止{T.when(o.due_at)}）" for o in oldest)
        if oldest
        else ""
    )
    lines.append(T.BOARD_OVERDUE.format(n=n, items=items))
    if scope.role in MANAGERS:
        per = queries.grade_mix_by_owner(s, scope)
        names = people.names(s, set(per))
        rows = [
            T.BOARD_REP_ROW.format(name=escape_md(names.get(u, u)), ap=m["A+"], a=m["A"], b=m["B"], c=m["C"])
            for u, m in sorted(per.items())
        ]
        if rows:
            lines.append(T.BOARD_PER_REP.format(rows="\n".join(rows)))
    return lines


def on_board(ctx: Ctx, event: Inbound) -> bool | None:
    scope = scope_of(people.whole_tree(ctx.session), ctx.userid)
    day = ctx.now.astimezone(ORG_ZONE).date()
    lines = [f"**{T.BOARD_TITLE.format(day=day.strftime('%m月%d日'))}**", *board_lines(ctx, scope)]
    ctx.reply(Markdown(content="\n".join(lines)))
    return None
