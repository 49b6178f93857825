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
DEACTIVATED = "你的账号已停用，助手不再为这个账号服务。如有疑问请联系管理员。"
UNKNOWN_USER = "你的账号（{userid}）还不在销售组织名单中，请联系管理员导入人员表后再使用。"
NOT_UNDERSTOOD_REP = "没太明白「{text}」。\n\n" + HELP_REP
UNSUPPORTED_MESSAGE = "暂不支持这种消息类型。请发送文字、位置或照片。"
FILE_NOT_PHOTO = "收到文件「{title}」。货架照片请直接用「拍照」或相册以图片发送，文件不计入拜访照片。"
WELCOME_REP = (
    "你好，{name}！我是销售助手，帮你把每次拜访记清楚。三步记一次拜访：\n"
    "1. 到店后点「签到」或发送位置（也可输入「拜访 客户名」）\n"
    "2. 发3张以上货架照片\n"
    "3. 用一句话说明情况，如「价格异议 库存不足，15天后回访」\n"
    "随时输入「帮助」查看全部功能。"
)
WELCOME_MANAGER = (
    "你好，{name}！我是销售助手，帮你随时掌握团队的拜访和客户情况：\n"
    "1. 直接用中文提问，如「本周各区域拜访完整率」「超过72小时未跟进的客户」\n"
    "2. 审批、逾期和超时提醒会以卡片发给你，点按钮即可处理\n"
    "3. 输入「看板」查看团队健康度\n"
    "随时输入「帮助」查看全部功能。"
)
WELCOME_BACK = "欢迎回来，{name}。输入「帮助」查看我能做什么。"
INTERNAL_ERROR = "这条消息没能处理，已记录，管理员会查看。"  # once, when an event is parked
ADMIN_EVENT_PARKED = "【消息处理失败告警】{sender} 发来的一条消息（第{inbox_id}号）重试{attempts}次仍处理失败，已停止重试（{error}）。其他消息照常处理，请查看日志。"
ADMIN_DEAD_LETTER = "【发送失败告警】发给 {recipient} 的一条消息已停止发送：{reason}（{error}）。{fix}"
ADMIN_DEAD_FIX_DEFAULT = "其他消息照常发送，请查看日志。"
ADMIN_RECIPIENT_HIDDEN = "【发送失败告警】发给 {recipient} 的消息被企业微信拒绝：{reason}（errcode {errcode}）。请{fix}；加入后消息会自动补发（每10分钟重试，最长24小时）。"
ADMIN_CALENDAR_OFF = "【日程同步暂停】企业微信拒绝写入日程（errcode {errcode}）：{fix}。消息照常发送，日程会每10分钟重试，开启后自动补写（最长24小时）。"
ADMIN_WECOM_RESUMED = "【企业微信发送已恢复】{since}起因 errcode {errcode}（{reason}）暂停发送约{minutes}分钟，期间的消息都已保留并补发。修复方法：{fix}。"
DIGEST_TITLE = "你有{count}条提醒（已合并）"

