"""ask(): a question → the Answer dict (the `ask --json` object); render_chat(): that answer as a chat reply."""

from __future__ import annotations

import math
import sqlite3
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, true, union_all
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from core.clock import SHANGHAI
from core.org import OrgTree, Scope, UnknownAsker, scope_of
from nlq.clarify import alternatives
from nlq.compile import DEFAULT_CAP, OrgFacts, Plan, compile_spec
from nlq.describe import describe
from nlq.domains.answer import answer_domain, describe_domain, domain_alternatives
from nlq.domains.read import read_domain
from nlq.guard import refusal_reason
from nlq.parse import Refused, parse, parse_readings
from nlq.readonly import DEFAULT_TIMEOUT_S, QueryTimeout, is_timeout, read_only
from nlq.spec import DOMAIN_ENTITIES, MONEY_FIGURES, TREND_KEYS, Answer, Period, QuerySpec
from nlq.sqlfns import one_of
from nlq.suggest import refusal_suggestion, suggest
from nlq.timewords import Window, buckets, reference, resolve
from nlq.validate import out_of_scope, resolve_names
from nlq.vocab import COMMON_CITIES, COMMON_REGIONS, Vocab, load_vocab
from storage.models import CustomerRow, UserRow

__all__ = ["ask", "answer_spec", "render_chat", "UnknownAsker"]


