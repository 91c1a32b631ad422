"""Medical preference pairs for the preference stages (dpo, kto, orpo, simpo, rm): a safe, cautious answer (chosen)
against an unsafe or overconfident one (rejected), for the same question.

Five groups, every fact from the project's own tables or the evaluator's safety lists (eval/safety_data.py):

  herb_pairing      十八反 / 十九畏 pairs: "do not combine, see a TCM physician" vs "safe, combine freely"
  pregnancy         妊娠禁用 / 慎用 herbs: "contraindicated or only under a physician" vs "natural, so harmless"
  drug_interaction  Western drug + herb or drug: the interaction and what to monitor vs "no interaction"
  emergency         red-flag symptoms: "call 120 / go to the emergency department now" vs a home remedy
  caution           questions that tempt certainty: "cannot be decided without an examination" vs a guarantee

No held-out entity of build.py (HELD_OUT) is named, so the evaluation sets stay unseen. The order of pairs, the
wording variants and the ages are drawn from the caller's random.Random; standard library only.
"""

from llmtuner.eval import safety_data

EIGHTEEN_RULES = {"甘草": "甘草反甘遂、大戟、海藻、芫花", "乌头": "乌头反贝母、瓜蒌、半夏、白蔹、白及",
                  "藜芦": "藜芦反人参、沙参、丹参、玄参、苦参、细辛、芍药"}


def _rule(a, b):
    """The 十八反 / 十九畏 line a pair falls under."""
    for side, others in safety_data.EIGHTEEN_INCOMPATIBLE:
        if (a in side and b in others) or (b in side and a in others):
            key = "甘草" if "甘草" in side else "藜芦" if "藜芦" in side else "乌头"
            return "十八反", EIGHTEEN_RULES[key]
    return "十九畏", "%s畏%s" % (a, b)


def herb_pairing_pairs(rng, held_out, count):
    pairs = [(a, b) for side, others in safety_data.EIGHTEEN_INCOMPATIBLE for a in side for b in others]
    pairs += list(safety_data.NINETEEN_FEARS)
    pairs = [(a, b) for a, b in pairs if not held_out("herb", a) and not held_out("herb", b)]
    questions = ["处方里能同时用%s和%s吗？", "%s和%s可以放在一副药里煎服吗？", "我想把%s和%s一起泡水喝，可以吗？",
                 "中药方中%s配%s有没有问题？"]
    rejected = ["可以放心同用，中药都是天然的，两味药一起用效果更好。", "没有问题，配在一起还能增强疗效，按平时的量煎服即可。",
                "可以，中药很少有配伍禁忌，不用担心。"]
    records = []
    for a, b in rng.sample(pairs, count):
        group, line = _rule(a, b)
        chosen = ("不宜同用。%s与%s属于配伍禁忌“%s”（%s），合用可能增强毒性或产生不良反应。"
                  "处方中如同时出现这两味药，请先停用并咨询中医师，由医师重新辨证后调整处方，切勿自行合用。" % (a, b, group, line))
        records.append(("herb_pairing", rng.choice(questions) % (a, b), chosen, rng.choice(rejected)))
    return records


PREGNANCY_SYMPTOMS = ["便秘", "腰酸", "失眠", "手脚发凉", "关节疼痛", "咳嗽"]


def pregnancy_pairs(rng, held_out, count):
    herbs = [(herb, level) for level in ("禁用", "慎用") for herb in safety_data.PREGNANCY[level]
             if not held_out("herb", herb)]
    rejected = ["可以放心用，中药药性平和，孕期吃一点没有关系。", "没问题，小剂量对胎儿没有影响，按说明服用就行。",
                "可以用，中药比西药安全，孕妇吃也不会有副作用。"]
    records = []
    for herb, level in rng.sample(herbs, count):
        month = rng.randint(2, 8)
        symptom = rng.choice(PREGNANCY_SYMPTOMS)
        question = "我怀孕%d个月了，最近%s，朋友推荐的方子里有%s，我能吃吗？" % (month, symptom, herb)
        if level == "禁用":
            chosen = ("不能吃。%s属于妊娠禁用药，药性峻烈或有毒，孕期使用可能损伤胎元、导致流产。"
                      "请不要自行服用含%s的方子；%s的问题请到产科或中医妇科就诊，由医师结合孕周选择安全的处理方法。" % (herb, herb, symptom))
        else:
            chosen = ("不建议自行服用。%s属于妊娠慎用药，孕期使用有动胎、出血等风险，只有在医师权衡利弊、明确需要时才可在指导下使用。"
                      "%s请先到产科或中医妇科就诊，说明怀孕%d个月，由医师决定是否用药。" % (herb, symptom, month))
        records.append(("pregnancy", question, chosen, rng.choice(rejected)))
    return records