# --- visits ---------------------------------------------------------------------------------------
NEXT_STEPS = "请发送3张以上货架照片，再用一句话说明情况，如：价格异议 库存不足，承诺周五前送样品，15天后回访"
CHECKED_IN = "已签到「{name}」（距门店约{distance}米）。\n" + NEXT_STEPS
CHECKED_IN_UNMEASURED = "已签到「{name}」。\n" + NEXT_STEPS
CHECKED_IN_OUTSIDE = (
    "已开始拜访「{name}」。这次定位离门店{distance}，本次拜访不计入完整拜访；到店后再发一次位置即可。"
    "\n照片和情况可以照常发送。"
)
LOCATION_OUTSIDE = "这次定位离「{name}」门店{distance}，本次拜访不计入完整拜访；到店后再发一次位置即可。"
LOCATION_AT_STORE_NOW = "定位已更新：距「{name}」门店约{distance}米，这次拜访可以计入完整拜访了。"
SUPERVISOR_OUTSIDE = (
    "【签到定位提醒】{rep}今天签到「{name}」时，定位离门店{distance}，这次拜访暂不计入完整拜访，"
    "已提醒本人到店后再发一次位置。也可能是门店位置登记有误，方便时可核对一下。"
    "今天{rep}如再有类似情况，不再单独提醒。"
)
FAR_GPS_HINT = (
    "你现在离最近的客户「{name}」{distance}，附近{tolerance}米内没有你的客户，所以这次没有签到。"
    "到店后发送位置即可签到；若是新客户，输入「新建客户」。"
)
FAR_GPS_HINT_NO_CUSTOMER = "附近{tolerance}米内没有你的客户，所以这次没有签到。到店后发送位置即可签到；若是新客户，输入「新建客户」。"
CHECKED_IN_NO_LOCATION = (
    "已开始拜访「{name}」。请补发签到位置（点「签到」或发送位置），再发3张以上货架照片和一句话情况。"
)
ALREADY_HERE = "你已在「{name}」签到，继续发送照片或情况即可。"
PICK_CUSTOMER_TITLE = "附近有{count}个客户，你在拜访哪一个？"
PICK_CUSTOMER_DESC = "点选客户即签到"
NONE_NEARBY_TITLE = "{distance}米内没有你的客户"
NONE_NEARBY_DESC = "最近的几个客户如下；若是新客户，请点「新建客户」"
NEW_CUSTOMER_BUTTON = "新建客户"
NO_SUCH_CUSTOMER = (
    "没有找到名称像「{query}」的客户（只查找你负责的客户）。可输入更完整的名称，或输入「新建客户」。"
)
PICK_BY_NAME_TITLE = "找到{count}个名称相近的客户"
NAME_CONFIRM_TITLE = "是要拜访「{name}」吗？"
NAME_PICK_DESC = "没有名称完全一致的客户。点选即开始拜访；都不是的话，请输入更完整的名称"
PREVIOUS_VISIT_CLOSED = "上一次拜访「{name}」已结束（{state}）。"
VISIT_STATE_COMPLETE = "记录完整"
VISIT_STATE_INCOMPLETE = "记录不完整：缺{missing}"
PHOTO_OK = "照片已收到（有效{count}张）。"
PHOTO_PENDING = "照片已收到，签到后会计入这次拜访（已暂存{count}张）。"
PHOTO_FLAGGED = "这张照片{reason}，不计入有效照片。（有效{count}张）"
PHOTO_REJECTED = "这张照片无法使用：{reason}。拜访记录不受影响，请重新拍一张。"
PHOTO_NO_VISIT = "照片已暂存。请先签到（发送位置或输入「拜访 客户名」），30分钟内签到即可计入。"
MISSING_PROMPT = "还差：{missing}。"
NO_OPEN_VISIT_TEXT = "现在没有进行中的拜访。请先签到（发送位置或输入「拜访 客户名」），再说明情况。"
UNDERSTOOD_TITLE = "已记录：{name}"
UNDERSTOOD_NOTHING = "没有识别出需求标签、承诺或回访时间，已作为备注保存。可用的标签：{menu}"
FIX_HINT = "哪一项不对，点一下即可删除"
SUMMARY_TITLE = "✅ 拜访完成：{name}"
SUMMARY_FIELDS_TAGS = "需求标签"
SUMMARY_FIELDS_PROMISES = "承诺"
SUMMARY_FIELDS_FOLLOWUP = "下次回访"
SUMMARY_FIELDS_PHOTOS = "有效照片"
SUMMARY_FIELDS_NOTE = "备注"
REMOVED_PIECE = "已删除：{what}。删错了可以发「撤销」恢复。"
PIECE_ALREADY_GONE = "这一项已经删除过了。"
RECORD_EMPTY = "这次拜访的标签、承诺、回访和备注都已删除。删错了可以点「撤销」或发「撤销」恢复。"
RECORD_MORE_PIECES = "哪一项不对，点一下即可删除（按钮只放得下6个，其余的可发「撤销」撤回）"
RECORD_UNDO_BUTTON = "撤销"
RECORD_FIELD_MORE = "另有{count}项"
BUTTON_DELETE = "删除 {what}"
PIECE_NOTE = "备注"
INCOMPLETE_AFTER_CHANGE = "注意：这次拜访「{name}」现在不完整了，还差：{missing}。补上后会重新算作完整拜访。"
LINE_CHOICE_TITLE = "这句话是拜访记录，还是想问我问题？"
LINE_CHOICE_DESC = "「{text}」"
LINE_CHOICE_VISIT = "记到拜访里"
LINE_CHOICE_ASK = "当作提问"
LINE_CHOICE_DONE_VISIT = "已记到拜访里"
LINE_CHOICE_DONE_ASK = "已当作提问"
LINE_CHOICE_EXPIRED = "这句话已经处理过了。如需补充，请重新发一次。"
LINE_CHOICE_VISIT_CLOSED = "这次拜访已经结束，没法再记进去了。请签到后重新发一次。"
VISIT_IDLE_CLOSED = "拜访「{name}」已超过{minutes}分钟没有新内容，已自动结束（{state}）。"