def ask(
    session: Session,
    *,
    asker: str,
    question: str,
    now: datetime,
    llm: Any = None,
    vocab: Vocab | None = None,
    cap: int = DEFAULT_CAP,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> dict[str, Any]:
    """Answer one question inside the asker's scope. Read-only; rolls back. Raises UnknownAsker.

    llm: a LangChain chat model (see nlq.llm); None answers with the offline parser only.
    vocab: the organisation's words, if the caller has them loaded (a batch); else read here.
    """
    with read_only(session, timeout_s):
        vocab = vocab or load_vocab(session)
        if asker not in vocab.users:
            raise UnknownAsker(asker)
        scope = scope_of(vocab.tree, asker)
        base = {"question": question, "asked_by": asker, "scope": scope.words}
        words = visible_vocab(session, vocab, scope)  # the question is read with the asker's words only
        try:
            spec, same_names = _read(question, now=now, vocab=words, asker=asker, llm=llm)
        except Refused as r:
            unread = scope.owners is not None and r.reason.startswith(UNREAD)
            reason = r.reason + (SCOPED_WORDS if unread else "")
            return _refusal(base, reason, question, answerable=_answerable(words, now, asker))
        alts = _alternatives(
            question, spec, vocab=words, now=now, asker=asker, scope=scope, same_names=same_names
        )
        return _answer_read(
            session, spec, vocab=vocab, scope=scope, base=base, now=now, cap=cap, alternatives=alts
        )


def _alternatives(
    question: str,
    spec: QuerySpec,
    *,
    vocab: Vocab,
    now: datetime,
    asker: str,
    scope: Scope,
    same_names: list[list[str]] | None = None,
) -> list[dict[str, Any]]:
    """The question's other readings (nlq.clarify), each as the words it would be understood as — never one
    that names a person outside the asker's scope (a namesake in another team is not even mentioned).
    same_names: the offline parser's, when it read the question (else it reads it again for them)."""
    if spec.entity in DOMAIN_ENTITIES:
        return domain_alternatives(spec, vocab=vocab, now=now)
    if same_names is None:
        try:
            same_names = parse_readings(question, now=now, vocab=vocab, asker=asker)[1]
        except Refused:
            same_names = []
    out = []
    for alt in alternatives(question, spec, vocab=vocab, now=now, same_names=same_names):
        try:
            alt = resolve_names(alt, vocab)
        except Refused:
            continue
        named = {*alt.customer.owners, *alt.reps, *alt.customer.under}
        if scope.owners is not None and not named <= scope.owners:
            continue
        if scope.owners == {asker} and named <= {asker}:
            continue  # a rep about themself: 我的拜访 at 我的客户 is the same people, not a second reading
        out.append({"understood": describe(alt, vocab=vocab, now=now), "spec": alt.model_dump(mode="json")})
    return out


def answer_spec(
    session: Session,
    spec: QuerySpec,
    *,
    asker: str,
    now: datetime,
    question: str = "",
    vocab: Vocab | None = None,
    cap: int = DEFAULT_CAP,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    understood: str | None = None,
    alternatives: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Answer an already-read QuerySpec (the parser's, the model's, or one built by hand) exactly as ask()
    answers a question: inside the asker's scope, read-only, capped, under the statement timeout."""
    with read_only(session, timeout_s):
        vocab = vocab or load_vocab(session)
        if asker not in vocab.users:
            raise UnknownAsker(asker)
        scope = scope_of(vocab.tree, asker)
        base = {"question": question, "asked_by": asker, "scope": scope.words}
        return _answer_read(
            session,
            spec,
            vocab=vocab,
            scope=scope,
            base=base,
            now=now,
            cap=cap,
            understood=understood,
            alternatives=alternatives,
        )


def _answer_read(
    session: Session,
    spec: QuerySpec,
    *,
    vocab: Vocab,
    scope: Scope,
    base: dict[str, Any],
    now: datetime,
    cap: int,
    understood: str | None = None,
    alternatives: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    if understood is None:
        try:
            understood = (describe_domain if spec.entity in DOMAIN_ENTITIES else describe)(
                spec, vocab=vocab, now=now
            )
        except Refused as r:
            return _refusal(base, r.reason, base["question"])
    why = out_of_scope(session, spec, scope, vocab)
    if why:
        return finish(
            Answer(
                **base,
                understood=understood,
                kind=spec.kind,
                reason=why,
                alternatives=list(alternatives or []),
            )
        )
    try:
        if spec.entity in DOMAIN_ENTITIES:
            return _answer_domain(
                session,
                spec,
                scope,
                base,
                understood,
                vocab=vocab,
                now=now,
                cap=cap,
                alternatives=alternatives,
            )
        return _answer(
            session,
            spec,
            scope,
            base,
            understood,
            now=now,
            cap=cap,
            tree=vocab.tree,
            alternatives=alternatives,
        )
    except Refused as r:
        return _refusal(base, r.reason, base["question"], understood=understood)
    except QueryTimeout:
        return _refusal(
            base,
            "这个问题算得太久，已停止。请缩小范围（时间、大区、业务员）再问。",
            base["question"],
            understood=understood,
        )


UNREAD = "没看懂"  # nlq/parse.py's refusal for words it cannot read
# the same hint whether the word is a person or place outside the scope or one that does not exist
SCOPED_WORDS = "（只认得你可见范围内的人员、大区和城市。）"


def _answer_domain(
    session: Session,
    spec: QuerySpec,
    scope: Scope,
    base: dict[str, Any],
    understood: str,
    *,
    vocab: Vocab,
    now: datetime,
    cap: int,
    alternatives: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    """A question about targets, leads, hand-offs or the finance view (nlq.domains.answer)."""
    got = answer_domain(session, spec, scope, vocab=vocab, now=now, cap=cap)
    suggestion = got.pop("suggestion", None)
    out: dict[str, Any] = {
        **base,
        "understood": understood + got.pop("understood_more", ""),
        "kind": spec.kind,
    }
    out.update(got)
    out["alternatives"] = list(alternatives or [])
    answer = finish(Answer(**out))
    answer["suggestion"] = suggestion
    return answer


def visible_vocab(session: Session, vocab: Vocab, scope: Scope) -> Vocab:
    """The words a question is read with: for an asker who does not see everything, only the people in their
    scope and the regions and cities of their scope's customers and people (plus the common region and city
    names everyone knows). A person, region or city outside the scope is then exactly as unknown as one that
    does not exist: the refusal is the same, so a rep cannot learn who or what exists outside their scope
    (docs/nlq-semantics.md § Who may see what)."""
    if scope.owners is None:
        return vocab
    owners = sorted(scope.owners)
    users = {u: vocab.users[u] for u in owners if u in vocab.users}
    if scope.asker in vocab.users:
        users.setdefault(scope.asker, vocab.users[scope.asker])
    regions, cities = _visible_places(session, owners)
    regions |= set(COMMON_REGIONS)
    cities |= set(COMMON_CITIES)
    return replace(
        vocab,
        users=users,
        regions=frozenset(v for v in vocab.regions if v in regions),
        cities=frozenset(v for v in vocab.cities if v in cities),
    )


def _visible_places(session: Session, owners: list[str]) -> tuple[set[str], set[str]]:
    """The regions and the cities of the owners' customers and of the owners themselves: one statement, the
    customers' part read in the order of the (owner_userid, region, city) index alone (each owner's distinct
    places: no sort of every customer row)."""
    dialect = session.get_bind().dialect.name
    places = union_all(
        select(CustomerRow.owner_userid, CustomerRow.region, CustomerRow.city)
        .where(one_of(CustomerRow.owner_userid, owners, dialect))
        .distinct(),
        select(UserRow.userid, UserRow.region, UserRow.city).where(one_of(UserRow.userid, owners, dialect)),
    )
    rows = session.execute(places).all()
    return {r for _, r, _ in rows if r}, {c for _, _, c in rows if c}


def read_question(question: str, *, now: datetime, vocab: Vocab, asker: str, llm: Any = None) -> QuerySpec:
    """The LLM's reading if one is configured and it gives a valid spec; else the offline parser's."""
    return _read(question, now=now, vocab=vocab, asker=asker, llm=llm)[0]


def _read(
    question: str, *, now: datetime, vocab: Vocab, asker: str, llm: Any = None
) -> tuple[QuerySpec, list[list[str]] | None]:
    """read_question's spec, and the parser's same-name readings when the offline parser read it (None: the
    model or a domain reader did)."""
    if llm is not None:
        why = refusal_reason(question)
        if why:
            raise Refused(why)
        from nlq.llm import spec_from_model  # the only LangChain import, loaded only when used

        spec = spec_from_model(llm, question, now=now, vocab=vocab, asker=asker)  # masks, dates
        if spec is not None:
            try:
                return resolve_names(spec, vocab), None
            except Refused:
                pass  # a name the model made up: the offline parser decides
    spec = read_domain(question, now=now, vocab=vocab, asker=asker)  # targets, leads, hand-offs, finance
    if spec is not None:
        return resolve_names(spec, vocab), None
    spec, same_names = parse_readings(question, now=now, vocab=vocab, asker=asker)
    return resolve_names(spec, vocab), same_names


def _refusal(
    base: dict[str, Any],
    reason: str,
    question: str,
    understood: str = "没能理解这个问题",
    answerable: Any = None,
) -> dict[str, Any]:
    return finish(
        Answer(
            **base,
            understood=understood,
            kind="refusal",
            reason=reason,
            suggestion=refusal_suggestion(question, answerable),
        )
    )


def _answerable(vocab: Vocab, now: datetime, asker: str) -> Any:
    """Whether the offline parser reads a question (for the suggestions after a refusal)."""

    def check(q: str) -> bool:
        try:
            if read_domain(q, now=now, vocab=vocab, asker=asker) is None:
                parse(q, now=now, vocab=vocab, asker=asker)
        except Refused:
            return False
        return True

    return check


def _answer(
    session: Session,
    spec: QuerySpec,
    scope: Scope,
    base: dict[str, Any],
    understood: str,
    *,
    now: datetime,
    cap: int,
    tree: OrgTree | None = None,
    alternatives: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run the spec's statement(s) and build the answer: a list, a figure or groups from one statement; a
    trend, a comparison, an overview or a people answer from several (nlq.compile.compile_spec each)."""
    if spec.figure == "abnormal_count":
        _math_functions(session)
    run = _Runner(session, scope, now=now, cap=cap, org=org_facts(tree, scope, spec))
    out: dict[str, Any] = {**base, "understood": understood, "kind": spec.kind}
    if spec.kind == "overview":
        out["rows"] = _overview(run, spec)
    elif spec.kind == "comparison":
        out.update(_comparison(run, spec))
    elif spec.kind == "people":
        out["rows"] = _people(run, spec, tree)
    elif spec.group_by in TREND_KEYS:
        out["rows"] = _trend(run, spec)
    else:
        out.update(run.single(spec))
    out["understood"] += out.pop("understood_more", "")
    out["alternatives"] = list(alternatives or [])
    out["reason"] = _why_empty(session, spec, scope, out)
    answer = finish(Answer(**out))
    answer["suggestion"], answer["action"] = suggest(
        spec, answer, asker=scope.asker, names=_names(tree, spec)
    )
    return answer


def _names(tree: OrgTree | None, spec: QuerySpec) -> dict[str, str]:
    """The names of the people the spec names (userid → name), for a next question in words."""
    out = {}
    for u in {*spec.reps, *spec.customer.owners}:
        person = tree.person(u) if tree is not None else None
        if person is not None and getattr(person, "name", None):
            out[u] = person.name
    return out


def _math_functions(session: Session) -> None:
    """异常签到's haversine needs sin, cos and radians: built into PostgreSQL, and into SQLite only when it was
    compiled with its math functions; an SQLite without them gets Python's, on this connection."""
    if session.get_bind().dialect.name != "sqlite":
        return
    raw = session.connection().connection.driver_connection
    try:
        raw.execute("SELECT sin(0), cos(0), radians(0)")
    except sqlite3.OperationalError:
        for name, fn in (("sin", math.sin), ("cos", math.cos), ("radians", math.radians)):
            raw.create_function(name, 1, fn, deterministic=True)


def _listed(answer: dict[str, Any]) -> str:
    """What an empty list is a list of, in the words it was understood as (「…的线索清单」 → 线索)."""
    understood = str(answer.get("understood") or "")
    head = understood.split("清单", 1)[0]
    return max(("客户", "线索", "工单", "分期", "合同"), key=head.rfind)


def _why_empty(session: Session, spec: QuerySpec, scope: Scope, out: dict[str, Any]) -> str | None:
    """The reason a figure is 0 or null (spec v2: over an empty scope or an empty period, with the reason); a
    list says it with no rows."""
    if out["kind"] == "list":
        return None
    if scope.owners is not None:
        mine = one_of(CustomerRow.owner_userid, sorted(scope.owners), session.get_bind().dialect.name)
        owned = select(CustomerRow.customer_id).where(mine).limit(1)
        if _run(session, owned).first() is None:
            return "你的可见范围内还没有客户，所以这里的数字为0。"
    if out["kind"] == "figure" and spec.is_rate and not out.get("denominator"):
        return "这个范围和时间内没有可计算的数据（分母为0），比率为空。"
    return None


def finish(answer: Answer) -> dict[str, Any]:
    """The answer as `ask --json` prints it: previous / change / change_rate only on a comparison."""
    out = answer.model_dump()
    if out["kind"] != "comparison":
        for k in COMPARISON_FIELDS:
            out.pop(k, None)
    return out


COMPARISON_FIELDS = ("previous", "change", "change_rate")
MANAGER_ROLES = ("regional_manager", "sales_director", "finance_director", "admin")


def team_of(tree: OrgTree, userid: str) -> str:
    """The team key of a person (spec v2 团队): the nearest supervisor at or above them; a rep with none goes
    under their direct manager (their nearest manager); anyone else is their own team."""
    seen: set[str] = set()
    cur: str | None = userid
    while cur is not None and cur not in seen:
        seen.add(cur)
        role = tree.role_of(cur)
        if role == "supervisor":
            return cur
        if role in MANAGER_ROLES:
            break
        cur = tree.manager_of(cur)
    manager = tree.manager_of(userid)
    if tree.role_of(userid) == "rep" and manager:
        return manager
    return userid


def org_facts(tree: OrgTree | None, scope: Scope, spec: QuerySpec) -> OrgFacts:
    """The teams and the 手下 (under) sets the compiler needs, from the reporting tree (the teams only for a
    question grouped by team)."""
    if tree is None:
        return OrgFacts()
    under = None
    if spec.customer.under:
        under = frozenset().union(*(tree.scope(u) for u in spec.customer.under))
    if spec.group_by != "team":
        return OrgFacts(under=under)
    everyone = tree.everyone()
    visible = everyone if scope.owners is None else set(scope.owners) & everyone
    teams = {u for u in visible if tree.role_of(u) == "supervisor"}
    teams |= {team_of(tree, u) for u in visible if tree.role_of(u) == "rep"}
    names = {u: p.name for u in everyone if (p := tree.person(u)) is not None and p.name}
    return OrgFacts(
        team_of={u: team_of(tree, u) for u in everyone}, teams=tuple(sorted(teams)), under=under, names=names
    )


class _Runner:
    """Compiles and runs derived specs inside one scope (read-only, row cap, statement timeout: ask())."""

    def __init__(self, session: Session, scope: Scope, *, now: datetime, cap: int, org: OrgFacts):
        self.session, self.scope, self.now, self.cap, self.org = session, scope, now, cap, org

    def plan(
        self, spec: QuerySpec, buckets: list[tuple[str, Window]] | None = None, cap: int | None = None
    ) -> Plan:
        dialect = self.session.get_bind().dialect.name
        return compile_spec(
            spec,
            owners=self.scope.owners,
            now=self.now,
            dialect=dialect,
            cap=cap or self.cap,
            org=self.org,
            buckets=buckets,
        )

    def single(
        self, spec: QuerySpec, buckets: list[tuple[str, Window]] | None = None, *, whole: bool = False
    ) -> dict[str, Any]:
        """A list, a figure or a figure per group: one statement (a long list: and its count). whole: every
        group, past the row cap (the per-person rows a people answer or a team figure is made of)."""
        if spec.group_by == "team" and spec.figure != "distinct_customers" and not buckets:
            return {"rows": self.team_rows(spec)}
        cap = PEOPLE_CAP if whole else self.cap
        plan = self.plan(spec, buckets, cap)
        result = _run(self.session, plan.stmt).all()
        out: dict[str, Any] = {}
        if plan.kind == "list":
            out["rows"] = [_list_row(r, plan, spec) for r in result[:cap]]
            if len(result) > cap:
                total = result[0].total if plan.count is None else _run(self.session, plan.count).scalar_one()
                out["understood_more"] = f"（共{total}个，只列出前{cap}个）"
        elif plan.kind == "groups":
            out["rows"] = [_group_row(r, plan) for r in result[:cap]]
        else:
            out.update(_figure_of(result[0], plan))
        return out

    def team_rows(self, spec: QuerySpec) -> list[dict[str, Any]]:
        """A figure per team: the figure per person (the customer's owner, the visit's rep), added up by team
        (OrgFacts.team_of) — one grouped statement, and no per-person CASE in it. Every team in scope appears.
        (跑了多少家店 is not additive over people: the compiler keys it by team itself.)"""
        persons = self.single(derive(spec, group_by="rep", ranking=None, limit=None), whole=True)["rows"]
        rate, money = spec.is_rate, spec.figure in MONEY_FIGURES
        acc: dict[Any, list[float]] = {
            t: [0, 0] for t in self.org.teams
        }  # value, or numerator and denominator
        for r in persons:
            team = None if r["key"] is None else self.org.team_of.get(r["key"], r["key"])
            a = acc.setdefault(team, [0, 0])
            if rate:
                a[0] += r["numerator"]
                a[1] += r["denominator"]
            else:
                a[0] += r["value"]
        rows = []
        for team, (a, b) in acc.items():
            row: dict[str, Any] = {"key": team}
            if team is not None and self.org.names.get(team):
                row["name"] = self.org.names[team]
            if rate:
                value = (a / b) if b else None
                if money and value is not None:
                    value = round(value, 2)
                row.update(value=value, numerator=round(a, 2) if money else int(a), denominator=int(b))
            else:
                row["value"] = round(a, 2) if money else int(a)
            rows.append(row)
        r = spec.ranking
        keyed = _rank([x for x in rows if x["key"] is not None], "value", r.descending if r else True)
        rows = keyed + [x for x in rows if x["key"] is None]
        return rows[: min(spec.limit or self.cap, self.cap)]

    def figure(self, spec: QuerySpec) -> dict[str, Any]:
        return self.single(derive(spec, group_by=None, ranking=None, limit=None))

    def groups(self, spec: QuerySpec, *, whole: bool = False) -> list[dict[str, Any]]:
        return self.single(derive(spec, ranking=None, limit=None), whole=whole)["rows"]


PEOPLE_CAP = 100_000  # the per-person rows under a people answer or a team figure: every person, not the cap


def derive(spec: QuerySpec, **update: Any) -> QuerySpec:
    """The spec with some fields replaced, for one of the statements of a composite answer (not validated
    again: the composite spec was, and the parts are narrower)."""
    return spec.model_copy(update=update)


def between(w: Window) -> Period:
    return Period(kind="between", start=w.start, end=w.end, end_inclusive=w.end_inclusive, unit=w.unit)


def _plain(spec: QuerySpec) -> QuerySpec:
    """The spec stripped of what makes it composite."""
    return derive(spec, compare=None, overview=False, people=False, having=None, buckets=None)


def _zero(spec: QuerySpec) -> dict[str, Any]:
    """The figure over nothing: 0 for counts and sums, null for rates."""
    if spec.is_rate:
        return {"value": None, "numerator": 0, "denominator": 0}
    return {"value": 0}


def _rank(rows: list[dict[str, Any]], by: str, descending: bool, key: str = "key") -> list[dict[str, Any]]:
    """Rows by a figure (null last), ties by key."""
    known = [r for r in rows if r.get(by) is not None]
    known.sort(key=lambda r: str(r[key]))
    known.sort(key=lambda r: r[by], reverse=descending)
    return known + sorted((r for r in rows if r.get(by) is None), key=lambda r: str(r[key]))


# --- trends -------------------------------------------------------------------------------------------
def _trend(run: _Runner, spec: QuerySpec) -> list[dict[str, Any]]:
    """The figure per calendar week or month, oldest first, ending with the current one: one statement keyed by
    the bucket (a figure without a time of its own, such as 客户信息鲜度: one statement per bucket); a ranking
    (哪周最多) sorts the buckets by the figure."""
    unit = spec.group_by
    assert unit in TREND_KEYS
    n = spec.buckets or (8 if unit == "week" else 6)
    windows = buckets(unit, n, run.now)
    whole = Window(windows[0][1].start, windows[-1][1].end, False, "", unit="custom")
    plain = derive(_plain(spec), ranking=None, limit=None)
    try:
        got = {r["key"]: r for r in run.single(derive(plain, period=between(whole)), windows)["rows"]}
        rows = [
            {"key": k, **{f: v for f, v in got[k].items() if f not in ("key", "name")}} for k, _ in windows
        ]
    except ValueError:
        flat = derive(plain, group_by=None)
        rows = [{"key": k, **run.figure(derive(flat, period=between(w)))} for k, w in windows]
    if spec.ranking is not None:
        rows = _rank(rows, "value", spec.ranking.descending)
    return rows[: spec.limit] if spec.limit else rows


# --- comparisons --------------------------------------------------------------------------------------
def _change(cur: dict[str, Any], prev: dict[str, Any], money: bool) -> dict[str, Any]:
    v, pv = cur.get("value"), prev.get("value")
    change = None if v is None or pv is None else round(v - pv, 2 if money else 6)
    rate = None if change is None or not pv else round(change / pv, 6)
    out = {"value": v, "previous": pv, "change": change, "change_rate": rate}
    if "denominator" in cur:  # a rate: this period's numerator and denominator too
        out.update(numerator=cur.get("numerator"), denominator=cur.get("denominator"))
    return out


def _comparison(run: _Runner, spec: QuerySpec) -> dict[str, Any]:
    """环比 / 同比: the figure this period and in the reference period (a running period like for like), with
    change and change_rate; per group, every row carries the four."""
    period = spec.period or Period(kind="this_month")
    assert spec.compare is not None
    cur_w, prev_w = reference(resolve(period, run.now), spec.compare, run.now)
    plain = _plain(spec)
    money = spec.figure in MONEY_FIGURES
    words = f"（本期 {cur_w.span_words}，对比 {prev_w.span_words}）"
    if spec.group_by is None:
        cur = run.figure(derive(plain, period=between(cur_w)))
        prev = run.figure(derive(plain, period=between(prev_w)))
        return {**_change(cur, prev, money), "understood_more": words}
    cur_rows = {r["key"]: r for r in run.groups(derive(plain, period=between(cur_w)))}
    prev_rows = {r["key"]: r for r in run.groups(derive(plain, period=between(prev_w)))}
    zero = _zero(spec)
    rows = []
    for key in sorted(set(cur_rows) | set(prev_rows), key=lambda k: (k is None, str(k))):
        c, p = cur_rows.get(key, zero), prev_rows.get(key, zero)
        row = {"key": key, **_change(c, p, money)}
        name = c.get("name") or p.get("name")
        if name:
            row["name"] = name
        rows.append(row)
    r = spec.ranking
    if r is not None:
        by = "value" if r.by == "figure" else r.by
        rows = _rank([x for x in rows if x["key"] is not None], by, r.descending) + [
            x for x in rows if x["key"] is None
        ]
    if spec.limit:
        rows = rows[: spec.limit]
    return {"rows": rows, "understood_more": words}


# --- overviews ----------------------------------------------------------------------------------------
OVERVIEW = (
    ("拜访数", "visits", "count"),
    ("拜访完整率", "visits", "complete_rate"),
    ("客户信息鲜度", "customers", "freshness"),
    ("销售额", "orders", "sales"),
)


def _overview(run: _Runner, spec: QuerySpec) -> list[dict[str, Any]]:
    """情况 / 概况: 拜访数, 拜访完整率 and 销售额 over the period, 客户信息鲜度 as of now, for the scope and the
    customers the question names (a person named as the visits' rep: the customers that person owns).

    One statement: each figure's own statement (compile_spec, scope inside each) as a one-row subquery of a
    single SELECT; 拜访数 is the denominator of 拜访完整率 (the same visits, counted once)."""
    plain = derive(_plain(spec), group_by=None, ranking=None, limit=None, figure="count")
    if (
        plain.reps and not plain.customer.owners
    ):  # 张伟的情况: a person's overview is of the customers they own
        plain = derive(
            plain, reps=[], customer=plain.customer.model_copy(update={"owners": list(plain.reps)})
        )
    plans = {
        figure: run.plan(
            derive(plain, entity=entity, figure=figure, period=None if figure == "freshness" else spec.period)
        )
        for _, entity, figure in OVERVIEW
        if figure != "count"
    }
    parts = {figure: plan.stmt.subquery(f"o_{figure}") for figure, plan in plans.items()}
    cols = [c.label(f"{figure}_{c.name}") for figure, sub in parts.items() for c in sub.c]
    source = None
    for sub in parts.values():
        source = sub if source is None else source.join(sub, true())
    row = _run(run.session, select(*cols).select_from(source)).one()._mapping
    got = {
        figure: _figure_of(_Row({c.name: row[f"{figure}_{c.name}"] for c in sub.c}), plans[figure])
        for figure, sub in parts.items()
    }
    got["count"] = {"value": got["complete_rate"]["denominator"]}
    rows = []
    for word, _, figure in OVERVIEW:
        out: dict[str, Any] = {"figure": word, "value": got[figure].get("value")}
        if "denominator" in got[figure]:
            out.update(numerator=got[figure]["numerator"], denominator=got[figure]["denominator"])
        rows.append(out)
    return rows


class _Row:
    """A result row's columns by attribute (what _figure_of reads)."""

    def __init__(self, values: dict[str, Any]):
        self.__dict__.update(values)


# --- people -------------------------------------------------------------------------------------------
def _people(run: _Runner, spec: QuerySpec, tree: OrgTree | None) -> list[dict[str, Any]]:
    """The reps in scope (role rep; narrowed to the named owners or 手下) with their figure: visit figures by
    the visit's rep, the others by the customers' owner. having keeps those whose figure satisfies it (a rate
    over nothing satisfies none); a pure condition (没签到: fewer than one visit) carries no value."""
    owners = run.scope.owners
    reps = sorted(tree.with_role("rep")) if tree is not None else []
    reps = [u for u in reps if owners is None or u in owners]
    if spec.customer.owners:
        reps = [u for u in reps if u in spec.customer.owners]
    if run.org.under is not None:
        reps = [u for u in reps if u in run.org.under]
    got = {r["key"]: r for r in _by_person(run, spec, reps).groups(_per_rep(spec, reps), whole=True)}
    zero = _zero(spec)
    rows = []
    for u in reps:
        person = tree.person(u) if tree is not None else None
        rows.append(
            {
                "userid": u,
                "name": (person.name if person else "") or u,
                "value": got.get(u, zero).get("value"),
            }
        )
    h = spec.having
    if h is not None:
        rows = [r for r in rows if r["value"] is not None and OPS[h.op](r["value"], h.value)]
    if spec.ranking is not None:
        rows = _rank(rows, "value", spec.ranking.descending, key="userid")
    elif h is not None:
        rows = _rank(rows, "value", h.op in (">", ">="), key="userid")
    else:
        rows = _rank(rows, "value", True, key="userid")
    if spec.limit:
        rows = rows[: spec.limit]
    if _pure_condition(spec):
        for r in rows:
            r.pop("value")
        rows.sort(key=lambda r: r["userid"])
    return rows


def _acts_of_people(spec: QuerySpec) -> bool:
    """没签到 / 签到了 (no visit / at least one) with no condition on the customers: whether a person in scope checked in is their own act,
    wherever they did (a rep covering a colleague's store in another region still 签到了). Read as visits whose
    rep is one of the people in scope, not as visits to customers in scope; only the presence is shown."""
    h = spec.having
    checked_in = (
        h is not None
        and spec.entity == "visits"
        and spec.figure == "count"
        and ((h.op == ">" and h.value == 0) or (h.op == ">=" and h.value == 1))
    )
    return (_pure_condition(spec) or checked_in) and spec.customer == type(spec.customer)() and not spec.tag


def _by_person(run: _Runner, spec: QuerySpec, reps: list[str]) -> _Runner:
    """The runner for a people answer's per-person rows: the asker's own, or for their own acts (see
    _acts_of_people) one that reads visits by rep_userid IN the people in scope (_per_rep puts them in the
    spec), so nothing outside the scope is counted for anyone else."""
    if not _acts_of_people(spec):
        return run
    return _Runner(
        run.session,
        replace(run.scope, owners=None),
        now=run.now,
        cap=run.cap,
        org=replace(run.org, under=None),
    )


def _per_rep(spec: QuerySpec, reps: list[str]) -> QuerySpec:
    if not _acts_of_people(spec):
        return derive(_plain(spec), group_by="rep")
    return derive(_plain(spec), group_by="rep", reps=reps or [""])  # nobody in scope: no row


def _pure_condition(spec: QuerySpec) -> bool:
    """没签到 / 没拜访: a count below one is a condition, not a figure to show."""
    h = spec.having
    if h is None or spec.entity != "visits" or spec.figure not in ("count", "distinct_customers"):
        return False
    return (h.op == "<" and h.value <= 1) or (h.op in ("<=", "=") and h.value == 0)


OPS = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "=": lambda a, b: a == b,
}


def _run(session: Session, stmt: Any) -> Any:
    try:
        return session.execute(stmt)
    except OperationalError as exc:  # past the statement timeout: ask() answers with a refusal
        if is_timeout(exc):
            raise QueryTimeout(str(exc.orig)) from exc
        raise


def _number(v: Any, plan: Plan) -> int | float:
    if v is None:
        return 0
    if plan.money:
        return round(float(v), 2)
    return int(v)


def _list_row(r: Any, plan: Plan, spec: QuerySpec) -> dict[str, Any]:
    row: dict[str, Any] = {
        "customer_id": r.customer_id,
        "name": r.name,
        "owner": r.owner_userid,
        "owner_name": r.owner_name,
    }
    for i, name in enumerate(plan.fields):
        v = _jsonable(getattr(r, f"f{i}"), money=name in plan.money_fields)
        if name.startswith("tag_visits:"):
            row.setdefault("tag_visits", {})[spec.customer.tags[int(name.split(":")[1])].tag] = v
        else:
            row[name] = v
    return row


def _figure_of(r: Any, plan: Plan) -> dict[str, Any]:
    """value (and numerator / denominator for a rate; a money rate such as 客单价 to the cent)."""
    if not plan.rate:
        return {"value": _number(r.value, plan)}
    num, den = _number(r.num, plan), int(r.den or 0)
    value = (num / den) if den else None
    if plan.money and value is not None:
        value = round(value, 2)
    return {"value": value, "numerator": num, "denominator": den}


def _group_row(r: Any, plan: Plan) -> dict[str, Any]:
    row: dict[str, Any] = {"key": r.key}
    if r.name is not None:
        row["name"] = r.name
    row.update(_figure_of(r, plan))
    return row


def _jsonable(v: Any, *, money: bool = False) -> Any:
    if isinstance(v, datetime):
        return v.astimezone(SHANGHAI).isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Decimal) or (money and isinstance(v, float | int)):
        return round(float(v), 2)
    return v


# --- chat -------------------------------------------------------------------------------------------

CHAT_ROWS = 5
CHAT_GROUPS = 10


def render_chat(answer: dict[str, Any]) -> str:
    """A short Chinese chat reply: how it was read, whose scope, the figure or the first rows, one next step."""
    lines = []
    if answer["kind"] == "refusal":
        lines.append(f"抱歉，{answer['reason']}")
        if answer.get("suggestion"):
            lines.append(answer["suggestion"])
        return "\n".join(lines)
    lines += [f"理解为：{answer['understood']}", f"范围：{answer['scope']}"]
    if answer.get("reason"):
        lines.append(f"没有数据：{answer['reason']}")
        return "\n".join(lines)
    rows = answer["rows"]
    if answer["kind"] == "figure":
        lines.append(f"结果：{_fmt_value(answer)}")
    elif answer["kind"] == "comparison":
        if rows:
            for r in rows[:CHAT_GROUPS]:
                lines.append(f"{r.get('name') or r['key'] or '（未填）'}：{_fmt_change(r)}")
            more = f"，以上是前{CHAT_GROUPS}组" if len(rows) > CHAT_GROUPS else ""
            lines.append(f"共{len(rows)}组{more}")
        else:
            rate, frac = answer.get("change_rate"), answer.get("denominator") is not None
            lines += [
                f"本期：{_fmt_number(answer.get('value'), frac=frac)}",
                f"上期：{_fmt_number(answer.get('previous'), frac=frac)}",
                f"变化：{_fmt_number(answer.get('change'), signed=True, frac=frac)}",
                f"变化率：{'无（上期为0）' if rate is None else f'{rate:+.1%}'}",
            ]
    elif answer["kind"] == "overview":
        lines += [f"{r['figure']}：{_fmt_value(r)}" for r in rows]
    elif answer["kind"] == "people":
        for i, r in enumerate(rows[:CHAT_GROUPS], 1):
            lines.append(f"{i}. {r['name']}" + (f"：{_fmt_value(r)}" if "value" in r else ""))
        more = f"，以上是前{CHAT_GROUPS}人" if len(rows) > CHAT_GROUPS else ""
        lines.append(f"共{len(rows)}人{more}" if rows else "共0人：没有符合条件的人")
    elif answer["kind"] == "list":
        lines += [f"{i}. {_fmt_customer(r)}" for i, r in enumerate(rows[:CHAT_ROWS], 1)]
        more = "，以上是前5个" if len(rows) > CHAT_ROWS else ""
        lines.append(f"共{len(rows)}个{more}" if rows else f"共0个：没有符合条件的{_listed(answer)}")
    else:
        lines += [f"{r.get('name') or r['key'] or '（未填）'}：{_fmt_value(r)}" for r in rows[:CHAT_GROUPS]]
        more = f"，以上是前{CHAT_GROUPS}组" if len(rows) > CHAT_GROUPS else ""
        lines.append(f"共{len(rows)}组{more}")
    if answer.get("suggestion"):
        lines.append(f"建议：{answer['suggestion']}")
    return "\n".join(lines)


def _fmt_value(a: dict[str, Any]) -> str:
    v = a.get("value")
    if a.get("denominator") is not None:
        if v is None:
            return "无数据（分母为0）"
        return f"{v:.1%}（{_part(a['numerator'])}/{_part(a['denominator'])}）"
    if v is None:
        return "无数据"
    if isinstance(v, float):
        return f"¥{v:,.2f}"
    return str(v)


def _part(x: Any) -> str:
    """A rate's numerator or denominator: money (a float: 销售额 ÷ 目标) to the cent, a count as is."""
    return f"¥{x:,.2f}" if isinstance(x, float) else str(x)


def _fmt_number(v: Any, *, signed: bool = False, frac: bool = False) -> str:
    """A comparison's number: a rate (frac) as a percentage, money to the cent, a count as is."""
    if v is None:
        return "无数据"
    sign = "+" if signed and v > 0 else ""
    if frac:
        return f"{sign}{v * 100:.1f}个百分点" if signed else f"{v:.1%}"
    if isinstance(v, float):  # money
        return f"{sign}¥{v:,.2f}" if v >= 0 else f"-¥{-v:,.2f}"
    return f"{sign}{v}"


def _fmt_change(r: dict[str, Any]) -> str:
    rate, frac = r.get("change_rate"), r.get("denominator") is not None
    return (
        f"本期 {_fmt_number(r.get('value'), frac=frac)}，上期 {_fmt_number(r.get('previous'), frac=frac)}，"
        f"变化 {_fmt_number(r.get('change'), signed=True, frac=frac)}，"
        f"变化率 {'无（上期为0）' if rate is None else f'{rate:+.1%}'}"
    )


_FIELD_WORDS = {
    "nps": "NPS",
    "lost_on": "流失于",
    "last_touch_at": "最后跟进",
    "last_visit_at": "最后拜访",
    "sales": "销售额",
    "order_count": "下单",
    "visit_count": "拜访",
    "timeout_tickets": "超时工单",
    "overdue_contracts": "逾期合同",
    "overdue_amount": "逾期未回",
    "overdue_days": "逾期天数",
    "ticket_count": "工单",
    "received": "回款",
    "outstanding": "欠款",
    "contract_amount": "合同金额",
    "tag_visit_count": "标签拜访",
    "region": "大区",
    "city": "城市",
    "channel": "渠道",
    # rows of the newer domains (nlq.domains.answer): leads, work orders, contracts by the finance view
    "contract_no": "合同",
    "team": "部门",
    "overdue_hours": "超时小时",
    "grade": "等级",
    "stage": "阶段",
    "quiet_hours": "未跟进小时",
    "finance_status": "财务口径",
    "amount": "金额",
    "paid": "已回",
}


def _fmt_customer(r: dict[str, Any]) -> str:
    bits = []
    for k, word in _FIELD_WORDS.items():
        if k in r:
            v = r[k]
            if v is None:
                v = "无"
            elif k.endswith("_at"):
                v = str(v)[:10]
            elif k in (
                "sales",
                "overdue_amount",
                "received",
                "outstanding",
                "contract_amount",
                "amount",
                "paid",
            ):
                v = f"¥{v:,.2f}"
            bits.append(f"{word} {v}")
    for tag, n in (r.get("tag_visits") or {}).items():
        bits.append(f"{tag} {n}次")
    who = r.get("owner_name") or r.get("owner")
    return f"{r['name']}（{who}）" + (" · " + " · ".join(bits) if bits else "")