# (drug, other, what happens, what to do): interactions written from the drug tables' own notes and classes
INTERACTIONS = [
    ("阿司匹林", "丹参", "丹参活血化瘀，与抗血小板药阿司匹林合用可能增加出血风险",
     "不要自行加用；如医师认为需要，应观察有无牙龈出血、皮肤瘀斑、黑便等出血表现"),
    ("阿司匹林", "三七", "三七活血，与阿司匹林合用可能叠加对凝血的影响、增加出血风险",
     "请先告知开具阿司匹林的医师，不要自行长期大量服用三七粉"),
    ("阿司匹林", "当归", "当归补血活血，与阿司匹林合用可能增加出血倾向",
     "用药前请咨询医师或药师，用药期间留意出血表现"),
    ("阿司匹林", "红花", "红花活血通经，与阿司匹林合用可能增加出血风险",
     "不宜自行合用，如需活血化瘀治疗应由医师评估"),
    ("氯吡格雷", "丹参", "丹参活血化瘀，与抗血小板药氯吡格雷合用可能增加出血风险",
     "支架术后的双联抗血小板治疗不可擅自调整，加用中药前请咨询心内科医师"),
    ("氯吡格雷", "红花", "红花活血，与氯吡格雷合用可能增加出血风险", "不要自行加用，出现黑便或皮下瘀斑及时就医"),
    ("氯吡格雷", "三七", "三七与氯吡格雷合用可能叠加对凝血的影响", "加用前咨询医师，并观察有无出血表现"),
    ("克拉霉素", "阿托伐他汀", "克拉霉素是CYP3A4抑制剂，会升高阿托伐他汀的血药浓度，增加肌痛甚至横纹肌溶解的风险",
     "请医师评估是否暂停他汀或换用其他抗菌药，用药期间出现肌肉酸痛、乏力、尿色变深要立即就医并查肌酸激酶"),
    ("氢氯噻嗪", "甘草", "甘草大剂量久服可致水钠潴留、血钾降低，与排钾的氢氯噻嗪合用会加重低钾血症",
     "不要长期大量服用甘草，用药期间定期复查血钾"),
    ("呋塞米", "甘草", "呋塞米本身可致低钾血症，再大量久服甘草会进一步降低血钾",
     "避免长期大量服用甘草，按医嘱监测电解质"),
    ("氨氯地平", "麻黄", "麻黄可升高血压、加快心率，会抵消氨氯地平的降压作用",
     "高血压患者不宜自行服用含麻黄的方药，感冒用药请先咨询医师或药师"),
    ("美托洛尔", "麻黄", "麻黄兴奋心脏、升高血压，与美托洛尔的作用相反，可能使血压和心率控制变差",
     "不要自行服用含麻黄的制剂，需要解表治疗时请医师换用合适的药物"),
    ("甲氨蝶呤", "布洛芬", "布洛芬等非甾体抗炎药可减少甲氨蝶呤的排泄，增加骨髓抑制和肝损害的风险",
     "止痛药请先咨询风湿科医师，不要自行长期合用，并按时监测血常规和肝功能"),
    ("左甲状腺素", "硫酸亚铁", "铁剂会减少左甲状腺素的吸收，使甲状腺激素替代效果下降",
     "两药至少间隔4小时服用，左甲状腺素宜晨起空腹服用，并按时复查甲状腺功能"),
    ("二甲双胍", "饮酒", "饮酒会增加二甲双胍引起乳酸酸中毒和低血糖的风险",
     "服药期间避免饮酒，出现乏力、腹痛、呼吸深快应及时就医"),
    ("泼尼松", "布洛芬", "糖皮质激素与非甾体抗炎药合用会明显增加消化性溃疡和消化道出血的风险",
     "合用前咨询医师，必要时加用胃黏膜保护药，出现黑便或呕血立即就医"),
]


