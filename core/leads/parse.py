"""A lead typed or forwarded in chat, understood offline.

    parse_lead("新线索 杭州华力机械有限公司 王强 设备部经理 13812345678 机械制造 展会 产线停机 能耗超标")
    → company 杭州华力机械有限公司, contact 王强 (设备部经理), phone 13812345678, industry 机械制造,
      source 展会, pains [产线停机, 能耗超标]

The line holds pieces separated by spaces or punctuation (，,、；;/ full- or half-width), in any order:
- labelled pieces, `标签:值` or `标签：值`: 公司/客户/企业/单位, 联系人/姓名, 职务/职位/角色, 电话/手机/手机号,
  行业, 来源/渠道, 地区/区域/大区/城市, 信用/信用等级, 询价/询价次数, 下载/资料下载, 痛点/需求/问题 (a 痛点 label
  takes every piece after it that is not labelled itself);
- a phone number: a mobile (1[3-9] and 9 digits, spaces or dashes allowed) or a landline (0 + area code);
- a role: a piece ending in a role word (经理, 总监, 总经理, 老板, 厂长, 工程师, 采购, 主管, 主任 …);
  a common surname with a title (王总, 李经理, 张工) is the contact and their role (总 → 总经理, 工 → 工程师);
- an industry: a piece containing an industry word (机械, 汽车, 化工, 电子, 食品, 医药 …, or 行业/制造 at the end);
- a source: one of the source words (展会, 官网, 转介绍, 老客户介绍, 广告, 陌拜, 400电话, 地推, 线上 …);
- a pain: a piece containing a pain word (停机, 能耗, 超标, 成本, 效率, 质量, 故障, 浪费, 交期, 良率, 人工 …);
- the company: a piece ending in a company word (公司, 集团, 厂, 有限, 股份, 科技, 工业, 机械, 制造 …), else
  the first piece nothing else claimed, else the industry piece when it is more than the industry word
  (华东化工 alone: company 华东化工, industry 化工);
- a contact name: a 2–4 character Chinese piece left over after the company (the first one);
- anything else is left over (`rest`), shown back to the rep as not understood.
`parse_lead` never raises for any `str`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PREFIX = re.compile(r"^\s*(新线索|新增线索|线索登记|录入线索)\s*[:：]?\s*")
_SPLIT = re.compile(r"[\s，,、；;/|]+")
_LABEL = re.compile(r"^([^:：]{1,6})[:：](.*)$")
LABELS = {
    "company": ("公司", "客户", "企业", "单位", "公司名称"),
    "contact_name": ("联系人", "姓名", "对接人"),
    "contact_role": ("职务", "职位", "角色", "岗位"),
    "phone": ("电话", "手机", "手机号", "联系电话"),
    "industry": ("行业",),
    "source": ("来源", "渠道", "线索来源"),
    "region": ("地区", "区域", "大区", "城市"),
    "credit_grade": ("信用", "信用等级"),
    "inquiries": ("询价", "询价次数"),
    "downloads": ("下载", "资料下载"),
    "pain_words": ("痛点", "需求", "问题"),
}
_MOBILE = re.compile(r"^(?:\+?86)?(1[3-9]\d(?:[- ]?\d{4}){2})$")
_LANDLINE = re.compile(r"^(0\d{2,3}-?\d{7,8})$")
ROLE_WORDS = (
    "董事长",
    "总经理",
    "副总经理",
    "副总",
    "总裁",
    "总监",
    "经理",
    "老板",
    "厂长",
    "工程师",
    "采购",
    "主管",
    "主任",
    "专员",
    "负责人",
    "部长",
)
TITLES = {
    "总": "总经理",
    "经理": "经理",
    "工": "工程师",
    "主任": "主任",
    "老板": "老板",
    "厂长": "厂长",
    "总监": "总监",
}
_TITLED = re.compile(r"^([\u4e00-\u9fff]{1,2}?)(总监|经理|主任|老板|厂长|总|工)$")
# the commonest surnames: 王总 is a person with a title, 副总 / 总经理 are roles
SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
INDUSTRY_WORDS = (
    "机械",
    "汽车",
    "化工",
    "电子",
    "冶金",
    "钢铁",
    "食品",
    "医药",
    "纺织",
    "建材",
    "电力",
    "能源",
    "塑料",
    "印刷",
    "物流",
)
SOURCE_WORDS = (
    "展会",
    "官网",
    "转介绍",
    "老客户介绍",
    "老客户",
    "广告",
    "陌拜",
    "400电话",
    "电话咨询",
    "地推",
    "线上",
    "抖音",
    "百度",
    "公众号",
)
PAIN_WORDS = (
    "停机",
    "能耗",
    "超标",
    "成本",
    "效率",
    "质量",
    "故障",
    "浪费",
    "交期",
    "良率",
    "人工",
    "排放",
    "噪音",
    "维修",
    "产能",
    "库存",
    "安全",
)
COMPANY_ENDS = (
    "公司",
    "集团",
    "厂",
    "有限",
    "股份",
    "科技",
    "工业",
    "机械",
    "制造",
    "实业",
    "医院",
    "工厂",
    "中心",
)
_CHINESE_NAME = re.compile(r"^[\u4e00-\u9fff]{2,4}$")
_CREDIT = re.compile(r"^[A-Da-d]$")


@dataclass
class LeadDraft:
    company: str | None = None
    contact_name: str | None = None
    contact_role: str | None = None
    phone: str | None = None
    industry: str | None = None
    source: str | None = None
    region: str | None = None
    credit_grade: str | None = None
    inquiries: int = 0
    downloads: int = 0
    pain_words: list[str] = field(default_factory=list)
    rest: list[str] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        """The facts a rep is asked for when they are absent (Chinese labels)."""
        out = []
        if not self.company:
            out.append("公司")
        if not self.phone:
            out.append("电话")
        return out


def is_lead_line(text: str) -> bool:
    return PREFIX.match(text) is not None


def _label_key(word: str) -> str | None:
    for key, words in LABELS.items():
        if word.strip() in words:
            return key
    return None


def _count(value: str) -> int:
    m = re.search(r"\d+", value)
    return min(int(m.group()), 1000) if m else 0


def _set(draft: LeadDraft, key: str, value: str) -> None:
    value = value.strip()
    if not value:
        return
    if key == "pain_words":
        if value not in draft.pain_words:
            draft.pain_words.append(value)
    elif key in ("inquiries", "downloads"):
        setattr(draft, key, _count(value))
    elif key == "phone":
        setattr(draft, key, re.sub(r"\s", "", value)[:32])
    elif key == "credit_grade":
        draft.credit_grade = value.upper()[:8]
    elif getattr(draft, key) is None:
        setattr(draft, key, value[:128] if key == "company" else value[: 64 if key == "contact_name" else 32])


def _phone(piece: str) -> str | None:
    m = _MOBILE.match(piece)
    if m:
        return re.sub(r"[- ]", "", m.group(1))
    m = _LANDLINE.match(piece)
    return m.group(1) if m else None


def _pieces(body: str) -> list[str]:
    # a mobile written with spaces (138 1234 5678) is one piece
    body = re.sub(r"(1[3-9]\d)[ -](\d{4})[ -](\d{4})", r"\1\2\3", body)
    return [p for p in _SPLIT.split(body) if p]


def parse_lead(text: str) -> LeadDraft:
    """The lead in a 「新线索 …」 line (with or without the prefix)."""
    draft = LeadDraft()
    body = PREFIX.sub("", text or "", count=1)
    pieces = _pieces(body.replace("\x00", ""))
    unclaimed: list[str] = []
    in_pains = False
    for piece in pieces:
        m = _LABEL.match(piece)
        if m and _label_key(m.group(1)) is not None:
            key = _label_key(m.group(1))
            assert key is not None
            in_pains = key == "pain_words"
            _set(draft, key, m.group(2))
            continue
        if in_pains:
            _set(draft, "pain_words", piece)
            continue
        phone = _phone(piece)
        if phone and draft.phone is None:
            draft.phone = phone
            continue
        unclaimed.append(piece)

    leftover: list[str] = []
    industry_piece: str | None = None
    for piece in unclaimed:
        titled = _TITLED.match(piece)
        if titled and titled.group(1)[:1] not in SURNAMES:
            titled = None
        if piece in SOURCE_WORDS or (piece.endswith("介绍") and len(piece) <= 6):
            _set(draft, "source", piece)
        elif any(piece.endswith(c) for c in COMPANY_ENDS) and len(piece) >= 4 and draft.company is None:
            draft.company = piece[:128]
        elif titled and draft.contact_name is None:
            draft.contact_name = piece
            if draft.contact_role is None:
                draft.contact_role = TITLES[titled.group(2)]
        elif any(piece.endswith(r) for r in ROLE_WORDS) and draft.contact_role is None:
            draft.contact_role = piece[:32]
        elif any(w in piece for w in PAIN_WORDS):
            _set(draft, "pain_words", piece)
        elif draft.industry is None and (
            any(w in piece for w in INDUSTRY_WORDS) or (piece.endswith(("行业", "制造")) and len(piece) <= 8)
        ):
            draft.industry = piece.removesuffix("行业")[:32] or piece[:32]
            industry_piece = piece
        elif _CREDIT.match(piece) and draft.credit_grade is None:
            draft.credit_grade = piece.upper()
        else:
            leftover.append(piece)
    if draft.company is None and industry_piece is not None and not leftover:
        # 华东化工 alone: the company's name, and its industry the word in it
        word = next((w for w in INDUSTRY_WORDS if w in industry_piece), None)
        if word is not None and word != industry_piece:
            draft.company, draft.industry = industry_piece[:128], word
    for piece in leftover:
        if draft.company is None and len(piece) >= 2:
            draft.company = piece[:128]
        elif draft.contact_name is None and _CHINESE_NAME.match(piece):
            draft.contact_name = piece
        else:
            draft.rest.append(piece)
    return draft
