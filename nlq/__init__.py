"""Managers' questions in plain Chinese → a validated QuerySpec → one scoped, read-only query → an answer.

The meaning of every word is fixed in docs/nlq-semantics.md. Entry points: `nlq.answer.ask`,
`nlq.answer.render_chat`, `nlq.cli.run_ask`.
"""