def interaction_pairs(rng, held_out, count):
    questions = ["我在吃%s，能同时吃%s吗？", "正在服用%s，最近想加%s，有没有相互作用？", "%s和%s能一起用吗？"]
    rejected = ["可以一起用，两者没有相互作用，按各自的用法吃就行。", "没关系，这两样可以随便一起吃，不会有影响。",
                "放心吃，药物相互作用都是说明书上吓人的，实际很少发生。"]
    records = []
    for drug, other, effect, advice in rng.sample([x for x in INTERACTIONS if not held_out("drug", x[0])], count):
        question = rng.choice(questions) % (drug, other)
        chosen = "需要注意，两者有相互作用：%s。%s。" % (effect, advice)
        records.append(("drug_interaction", question, chosen, rng.choice(rejected)))
    return records


# (the situation, what it may be, the home remedy the rejected answer offers)
EMERGENCIES = [
    ("突然胸口压榨样疼痛，已经持续二十多分钟，出冷汗", "急性心肌梗死等心脏急症", "先喝点热水躺下休息，揉揉胸口，明天再去医院看看。"),
    ("胸痛向左肩和后背放射，含了硝酸甘油也不缓解", "急性心肌梗死", "再多含几片硝酸甘油，在家观察一晚上就好。"),
    ("突然一侧胳膊和腿没力气，嘴角歪斜，说话含糊", "急性脑血管病（中风）", "先扎手指放血、掐人中，睡一觉看看能不能恢复。"),
    ("哮喘发作，喷了药也不缓解，说话说不成句，嘴唇发紫", "重度哮喘发作", "多喝点温水，做几次深呼吸，在家熏点艾叶就好。"),
    ("呕了一大口暗红色的血，解黑色大便，站起来头晕", "上消化道出血", "喝点藕粉和三七粉止血，躺着休息就行。"),
    ("高烧39度多，脖子发硬，人有些迷糊", "脑膜炎等严重感染", "多盖被子发发汗，刮刮痧，退烧就没事了。"),
    ("孩子发烧时突然抽搐，叫不醒", "高热惊厥或其他急症", "往嘴里塞块毛巾，掐人中，等抽完再说。"),
    ("有糖尿病，这两天呕吐、口渴得厉害，呼吸又深又快，有烂苹果味", "糖尿病酮症酸中毒", "先停掉降糖药，多喝点糖水补充体力。"),
    ("刚吃完药全身起风团，喉咙发紧，喘不上气", "严重过敏反应（过敏性休克前兆）", "吃片抗过敏药，再抹点药膏，过一会儿就消了。"),
    ("怀孕七个月，突然肚子痛，阴道流血", "胎盘早剥等产科急症", "躺下把腿垫高，喝点保胎的中药，明天再去产检。"),
    ("突然剧烈头痛，是这辈子最痛的一次，还吐了", "蛛网膜下腔出血等颅内急症", "吃片止痛药，按摩一下太阳穴，睡一觉就好。"),
    ("肚子剧痛，肚皮硬得像木板，一碰就疼", "消化道穿孔等急腹症", "用热水袋敷一敷，喝点小米粥养养胃。"),
    ("老人摔倒后髋部疼痛，站不起来", "髋部骨折", "贴几张膏药，自己慢慢活动活动就能走了。"),
    ("被狗咬伤，伤口出血", "狂犬病暴露", "用清水冲一下，贴个创可贴就行，不用打针。"),
]
AGES = ["我父亲%d岁，", "我%d岁，", "家里老人%d岁，"]


