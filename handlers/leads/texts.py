"""Every sentence about leads a rep or manager reads (Chinese). User text is escaped where it lands."""

from __future__ import annotations

from datetime import datetime, timedelta

from core.clock import ORG_ZONE

GRADE_WORDS = {"A+": "A+类", "A": "A类", "B": "B类", "C": "C类"}

NEW_LEAD_HELP = (
    "请这样登记线索：\n新线索 公司名 联系人 职务 电话 行业 来源 痛点\n"
    "例：新线索 杭州华力机械有限公司 王强 设备部经理 13812345678 机械制造 展会 产线停机 能耗超标"
)
NEW_LEAD_TITLE = "新线索已登记：{company}（{grade}，{score}分）"
NEW_LEAD_DESC = "评分明细：\n{explanation}"
REST_NOT_READ = "未识别：{rest}"
MISSING = "还缺：{missing}（发「跟进线索 {company} 补充 电话:…」补上）"
FIELD_CONTACT = "联系人"
FIELD_PHONE = "电话"
FIELD_INDUSTRY = "行业"
FIELD_SOURCE = "来源"
FIELD_PAINS = "痛点"
FIELD_NEXT = "下一步"
FIELD_OWNER = "负责人"
FIELD_STEP = "步骤"
FIELD_DUE = "截止"
FIELD_LEFT = "剩余"
FIELD_GRADE = "等级"
NONE = "—"
NO_SEQUENCE = "本等级无跟进时限，按常规跟进"

SEQ_TITLE = "{grade}线索 {step}：{company}"
SEQ_DESC_FIRST = "{grade}线索已分配给你，请在{due}前完成「{step}」（还剩{left}）。完成后点下方按钮，或发「跟进线索 {company} {kind}」。"
SEQ_DESC_NEXT = "「{done}」已完成。下一步：请在{due}前完成「{step}」（还剩{left}）。"
BTN_STEP_DONE = "已完成：{step}"
STEP_LATE_OWNER_TITLE = "已超时：{company} 的「{step}」"
STEP_LATE_OWNER_DESC = "截止{due}，已通知{boss}。请尽快完成，完成后点按钮。"
STEP_LATE_BOSS_TITLE = "下属线索超时：{company} 的「{step}」"
STEP_LATE_BOSS_DESC = "{rep}负责的{grade}线索，「{step}」截止{due}未完成。"
STEP_DONE = "已记录：{company} 的「{step}」已完成。"
STEP_ALREADY = "「{step}」已于{at}完成，无需重复操作。"
STEP_GONE = "这个步骤已结束（线索已转化、输单或重新分级）。"
STEP_NOT_YOURS = "这条线索不归你负责，不能替负责人完成步骤。"
ALL_STEPS_DONE = "{company} 的跟进步骤已全部完成。"

FOLLOW_HELP = "请这样记录：跟进线索 公司名 方式 备注\n方式：电话、拜访、会议、微信、邮件、方案、案例、询价、资料下载、群发、表情"
FOLLOW_DONE = "已记录{company}的{kind}（{effective}）。"
EFFECTIVE = "有效跟进"
NOT_EFFECTIVE = "不算有效跟进：群发消息和表情不计入"
FOLLOW_BACK = "线索已从培育池回到你的跟进中。"
FOLLOW_REGRADED = "评分更新：{old}→{new}（{score}分）。"
FACTS_UPDATED = "已更新{company}：{what}。评分{score}分（{grade}）。"
EXTERNAL_COMPANY = "企业微信客户{tail}"
EXTERNAL_HINT = "你新加的企业微信客户已登记为线索 {lead_id}。请补充：跟进线索 {lead_id} 补充 公司:… 联系人:… 职务:… 行业:…"
NOT_FOUND = "没有找到你能看到的线索「{words}」。"
MANY_FOUND = "找到{n}条线索：{names}。请写更完整的公司名或线索编号。"

