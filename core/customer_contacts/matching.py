"""Which of a rep's customers an external contact (a WeChat contact added through 企业微信 客户联系) is.

The rule (docs/customer-contacts.md § Matching), applied to each of the rep's active customers:

- phone (100 points): a mobile number of the contact (the member's 备注手机号, `remark_mobiles`) equals one of
  the customer's contact phones (`customers.contact_phones`, and the phones of contacts already linked to
  it), compared on their last 11 digits with spaces, dashes and a +86 prefix dropped;
- corp name (80): the contact's 企业名称 (`corp_name`, `corp_full_name`) or the member's 备注企业名称
  (`remark_corp_name`) and the customer's name are equal after normalising, or one contains the other
  (both at least 4 characters long): 「华力机械」 matches 「杭州华力机械有限公司」;
- remark or description (60): the member's 备注 (`remark`) or 描述 (`description`) contains the customer's
  name, its short name (without the city prefix and the company suffix: 华力机械) or its brand (the short name
  without a trailing trade word such as 机械 / 贸易 / 科技, at least 2 characters: 华力) — reps often write
  「华力 王总」;
- person (40): the contact's WeChat name or the remark equals a name on the customer's decision chain
  (决策链, `decision_roles`), e.g. 王芳.

A customer's score is its best reason's points; customers scoring 0 are not suggested. Suggestions are the
best `limit` (3) by score, then by name. Normalising: a branch in brackets at the end dropped (快客便利店（长宁店）
→ 快客便利店), full-width to half-width, case folded, spaces and punctuation dropped, the suffixes 有限公司 / 股份有限公司 / 有限责任公司 / 公司 / 集团 / 店 removed for
comparison.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", "分公司", "公司", "集团", "门店", "店")
PROVINCE_CITY = re.compile(r"^(?:[\u4e00-\u9fff]{2,3}?(?:省|自治区))?(?:[\u4e00-\u9fff]{2,3}?市)?")
# places written without 省 / 市 at the head of a company name (杭州华力机械): dropped for the short name
PLACES = (
    "北京",
    "上海",
    "天津",
    "重庆",
    "浙江",
    "江苏",
    "广东",
    "山东",
    "福建",
    "安徽",
    "河南",
    "湖北",
    "湖南",
    "四川",
    "杭州",
    "宁波",
    "温州",
    "绍兴",
    "嘉兴",
    "湖州",
    "金华",
    "台州",
    "衢州",
    "丽水",
    "舟山",
    "南京",
    "苏州",
    "无锡",
    "常州",
    "南通",
    "广州",
    "深圳",
    "东莞",
    "佛山",
    "成都",
    "武汉",
    "西安",
    "长沙",
    "郑州",
    "济南",
    "青岛",
    "厦门",
    "福州",
    "合肥",
    "昆明",
    "沈阳",
    "大连",
)
POINTS = {"phone": 100, "corp": 80, "remark": 60, "person": 40}
REASON_WORDS = {
    "phone": "手机号一致",
    "corp": "企业名称相符",
    "remark": "备注含客户名",
    "person": "决策链联系人同名",
}
TRADE_WORDS = (
    "机械",
    "贸易",
    "商贸",
    "工贸",
    "科技",
    "实业",
    "电子",
    "电器",
    "食品",
    "超市",
    "餐饮",
    "设备",
    "制造",
    "建材",
    "化工",
    "医药",
    "物流",
    "服装",
    "家具",
    "五金",
    "汽配",
    "农业",
    "能源",
    "环保",
    "信息",
    "技术",
    "工程",
)
_DROP = re.compile(r"[\s\W_]+", re.UNICODE)


@dataclass(frozen=True)
class ContactFacts:
    """What WeCom tells about an external contact, as the member who added it sees it."""

    name: str = ""
    corp_name: str = ""  # corp_name or corp_full_name (企业微信 users); "" for a personal WeChat
    remark: str = ""
    description: str = ""
    remark_corp_name: str = ""
    mobiles: tuple[str, ...] = ()


@dataclass(frozen=True)
class CustomerFacts:
    customer_id: str
    name: str
    phones: tuple[str, ...] = ()
    people: tuple[str, ...] = ()  # names on the decision chain


@dataclass(frozen=True)
class Suggestion:
    customer_id: str
    name: str
    points: int
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def why(self) -> str:
        return "、".join(REASON_WORDS[r] for r in self.reasons)


def normal(text: str) -> str:
    """Full-width → half-width, case folded, spaces and punctuation dropped."""
    return _DROP.sub("", unicodedata.normalize("NFKC", text or "").casefold())


_BRANCH = re.compile(r"\s*[（(][^（）()]*[）)]\s*$")  # 快客便利店（长宁店）: the branch in brackets


def bare_name(name: str) -> str:
    """The name without a branch in brackets at its end and without its company suffixes (normalised)."""
    out = normal(_BRANCH.sub("", name or "") or name)
    changed = True
    while changed:
        changed = False
        for s in SUFFIXES:
            if out.endswith(s) and len(out) > len(s):
                out, changed = out[: -len(s)], True
    return out


def short_name(name: str) -> str:
    """The bare name without a leading province / city (…省, …市, or a place of PLACES):
    杭州华力机械有限公司 → 华力机械, 上海市联华超市股份有限公司 → 联华超市."""
    bare = bare_name(name)
    m = PROVINCE_CITY.match(bare)
    rest = bare[m.end() :] if m else bare
    place = next((p for p in PLACES if rest.startswith(p)), "")
    rest = rest[len(place) :]
    return rest if len(rest) >= 2 else bare


def brand(name: str) -> str:
    """The short name without trailing trade words: 杭州华力机械有限公司 → 华力 (the short name when that leaves
    fewer than 2 characters)."""
    out = short_name(name)
    changed = True
    while changed:
        changed = False
        for w in TRADE_WORDS:
            if out.endswith(w) and len(out) - len(w) >= 2:
                out, changed = out[: -len(w)], True
    return out


def phone_key(phone: str) -> str:
    """The last 11 digits of a phone (a +86 prefix, spaces and dashes dropped); "" when fewer than 7 digits."""
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", phone or ""))
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits[-11:] if len(digits) >= 7 else ""


def _corp_match(corp: str, customer: str) -> bool:
    a, b = bare_name(corp), bare_name(customer)
    if not a or not b:
        return False
    if a == b:
        return True
    short = short_name(customer)
    if len(short) >= 4 and (short in a or a in b and len(a) >= 4):
        return True
    return len(a) >= 4 and len(b) >= 4 and (a in b or b in a)


def reasons_for(contact: ContactFacts, customer: CustomerFacts) -> tuple[str, ...]:
    found: list[str] = []
    mine = {k for k in (phone_key(m) for m in contact.mobiles) if k}
    if mine & {k for k in (phone_key(p) for p in customer.phones) if k}:
        found.append("phone")
    if any(_corp_match(c, customer.name) for c in (contact.corp_name, contact.remark_corp_name) if c):
        found.append("corp")
    words = normal(contact.remark) + "|" + normal(contact.description)
    names = {bare_name(customer.name), short_name(customer.name), brand(customer.name)}
    if words != "|" and any(len(n) >= 2 and n in words for n in names):
        found.append("remark")
    people = {normal(p) for p in customer.people if normal(p)}
    said = {normal(contact.name), normal(contact.remark)} - {""}
    if people & said or any(p and p in normal(contact.remark) for p in people if len(p) >= 2):
        found.append("person")
    return tuple(found)


def suggest(contact: ContactFacts, customers: Iterable[CustomerFacts], *, limit: int = 3) -> list[Suggestion]:
    """The rep's customers this contact may be, best first (the rule in the module docstring)."""
    out: list[Suggestion] = []
    for c in customers:
        reasons = reasons_for(contact, c)
        if reasons:
            out.append(Suggestion(c.customer_id, c.name, max(POINTS[r] for r in reasons), reasons))
    out.sort(key=lambda s: (-s.points, -len(s.reasons), s.name, s.customer_id))
    return out[:limit]


def contact_words(facts: ContactFacts) -> Sequence[str]:
    """How the contact is shown to the rep: name (remark) · corp."""
    head = facts.name or "（未知昵称）"
    if facts.remark and facts.remark != facts.name:
        head += f"（备注：{facts.remark}）"
    return [head, facts.corp_name] if facts.corp_name else [head]
