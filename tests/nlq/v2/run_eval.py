"""Ask every case of tests/nlq/v2/cases.yaml through the real `nlq.answer.ask` on a SQLite copy of the dataset and
score it with oracle_v2.score: accuracy by category, the share refused, and the failures.

    .venv/bin/python -m tests.nlq.v2.run_eval [-v] [--category NAME] [--cases PATH]

Not a pytest test: the held-out set measures people's wording, it does not gate the build (the v1 set does).
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
from nlq.answer import ask
from nlq.vocab import load_vocab
from storage.db import make_engine, make_session_factory
from storage.schema import create_all
from tests.nlq.dataset import generate, insert_dataset
from tests.nlq.dataset_domains import generate_domains, insert_domains
from tests.nlq.v2 import oracle_domains
from tests.nlq.v2.oracle_v2 import DEFAULT_NOW, score

CASES = Path(__file__).with_name("cases.yaml")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-v", action="store_true")
    ap.add_argument("--category")
    ap.add_argument("--cases", type=Path, default=CASES, help="the cases file (default: cases.yaml)")
    args = ap.parse_args(argv)
    doc = yaml.safe_load(args.cases.read_text(encoding="utf-8"))
    cases = [c for c in doc["cases"] if not args.category or c["category"] == args.category]
    ds = generate()
    dd = generate_domains(ds)
    domains = args.cases.name == "cases_domains.yaml"  # scored by oracle_domains (targets, leads, hand-offs)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/eval.db")
        create_all(engine)
        factory = make_session_factory(engine)
        with factory() as s:
            insert_dataset(s, ds)
            insert_domains(s, dd)
        ok, total, refused = Counter(), Counter(), Counter()
        fails: dict[str, list[str]] = defaultdict(list)
        with factory() as s:
            vocab = load_vocab(s)
            for c in cases:
                if c.get("during_visit") and c["gold"].get("route") != "question":
                    continue
                now = parse_time(c["now"]) if c.get("now") else DEFAULT_NOW
                cat = c["category"]
                total[cat] += 1
                try:
                    ans = ask(s, asker=c["as"], question=c["q"], now=now, vocab=vocab)
                except Exception as exc:  # noqa: BLE001 - a crash is a failure to report, not to stop on
                    ans = {"kind": "crash", "reason": repr(exc)}
                if ans.get("kind") == "refusal":
                    refused[cat] += 1
                good, why = oracle_domains.score(ans, c, ds, dd) if domains else score(ans, c, ds)
                if good:
                    ok[cat] += 1
                else:
                    fails[cat].append(
                        f"{c['id']} [{c['as']}] {c['q']} → {ans.get('kind')}: {why} | "
                        f"{json.dumps(ans.get('understood') or ans.get('reason'), ensure_ascii=False)[:120]}"
                    )
        engine.dispose()
    print(f"{'category':<26}{'right':>7}{'of':>5}{'refused':>9}")
    for cat in sorted(total):
        print(f"{cat:<26}{ok[cat]:>7}{total[cat]:>5}{refused[cat]:>9}")
    n, good_n, ref_n = sum(total.values()), sum(ok.values()), sum(refused.values())
    print(
        f"{'all':<26}{good_n:>7}{n:>5}{ref_n:>9}   accuracy {good_n / max(n, 1):.1%}, refused {ref_n / max(n, 1):.1%}"
    )
    if args.v:
        for cat in sorted(fails):
            for line in fails[cat]:
                print(" ", cat, line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
