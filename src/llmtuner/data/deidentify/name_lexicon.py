"""Word lists for the name detector (names.py): surnames, the words that introduce a name, the words that
follow one, and the clinical words that start with a surname character.

The lists are data, kept apart so that the rules in names.py stay readable. Clinical words are here because
a general dictionary does not know them as non-names: jieba's own tags call 安静, 康复, 阳虚 and 柴胡 person
names (nr), while 患者安静 / 患者康复 / 患者阳虚 are the commonest phrases of a record.
"""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "夏侯",
                     "令狐", "端木", "西门", "南宫", "独孤", "轩辕", "呼延", "钟离", "澹台", "万俟", "闻人")
# The most common single surnames (together well over 95% of the population).
SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
    "常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单"
    "季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄"
    "窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查"
    "麻苑迟邝储习湛郁蔺封井权缑练敬谈宣洪荆竺农阎诸晁"
)
# Surnames that are also prepositions or adverbs (患者于今晨, 家属和患者, 向医生, 时有, 常年, 曾于): after a
# patient word they are taken only when gender/age or a label makes the name certain.
FUNCTION_SURNAMES = frozenset("于和向时常应曾经由")

# Words after which a name follows with no colon. ROLE: formal roles, after which a name nearly always
# follows (其女彭艳, 本人芦苇). STRONG: kinship words and staff titles, which running text also uses as nouns
# (谢谢医生, 给孩子查明原因). WEAK: patients and relatives, after whom a symptom or a verb follows just as often.
ROLE_ANCHORS = (
    "联系人", "紧急联系人", "监护人", "委托人", "授权委托人", "被委托人", "被授权人", "代理人", "签字人", "见证人", "取药人",
    "立同意书人", "其妻", "其夫", "其女", "其子", "其母", "其父", "之子", "之女", "之父", "之母", "之妻", "之夫", "护士长",
    "我叫", "名叫", "本人", "就诊者", "受检者", "随访对象",
)
STRONG_ANCHORS = (
    "儿子", "女儿", "丈夫", "妻子", "老婆", "老公", "爸爸", "妈妈", "父亲", "母亲", "哥哥", "姐姐", "弟弟", "妹妹", "爷爷", "奶奶",
    "外婆", "外公", "孩子", "孙子", "孙女", "护士", "护师", "医师", "医生", "大夫", "主任", "教授", "药师", "技师", "我是", "我,",
)
WEAK_ANCHORS = ("患者", "病人", "患儿", "家属", "病员", "伤者", "产妇", "孕妇", "新生儿")

# Labels after which (with a colon, or for 姓名 without one) the value is a name: a form field.
FIELD_LABELS = (
    "姓名", "姓 名", "患者姓名", "病人姓名", "患儿姓名", "家属姓名", "联系人姓名", "监护人姓名", "受检者姓名", "Name", "NAME", "name",
    "Patient Name", "签名", "签字", "患者签名", "患者签字", "家属签名", "家属签字", "患方签字", "医师签名", "医生签名", "护士签名",
    "审核", "审核者", "审核人", "审核医师", "报告医师", "报告者", "检验者", "检验人", "检验医师", "送检医生", "送检医师", "送检",
    "记录者", "记录人", "记录", "随访人", "随访者", "随访护士", "随访医生", "接听人", "调配", "核对", "发药", "医师", "医生", "护士",
    "主治医师", "经治医师", "上级医师", "住院医师", "主任医师", "手术医师", "谈话医师", "开方医师", "责任护士", "麻醉医师",
    "主管医生", "主管医师", "管床医生", "经管医生", "值班医生", "主诊医师", "接诊医生", "首诊医生", "护理人员", "主管护士",
)
# A name field ends where the next field of a form starts (姓名：李四性别：男).
FIELD_WORDS = ("性别", "年龄", "科室", "科别", "床号", "住院", "门诊", "病历", "病案", "诊断", "处方", "送检", "检查", "项目",
               "标本", "日期", "时间", "电话", "手机", "身份证", "民族", "职业", "婚姻", "籍贯", "地址", "住址", "出生")

# What follows a name in running text. A candidate ending where one of these starts has found its end:
# 患者李静因胸痛 -> 李静 (not 李静因), 家属冯霞代诉 -> 冯霞.
FOLLOW_WORDS = FIELD_WORDS + (
    "男", "女", "因", "于", "主诉", "自诉", "代诉", "代述", "诉", "述", "入院", "出院", "住院", "转入", "入", "经", "在", "已", "今",
    "昨", "近", "来", "到", "被", "由", "同", "与", "和", "及", "等", "签", "表示", "要求", "陪", "代", "本人", "医师", "医生", "护士",
    "主任", "教授", "药师", "大夫", "的", "是", "为", "系", "今年", "患", "执行", "组织", "巡视", "生命", "神志", "精神", "睡眠", "跌倒",
    "术后", "接", "留", "微信", "QQ", "现", "生于", "一般", "拟", "行", "突", "无", "有", "既往", "目前", "意识", "饮食", "血压", "体温",
    "复查", "复诊", "服", "口服", "按", "定期", "同意", "知情", "确诊", "发现", "出现", "感", "曾", "长期", "平素", "不", "未", "可",
    "能", "要", "想", "需", "希望", "说", "问", "咨询", "反映", "告知", "理解", "拒绝", "放弃", "选择", "自愿", "申请", "办理", "接受",
    "前来", "就诊", "随访", "联系", "照顾", "负责", "共同", "一起", "之", "其", "先生", "女士", "怀孕", "孕", "产后", "术前",
    "体检", "查体", "化验", "检验", "腕带", "压疮", "护理", "用药", "病情",
)
# A name followed by one of these is certain even after a weak anchor: 患者汪洋本人, 患者刘敏的家属.
STRONG_FOLLOW_WORDS = ("本人", "先生", "女士", "同志", "及家属", "家属", "之子", "之女", "之妻", "之夫", "的家属", "的妻子", "的丈夫",
                       "签字", "签名")
