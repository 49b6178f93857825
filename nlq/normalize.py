"""Question text → canonical text: half-width, lower-case Latin, no spaces, common typos fixed, and Chinese
numerals as digits (三十天 → 30天, 两周 → 2周, 一个月 → 1个月) — except inside fixed words and names.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import cn2an

# wrong → right; only unambiguous slips of the keyboard or the ear
TYPOS = {
    "拜仿": "拜访",
    "拜方": "拜访",
    "摆访": "拜访",
    "败访": "拜访",
    "百访": "拜访",
    "拜放": "拜访",
    "客护": "客户",
    "课户": "客户",
    "可户": "客户",
    "流逝": "流失",
    "留失": "流失",
    "流式": "流失",
    "信息新鲜度": "信息鲜度",
    "客户新鲜度": "客户信息鲜度",
    "鲜渡": "鲜度",
    "完整律": "完整率",
    "完整绿": "完整率",
    "完整度": "完整率",
    "漏抖": "漏斗",
    "商机转换": "商机转化",
    "销售颔": "销售额",
    "销额": "销售额",
    "业积": "业绩",
    "跟近": "跟进",
    "根进": "跟进",
    "互东": "互动",
    "逾其": "逾期",
    "预期未回款": "逾期未回款",
    "回款预期": "回款逾期",
    "响应超市": "响应超时",
    "价格议异": "价格异议",
    "价格异意": "价格异议",
    "nsp": "nps",
    "n p s": "nps",
    "拜访完成率": "拜访完整率",
    "签道": "签到",
    "处里": "处理",
    "没处里": "没处理",
    "销受额": "销售额",
    "客单架": "客单价",
    "赢单律": "赢单率",
    "回宽": "回款",
    "流湿": "流失",
    "商记": "商机",
}
# colloquial phrasings → the words the lexicon reads (applied after TYPOS, before numerals)
PHRASES = {
    "一次都没有": "没",
    "一次都没": "没",
    "一次也没有": "没",
    "一次也没": "没",
    "一家都没有": "没",
    "一家都没": "没",
    "卖了多少钱": "销售额多少",
    "卖了多少": "销售额多少",
    "卖了多少货": "销售额多少",
    "服务响应超时": "响应超时",
    "服务超时": "响应超时",
    "签到比之前": "拜访环比",
    "签到环比": "拜访环比",
    "签到同比": "拜访同比",
    "比之前": "环比",
    "跟之前比": "环比",
    "和之前比": "环比",
    "比以前": "环比",
    "那组": "团队",
    "那个组": "团队",
    "多不多": "多少",
    "高不高": "多少",
    "多少了": "多少",
    "排个名": "排名",
    "排一下名": "排名",
    "排下名": "排名",
    "排个序": "排序",
    "排一下序": "排序",
}
# words whose numeral characters are not numbers (一下, 周一, 上一年 …)
FIXED_WORDS = (
    "一下",
    "一共",
    "一直",
    "一起",
    "一样",
    "一些",
    "一点",
    "一般",
    "一定",
    "一览",
    "统一",
    "唯一",
    "万一",
    "第一",
    "哪一",
    "每一",
    "任一",
    "同一",
    "之一",
    "一线",
    "上一年",
    "上一周",
    "上一个月",
    "上一季度",
    "上一个季度",
    "这一周",
    "这一年",
    "一对一",
    "零售",
    "一遍",
    "一次性",
    "最后一次",
    "周一",
    "周二",
    "周三",
    "周四",
    "周五",
    "周六",
    "周日",
    "星期一",
    "星期二",
    "星期三",
    "星期四",
    "星期五",
    "星期六",
    "星期日",
    "星期天",
)
# whose-list phrasings put in the order the lexicon reads: 有欠款的客户 / 客户有哪些还欠钱 = customers owing
# more than 0 (欠款 > 0); 哪些客户的投诉没回复 = the customers with an unhandled ticket
_OWE = r"(?:欠钱|欠款|欠账|欠费|欠着钱|欠我们钱)"
_REORDER = (
    (re.compile(rf"(?:还)?有{_OWE}(?:的)?(客户|门店|店)"), r"欠款超过0的\1"),
    (re.compile(rf"(?<!有){_OWE}的(客户|门店|店)"), r"欠款超过0的\1"),
    (
        re.compile(rf"(客户|门店|店)(?:里)?(?:有|都有)?哪些(?:还)?(?:在)?{_OWE}(?:的)?"),
        r"欠款超过0的\1有哪些",
    ),
    (
        re.compile(r"下单(?:了)?多少(?:钱)?(?![单次个家笔])"),
        "下单金额多少",
    ),  # 下单多少 = how much was ordered
    (
        re.compile(r"(?:跟|和|与|比|较)(?:之)?前\d+(?:天|周|个月|月)(?:相比|比较|对比|比)?"),
        "环比",
    ),  # 跟前30天比
    (re.compile(r"按月(?:看下|看一下|看看|看)?(最近|近|过去)(\d+)个?月"), r"\1\2个月每月"),
    (re.compile(r"(响应超时|超时)(?:的)?单子"), r"\1的工单"),
    (re.compile(r"的(业务员|销售员|销售|人)(?:都)?有哪些(?:呢|啊)?$"), r"的\1"),
    (  # 买了3000以上饮料的客户 = the category's sales in the period at least 3000
        re.compile(
            r"(买|进|采购|进货)了?(\d+(?:\.\d+)?)(以上|以下|多)(?:的)?([\u4e00-\u9fff]{1,4}?)的(客户|门店|店)"
        ),
        lambda m: f"{m[1]}{m[4]}{'不到' if m[3] == '以下' else '达到'}{m[2]}的{m[5]}",
    ),
    (
        re.compile(r"哪些(客户|门店|店)的(投诉|工单|服务单|售后单)(还)?(没有|没|未)(处理|回复|响应)(完)?"),
        r"\2\3\4\5\6的\1有哪些",
    ),
)
_NUMERAL_RUN = re.compile(r"[零〇一二两三四五六七八九十百千万]+")
# 十分 is "very" (十分重要) unless it is a score: a numeral or a comparison before it, a bound after it
# (NPS七十分以上, 低于十分, 十分以下)
_VERY = re.compile(
    r"(?<![零〇一二两三四五六七八九十百千万于过为是在到至>=<])十分(?!以上|以下|及以|或以|之间|到|至|-|~)"
)
_PRIVATE = 0xE000


def normalize(text: str, protect: Iterable[str] = ()) -> str:
    t = unicodedata.normalize("NFKC", text).lower()
    t = re.sub(r"[\ue000-\uf8ff\x00]", "", t)  # private-use characters are ours (placeholders)
    t = re.sub(r"\s+", "", t)
    t = t.replace("≥", ">=").replace("≤", "<=").replace("=>", ">=").replace("=<", "<=")
    t = t.replace("半个月", "15天")  # a month is 30 days (spec)
    t = re.sub(r"(最近|近|过去)的?半年", r"\g<1>182天", t)  # spec v2: 最近半年 = 182 days
    t = t.replace("半年以上", "6个月以上").replace("快半年", "快6个月").replace("超过半年", "超过6个月")
    for wrong, right in TYPOS.items():
        t = t.replace(wrong.replace(" ", ""), right)
    for said, read in PHRASES.items():
        t = t.replace(said, read)
    t = numerals_to_digits(t, protect)
    t = re.sub(r"快(?=\d{1,4}(?:个)?(?:小时|天|日|周|星期|礼拜|月))", "", t)  # 快30天 = 30 days (spec v2)
    t = re.sub(
        r"(最近|近|过去)的?(\d{1,2})年(?!\d|月|前|度|底|初)", lambda m: f"{m[1]}{int(m[2]) * 365}天", t
    )
    t = amounts_to_digits(t)
    for said, read in _REORDER:
        t = said.sub(read, t)
    return t


_AMOUNT = re.compile(r"(\d+(?:\.\d+)?)(万|w|千|k|亿)(?:元|块钱|块|人民币)?")
_YUAN = re.compile(r"(?<=\d)(?:元|块钱|块|人民币)")
_SCALE = {"万": 10_000, "w": 10_000, "千": 1_000, "k": 1_000, "亿": 100_000_000}


def amounts_to_digits(text: str) -> str:
    """Spec v2 amounts: 5万 / 5w = 50000, 3千 / 3k = 3000, 1.5万 = 15000, 1亿; 元/块/块钱 after a number is noise."""

    def scaled(m: re.Match[str]) -> str:
        v = float(m.group(1)) * _SCALE[m.group(2)]
        return str(int(v)) if v == int(v) else f"{v:.2f}"

    return _YUAN.sub("", _AMOUNT.sub(scaled, text))


def numerals_to_digits(text: str, protect: Iterable[str] = ()) -> str:
    """Chinese numerals → digits, leaving FIXED_WORDS and the `protect`ed names (people, places) alone."""
    keep = sorted(
        {w for w in (*FIXED_WORDS, *protect) if w and _NUMERAL_RUN.search(w)}, key=len, reverse=True
    )
    saved: list[str] = ["十分"]
    text = _VERY.sub(chr(_PRIVATE), text)
    for word in keep:
        if word in text:
            saved.append(word)
            text = text.replace(word, chr(_PRIVATE + len(saved) - 1))

    def convert(m: re.Match[str]) -> str:
        try:
            return str(cn2an.cn2an(m.group(0), "smart"))
        except (ValueError, KeyError, IndexError):
            return m.group(0)

    text = _NUMERAL_RUN.sub(convert, text)
    for i, word in enumerate(saved):
        text = text.replace(chr(_PRIVATE + i), word)
    return text