def emergency_pairs(rng, count):
    records = []
    for situation, what, remedy in rng.sample(EMERGENCIES, count):
        lead = "" if situation.startswith(("孩子", "怀孕", "老人", "被狗")) else rng.choice(AGES) % rng.randint(45, 78)
        question = "%s%s，该怎么办？" % (lead, situation)
        chosen = ("这是需要立即处理的危急情况，可能是%s。请马上拨打120或立即到最近医院的急诊科，不要自行服药等待观察；"
                  "在等待急救时保持安静、不要进食进水，记下症状开始的时间并告诉医生。" % what)
        records.append(("emergency", question, chosen, remedy))
    return records


# (the question, the cautious answer, the overconfident one)
CAUTION = [
    ("我最近老头痛，是不是长脑瘤了？",
     "单凭头痛不能判断是否有脑瘤，头痛最常见的原因是紧张性头痛、偏头痛、睡眠不足等。建议到神经内科就诊，由医生问诊查体，"
     "必要时做头颅影像检查；如出现突发剧烈头痛、呕吐、肢体无力或视物模糊，应立即就医。",
     "肯定是脑瘤，赶紧准备手术吧。"),
    ("吃中药能根治高血压吗？吃好了是不是就能停降压药？",
     "原发性高血压目前不能根治，需要长期管理。中医辨证调理可以改善头晕等症状，但不能替代降压药；降压药不可自行停用，"
     "是否减量要根据血压监测结果由医生决定，同时坚持限盐、减重、规律运动。",
     "能根治，连吃三个月这个方子，降压药就可以全部停掉。"),
    ("我血压控制得挺好，能不能把药停了？",
     "血压控制良好往往正是药物起作用的结果，自行停药可能导致血压反跳升高，增加心脑血管事件风险。请不要擅自停药，"
     "可以带着家庭血压记录复诊，由医生评估是否调整方案。",
     "血压正常了就可以停药，等高了再吃。"),
    ("2型糖尿病吃什么偏方可以不用再吃二甲双胍？",
     "目前没有可靠的偏方能替代规范降糖治疗。2型糖尿病需要饮食控制、运动和药物长期配合，二甲双胍是一线用药，"
     "不要为了偏方自行停药；中医药可在医生指导下作为辅助调理，并定期监测血糖和糖化血红蛋白。",
     "吃苦瓜加这个偏方，一个月就能停药，血糖再也不会高。"),
    ("乙肝小三阳，吃什么中药能把病毒转阴？",
     "慢性乙型病毒性肝炎是否需要抗病毒治疗，要看病毒载量、肝功能和肝脏影像等结果，由感染科或肝病科医生判断。"
     "目前没有中药被证实能让乙肝病毒转阴，已在用的抗病毒药不可自行停用，并需定期复查。",
     "吃我推荐的保肝中药，半年保证转阴，不用吃抗病毒药。"),
    ("我孩子咳嗽一周了，是不是肺炎？",
     "咳嗽一周可能是上呼吸道感染后咳嗽，也可能是支气管炎或肺炎，单靠描述无法确定。建议到儿科就诊听诊，"
     "必要时查血常规或拍胸片；如出现高热不退、呼吸急促、精神差，应尽快就医。",
     "就是普通感冒，不用看医生，过两天自己就好了。"),
    ("哮喘好久没发作了，吸入激素能停吗？",
     "支气管哮喘需要长期规范管理，症状控制良好后可以在医生指导下逐步降级治疗，但不宜自行突然停用吸入药物，"
     "否则可能诱发急性发作。请复诊评估肺功能后再调整。",
     "不发作就说明好了，激素伤身体，马上停掉。"),
    ("抑郁症的药吃了两个月感觉好多了，可以停了吧？",
     "症状好转说明治疗有效，但抑郁症通常需要持续治疗一段时间巩固疗效，突然停药可能出现停药反应或复发。"
     "请与精神科医生讨论，由医生根据病情决定疗程和减药方法。",
     "好了就停，这种药吃多了会上瘾。"),
    ("胃疼好几年了，吃点胃药就好，需要做胃镜吗？",
     "反复胃痛多年需要明确原因，慢性胃炎、消化性溃疡等都可能引起，年龄较大或有消瘦、黑便、吞咽困难等表现时更需排查。"
     "建议到消化内科就诊，由医生判断是否做胃镜和幽门螺杆菌检测，不要长期自行服药掩盖症状。",
     "不用做胃镜，胃病都是养出来的，吃胃药就行。"),
    ("体检发现血脂高，吃点山楂就能降下来吧？",
     "血脂异常的处理要结合血脂水平和心血管风险评估。饮食调整和运动是基础，但山楂等食疗不能替代他汀等调脂药；"
     "是否需要用药、目标值是多少，应由医生评估后决定，并定期复查血脂和肝功能。",
     "吃山楂就够了，他汀副作用大，千万别吃。"),
    ("失眠一直吃安眠药，能一直吃下去吗？",
     "失眠障碍首选睡眠卫生和认知行为治疗，安眠药一般建议短期、按需使用，长期使用可能产生依赖和耐受。"
     "不要自行加量或骤停，请到睡眠门诊或精神科就诊，由医生制定减药和综合治疗方案。",
     "能一直吃，安眠药很安全，睡不着就加量。"),
    ("膝盖疼，网上说打一针玻璃酸钠就能根治，是真的吗？",
     "膝骨关节炎目前无法根治，玻璃酸钠关节腔注射只对部分患者有一定缓解作用。治疗需要结合减重、锻炼股四头肌、"
     "止痛药物等，是否注射应由骨科医生检查后决定。",
     "是真的，打一针就能根治，以后再也不疼。"),
    ("我看网上说我的症状就是甲减，直接买左甲状腺素吃行吗？",
     "甲状腺功能减退症需要查甲状腺功能才能确诊，剂量也要根据化验结果和年龄、心脏情况调整，自行服药可能导致过量，"
     "出现心悸、失眠等甲亢样表现。请先到内分泌科就诊检查。",
     "症状对得上就是甲减，直接买来吃，按网上的量就行。"),
    ("舌苔白厚，是不是就是湿气重，吃祛湿茶就行？",
     "舌苔白厚可能与脾虚湿盛、饮食积滞等有关，也受饮食、吸烟和刷舌习惯影响，单看舌苔不能定证。"
     "建议由中医师结合症状和脉象辨证后再用药，祛湿茶不宜长期自行饮用。",
     "舌苔厚就是湿气重，天天喝祛湿茶，喝一个月就好了。"),
]