CONVERT_DONE = (
    "{company} 已转为客户（客户编号 {customer}），并建立商机（需求确认）。线索的跟进记录已带到客户名下。"
)
CONVERT_HELP = "请这样转化：转客户 公司名"
LOST_DONE = "{company} 已标记输单，原因：{reason}。"
LOST_HELP = "请这样记录输单：线索输单 公司名 原因"
NOT_OWNER = "只有负责人或其上级可以操作这条线索。"

NURTURE_TITLE = "培育：{company} —— {title}"
NURTURE_DESC = "这条线索72小时无有效互动，已在培育池。{text}"
MOVED_NURTURE = "{n}条线索超过{hours}小时没有有效互动（群发、表情不算），已转入培育池：{names}。培育资料会陆续发给你转发客户；有一次有效跟进就回到你的跟进中。"
MOVED_PUBLIC = "{n}条线索超过{days}天没有有效跟进，已退回公海：{names}。"
POOL_TITLE = "线索公海：{n}条可领取"
POOL_EMPTY = "公海里暂时没有线索。"
POOL_DESC = "你已持有{held}条，上限{cap}条。点按钮领取，或发「领取线索 编号」。"
BTN_CLAIM = "领取 {company}"
CLAIM_OK = "已领取：{company}（{grade}，{score}分），你现在持有{held}条（上限{cap}条）。"
CLAIM_OVER_CAP = (
    "领取失败：你已持有{held}条在跟进的线索，达到每人上限{cap}条。请先转化、输单或跟进已有线索后再领取。"
)
CLAIM_TAKEN = "领取失败：{company} 已不在公海（可能已被领取）。"
CLAIM_HELP = "请这样领取：领取线索 编号或公司名（发「线索公海」查看可领取的线索）"

RECOMMEND_HELP = "请这样问：推荐产品 公司名，或 推荐产品 行业 痛点（例：推荐产品 机械制造 产线停机 能耗超标）"
RECOMMEND_TITLE = "推荐产品：{who}"
RECOMMEND_NONE = "产品目录里没有与「{who}」的行业或痛点匹配的产品。"
RECOMMEND_LINE = "{n}. **{name}**（{points}分：{why}）\n   卖点：{pitch}\n   对比竞品：{vs}"
WHY_INDUSTRY = "行业{industry}"
WHY_PAINS = "痛点{pains}"

BOARD_TITLE = "线索看板 {day}"
BOARD_SCOPE = "范围：{heading}"
BOARD_MIX = "等级分布（在跟进）：A+ {ap}，A {a}，B {b}，C {c}，未评级 {u}"
BOARD_POOLS = "在手 {hand}，培育池 {nurture}，公海 {public}"
BOARD_STAGES = "各阶段平均停留：{stages}"
BOARD_NO_STAGES = "各阶段平均停留：暂无已结束的阶段"
BOARD_LOSS = "输单原因TOP3：{reasons}"
BOARD_NO_LOSS = "输单原因TOP3：暂无输单"
BOARD_OVERDUE = "超时未完成的SOP步骤：{n}个{items}"
BOARD_PER_REP = "按人：\n{rows}"
BOARD_REP_ROW = "- {name}：A+ {ap} / A {a} / B {b} / C {c}"


def when(at: datetime) -> str:
    return at.astimezone(ORG_ZONE).strftime("%m-%d %H:%M")


def span(d: timedelta) -> str:
    """A duration in words: 15分钟, 2小时, 1天3小时."""
    minutes = max(0, int(d.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes}分钟"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}小时" + (f"{minutes}分钟" if minutes else "")
    days, hours = divmod(hours, 24)
    return f"{days}天" + (f"{hours}小时" if hours else "")


def hours_words(h: float) -> str:
    if h < 1:
        return f"{round(h * 60)}分钟"
    if h < 48:
        return f"{h:.1f}小时".replace(".0小时", "小时")
    return f"{h / 24:.1f}天".replace(".0天", "天")