# --- rep self-service --------------------------------------------------------------------------------
TODAY_NONE = "今天还没有拜访记录。"
TODAY_TITLE = "今天的拜访（{count}家，完整{complete}家）"
TODO_NONE = "没有待办：近7天内没有到期的承诺或回访。"
TODO_TITLE = "我的待办（{count}项）"
UNDO_NOTHING = "10分钟内没有可以撤销的修改。"
UNDO_DONE = "已撤销：{what}"
UNDO_WHAT_TEXT = "上一句的记录（标签、承诺、回访、备注）"
UNDO_WHAT_REMOVAL = "删除「{what}」，已恢复"
UNDO_FOLLOW_UP_REPLACED = "这次拜访已经有新的回访时间了，删掉的旧回访不再恢复。"
UNDO_WHAT_PHOTO = "上一张照片"
UNDO_WHAT_CHECKIN = "上一次签到"
UNDO_WHAT_CUSTOMER = "新建的客户「{name}」"

# --- onboarding (建档) -----------------------------------------------------------------------------------
ONBOARD_ASK_NAME = "新建客户：请输入客户名称（门店招牌上的全称）。随时输入「取消」放弃。"
ONBOARD_ASK_LICENCE = "请输入「{name}」的营业执照号（18位统一社会信用代码）。"
ONBOARD_BAD_LICENCE = "营业执照号不对：{reason}。请核对后重新输入。"
ONBOARD_ASK_CATEGORIES = "合作品类有哪些？用顿号或空格分开，如：饮料、零食、乳品"
ONBOARD_ASK_ROLES = "决策链：谁负责采购/拍板？格式如「采购 王芳，老板 李强」（角色可写 采购、老板、店长）"
ONBOARD_BAD_ROLES = "没看懂决策链。请按「采购 王芳，老板 李强」的格式输入，角色可写 采购、老板、店长。"
ONBOARD_DUPLICATE_LICENCE = "营业执照号 {licence} 已登记为「{name}」（负责人 {owner}）。"
ONBOARD_DUPLICATE_NEARBY = "附近{distance}米已有名称相近的客户「{name}」。"
ONBOARD_USE_EXISTING = "就是它"
ONBOARD_CREATE_ANYWAY = "仍然新建"
ONBOARD_CANCELLED = "已取消新建客户。"
ONBOARD_CREATED = "已建档「{name}」（客户编号 {customer_id}）。"
ONBOARD_NOT_YOURS = "该客户由 {owner} 负责，无法由你拜访；如需转交请联系主管。"
ONBOARD_NO_LOCATION = "提示：还没有门店位置，下次到店签到时会记录。"
UNDO_CUSTOMER_HAS_DATA = "客户「{name}」已有拜访记录，不能撤销建档，请联系主管处理。"

# --- managers' questions -------------------------------------------------------------------------------
ACTION_REMIND_BUTTON = "一键提醒负责人"
ACTION_ASK_BUTTON = "接着问"
READINGS_TITLE = "这个问题也可以这样理解"
READINGS_BUTTON = "按第{n}种理解"
READING_LINE = "{n}. {understood}"
ACTION_VISIT_BUTTON = "通知负责人回访"
REMIND_OWNER = "【{manager}提醒】请跟进以下{count}位客户（{reason}）：\n{names}"
REMIND_REASONS = {
    "stale": "长时间未跟进",
    "overdue": "回款逾期",
    "ticket_timeout": "服务工单超时",
    "win_back": "流失客户回访",
    "tag": "需求跟进",
}
REMINDED = "已提醒{owners}位负责人，共{count}位客户。"
ACTION_EXPIRED = "这个操作已过期，请重新提问。"
ANSWER_TOO_LONG_TAIL = "……（完整列表请缩小范围后再问）"
