"""`python main.py ask --as USERID [--now T] [--json] [--batch FILE] [QUESTION]` (main.py wires the arguments).

One question, or --batch FILE with one question per line (blank lines skipped), answered in order: with
--json one JSON object per line, else the chat rendering, answers separated by a blank line.
Exit codes: 0 answered (refusals included), 2 a usage error or an unknown asker.

Customers listed to an asker outside their owner's line (a finance director, an admin) are recorded as
reads (storage/read_audit.py) in a short write transaction after each answer, before it is printed; the
rows carry the time of the read, not --now.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.orm import Session

from core.clock import SystemClock, parse_time
from core.org import UnknownAsker
from nlq.answer import CHAT_ROWS, ask, render_chat
from nlq.vocab import load_vocab
from storage import read_audit

USAGE = "用法 usage: python main.py ask --as USERID [--now ISO-TIME] [--json] [--batch FILE] [QUESTION]"


def run_ask(
    session_factory: Callable[[], Session],
    *,
    asker: str,
    question: str | None = None,
    batch_path: str | Path | None = None,
    now: datetime | str | None = None,
    as_json: bool = False,
    out: TextIO = sys.stdout,
    err: TextIO | None = None,
    llm: Any = None,
) -> int:
    err = err or sys.stderr
    if (question is None) == (batch_path is None) or (question is not None and not question.strip()):
        print(
            f"请给出一个问题，或用 --batch 指定问题文件（二选一）。Give one QUESTION or --batch FILE.\n{USAGE}",
            file=err,
        )
        return 2
    try:
        at = parse_time(now) if isinstance(now, str) else (now or SystemClock().now())
    except ValueError:
        print(f"--now 不是有效的 ISO 时间：{now!r}（invalid ISO time）", file=err)
        return 2
    if batch_path is not None:
        try:
            questions = [
                q.strip() for q in Path(batch_path).read_text(encoding="utf-8-sig").splitlines() if q.strip()
            ]
        except OSError as exc:
            print(f"读不了问题文件 cannot read batch file {batch_path}: {exc.strerror}", file=err)
            return 2
    else:
        questions = [question.strip()]  # type: ignore[union-attr]
    with session_factory() as session:
        vocab = load_vocab(session)
        session.rollback()
        if asker not in vocab.users:
            print(f"未知用户：{asker}（人员表里没有这个账号）。Unknown userid: {asker}", file=err)
            return 2
        for i, q in enumerate(questions):
            try:
                answer = ask(session, asker=asker, question=q, now=at, llm=llm, vocab=vocab)
            except UnknownAsker:  # pragma: no cover — checked above
                print(f"未知用户：{asker}。Unknown userid: {asker}", file=err)
                return 2
            # --json prints every row, the chat rendering the first CHAT_ROWS: the ones shown are the ones read
            shown = read_audit.shown_in_answer(answer, None if as_json else CHAT_ROWS)
            read_audit.audit_reads_apart(
                session_factory,
                viewer=asker,
                shown=shown,
                why=read_audit.reason("cli:ask", q),
                at=SystemClock().now(),
            )
            if as_json:
                out.write(json.dumps(answer, ensure_ascii=False) + "\n")
            else:
                out.write(("\n" if i else "") + render_chat(answer) + "\n")
            out.flush()
    return 0
