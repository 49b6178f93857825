import sys, json, tempfile
from storage.db import make_engine, make_session_factory
from storage.schema import create_all
from tests.nlq.dataset import generate, insert_dataset, NOW
from tests.nlq.dataset_domains import generate_domains, insert_domains
from nlq.answer import ask, render_chat
from nlq.vocab import load_vocab
ds=generate(); d=generate_domains(ds)
t=tempfile.mkdtemp(); e=make_engine(f"sqlite:///{t}/x.db"); create_all(e); f=make_session_factory(e)
with f() as s:
    insert_dataset(s, ds); insert_domains(s, d)
with f() as s:
    v=load_vocab(s)
    for line in sys.stdin:
        if not line.strip(): continue
        who,q=line.split(None,1)
        a=ask(s, asker=who, question=q.strip(), now=NOW, vocab=v)
        print(q.strip(), "→", a["kind"], a.get("reason"), "|", a["understood"][:100], "| value", a.get("value"), "rows", len(a["rows"]))
        if "-v" in sys.argv: print(render_chat(a))
