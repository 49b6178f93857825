"""Output is data, not markup: neutralise what WeCom would read as syntax in a user- or import-supplied string.

WeCom's markdown message (msgtype `markdown`) reads a small subset: `# ` headings, `**bold**`,
`[text](url)` links, `` `code` ``, `> ` quotes, `<font color=...>` and `@userid` mentions. It documents no
escape character, so `escape_md` swaps each character that opens one of these for its full-width twin
(［ ］ ＊ ｀ ＞ ＜ ＃ ＠), which reads the same to a person and is never syntax: a customer named
`[点我](http://evil.example)` shows as `［点我］(http://evil.example)`, no link.

Apply it where a value is put into markdown (the template around it is ours and stays markdown); never to
a whole message. A plain-text string of several lines (a card's description shown as a markdown notice) is
escaped line by line. A text message (msgtype `text`) reads only `<a href=...>` tags: `escape_text` breaks
those; it is applied to whole text messages by the renderer, since our own texts never carry a tag.
Template-card fields are plain text (id translation is off), and need neither.
"""

from __future__ import annotations

import re

_MD = str.maketrans({"[": "［", "]": "］", "*": "＊", "`": "｀", ">": "＞", "<": "＜", "#": "＃", "@": "＠"})
_BREAK = re.compile("\r\n|[\r\n\x0b\x0c\x85\u2028\u2029]")
_A_TAG = re.compile(r"<(?=\s*/?\s*a\b)", re.IGNORECASE)


def escape_md(value: object) -> str:
    """`value` as text that WeCom markdown shows literally, on the line it is put in: each line break becomes a
    space (None → "")."""
    return "" if value is None else _BREAK.sub(" ", str(value)).translate(_MD)


def escape_text(content: str) -> str:
    """A text message's content with no `<a …>` / `</a>` tag left for WeCom to turn into a link."""
    return _A_TAG.sub("＜", content)