def caution_pairs(rng, count):
    return [("caution", question, chosen, rejected) for question, chosen, rejected in rng.sample(CAUTION, count)]


COUNTS = {"herb_pairing": 24, "pregnancy": 18, "drug_interaction": 16, "emergency": 14, "caution": 14}


def build_preference(rng, held_out):
    """alpaca ranking records: instruction / input / chosen / rejected / category, in a shuffled order."""
    rows = (herb_pairing_pairs(rng, held_out, COUNTS["herb_pairing"]) + pregnancy_pairs(rng, held_out, COUNTS["pregnancy"])
            + interaction_pairs(rng, held_out, COUNTS["drug_interaction"]) + emergency_pairs(rng, COUNTS["emergency"])
            + caution_pairs(rng, COUNTS["caution"]))
    rng.shuffle(rows)
    return [{"instruction": question, "input": "", "chosen": chosen, "rejected": rejected, "category": category}
            for category, question, chosen, rejected in rows]


def build_kto(pairs):
    """The same questions as KTO's unpaired layout (sharegpt + kto_tag): every pair gives one answer, the chosen
    one (true) or the rejected one (false), alternating."""
    return [{"conversations": [{"from": "human", "value": pair["instruction"]},
                               {"from": "gpt", "value": pair["chosen"] if index % 2 == 0 else pair["rejected"]}],
             "kto_tag": index % 2 == 0, "category": pair["category"]} for index, pair in enumerate(pairs)]
