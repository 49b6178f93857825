"""Every sentence a rep or manager reads, one constant each. Chinese for people; code stays English."""

HELP_REP = (
    "我是销售助手，可以帮你：\n"
    "1. 记拜访：发送位置签到（或输入「拜访 客户名」），再发3张以上货架照片，"
    "最后一句话说明情况，如「价格异议 库存不足，承诺周五前送样品，15天后回访」\n"
    "2. 新建客户：输入「新建客户」\n"
    "3. 查看：「今天拜访了哪些」「我的待办」\n"
    "4. 改错：「撤销」可撤回10分钟内的上一次修改\n"
    "随时输入「帮助」再看这段说明。"
)
HELP_MANAGER = (
    "我是销售助手。你可以直接用中文提问，例如：\n"
    "·「上月流失但NPS>70的客户」\n"
    "·「本周各区域拜访完整率」\n"
    "·「超过72小时未跟进的客户」\n"
    "·「客户信息鲜度」「商机转化漏斗完整率」\n"
    "审批、逾期和超时提醒会以卡片发给你，点按钮即可处理。输入「看板」查看团队健康度。"
)
UNKNOWN_USER = "你的账号（{userid}）还不在销售组织名单中，请联系管理员导入人员表后再使用。"
NOT_UNDERSTOOD_REP = "没太明白「{text}」。\n\n" + HELP_REP
UNSUPPORTED_MESSAGE = "暂不支持这种消息类型。请发送文字、位置或照片。"
FILE_NOT_PHOTO = "收到文件「{title}」。货架照片请直接用「拍照」或相册以图片发送，文件不计入拜访照片。"
WELCOME_BACK = "欢迎回来，{name}。输入「帮助」查看我能做什么。"
INTERNAL_ERROR = "抱歉，处理你的消息时出错了，我们已记录，稍后会自动重试。"
ADMIN_DEAD_LETTER = "【发送失败告警】发给 {recipient} 的一条消息无法送达（{error}），已停止重试，请检查该成员是否在应用可见范围内。"
DIGEST_TITLE = "你有{count}条提醒（已合并）"