# Titles that end a name in running text (由张伟医师接诊, 经王建国主任查房).
TITLES = ("护士长", "主任医师", "副主任医师", "主治医师", "医师", "医生", "护士", "主任", "教授", "药师", "大夫", "院长", "老师")

# Clinical and everyday words that start with a surname character and follow 患者/家属/病人 or precede
# 医师/护士 (患者高龄，男，85岁; 管床医生; 家属方便时). A candidate that is one of these, or starts with one,
# is not a name.
NOT_NAMES = _words("""
谢谢 高盐 高糖 高蛋白 高纤维 高嘌呤 高热 高烧 高龄 高血压 高血糖 高血脂 高脂 高尿酸 高钾 高钠 高钙 高危 高度 高压 高敏 高频 高峰 高位 高凝
高渗 高级 高年资 高年 黄疸 黄染 黄痰 黄苔 黄芪 黄连 黄芩 黄柏 黄体 黄斑 黄褐 黄色 白细胞 白带 白苔
白术 白芍 白内障 白斑 白血病 白蛋白 白天 白班 白色 白芷 安静 安睡 安眠 安宫 安全 安置 安返 安排 康复
周身 周围 周期 周岁 周后 周前 周内 全身 全天 全麻 全血 全部 全程 全科 全腹 全切 左侧 左上 左下 左心
左室 左房 左肺 左肾 左肝 左叶 左手 左足 左眼 左耳 左膝 左髋 余无 余未 余症 余可 余同 余均 余况 方可
方药 方剂 方案 方能 方便 方向 方中 明显 明确 明日 明天 明晨 明早 常年 常规 常有 常感 常伴 常在 常因
常于 时有 时感 时常 时伴 时而 时作 时轻 时重 时好 时觉 时间 曾经 曾因 曾于 曾有 曾在 曾行 曾服 曾用
曾患 房颤 房扑 房室 房早 房间 焦虑 焦躁 焦急 毛发 毛细 毛囊 毛刺 石淋 石膏 严重 严格 严密 苏醒 苏合
关节 关注 关心 关于 关系 冷汗 冷痛 冷敷 连续 连翘 连日 金黄 金银花 金属 龙骨 龙胆 牛膝 牛黄 牛皮 牛奶
马上 马兜铃 丁香 杜仲 甘草 柴胡 陈皮 陈旧 何首乌 何时 胡言 胡说 路路通 王不留行 解大便 解小便 解便
解黑便 解痉 解热 包块 包扎 包膜 强直 强化 强度 强迫 任何 任意 易感 易怒 易发 易疲 应卧床 应用 应激
应及时 温度 温和 温水 温服 夏季 卫生 向家属 向患者 和家属 诸症 诸药 尚可 尚稳定 尚未 尚清 尚平稳 舒适
舒张 管床 管理 费用 申请 沙丁 庞大 单位 单纯 单侧 单次 单用 成年 成人 文化 麦粒 桂枝 蒲公英 车前 车祸
项强 项目 谷丙 谷草 谷氨 盛怒 党参 宫颈 宫内 宫缩 宫腔 汤药 汤剂 莫名 华法林 葛根 柏子 边缘 阳虚 阳亢
阳明 阳性 麻醉 麻木 麻黄 凌晨 夜间 宁心 吴茱萸 钩藤 熊去氧 秦艽 姜黄 姜半夏 杏仁 柳氮 贾第 冯氏 齐墩
米曲 史蒂 施尼 艾灸 艾司 邢台 仲景 季节 季度 师傅 简单 简称 古方 吉兰 查体 查房 查血 查看 查见 常规
水肿 双侧 双肺
""")
# Given names that are really titles or kinship words: 王主任, 李女士, 张阿姨 are not full names.
NOT_GIVEN = _words("""
主任 医师 医生 护士 教授 老师 先生 女士 大夫 阿姨 大爷 师傅 同志 老人 小姐 某某 家属 患者 病人 一家
""")
# Characters no given name has: particles, pronouns, conjunctions (谢谢医生 is thanks, 师或药师 is "or", 查了医生).
NOT_IN_GIVEN = frozenset("了或与的在是及对从把被让给而但并也都就又还很太最不没请说问吗呢吧啊呀么这那你我他她它们个些每各该所且即则虽此"
                         "哪谁啥怎着过得地里会能要想去到吃喝看做用使叫将需已仍再只等多次上下无时您患至出")
# Values of a name field that are not names.
NOT_FIELD_VALUES = _words("""
不详 未知 本人 患者 家属 病人 无 空 见上 同上 请填写 拒绝 不明
""")
