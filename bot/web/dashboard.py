"""The health dashboard (健康度看板), opened from a link sent in chat or in the weekly brief.

    app.include_router(make_dashboard_router(services.session_factory, auth, services.clock))

GET /dashboard            the viewer's figures for a period, per team / region / rep, with charts
GET /dashboard/customers  drill-down: the customers behind the figures (a rep's, a tier's)
GET /dashboard/visits     the visits behind 过程数据可信度, or a reproducible sample of 100 checked one by one
GET /dashboard/targets    the target penetration report (目标穿透) of the running period, as the viewer may see it;
                          its picture at /dashboard/targets.png (the monthly report's, bot/web/target_png.py)
GET /dashboard/contracts  the contracts' progress bars, each stage's log; /dashboard/handoffs the collaboration
                          health report (bot/web/contract_pages.py)

Every request needs a WeCom sign-in session (bot/web/signin.py, docs/web-sign-in.md): without one it is sent
to WeCom to sign in and comes back to the same page; a link carries no token, only the path and the filters.
The scope is derived from the signed-in userid on every request (storage.metrics.figures.viewer_for), never
from the cookie, and the filters (period, team, region, rep,
tier) only narrow it: a team, rep or region outside the scope shows nothing of anyone else's.
Read-only: the session is rolled back at the end of each request. Customers a page shows (the red and
yellow lists, the customer drill-down, the visits behind the figures) to a viewer outside their owner's
line — a finance director, an admin — are recorded as reads (storage/read_audit.py) in a short write
transaction before the page goes out; if that fails the page is not shown.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session, sessionmaker

from bot.web import dashboard_html as V
from bot.web.contract_pages import add_contract_pages
from bot.web.signin import WebAuth
from core.clock import Clock
from core.org import Scope
from core.periods import PERIOD_WORDS, resolve_period
from core.roles import ROLE_WORDS
from storage import read_audit
from storage import scorecard as scorecard_repo
from storage.leads import queries as lead_queries
from storage.leads.store import STAGE_WORDS
from storage.metrics import drill as metrics_drill
from storage.metrics import figures as metrics
from storage.models import UserRow

DEFAULT_PERIOD = "this_month"
UNKNOWN = "找不到这个账号，或账号已停用。请联系管理员。"
HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer"}


def _deny(message: str) -> Response:
    return HTMLResponse(V.error_page(message), status_code=403, headers=HEADERS)


def _ok(html: str) -> Response:
    return HTMLResponse(html, headers=HEADERS)


def make_dashboard_router(session_factory: sessionmaker[Session], auth: WebAuth, clock: Clock) -> APIRouter:
    router = APIRouter()

    def open_view(session: Session, request: Request, period: str, team: str, region: str):  # noqa: ANN202
        signed_in = auth.viewer(request)
        if isinstance(signed_in, Response):
            return None, signed_in
        userid, now = signed_in, clock.now()
        person = session.get(UserRow, userid)
        if person is None or not person.active:  # deactivated between the two reads
            return None, _deny(UNKNOWN)
        people = metrics.load_people(session)
        viewer = metrics.viewer_for(people, userid)
        if viewer is None:
            return None, _deny(UNKNOWN)
        period = period if period in PERIOD_WORDS else DEFAULT_PERIOD
        full = metrics.slice_for(viewer, people)
        teams = sorted(
            (
                u
                for u, r in people.roles.items()
                if r in ("supervisor", "regional_manager") and (viewer.owners is None or u in viewer.owners)
            ),
            key=lambda u: (people.name(u), u),
        )
        f = V.Filters(
            period=period,
            team=team if team in teams else "",
            region=region,
            teams=[(u, f"{people.name(u)}（{ROLE_WORDS[people.roles[u]]}）") for u in teams],
            regions=metrics.region_domain(session, full),
        )
        if f.region and f.region not in f.regions:
            f.region = ""
        sl = metrics.slice_for(viewer, people, team=f.team or None, region=f.region or None)
        return (now, people, viewer, sl, resolve_period(period, now), f, person.name), None

    def audit(
        viewer: metrics.Viewer,
        shown: list[tuple[str, str | None]],
        path: str,
        f: V.Filters,
        now: datetime,
        **more: str,
    ) -> None:
        """Customers the page shows to a viewer outside their owners' line: one read row each."""
        what = {"period": f.period, "team": f.team, "region": f.region, **more}
        read_audit.audit_reads_apart(
            session_factory,
            viewer=viewer.userid,
            shown=shown,
            at=now,
            why=read_audit.reason(path, " ".join(f"{k}={v}" for k, v in what.items() if v)),
        )

    def subtitle(viewer: metrics.Viewer, sl: metrics.Slice, label: str) -> str:
        scope = sl.label if sl.label != viewer.heading else viewer.heading
        return f"{scope} · {label}"

    @router.get("/dashboard", response_class=HTMLResponse)
    def dashboard(
        request: Request, period: str = DEFAULT_PERIOD, team: str = "", region: str = ""
    ) -> Response:
        with session_factory() as s:
            try:
                opened, denied = open_view(s, request, period, team, region)
                if denied:
                    return denied
                now, people, viewer, sl, p, f, name = opened
                figs = metrics.health(s, people, sl, p, now=now)
                trend = [
                    (label, r) for label, _, r in metrics.freshness_trend(s, sl, now=now, include_now=True)
                ]
                as_of = "当前" if p.as_of(now) >= now else "期末时点"
                red = scorecard_repo.scored_customers(
                    s, owners=sl.owners, tier="red", region=sl.region, limit=10
                )
                review = scorecard_repo.scored_customers(
                    s,
                    owners=sl.owners,
                    tier="yellow",
                    region=sl.region,
                    since=now - timedelta(days=7),
                    limit=10,
                )
                html = V.main_view(
                    leads=_lead_figures(s, sl, now),
                    f=f,
                    figs=figs,
                    trend=trend,
                    fun=metrics.funnel(s, sl, p),
                    tags=metrics.tag_counts(s, sl, p, limit=5),
                    tiers=scorecard_repo.tier_counts(s, owners=sl.owners, region=sl.region),
                    red=red,
                    review=review,
                    period_label=PERIOD_WORDS[f.period],
                    fresh_note=f"近30天有跟进（{as_of}）",
                )
            finally:
                s.rollback()
        audit(viewer, [(c.customer_id, c.owner_userid) for c in red + review], "dashboard:main", f, now)
        return _ok(V.page("团队健康度看板", subtitle(viewer, sl, p.label), html, account=name))

    @router.get("/dashboard/customers", response_class=HTMLResponse)
    def customers(
        request: Request,
        period: str = DEFAULT_PERIOD,
        team: str = "",
        region: str = "",
        rep: str = "",
        tier: str = Query("", pattern="^(|red|yellow|blue)$"),
    ) -> Response:
        with session_factory() as s:
            try:
                opened, denied = open_view(s, request, period, team, region)
                if denied:
                    return denied
                now, people, viewer, sl, p, f, name = opened
                rep_ok = rep if rep and (sl.owners is None or rep in sl.owners) else ""
                if rep and not rep_ok:
                    sl = metrics.Slice(frozenset(), sl.region, sl.label)  # someone outside the scope: nothing
                total, rows = metrics_drill.drill_customers(
                    s, sl, p, now=now, rep=rep_ok or None, tier=tier or None
                )
                what = [people.name(rep) if rep else "", f"{V.TIER_WORDS.get(tier)}客户" if tier else "客户"]
                hidden = {"rep": rep, "tier": tier}
                html = V.customers_view(
                    f=f,
                    total=total,
                    rows=rows,
                    heading="".join(what),
                    period_label=PERIOD_WORDS[f.period],
                    hidden=hidden,
                )
            finally:
                s.rollback()
        audit(
            viewer,
            [(c.customer_id, c.owner_userid) for c in rows],
            "dashboard:customers",
            f,
            now,
            rep=rep,
            tier=tier,
        )
        return _ok(V.page("客户明细", subtitle(viewer, sl, p.label), html, account=name))

    @router.get("/dashboard/visits", response_class=HTMLResponse)
    def visits(
        request: Request,
        period: str = DEFAULT_PERIOD,
        team: str = "",
        region: str = "",
        rep: str = "",
        sample: str = "",
    ) -> Response:
        with session_factory() as s:
            try:
                opened, denied = open_view(s, request, period, team, region)
                if denied:
                    return denied
                now, people, viewer, sl, p, f, name = opened
                if sample:
                    check = metrics_drill.credibility_sample(s, sl, p)
                    title, path, checks = "过程数据抽检", "dashboard:sample", list(check.sample)
                    html = V.sample_view(f=f, sample=check, period_label=PERIOD_WORDS[f.period])
                else:
                    total, rows = metrics_drill.drill_visits(s, sl, p, rep=rep or None)
                    title, path, checks = "拜访明细", "dashboard:visits", rows
                    html = V.visits_view(
                        f=f,
                        total=total,
                        rows=rows,
                        heading=f"{people.name(rep) if rep else ''}拜访明细",
                        hidden={"rep": rep},
                    )
                owners = read_audit.owners_of(s, {c.customer_id for c in checks})
            finally:
                s.rollback()
        audit(viewer, [(c.customer_id, owners.get(c.customer_id)) for c in checks], path, f, now, rep=rep)
        return _ok(V.page(title, subtitle(viewer, sl, p.label), html, account=name))

    def target_report(request: Request):  # noqa: ANN202
        from core.clock import ORG_ZONE
        from storage.targets.report import penetration, report_period

        with session_factory() as s:
            try:
                opened, denied = open_view(s, request, DEFAULT_PERIOD, "", "")
                if denied:
                    return None, None, denied
                now, _, viewer, _, _, _, name = opened
                today = now.astimezone(ORG_ZONE).date()
                period = report_period(s, today)
                report = penetration(s, period, as_of=today, scope=viewer) if period else None
            finally:
                s.rollback()
        return (viewer, name), report, None

    @router.get("/dashboard/targets", response_class=HTMLResponse)
    def targets(request: Request) -> Response:
        from handlers.targets.report import summary_text

        who, report, denied = target_report(request)
        if denied:
            return denied
        viewer, name = who
        if report is None:
            body = '<section class="card"><p>当前没有进行中的目标周期。</p></section>'
            return _ok(V.page("目标穿透", viewer.heading, body, account=name))
        lines = "".join(f"<p>{V.escape(x.replace('**', ''))}</p>" for x in summary_text(report).splitlines())
        img = '<img alt="目标穿透" style="width:100%" src="/dashboard/targets.png">'
        body = f'<section class="card">{img}{lines}</section>'
        return _ok(V.page("目标穿透", f"{viewer.heading} · {report.period.label}", body, account=name))

    @router.get("/dashboard/targets.png")
    def targets_png(request: Request) -> Response:
        from bot.web.target_png import render_penetration_png

        _, report, denied = target_report(request)
        if denied:
            return denied
        if report is None:
            return Response(status_code=404, headers=HEADERS)
        return Response(render_penetration_png(report), media_type="image/png", headers=HEADERS)

    def open_viewer(session: Session, request: Request):  # noqa: ANN202
        opened, denied = open_view(session, request, DEFAULT_PERIOD, "", "")
        if denied:
            return denied
        now, _, viewer, _, _, _, name = opened
        return now, viewer, name

    add_contract_pages(router, session_factory, open_viewer)
    return router


def _lead_figures(session: Session, sl: metrics.Slice, now: datetime) -> V.LeadFigures:
    """The lead board for the slice's owners (its region filter does not apply: a lead's owner is its scope)."""
    scope = Scope(asker="dashboard", name="", role="", owners=sl.owners)
    stays = lead_queries.stage_durations(session, scope)
    n, oldest = lead_queries.overdue_steps(session, scope, now=now, limit=5)
    return V.LeadFigures(
        mix=lead_queries.grade_mix(session, scope),
        pools=lead_queries.pool_counts(session, scope),
        stages=[
            (STAGE_WORDS[k], stays[k][0], stays[k][1]) for k in ("new", "contacted", "proposal") if k in stays
        ],
        losses=lead_queries.loss_reasons(session, scope, top=3),
        overdue=n,
        oldest=[(o.company, o.label, o.due_at) for o in oldest],
    )
