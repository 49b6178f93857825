"""Render a handlers.messages.Reply into WeCom's message/send JSON. Pure and deterministic.

The outbox stores the rendered string once; retries resend the same bytes, so WeCom's
`enable_duplicate_check` collapses a send that succeeded but whose answer was lost.
"""

from __future__ import annotations

import json
import re
from typing import Any

from core.markup import escape_md, escape_text
from handlers.messages import Card, CardUpdate, Markdown, Reply, Text

SOURCE = {"desc": "销售助手", "desc_color": 0}
DUPLICATE_CHECK = {"enable_duplicate_check": 1, "duplicate_check_interval": 1800}
_TASK_ID_OK = re.compile(r"[^A-Za-z0-9_\-@]")


def task_id_for(card: Card, outbox_id: int) -> str:
    raw = card.task_id or f"o{outbox_id}"
    return _TASK_ID_OK.sub("_", raw)[:128]


def clip(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode(errors="ignore") + "…"


def button_card(reply: Card, task_id: str) -> dict[str, Any]:
    """The template_card of a card with buttons (message/send, or update_template_card replacing a card)."""
    card: dict[str, Any] = {
        "card_type": "button_interaction",
        "source": SOURCE,
        "main_title": {"title": clip(reply.title, 100), "desc": clip(reply.description, 160)},
        "task_id": task_id,
        "button_list": [{"text": b.text, "style": b.style, "key": b.key} for b in reply.buttons[:6]],
    }
    if reply.fields:
        card["horizontal_content_list"] = [
            {"keyname": clip(k, 20), "value": clip(v, 60)} for k, v in reply.fields[:6]
        ]
    if reply.url:
        card["card_action"] = {"type": 1, "url": reply.url}
    if reply.replace_text:  # update_template_card: the buttons greyed out under this word (doc 94888)
        card["replace_text"] = clip(reply.replace_text, 40)
    return card


def render_send(reply: Reply, *, touser: str, agent_id: int, outbox_id: int) -> dict[str, Any]:
    base: dict[str, Any] = {"touser": touser, "agentid": agent_id}
    if isinstance(reply, Text):
        body = {**base, "msgtype": "text", "text": {"content": clip(escape_text(reply.content), 2048)}}
    elif isinstance(reply, Markdown):
        body = {**base, "msgtype": "markdown", "markdown": {"content": clip(reply.content, 2048)}}
    elif isinstance(reply, Card) and reply.buttons:
        card = button_card(reply, task_id_for(reply, outbox_id))
        body = {**base, "msgtype": "template_card", "template_card": card}
    elif isinstance(
        reply, Card
    ):  # a notice without buttons reads best as markdown; its strings are plain text
        lines = [f"**{escape_md(reply.title)}**"]
        if reply.description:
            lines += [escape_md(line) for line in reply.description.split("\n")]
        lines += [f"> {escape_md(k)}：{escape_md(v)}" for k, v in reply.fields]
        if reply.url:
            lines.append(f"[查看详情]({reply.url})")
        body = {**base, "msgtype": "markdown", "markdown": {"content": clip("\n".join(lines), 2048)}}
    else:
        raise ValueError(f"cannot render {type(reply).__name__} for message/send")
    body.update(DUPLICATE_CHECK)
    return body


def render_update(reply: CardUpdate, *, userid: str, agent_id: int) -> dict[str, Any]:
    body: dict[str, Any] = {"userids": [userid], "agentid": agent_id, "response_code": reply.response_code}
    if reply.card is not None and reply.card.buttons:
        body["template_card"] = button_card(reply.card, _TASK_ID_OK.sub("_", reply.card.task_id)[:128])
    else:
        body["button"] = {"replace_name": clip(reply.replace_name or "已处理", 40)}
    return body


def dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


MESSAGE_LIMIT = 2048  # bytes, text and markdown alike (message/send)


def digest_line(m: dict[str, Any]) -> str:
    """One markdown line for a merged message: the card title (and description) or the text's first line.
    A card's strings and a text are plain text, escaped here; a markdown message's line is markdown already
    (its data escaped when it was written), only its bold marks dropped."""
    if m.get("kind") == "card":
        line = m.get("title", "")
        if m.get("description"):
            line += f"：{m['description']}"
    else:
        line = (m.get("content") or "").strip().splitlines()[0] if m.get("content") else ""
    line = line.replace("*", "") if m.get("kind") == "markdown" else escape_md(line)
    return f"- {clip(line, 120)}"


def digest_text(items: list[dict[str, Any]]) -> str:
    return "\n".join(digest_line(m) for m in items)


# Default-ignorable characters (no width, no joining effect on their neighbours): a person sees nothing
INVISIBLE = ("\u200b", "\u2060")  # ZERO WIDTH SPACE, WORD JOINER


def invisible_mark(n: int) -> str:
    """A mark no person sees, distinct for each n ≥ 1 (n in binary, one invisible character a digit): the
    n-th repeat of an identical message carries it, so WeCom's duplicate check lets the repeat through."""
    return "".join(INVISIBLE[int(bit)] for bit in f"{n:b}")
