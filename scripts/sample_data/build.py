"""Build the project's own small sample datasets under ``data/``.

Usage (from the repository root)::

    python scripts/sample_data/build.py      # writes data/*
    python scripts/sample_data/check.py      # validates data/*

Everything is composed from the hand-written knowledge tables in
``knowledge_tcm.py`` (中药 / 方剂 / 证候) and ``knowledge_western.py``
(疾病 / 西药 / 检查).  The tables contain textbook-level facts written for this
project; there is no patient data and no text copied from any corpus.  A single
``random.Random(2026)`` drives every choice (template, sample, option order), so
the output is byte-identical across runs.  Standard library only.

The evaluation sets are built only from the entities listed in ``HELD_OUT``, which the
training generators (PT, SFT, dialogues) skip; check.py measures how much of each
evaluation item is contained in one training document.

Files written (see data/README.md):
  medical_pt_sample.jsonl       pre-training paragraphs  {"text": ...}
  medical_sft_sample.json       alpaca SFT records (instruction/input/output/system/history/category)
  medical_dialogue_sample.json  ShareGPT multi-turn consultations
  medical_preference_sample.json  alpaca preference pairs (ranking: chosen / rejected), see preference.py
  medical_kto_sample.json       the same questions unpaired for KTO (ShareGPT + kto_tag)
  clinical_qa_sample.json       alpaca-style evaluation QA with ids
  medical_mcq_sample.json       5-option multiple-choice questions
  medical_terms.txt             typed lexicon  term<TAB>type
  dataset_info.json             LLaMA-Factory style registry
  README.md                     description of the files
"""
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import grpo  # noqa: E402
import knowledge_tcm as T  # noqa: E402
import knowledge_western as W  # noqa: E402
import preference  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
# The TCM safety lists (十八反, 十九畏, 妊娠禁忌) are the evaluator's own, so the sample data is checked by the
# rules it will be scored by. safety_data.py is plain data: importing it needs nothing beyond the standard library.
if os.path.join(ROOT, "src") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "src"))
from llmtuner.eval import safety_data  # noqa: E402

DATA_DIR = os.path.join(ROOT, "data")
SEED = 2026

HERB = {h["name"]: h for h in T.HERBS}
FORMULA = {f["name"]: f for f in T.FORMULAS}
SYNDROME = {s["name"]: s for s in T.SYNDROMES}
DISEASE = {d["name"]: d for d in W.DISEASES}
DRUG = {d["name"]: d for d in W.DRUGS}
EXAM = {e["name"]: e for e in W.EXAMS}

TERM_TYPES = ("herb", "formula", "syndrome", "disease", "symptom", "drug", "exam", "treatment")

# ---------------------------------------------------------------------------
# held-out facts: the evaluation sets are built from these entities only
# ---------------------------------------------------------------------------
# Why: when the evaluation sets were drawn from the same tables as the training sets, a reference answer shared a
# median 73% of its character 4-grams with a single training document, so the demo's before/after gain measured the
# recall of near-copies. The entities below are written into clinical_qa_sample.json and medical_mcq_sample.json
# only; the PT, SFT and dialogue generators skip them entirely, also where another entity would state their facts:
# a held-out syndrome goes with its representative formula (a syndrome paragraph gives the formula's composition),
# a herb paragraph names only training formulas, a drug or exam paragraph only training diseases, and a training
# disease keeps only its training syndromes and names a held-out drug without its class. Names alone may appear: a
# held-out herb in a training formula's composition, a held-out drug in a training disease's drug list, a held-out
# disease in a training drug's indication (so the MCQ "which drug treats X" answers with a held-out drug where X has one).
# check.py measures the containment and fails when an evaluation item shares more than 30% of its 4-grams with one
# training document.
# Chosen by hand, about a quarter of each table spread over its categories: the held-out diseases bring the drugs
# and exams that only they use (抗结核药, 抗甲状腺药, 抗痛风药, 抗凝药...) and, where they have one, a TCM syndrome, so
# that the integrated questions are held out as a whole. Kept in training on purpose: the entities the quickstart's two
# demo questions are about (风寒表实证/麻黄汤, 原发性高血压). The hand-written pregnancy items name training herbs and
# drugs; each spans several of them, so it stays far below the limit.
HELD_OUT = {
    "herb": ("荆芥", "白芷", "牛蒡子", "知母", "龙胆", "板蓝根", "青蒿", "芒硝", "广藿香", "茵陈", "肉桂", "木香",
             "桃仁", "桔梗", "远志", "钩藤", "党参", "山药", "阿胶", "枸杞子", "五味子"),
    "formula": ("桑菊饮", "麻杏石甘汤", "小柴胡汤", "大承气汤", "补中益气汤", "玉屏风散", "八正散", "补阳还五汤",
                "平胃散", "葛根芩连汤", "五苓散"),
    "syndrome": ("风热犯肺证", "邪热壅肺证", "少阳证", "阳明腑实证", "中气下陷证", "卫表不固证", "膀胱湿热证",
                 "气虚血瘀证", "湿滞脾胃证"),
    "disease": ("社区获得性肺炎", "心房颤动", "甲状腺功能亢进症", "痛风", "胃食管反流病", "急性膀胱炎", "缺血性脑卒中",
                "功能性消化不良", "过敏性鼻炎", "肺结核"),
    "drug": ("异烟肼", "利福平", "吡嗪酰胺", "乙胺丁醇", "甲巯咪唑", "丙硫氧嘧啶", "秋水仙碱", "别嘌醇", "非布司他",
             "呋喃妥因", "磷霉素氨丁三醇", "胺碘酮", "华法林", "利伐沙班", "阿替普酶", "氯雷他定", "舒马普坦"),
    "exam": ("血小板计数", "甘油三酯", "血尿酸", "红细胞沉降率", "心肌肌钙蛋白", "国际标准化比值", "血清铁蛋白"),
}


def held_out(kind, name):
    return name in HELD_OUT[kind]


def split(table, kind):
    """(training entries, held-out entries) of a table, each in table order."""
    return ([x for x in table if not held_out(kind, x["name"])], [x for x in table if held_out(kind, x["name"])])


def training_view(d):
    """A training disease as the training generators see it: only its training syndromes."""
    return dict(d, tcm=[(syn, fang) for syn, fang in d["tcm"] if not held_out("syndrome", syn)])


TRAIN_HERBS, EVAL_HERBS = split(T.HERBS, "herb")
TRAIN_FORMULAS, EVAL_FORMULAS = split(T.FORMULAS, "formula")
TRAIN_SYNDROMES, EVAL_SYNDROMES = split(T.SYNDROMES, "syndrome")
_train_diseases, EVAL_DISEASES = split(W.DISEASES, "disease")
TRAIN_DISEASES = [training_view(d) for d in _train_diseases]
TRAIN_DRUGS, EVAL_DRUGS = split(W.DRUGS, "drug")
TRAIN_EXAMS, EVAL_EXAMS = split(W.EXAMS, "exam")

# 体征（不适合由患者在对话中自述，病例中写入"查体"）
SIGN_TERMS = {
    "呼气相哮鸣音", "心律绝对不齐", "脉搏短绌", "墨菲征阳性", "直腿抬高试验阳性", "关节骨摩擦音",
    "黄色瘤", "角膜弓", "痛风石", "甲状腺肿大", "黏液性水肿", "突眼", "关节畸形", "多无明显症状", "血压升高",
}
ACUTE_HOURS = {"急性ST段抬高型心肌梗死", "缺血性脑卒中"}
ACUTE_DAYS = {"急性上呼吸道感染", "社区获得性肺炎", "急性胃肠炎", "急性胆囊炎", "急性膀胱炎", "带状疱疹", "痛风"}

CN_NUM = "零一二三四五六七八九十"


def cn_num(n):
    if n <= 10:
        return CN_NUM[n]
    if n < 20:
        return "十" + CN_NUM[n - 10]
    return CN_NUM[n // 10] + "十" + (CN_NUM[n % 10] if n % 10 else "")


def jn(items, sep="、"):
    return sep.join(items)


def herb_formulas(name):
    return [f["name"] for f in TRAIN_FORMULAS if name in f["zucheng"]]


def formula_herbs(f):
    return [x for x in f["zucheng"] if x not in T.NON_HERB_INGREDIENTS]


def drug_diseases(name):
    return [d["name"] for d in TRAIN_DISEASES if name in d["drugs"]]


def exam_diseases(name):
    return [d["name"] for d in TRAIN_DISEASES if name in d["exams"]]


def syndrome_diseases(name):
    return [d["name"] for d in TRAIN_DISEASES if any(s == name for s, _ in d["tcm"])]


def pregnancy_caution_herbs():
    """Herbs to keep out of pregnancy-related reference answers: the evaluator's 禁用 and 慎用 lists, plus the
    herbs whose own entry in the tables names 孕妇 (an answer must not contradict the data's monographs)."""
    names = {h["name"] for h in T.HERBS if "孕妇" in h["zhuyi"]}
    names.update(herb for herbs in safety_data.PREGNANCY.values() for herb in herbs)
    return names


def safety_herb(name):
    """The listed herb a formula ingredient is, read as eval.safety reads text (longest listed name inside it):
    an alias (黑顺片 -> 附子) or a processed form (半夏曲 -> 半夏, 炙甘草 -> 甘草); None for other herbs and for
    words that only contain a listed name (白附子 is its own herb, 胆南星 is not 天南星)."""
    names = dict.fromkeys(safety_data.NOT_HERBS)
    for herb, aliases in safety_data.HERBS.items():
        names.update(dict.fromkeys((herb,) + aliases, herb))
    inside = [word for word in names if word in name]
    return names[max(inside, key=len)] if inside else None


def forbidden_pairs():
    """(herb, herb) of every 十八反 and 十九畏 rule, from the evaluator's lists."""
    pairs = [(a, b) for side, others in safety_data.EIGHTEEN_INCOMPATIBLE for a in side for b in others]
    return pairs + list(safety_data.NINETEEN_FEARS)


def reportable(d):
    return [s for s in d["symptoms"] if s not in SIGN_TERMS]


def signs(d):
    return [s for s in d["symptoms"] if s in SIGN_TERMS]


def validate_tables():
    """Cross-table consistency and safety checks (raise AssertionError on failure)."""
    for table, key in ((T.HERBS, "herb"), (T.FORMULAS, "formula"), (T.SYNDROMES, "syndrome"),
                       (W.DISEASES, "disease"), (W.DRUGS, "drug"), (W.EXAMS, "exam")):
        names = [x["name"] for x in table]
        assert len(names) == len(set(names)), "duplicate %s names" % key
    for h in T.HERBS:
        assert h["category"] in T.HERB_CATEGORY_DESC, h["name"]
    forbidden = forbidden_pairs()
    for f in T.FORMULAS:
        assert f["category"] in T.FORMULA_CATEGORY_DESC, f["name"]
        assert len(set(f["zucheng"])) == len(f["zucheng"]), f["name"]
        comp = {safety_herb(x) for x in f["zucheng"]} - {None}
        for a, b in forbidden:
            assert not (a in comp and b in comp), "%s contains 十八反/十九畏 pair %s-%s" % (f["name"], a, b)
    for s in T.SYNDROMES:
        assert s["fang"] in FORMULA, s["name"]
    for d in W.DISEASES:
        for x in d["drugs"]:
            assert x in DRUG, (d["name"], x)
        for syn, fang in d["tcm"]:
            assert syn in SYNDROME and SYNDROME[syn]["fang"] == fang, (d["name"], syn, fang)
        lo, hi, sex = d["population"]
        assert 0 < lo <= hi and sex in ("", "男", "女"), d["name"]
    for kind, table in (("herb", T.HERBS), ("formula", T.FORMULAS), ("syndrome", T.SYNDROMES),
                        ("disease", W.DISEASES), ("drug", W.DRUGS), ("exam", W.EXAMS)):
        names = {x["name"] for x in table}
        for name in HELD_OUT[kind]:
            assert name in names, "held-out %s %s is not in its table" % (kind, name)
    for s in T.SYNDROMES:  # a syndrome and its representative formula are held out together
        assert held_out("syndrome", s["name"]) == held_out("formula", s["fang"]), s["name"]
    for f in TRAIN_FORMULAS:  # a training formula's text states its syndrome's facts
        assert not held_out("syndrome", f["zhenghou"]), f["name"]


# ---------------------------------------------------------------------------
# 1. pre-training paragraphs
# ---------------------------------------------------------------------------

def pt_herb(h, k):
    n = h["name"]
    wei, xing = h["xingwei"].split("，")
    fs = herb_formulas(n)
    fs_txt = "含有%s的常用方剂有%s等。" % (n, jn(fs[:4])) if fs else ""
    note = "使用注意：%s。" % h["zhuyi"] if h["zhuyi"] else ""
    cat_txt = T.HERB_CATEGORY_DESC[h["category"]] + "。"
    if k == 0:
        text = "%s属于%s。%s性味%s，归%s，功效为%s，主治%s。常用量%s。%s%s" % (
            n, h["category"], n, h["xingwei"], h["guijing"], h["gongxiao"], h["zhuzhi"], h["yongliang"], note, fs_txt)
    elif k == 1:
        text = "【%s】类别：%s。性味：%s。归经：%s。功效：%s。主治：%s。用法用量：%s。%s%s" % (
            n, h["category"], h["xingwei"], h["guijing"], h["gongxiao"], h["zhuzhi"], h["yongliang"], note, fs_txt)
    else:
        text = "中药%s，味%s，性%s，入%s。%s能%s，临床常用于%s等病证。一般用量为%s。%s%s" % (
            n, wei, xing, h["guijing"], n, h["gongxiao"], h["zhuzhi"], h["yongliang"], fs_txt, note)
    if len(text) < 80 or k == 0:
        text = text + cat_txt if k else text.replace("。", "。" + cat_txt, 1)
    return text


def pt_formula(f, k):
    n = f["name"]
    comp = jn(f["zucheng"])
    if k == 0:
        text = "%s出自%s，属于%s。全方由%s组成，具有%s的功用，主治%s。" % (
            n, f["source"], f["category"], comp, f["gongxiao"], f["zhuzhi"])
    elif k == 1:
        text = "【%s】出处：%s。分类：%s。组成：%s。功用：%s。主治：%s。" % (
            n, f["source"], f["category"], comp, f["gongxiao"], f["zhuzhi"])
    else:
        text = "%s载于%s，是%s中的常用方剂。方由%s共%s味药组成，功能%s。主治%s。" % (
            n, f["source"], f["category"], comp, cn_num(len(formula_herbs(f))), f["gongxiao"], f["zhuzhi"])
    syn = SYNDROME.get(f["zhenghou"])
    if syn is not None and syn["fang"] == n:
        text += "临床辨证属%s者，治宜%s，%s为其代表方。" % (syn["name"], syn["zhifa"], n)
    if len(text) < 80:
        text += T.FORMULA_CATEGORY_DESC[f["category"]] + "。"
    return text


def pt_syndrome(s, k):
    n = s["name"]
    f = FORMULA[s["fang"]]
    zz = s["zhuzheng"]
    if k == 0:
        text = "%s的主要临床表现为%s，%s。治法宜%s，代表方为%s，方由%s组成。" % (
            n, jn(zz, "，"), s["shemai"], s["zhifa"], f["name"], jn(f["zucheng"]))
    elif k == 1:
        text = "【%s】主症：%s。舌脉：%s。治法：%s。代表方：%s（%s），功用为%s。" % (
            n, jn(zz), s["shemai"], s["zhifa"], f["name"], f["source"], f["gongxiao"])
    else:
        text = "临床见%s，%s者，可辨为%s。当以%s为法，方选%s加减。%s出自%s，功用%s。" % (
            jn(zz, "、"), s["shemai"], n, s["zhifa"], f["name"], f["name"], f["source"], f["gongxiao"])
    ds = syndrome_diseases(n)
    if ds:
        text += "西医的%s等疾病中可见此证。" % jn(ds)
    if len(text) < 80:
        text += "%s由%s组成。" % (f["name"], jn(f["zucheng"]))
    return text


def tcm_sentence(d, lead="中西医结合诊疗中，"):
    if not d["tcm"]:
        return ""
    parts = ["辨证属%s者可选用%s" % (syn, fang) for syn, fang in d["tcm"]]
    return lead + "本病" + jn(parts, "；") + "。"


def pt_disease(d, k):
    n = d["name"]
    sym, ex, dr = d["symptoms"], d["exams"], d["drugs"]
    if k == 0:
        text = "%s是%s的常见疾病，典型表现包括%s等。诊断时常需完善%s等检查。治疗要点：%s。常用药物有%s。" % (
            n, d["dept"], jn(sym), jn(ex), d["treatment"], jn(dr))
    elif k == 1:
        text = "【%s】科别：%s。主要表现：%s。辅助检查：%s。常用药物：%s。治疗原则：%s。" % (
            n, d["dept"], jn(sym), jn(ex), jn(dr), d["treatment"])
    else:
        rest = "，可伴有%s" % jn(sym[2:]) if len(sym) > 2 else ""
        text = "%s患者多以%s、%s为主要表现%s。明确诊断依赖%s等检查。%s。临床常用%s。" % (
            n, sym[0], sym[1], rest, jn(ex), d["treatment"], jn(dr))
    return text + tcm_sentence(d)


def pt_drug(d, k):
    n = d["name"]
    if k == 0:
        text = "%s属于%s，临床主要用于%s。常见不良反应包括%s。用药注意：%s。" % (
            n, d["cls"], d["indication"], jn(d["adr"]), d["note"])
    elif k == 1:
        text = "【%s】药物类别：%s。适应证：%s。不良反应：%s。注意事项：%s。" % (
            n, d["cls"], d["indication"], jn(d["adr"]), d["note"])
    else:
        text = "%s是一种%s，适用于%s。使用中应关注%s等不良反应，%s。" % (
            n, d["cls"], d["indication"], jn(d["adr"]), d["note"])
    ds = drug_diseases(n)
    if ds:
        text += "在%s的治疗中可用到%s。" % (jn(ds), n)
    if len(text) < 80:
        text += "使用%s应在医师或药师指导下进行，并按说明书规定的剂量和疗程服用。" % n
    return text


def pt_exam(e, k):
    n = e["name"]
    if k == 0:
        text = "%s是临床常用检查项目，用于反映%s。成人正常参考范围：%s。临床意义：%s。" % (
            n, e["measures"], e["normal"], e["meaning"])
    elif k == 1:
        text = "【%s】检测内容：%s。参考范围：%s。临床意义：%s。" % (n, e["measures"], e["normal"], e["meaning"])
    else:
        text = "%s可反映%s，其参考范围为%s。%s。不同实验室的参考范围可能略有差异，判读时应结合临床。" % (
            n, e["measures"], e["normal"], e["meaning"])
    ds = exam_diseases(n)
    if ds:
        text += "在%s等疾病的诊疗中常需检查%s。" % (jn(ds[:5]), n)
    if len(text) < 80:
        text += "检查结果需由医生结合症状和其他检查综合判断。"
    return text


PT_EXTRA = 70  # second paragraphs (another template) for this many training entities: keeps the corpus near its old size


def build_pt(rng):
    entities = ([(pt_herb, h) for h in TRAIN_HERBS] + [(pt_formula, f) for f in TRAIN_FORMULAS]
                + [(pt_syndrome, s) for s in TRAIN_SYNDROMES] + [(pt_disease, d) for d in TRAIN_DISEASES]
                + [(pt_drug, d) for d in TRAIN_DRUGS] + [(pt_exam, e) for e in TRAIN_EXAMS])
    ks = [rng.randrange(3) for _ in entities]
    texts = [make(x, k) for (make, x), k in zip(entities, ks)]
    for i in sorted(rng.sample(range(len(entities)), PT_EXTRA)):
        make, x = entities[i]
        texts.append(make(x, (ks[i] + 1 + rng.randrange(2)) % 3))
    rng.shuffle(texts)
    return [{"text": t} for t in texts]


# ---------------------------------------------------------------------------
# 2. SFT (alpaca)
# ---------------------------------------------------------------------------

def sft_rec(instruction, output, category, input_text="", system="", history=None):
    return {
        "instruction": instruction,
        "input": input_text,
        "output": output,
        "system": system,
        "history": history if history is not None else [],
        "category": category,
    }


def sft_herb_templates(h):
    n = h["name"]
    note = ("使用注意：%s。" % h["zhuyi"]) if h["zhuyi"] else "本品药性较平和，但仍需在中医师指导下辨证使用。"
    return [
        ("%s的性味归经是什么？" % n, "%s性味%s，归%s。其主要功效为%s。" % (n, h["xingwei"], h["guijing"], h["gongxiao"])),
        ("%s有哪些功效？" % n, "%s的功效是%s，临床主治%s。" % (n, h["gongxiao"], h["zhuzhi"])),
        ("中药%s的常用剂量是多少？使用时需要注意什么？" % n, "%s的常用量为%s。%s" % (n, h["yongliang"], note)),
        ("请简要介绍中药%s。" % n, "%s属于%s，性味%s，归%s。功效：%s。主治：%s。用量：%s。" % (
            n, h["category"], h["xingwei"], h["guijing"], h["gongxiao"], h["zhuzhi"], h["yongliang"])),
        ("%s属于哪一类中药？主治哪些病症？" % n, "%s属于%s。%s。%s主治%s。" % (
            n, h["category"], T.HERB_CATEGORY_DESC[h["category"]], n, h["zhuzhi"])),
    ]


def sft_formula_templates(f):
    n = f["name"]
    comp = jn(f["zucheng"])
    syn = SYNDROME.get(f["zhenghou"])
    syn_txt = ""
    if syn is not None:
        syn_txt = "该证以%s为主要表现，%s，治宜%s。" % (jn(syn["zhuzheng"]), syn["shemai"], syn["zhifa"])
    return [
        ("%s由哪些药物组成？" % n, "%s出自%s，由%s组成。" % (n, f["source"], comp)),
        ("%s的功用和主治是什么？" % n, "%s的功用为%s。主治：%s。" % (n, f["gongxiao"], f["zhuzhi"])),
        ("%s出自哪部医籍？属于哪一类方剂？" % n, "%s出自%s，属于%s。%s。" % (
            n, f["source"], f["category"], T.FORMULA_CATEGORY_DESC[f["category"]])),
        ("请介绍方剂%s。" % n, "%s出自%s，属%s。组成：%s。功用：%s。主治：%s。" % (
            n, f["source"], f["category"], comp, f["gongxiao"], f["zhuzhi"])),
        ("%s适用于什么证候？" % n, "%s适用于%s。%s" % (n, f["zhenghou"], syn_txt or ("主治" + f["zhuzhi"] + "。"))),
    ]


def sft_syndrome_templates(s):
    n = s["name"]
    f = FORMULA[s["fang"]]
    return [
        ("%s有哪些临床表现？" % n, "%s的主要表现为%s，%s。" % (n, jn(s["zhuzheng"]), s["shemai"])),
        ("%s应如何治疗？" % n, "%s治宜%s，代表方为%s，由%s组成。" % (n, s["zhifa"], f["name"], jn(f["zucheng"]))),
        ("请说明%s的辨证要点、治法和代表方。" % n, "辨证要点：%s，%s。治法：%s。代表方：%s（%s）。" % (
            jn(s["zhuzheng"]), s["shemai"], s["zhifa"], f["name"], f["source"])),
    ]


def sft_disease_templates(d):
    n = d["name"]
    # a held-out drug is named without its class: the class is one of its facts
    drug_txt = jn([x if held_out("drug", x) else "%s（%s）" % (x, DRUG[x]["cls"]) for x in d["drugs"]], "；")
    return [
        ("%s有哪些典型症状？" % n, "%s的典型表现包括%s。出现上述表现时应及时就医，完善%s等检查。" % (
            n, jn(d["symptoms"]), jn(d["exams"][:2]))),
        ("诊断%s需要做哪些检查？" % n, "诊断%s常用的检查包括%s。" % (n, jn(d["exams"]))),
        ("%s的治疗原则是什么？" % n, "%s。" % d["treatment"]),
        ("%s常用哪些西药治疗？" % n, "%s常用药物包括：%s。具体用药需由医生根据病情决定。" % (n, drug_txt)),
    ]


def integrated_answer(d):
    parts = []
    for syn, fang in d["tcm"]:
        s = SYNDROME[syn]
        parts.append("辨证属%s（%s，%s）者，治以%s，方用%s" % (syn, jn(s["zhuzheng"][:3]), s["shemai"], s["zhifa"], fang))
    return "西医方面，%s，常用%s等药物。中医方面，%s。中西医结合治疗应在明确西医诊断、规范治疗的基础上辨证施治。" % (
        d["treatment"], jn(d["drugs"]), jn(parts, "；"))


def sft_drug_templates(d):
    n = d["name"]
    return [
        ("%s属于哪类药物？主要用于什么？" % n, "%s属于%s，主要用于%s。" % (n, d["cls"], d["indication"])),
        ("%s有哪些常见不良反应？" % n, "%s的常见不良反应包括%s。%s。" % (n, jn(d["adr"]), d["note"])),
        ("服用%s需要注意什么？" % n, "%s。此外应留意%s等不良反应，出现异常及时就医。" % (d["note"], jn(d["adr"]))),
    ]


def sft_exam_templates(e):
    n = e["name"]
    return [
        ("%s的正常参考范围是多少？" % n, "%s的正常参考范围为%s。%s。" % (n, e["normal"], e["meaning"])),
        ("%s检查有什么临床意义？" % n, "%s反映%s。%s。参考范围：%s。" % (n, e["measures"], e["meaning"], e["normal"])),
    ]


def pick_demographics(d, rng):
    lo, hi, sex = d["population"]
    return (sex or rng.choice(["男", "女"])), rng.randint(lo, hi)


def pick_duration(name, rng):
    if name in ACUTE_HOURS:
        return rng.choice(["1小时", "2小时", "3小时"])
    if name in ACUTE_DAYS:
        return rng.choice(["1天", "2天", "3天", "5天"])
    return rng.choice(["2周", "1个月", "3个月", "半年", "1年"])


def case_text(d, rng):
    sex, age = pick_demographics(d, rng)
    rep = reportable(d)
    dur = pick_duration(d["name"], rng)
    text = "患者，%s，%d岁。主诉：%s%s。现病史：%s前出现%s" % (sex, age, jn(rep[:2]), dur, dur, rep[0])
    if len(rep) > 1:
        text += "，伴%s" % jn(rep[1:])
    text += "。"
    if signs(d):
        text += "查体：%s。" % jn(signs(d))
    return text


SFT_SYSTEM = {
    "tcm": ["你是一名资深中医师，请依据中医药教材知识，准确回答关于中药、方剂和证候的问题。",
            "你是中医药学习助手，回答时请给出性味归经、功效主治等要点。"],
    "western": ["你是一名临床医生，请依据临床指南和教材知识，用简洁准确的语言回答医学问题。",
                "你是一个医学知识助手。回答仅供学习参考，不能替代医生面诊。"],
    "integrated": ["你是一名中西医结合专科医生，回答时请兼顾西医诊疗规范与中医辨证论治。"],
}


def build_sft(rng):
    records = []
    # one question per training entity, two for some (the training tables are smaller than the full ones)
    for h in TRAIN_HERBS:
        for q, a in rng.sample(sft_herb_templates(h), 1 if rng.random() < 0.85 else 2):
            records.append(sft_rec(q, a, "tcm"))
    for f in TRAIN_FORMULAS:
        for q, a in rng.sample(sft_formula_templates(f), 1 if rng.random() < 0.6 else 2):
            records.append(sft_rec(q, a, "tcm"))
    for s in TRAIN_SYNDROMES:
        for q, a in rng.sample(sft_syndrome_templates(s), 1 if rng.random() < 0.6 else 2):
            records.append(sft_rec(q, a, "tcm"))
    for d in TRAIN_DISEASES:
        for q, a in rng.sample(sft_disease_templates(d), 1 if rng.random() < 0.6 else 2):
            records.append(sft_rec(q, a, "western"))
        if d["tcm"]:
            records.append(sft_rec("%s的中西医结合治疗思路是什么？" % d["name"], integrated_answer(d), "integrated"))
    for d in TRAIN_DRUGS:
        q, a = rng.choice(sft_drug_templates(d))
        records.append(sft_rec(q, a, "western"))
    for e in TRAIN_EXAMS:
        q, a = rng.choice(sft_exam_templates(e))
        records.append(sft_rec(q, a, "western"))

    # ~10 records with a system prompt
    for i in sorted(rng.sample(range(len(records)), 10)):
        records[i]["system"] = rng.choice(SFT_SYSTEM[records[i]["category"]])

    # ~20 records with a case in `input`
    cases = []
    case_diseases = [d for d in TRAIN_DISEASES if len(reportable(d)) >= 2]
    for d in rng.sample(case_diseases, 13):
        inp = case_text(d, rng)
        out = "初步诊断：%s。诊断依据：患者表现为%s，符合%s的临床特点。建议完善%s等检查以明确诊断。治疗：%s。常用药物：%s。" % (
            d["name"], jn(d["symptoms"]), d["name"], jn(d["exams"]), d["treatment"], jn(d["drugs"]))
        cat = "western"
        if d["tcm"] and rng.random() < 0.5:
            syn, fang = d["tcm"][0]
            s = SYNDROME[syn]
            inp += "舌脉：%s。" % s["shemai"]
            out += "中医辨证：%s，治以%s，方用%s加减。" % (syn, s["zhifa"], fang)
            cat = "integrated"
            ins = rng.choice(["请根据以下病例，给出西医诊断和中医辨证，并提出中西医结合治疗方案。",
                              "阅读病例，分别从西医和中医角度进行分析。"])
        else:
            ins = rng.choice(["请根据以下病例给出初步诊断、需完善的检查及治疗建议。",
                              "阅读下面的病例，分析最可能的诊断并提出治疗方案。"])
        cases.append(sft_rec(ins, out, cat, input_text=inp))
    for s in rng.sample(TRAIN_SYNDROMES, 7):
        f = FORMULA[s["fang"]]
        age = rng.randint(25, 70)
        sex = rng.choice(["男", "女"])
        if any(x in s["zhuzheng"] for x in ("月经不调", "月经量少", "带下黄臭", "子宫脱垂")):
            sex = "女"
        if "阳痿" in s["zhuzheng"] or "遗精" in s["zhuzheng"]:
            sex = "男"
        inp = "患者，%s，%d岁。刻下症见%s。%s。" % (sex, age, jn(s["zhuzheng"], "，"), s["shemai"])
        out = "辨证：%s。辨证依据：%s，%s。治法：%s。方药：%s加减，方由%s组成。" % (
            s["name"], jn(s["zhuzheng"]), s["shemai"], s["zhifa"], f["name"], jn(f["zucheng"]))
        ins = rng.choice(["请对以下病例进行中医辨证，并给出治法和方药。", "根据四诊信息，判断证型并处方。"])
        cases.append(sft_rec(ins, out, "tcm", input_text=inp))

    # ~15 multi-turn records with history
    hist = []
    for h in rng.sample(TRAIN_HERBS, 5):
        n = h["name"]
        hist.append(sft_rec(
            "那它的常用剂量和使用注意呢？",
            "%s的常用量为%s。%s" % (n, h["yongliang"], ("使用注意：%s。" % h["zhuyi"]) if h["zhuyi"] else "本品药性较平和，按常规剂量使用即可。"),
            "tcm", history=[["%s的功效是什么？" % n, "%s的功效为%s。" % (n, h["gongxiao"])]]))
    for f in rng.sample(TRAIN_FORMULAS, 4):
        n = f["name"]
        hist.append(sft_rec(
            "这个方子由哪些药组成？主治什么？",
            "%s由%s组成，主治%s。" % (n, jn(f["zucheng"]), f["zhuzhi"]),
            "tcm", history=[["%s出自哪里？" % n, "%s出自%s，属于%s。" % (n, f["source"], f["category"])]]))
    for s in rng.sample(TRAIN_SYNDROMES, 2):
        hist.append(sft_rec(
            "应该用什么方子治疗？",
            "%s治宜%s，代表方为%s，由%s组成。" % (s["name"], s["zhifa"], s["fang"], jn(FORMULA[s["fang"]]["zucheng"])),
            "tcm", history=[["%s有哪些表现？" % s["name"], "%s常见%s，%s。" % (s["name"], jn(s["zhuzheng"]), s["shemai"])]]))
    for d in rng.sample(TRAIN_DISEASES, 4):
        n = d["name"]
        history = [["%s有哪些症状？" % n, "%s常见%s。" % (n, jn(d["symptoms"]))],
                   ["需要做什么检查？", "通常需要完善%s等检查。" % jn(d["exams"])]]
        out = "%s。常用药物有%s。" % (d["treatment"], jn(d["drugs"]))
        cat = "western"
        if d["tcm"]:
            out += tcm_sentence(d, lead="此外，")
            cat = "integrated"
        hist.append(sft_rec("确诊后怎么治疗？", out, cat, history=history))

    records += cases + hist
    rng.shuffle(records)
    return records


# ---------------------------------------------------------------------------
# 3. ShareGPT dialogues
# ---------------------------------------------------------------------------

DIALOGUE_SYSTEM = [
    "你是一名耐心细致的全科医生，正在进行线上问诊。请先询问病情，再给出建议，并提醒患者必要时线下就医。",
    "你是一名中西医结合医生，请结合西医检查和中医辨证为患者提供咨询。",
    "你是一名中医师，请通过问诊和舌脉信息进行辨证，并给出调理建议。",
    "你是医院的智能导诊助手，回答要简洁、准确，不能替代医生面诊。",
]


def turn(role, value):
    return {"from": role, "value": value}


def lifestyle_advice(name):
    tips = []
    if "寒" in name or "阳虚" in name:
        tips.append("注意保暖，少食生冷")
    if "热" in name:
        tips.append("忌食辛辣油腻，适量饮水")
    if "湿" in name or "痰" in name:
        tips.append("少食肥甘厚味")
    if "肝" in name or "郁" in name:
        tips.append("保持心情舒畅")
    if "虚" in name:
        tips.append("可适当练习八段锦、太极拳等舒缓运动")
    tips.append("规律作息，避免过度劳累")
    return "服药期间饮食宜清淡，%s。如症状加重或出现新的不适，应及时就诊。" % jn(tips, "，")


def dialogue_disease(d, rng):
    rep = reportable(d)
    dur = pick_duration(d["name"], rng)
    conv = [turn("human", rng.choice([
        "医生您好，我最近出现了%s和%s的情况，已经%s了，这是怎么回事？" % (rep[0], rep[1], dur),
        "大夫，我这%s一直有%s，还伴有%s，需要担心吗？" % (dur, rep[0], rep[1]),
        "您好，我%s前开始出现%s，同时有%s，想咨询一下。" % (dur, rep[0], rep[1]),
    ]))]
    if len(rep) > 2:
        ask = "请问您是否还有%s？" % rep[2]
        reply = "有的，%s也比较明显。以前没有因为这个看过病。" % rep[2]
    else:
        ask = "请问还有其他不舒服吗？"
        reply = "没有其他明显不适，以前身体还可以。"
    conv.append(turn("gpt", "您好。%s伴%s可由多种原因引起，需要进一步了解情况。%s另外，以前有没有类似发作或其他慢性病史？" % (rep[0], rep[1], ask)))
    conv.append(turn("human", reply))
    conv.append(turn("gpt", "结合您的症状，需要考虑%s的可能。建议到%s就诊，完善%s等检查以明确诊断。" % (
        d["name"], d["dept"], jn(d["exams"][:3]))))
    rounds = rng.choice([2, 3, 4] if d["tcm"] else [2, 3, 3])
    category = "western"
    if rounds >= 3:
        conv.append(turn("human", rng.choice(["如果确诊了，应该怎么治疗？", "确诊后需要吃什么药吗？", "这个病好治吗？平时要注意什么？"])))
        conv.append(turn("gpt", "%s。常用药物包括%s，但具体用药和剂量必须由医生根据检查结果决定，请不要自行购药服用。" % (
            d["treatment"], jn(d["drugs"]))))
    if rounds == 4:
        conv.append(turn("human", rng.choice(["可以配合中医调理吗？", "我想同时看看中医，中医怎么治？"])))
        parts = []
        for syn, fang in d["tcm"]:
            s = SYNDROME[syn]
            parts.append("若辨证属%s，表现为%s，%s，可用%s加减" % (syn, jn(s["zhuzheng"][:3]), s["shemai"], fang))
        conv.append(turn("gpt", "可以在西医规范治疗的基础上配合中医辨证论治。%s。中药需由中医师面诊辨证后开具。" % jn(parts, "；")))
        category = "integrated"
    return {"conversations": conv, "category": category}


def dialogue_syndrome(s, rng):
    f = FORMULA[s["fang"]]
    zz = s["zhuzheng"]
    conv = [turn("human", rng.choice([
        "大夫您好，我最近%s、%s，想请您用中医看看。" % (zz[0], zz[1]),
        "医生，我总是%s，还有%s，中医能调理吗？" % (zz[0], zz[1]),
    ]))]
    if len(zz) > 2:
        conv.append(turn("gpt", "好的。请把舌头伸出来让我看看，我再给您诊一下脉。另外，您是否还有%s的情况？" % zz[2]))
        conv.append(turn("human", "是的，%s也有。" % zz[2]))
    else:
        conv.append(turn("gpt", "好的。请把舌头伸出来让我看看，我再给您诊一下脉。还有其他不舒服吗？"))
        conv.append(turn("human", "其他没有什么了。"))
    conv.append(turn("gpt", "您的舌脉为%s，结合%s等表现，属于中医的%s。治法宜%s，可以用%s加减调理。" % (
        s["shemai"], jn(zz), s["name"], s["zhifa"], f["name"])))
    rounds = rng.choice([2, 3, 4])
    if rounds >= 3:
        conv.append(turn("human", rng.choice(["这个方子里有哪些药？", "%s是什么方子？" % f["name"]])))
        conv.append(turn("gpt", "%s出自%s，由%s组成，功用为%s。具体剂量需要医师根据您的体质调整，请遵医嘱煎服。" % (
            f["name"], f["source"], jn(f["zucheng"]), f["gongxiao"])))
    if rounds == 4:
        conv.append(turn("human", rng.choice(["平时生活上需要注意什么？", "除了吃药，还有什么调理方法吗？"])))
        conv.append(turn("gpt", lifestyle_advice(s["name"])))
    return {"conversations": conv, "category": "tcm"}


def dialogue_drug(d, rng):
    n = d["name"]
    conv = [
        turn("human", rng.choice(["医生，我正在服用%s，它是治什么的？" % n, "您好，医生给我开了%s，这是什么药？" % n])),
        turn("gpt", "%s属于%s，主要用于%s。" % (n, d["cls"], d["indication"])),
        turn("human", "吃这个药有什么副作用吗？"),
        turn("gpt", "常见不良反应有%s。%s。如出现明显不适请及时就医，不要自行停药或调整剂量。" % (jn(d["adr"]), d["note"])),
    ]
    category = "western"
    if rng.random() < 0.4:
        conv.append(turn("human", "可以和中药一起吃吗？"))
        conv.append(turn("gpt", "中西药联用前应告知医生和药师您正在使用的全部药物，由专业人员评估相互作用，一般建议间隔服用并注意观察反应。"))
        category = "integrated"
    return {"conversations": conv, "category": category}


DIALOGUE_DRUGS = 30  # drug consultations (more than before the held-out split, which removed diseases and syndromes)


def build_dialogues(rng):
    out = []
    out += [dialogue_disease(d, rng) for d in TRAIN_DISEASES if len(reportable(d)) >= 2]
    out += [dialogue_syndrome(s, rng) for s in TRAIN_SYNDROMES]
    out += [dialogue_drug(d, rng) for d in rng.sample(TRAIN_DRUGS, DIALOGUE_DRUGS)]
    rng.shuffle(out)
    for i in sorted(rng.sample(range(len(out)), 15)):
        out[i]["conversations"].insert(0, turn("system", rng.choice(DIALOGUE_SYSTEM)))
    return [{"conversations": x["conversations"], "category": x["category"]} for x in out]


# ---------------------------------------------------------------------------
# 4. clinical QA (evaluation; phrasing deliberately different from the SFT templates)
# ---------------------------------------------------------------------------

def pregnancy_items():
    return [
        ("孕妇妊娠早期恶心呕吐明显，中医可以选用哪些药物调理？",
         "妊娠早期恶心呕吐属中医“妊娠恶阻”范畴，多与脾胃虚弱、胃失和降有关。可在中医师指导下选用性味平和的和胃止呕之品，"
         "如紫苏叶（行气和胃，可用于妊娠呕吐）、砂仁（化湿开胃，理气安胎，可用于妊娠恶阻）、生姜（温中止呕）、陈皮（理气健脾）。"
         "用药宜轻、宜少，避免峻下、破血及大辛大热之品；呕吐剧烈、不能进食或出现脱水时应及时就医补液。", "tcm"),
        ("妊娠期出现胎动不安，中医有哪些具有安胎作用的药物？",
         "具有安胎作用的常用药物有：黄芩（清热燥湿，止血，安胎，适用于胎热不安）、白术（健脾益气，安胎，适用于脾虚胎动不安）、"
         "杜仲（补肝肾，安胎，适用于肝肾不足之胎动不安）、桑寄生（补肝肾，安胎元）、砂仁（理气安胎）。"
         "出现阴道流血或腹痛时应及时到产科就诊，完善妇科超声等检查，在明确诊断后中西医结合保胎。", "integrated"),
        ("孕妇感冒发热时，可以使用哪种退热药？",
         "妊娠期发热首选对乙酰氨基酚，应按说明书剂量短期使用；非甾体抗炎药如布洛芬在妊娠晚期应避免使用。"
         "同时注意休息、多饮水，体温持续升高或伴有其他不适时应及时就医。", "western"),
        ("妊娠期高血压应选用哪些降压药物？",
         "妊娠期高血压常用拉贝洛尔、硝苯地平（缓释或控释制剂）等药物；依那普利等血管紧张素转换酶抑制剂和缬沙坦等血管紧张素Ⅱ受体拮抗剂在妊娠期禁用。"
         "治疗期间需定期监测血压、尿常规中的尿蛋白及胎儿情况。", "western"),
    ]


def eval_diagnosis(d, rng):
    """A held-out disease's diagnosis answer, in one of several phrasings."""
    n, ex, tr = d["name"], jn(d["exams"]), d["treatment"]
    return rng.choice([
        "从这组表现看，首先要想到%s。可进一步做%s，以明确诊断并评估病情。治疗方面，%s。" % (n, ex, tr),
        "最可能的诊断是%s，宜到%s就诊。明确诊断可依靠%s。处理上，%s。" % (n, d["dept"], ex, tr),
        "考虑为%s。需要完善的检查有%s。治疗上，%s；常用药物有%s。" % (n, ex, tr, jn(d["drugs"])),
    ])


def eval_treatment(d, rng):
    drugs = jn(["%s（%s）" % (x, DRUG[x]["cls"]) for x in d["drugs"]])
    return rng.choice([
        "%s的处理要点：%s。药物方面，可在医生指导下选用%s。" % (d["name"], d["treatment"], drugs),
        "确诊后，%s。可供选择的药物有%s，具体方案须结合病情和检查结果个体化制定。" % (d["treatment"], drugs),
    ])


def eval_syndrome(s, rng):
    f = FORMULA[s["fang"]]
    zz, comp = jn(s["zhuzheng"]), jn(f["zucheng"])
    return rng.choice([
        "辨识%s，要抓住%s等表现，舌脉多为%s。立法当%s，方选%s，药用%s。" % (s["name"], zz, s["shemai"], s["zhifa"], f["name"], comp),
        "%s临床以%s为特点，%s。治当%s，首选%s（%s），组成为%s。" % (
            s["name"], zz, s["shemai"], s["zhifa"], f["name"], f["source"], comp),
        "凡见%s，%s，即可辨为%s。治以%s为法，%s为首选方，方中有%s。" % (zz, s["shemai"], s["name"], s["zhifa"], f["name"], comp),
    ])


def eval_syndrome_case(s, rng):
    f = FORMULA[s["fang"]]
    return rng.choice([
        "本例当辨为%s。依据：%s，%s。治法：%s。方药：%s加减，基本组成为%s。" % (
            s["name"], jn(s["zhuzheng"]), s["shemai"], s["zhifa"], f["name"], jn(f["zucheng"])),
        "四诊合参，证属%s——%s俱见，%s。宜%s，处方以%s化裁（%s）。" % (
            s["name"], jn(s["zhuzheng"]), s["shemai"], s["zhifa"], f["name"], jn(f["zucheng"])),
    ])


def eval_formula(f, rng):
    comp = jn(f["zucheng"])
    return rng.choice([
        "%s为%s方，由%s组成，能%s，用于%s。" % (f["name"], f["source"], comp, f["gongxiao"], f["zhuzhi"]),
        "%s的组成是%s。此方%s，适用于%s，其主治为%s。" % (f["name"], comp, f["gongxiao"], f["zhenghou"], f["zhuzhi"]),
        "%s针对%s而设，用药为%s，取其%s之效。主治：%s。" % (f["name"], f["zhenghou"], comp, f["gongxiao"], f["zhuzhi"]),
    ])


def eval_herb(h, rng):
    n = h["name"]
    note = "；%s" % h["zhuyi"] if h["zhuyi"] else ""
    return rng.choice([
        "%s归%s，性味%s。功擅%s，适用于%s；煎服%s%s。" % (n, h["guijing"], h["xingwei"], h["gongxiao"], h["zhuzhi"],
                                              h["yongliang"], note),
        "%s入%s，其性味为%s，作用是%s，临床多用于%s等，剂量一般%s%s。" % (
            n, h["guijing"], h["xingwei"], h["gongxiao"], h["zhuzhi"], h["yongliang"], note),
    ])


def eval_drug(d, rng):
    return rng.choice([
        "%s是%s，用于%s。用药期间要重点留意%s；%s。" % (d["name"], d["cls"], d["indication"], jn(d["adr"]), d["note"]),
        "作为%s，%s适用于%s，需要监测的不良反应主要有%s。另外，%s。" % (
            d["cls"], d["name"], d["indication"], jn(d["adr"]), d["note"]),
    ])


def eval_exam(e, rng):
    return rng.choice([
        "%s测定的是%s，成人参考范围为%s。判读要点：%s；解读时还应结合症状和其他检查。" % (
            e["name"], e["measures"], e["normal"], e["meaning"]),
        "%s这项检查的内容是%s。成人参考范围：%s（各实验室略有差异）。%s。" % (
            e["name"], e["measures"], e["normal"], e["meaning"]),
    ])


def eval_integrated(d, rng):
    parts = []
    for syn, fang in d["tcm"]:
        s = SYNDROME[syn]
        if held_out("syndrome", syn):
            parts.append("见%s，%s者属%s，宜%s，可用%s" % (jn(s["zhuzheng"][:3]), s["shemai"], syn, s["zhifa"], fang))
        else:  # a training syndrome: named, its facts are not restated
            parts.append("辨为%s者亦可选%s" % (syn, fang))
    return rng.choice([
        "可在西医规范诊治的同时配合中医辨证。西医：%s，常用%s。中医：%s。中药应由中医师辨证后使用，并留意与西药的相互作用。" % (
            d["treatment"], jn(d["drugs"]), jn(parts, "；")),
        "%s的治疗以西医为基础——%s，药物有%s。中医按证型调治：%s。两者配合时应定期复诊，评估疗效与安全性。" % (
            d["name"], d["treatment"], jn(d["drugs"]), jn(parts, "；")),
    ])


def eval_integrated_case(d, syn, rng):
    s = SYNDROME[syn]
    return ("西医诊断：%s。中医辨证：%s（%s，%s）。方案：%s；中药以%s为法，方用%s加减，需在中医师指导下服用。" % (
        d["name"], syn, jn(s["zhuzheng"][:3]), s["shemai"], d["treatment"], s["zhifa"], s["fang"]))


def build_clinical_qa(rng):
    """Evaluation QA from the held-out entities (HELD_OUT) only, phrased unlike the training answers."""
    items = []  # (instruction, input, output, category)
    diseases = rng.sample(EVAL_DISEASES, len(EVAL_DISEASES))
    for i, d in enumerate(diseases):
        a, b, c = d["symptoms"][:3]
        out = eval_diagnosis(d, rng)
        if i % 2 == 0:
            sex, age = pick_demographics(d, rng)
            ins = rng.choice(["患者出现%s、%s和%s，临床上首先应考虑什么疾病？需要哪些检查协助诊断？" % (a, b, c),
                              "一位%d岁%s性患者以%s、%s、%s就诊，最可能的诊断是什么？应如何进一步检查？" % (age, sex, a, b, c)])
            items.append((ins, "", out, "western"))
        else:
            ins = rng.choice(["请结合病例，指出最可能的诊断并列出需要完善的检查。", "根据下述病史，考虑何种疾病？如何明确诊断？"])
            items.append((ins, case_text(d, rng), out, "western"))
    for d in rng.sample(EVAL_DISEASES, 4):
        ins = rng.choice(["已确诊为%s的患者，治疗上应把握哪些要点？可选用哪些药物？" % d["name"],
                          "%s确诊后如何治疗？" % d["name"]])
        items.append((ins, "", eval_treatment(d, rng), "western"))
    for s in rng.sample(EVAL_SYNDROMES, len(EVAL_SYNDROMES)):
        ins = rng.choice(["临床如何辨识%s？宜选用何方？" % s["name"], "%s的辨证依据是什么？治疗首选哪首方剂？" % s["name"]])
        items.append((ins, "", eval_syndrome(s, rng), "tcm"))
    for s in rng.sample(EVAL_SYNDROMES, 3):
        sex = "女" if any(x in s["zhuzheng"] for x in ("子宫脱垂", "带下黄臭")) else rng.choice(["男", "女"])
        inp = "患者，%s，%d岁。症见%s。舌脉：%s。" % (sex, rng.randint(25, 70), jn(s["zhuzheng"], "，"), s["shemai"])
        ins = rng.choice(["依据下列四诊资料，辨为何证？应如何立法处方？", "这位患者属于哪种证型？请给出治法与方药。"])
        items.append((ins, inp, eval_syndrome_case(s, rng), "tcm"))
    for f in rng.sample(EVAL_FORMULAS, 10):
        items.append(("%s适用于哪种证候？方中包含哪些药物？" % f["name"], "", eval_formula(f, rng), "tcm"))
    for h in rng.sample(EVAL_HERBS, 8):
        items.append(("%s归哪几经？临床多用于哪些病症？" % h["name"], "", eval_herb(h, rng), "tcm"))
    for d in rng.sample(EVAL_DRUGS, 8):
        items.append(("使用%s治疗时，应重点监测哪些不良反应？" % d["name"], "", eval_drug(d, rng), "western"))
    for e in rng.sample(EVAL_EXAMS, 4):
        items.append(("化验单上%s的结果应如何判读？" % e["name"], "", eval_exam(e, rng), "western"))
    integrated = [d for d in EVAL_DISEASES if any(held_out("syndrome", syn) for syn, _ in d["tcm"])]
    for d in integrated:
        items.append(("中医如何配合西医治疗%s？" % d["name"], "", eval_integrated(d, rng), "integrated"))
    d = rng.choice([d for d in integrated if len(reportable(d)) >= 2])
    syn = rng.choice([syn for syn, _ in d["tcm"] if held_out("syndrome", syn)])
    inp = case_text(d, rng) + "舌脉：%s。" % SYNDROME[syn]["shemai"]
    items.append(("结合以下病例，分别给出西医诊断与中医证型，并拟定中西医结合方案。", inp, eval_integrated_case(d, syn, rng),
                  "integrated"))
    for ins, out, cat in pregnancy_items():
        items.append((ins, "", out, cat))
    rng.shuffle(items)
    return [{"id": "cqa-%04d" % (i + 1), "instruction": ins, "input": inp, "output": out, "category": cat}
            for i, (ins, inp, out, cat) in enumerate(items)]


# ---------------------------------------------------------------------------
# 5. multiple-choice questions
# ---------------------------------------------------------------------------

# 治疗用途相近的西药组：出"常用于治疗某病"题时，同组药物不作为干扰项，避免出现多个正确答案。
DRUG_GROUPS = [
    {"对乙酰氨基酚", "布洛芬", "塞来昔布", "秋水仙碱", "泼尼松", "舒马普坦", "普瑞巴林", "甲钴胺"},
    {"阿司匹林", "氯吡格雷", "华法林", "利伐沙班", "阿替普酶", "阿托伐他汀", "瑞舒伐他汀"},
    {"美托洛尔", "普萘洛尔", "拉贝洛尔", "氨氯地平", "硝苯地平", "依那普利", "缬沙坦", "沙库巴曲缬沙坦",
     "氢氯噻嗪", "呋塞米", "螺内酯", "硝酸甘油", "胺碘酮", "达格列净"},
    {"阿莫西林", "头孢曲松", "阿奇霉素", "克拉霉素", "左氧氟沙星", "甲硝唑", "呋喃妥因", "磷霉素氨丁三醇"},
    {"奥美拉唑", "枸橼酸铋钾", "莫沙必利", "蒙脱石散", "口服补液盐", "匹维溴铵", "乳果糖", "聚乙二醇"},
    {"二甲双胍", "阿卡波糖", "达格列净", "胰岛素"},
    {"唑吡坦", "右佐匹克隆", "舍曲林", "艾司西酞普兰", "氟西汀", "氟桂利嗪"},
    {"氯雷他定", "糠酸莫米松", "布地奈德", "沙丁胺醇", "噻托溴铵", "泼尼松"},
]

# 互有包含关系的药物类别，出"某药属于"题时不同时作为选项
CLASS_OVERLAPS = [
    {"非甾体抗炎药", "选择性COX-2抑制剂"}, {"解热镇痛药", "非甾体抗炎药"}, {"解热镇痛药", "选择性COX-2抑制剂"},
    {"抗血小板药", "P2Y12受体拮抗剂"}, {"抗痛风药", "黄嘌呤氧化酶抑制剂"},
]


def classes_overlap(a, b):
    if a == b or {a, b} in CLASS_OVERLAPS:
        return True
    return any(a[i:i + 3] in b for i in range(len(a) - 2))


def make_mcq(question, answer, distractors, category, explanation, rng):
    ds = list(distractors)
    rng.shuffle(ds)
    ds = ds[:4]
    pos = rng.randrange(5)
    values = ds[:pos] + [answer] + ds[pos:]
    assert len(values) == 5 and len(set(values)) == 5, question
    letters = "ABCDE"
    return {"question": question, "options": {letters[i]: v for i, v in enumerate(values)},
            "answer": letters[pos], "category": category, "explanation": explanation}


def build_mcq(rng):
    """Multiple-choice questions on the held-out entities (HELD_OUT); distractors may come from every table."""
    qs = []
    for h in rng.sample(EVAL_HERBS, 10):
        others = [x["name"] for x in T.HERBS if x["name"] != h["name"] and x["gongxiao"] != h["gongxiao"]]
        qs.append(make_mcq("下列哪味药的功效是“%s”？" % h["gongxiao"], h["name"], rng.sample(others, 4), "tcm",
                           "%s归%s，性味%s，能%s，多用于%s。" % (h["name"], h["guijing"], h["xingwei"], h["gongxiao"], h["zhuzhi"]),
                           rng))
    for s in rng.sample(EVAL_SYNDROMES, len(EVAL_SYNDROMES)):
        f = FORMULA[s["fang"]]
        others = [x["name"] for x in T.FORMULAS if x["name"] != s["fang"]]
        qs.append(make_mcq("%s的代表方是" % s["name"], s["fang"], rng.sample(others, 4), "tcm",
                           "%s见%s，%s，当%s；%s功能%s，正合此证。" % (
                               s["name"], jn(s["zhuzheng"]), s["shemai"], s["zhifa"], f["name"], f["gongxiao"]), rng))
    books = sorted({f["source"] for f in T.FORMULAS})
    for f in rng.sample(EVAL_FORMULAS, 7):
        others = [b for b in books if b != f["source"]]
        qs.append(make_mcq("%s出自" % f["name"], f["source"], rng.sample(others, 4), "tcm",
                           "%s载于%s，功用为%s，主治%s。" % (f["name"], f["source"], f["gongxiao"], f["zhuzhi"]), rng))
    for f in rng.sample(EVAL_FORMULAS, 6):
        inside = [x for x in f["zucheng"] if x in HERB]
        outside = [x["name"] for x in T.HERBS if x["name"] not in f["zucheng"]]
        qs.append(make_mcq("下列哪味药是%s的组成药物？" % f["name"], rng.choice(inside), rng.sample(outside, 4), "tcm",
                           "%s的药味为%s，其余选项都不在方中；全方%s。" % (f["name"], jn(f["zucheng"]), f["gongxiao"]), rng))
    # the answer is a held-out drug where the disease has one: a training drug's own text may name the diseases it treats
    with_held = [d for d in EVAL_DISEASES if any(held_out("drug", x) for x in d["drugs"])]
    rest = [d for d in EVAL_DISEASES if d not in with_held]
    chosen = rng.sample(with_held, min(8, len(with_held)))
    for d in chosen + rng.sample(rest, 8 - len(chosen)):
        answer = next((x for x in d["drugs"] if held_out("drug", x)), d["drugs"][0])
        related = set(d["drugs"])
        for group in DRUG_GROUPS:
            if related & group:
                related |= group
        classes = {DRUG[x]["cls"] for x in d["drugs"]}
        others = [x["name"] for x in W.DRUGS if x["name"] not in related and x["cls"] not in classes
                  and d["name"] not in x["indication"]]
        qs.append(make_mcq("下列药物中，常用于治疗%s的是" % d["name"], answer, rng.sample(others, 4), "western",
                           "治疗%s可选用%s。治疗要点：%s。" % (d["name"], jn(d["drugs"]), d["treatment"]), rng))
    for e in rng.sample(EVAL_EXAMS, 5):
        others = [x["name"] for x in W.EXAMS if x["name"] != e["name"]]
        qs.append(make_mcq("下列哪项检查主要用于反映%s？" % e["measures"], e["name"], rng.sample(others, 4), "western",
                           "%s测定的是%s，成人参考值%s。" % (e["name"], e["measures"], e["normal"]), rng))
    for e in rng.sample(EVAL_EXAMS, 5):
        others = [x["normal"] for x in W.EXAMS if x["name"] != e["name"] and x["normal"] != e["normal"]]
        qs.append(make_mcq("成人%s的正常参考范围是" % e["name"], e["normal"], rng.sample(others, 4), "western",
                           "%s的参考范围：%s。%s。" % (e["name"], e["normal"], e["meaning"]), rng))
    all_classes = sorted({x["cls"] for x in W.DRUGS})
    for d in rng.sample(EVAL_DRUGS, 6):
        others = [c for c in all_classes if not classes_overlap(c, d["cls"])]
        qs.append(make_mcq("%s属于" % d["name"], d["cls"], rng.sample(others, 4), "western",
                           "%s为%s，适用于%s；%s。" % (d["name"], d["cls"], d["indication"], d["note"]), rng))
    distinctive = {d["name"]: [a for a in d["adr"] if sum(1 for x in W.DRUGS for b in x["adr"] if a in b or b in a) == 1]
                   for d in EVAL_DRUGS}
    for d in rng.sample([d for d in EVAL_DRUGS if distinctive[d["name"]]], 5):  # five drugs, one adverse reaction each
        adr = rng.choice(distinctive[d["name"]])
        others = [x["name"] for x in W.DRUGS if x["name"] != d["name"]
                  and not any(adr in a or a in adr for a in x["adr"]) and adr not in x["note"]]
        qs.append(make_mcq("下列药物中，常见不良反应包括“%s”的是" % adr, d["name"], rng.sample(others, 4), "western",
                           "%s可引起%s等不良反应；%s。" % (d["name"], jn(d["adr"]), d["note"]), rng))
    rng.shuffle(qs)
    out = []
    for i, q in enumerate(qs):
        rec = {"id": "mcq-%04d" % (i + 1)}
        rec.update(q)
        out.append(rec)
    return out


# ---------------------------------------------------------------------------
# 6. typed lexicon
# ---------------------------------------------------------------------------

LEXICON_HEADER = [
    "# medical_terms.txt — 中西医结合医学术语词表（由 scripts/sample_data/build.py 生成，请勿手工编辑）",
    "# 格式：每行一个术语，term<TAB>type；以 # 开头的行为注释。",
    "# type 取值（共8种）：herb=中药 formula=方剂 syndrome=中医证候 disease=疾病 symptom=症状/体征",
    "#                     drug=西药 exam=检查/检验项目 treatment=治法/治疗措施",
    "# 每个术语只出现一次，按上述 type 顺序、再按术语排序。",
]


def build_lexicon():
    typed = {}

    def add(term, typ):
        term = term.strip()
        if not term:
            return
        old = typed.get(term)
        if old is not None and old != typ:
            raise AssertionError("term %r typed both %s and %s" % (term, old, typ))
        typed[term] = typ

    for h in T.HERBS:
        add(h["name"], "herb")
    for f in T.FORMULAS:
        add(f["name"], "formula")
        for x in formula_herbs(f):
            add(x, "herb")
        add(f["zhenghou"], "syndrome")
    for s in T.SYNDROMES:
        add(s["name"], "syndrome")
        for x in s["zhuzheng"]:
            add(x, "symptom")
        for x in s["zhifa"].split("，"):
            add(x, "treatment")
    for d in W.DISEASES:
        add(d["name"], "disease")
        for x in d["symptoms"]:
            if x != "多无明显症状":
                add(x, "symptom")
        for x in d["exams"]:
            add(x, "exam")
    for d in W.DRUGS:
        add(d["name"], "drug")
    for e in W.EXAMS:
        add(e["name"], "exam")
    for x in T.TCM_TREATMENTS + W.WESTERN_TREATMENTS:
        add(x, "treatment")
    order = {t: i for i, t in enumerate(TERM_TYPES)}
    return sorted(typed.items(), key=lambda kv: (order[kv[1]], kv[0]))


# ---------------------------------------------------------------------------
# 7. registry + README
# ---------------------------------------------------------------------------

def dataset_info():
    return {
        "medical_pt_sample": {"file_name": "medical_pt_sample.jsonl", "columns": {"prompt": "text"}},
        "medical_sft_sample": {
            "file_name": "medical_sft_sample.json", "formatting": "alpaca",
            "columns": {"prompt": "instruction", "query": "input", "response": "output",
                        "system": "system", "history": "history"}},
        "medical_dialogue_sample": {
            "file_name": "medical_dialogue_sample.json", "formatting": "sharegpt",
            "columns": {"messages": "conversations"},
            "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                     "assistant_tag": "gpt", "system_tag": "system"}},
        "medical_preference_sample": {
            "file_name": "medical_preference_sample.json", "formatting": "alpaca", "ranking": True,
            "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"}},
        "medical_kto_sample": {
            "file_name": "medical_kto_sample.json", "formatting": "sharegpt",
            "columns": {"messages": "conversations", "kto_tag": "kto_tag"},
            "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}},
        "medical_grpo_sample": {
            "file_name": "medical_grpo_sample.json", "formatting": "mcq", "stage": "grpo",
            "columns": {"question": "question", "options": "options", "answer": "answer", "category": "category"}},
        "clinical_qa_sample": {
            "file_name": "clinical_qa_sample.json", "formatting": "alpaca",
            "columns": {"prompt": "instruction", "query": "input", "response": "output"}},
        "medical_mcq_sample": {
            "file_name": "medical_mcq_sample.json", "formatting": "mcq",
            "columns": {"question": "question", "options": "options", "answer": "answer", "category": "category"}},
        "medical_terms": {"file_name": "medical_terms.txt", "formatting": "lexicon", "columns": {"term": 0, "type": 1}},
    }


def readme(counts, figures):
    c = counts
    pct = lambda key, i: "%.1f%%" % (100 * figures[key][i])  # noqa: E731
    held = {kind: len(names) for kind, names in HELD_OUT.items()}
    return "\n".join([
        "# 示例数据集（sample data）",
        "",
        "本目录中的全部文件均由 `python scripts/sample_data/build.py` 从手工编写的知识表"
        "（`scripts/sample_data/knowledge_tcm.py`、`scripts/sample_data/knowledge_western.py`）确定性生成："
        "内容为教材级中西医知识（中药性味归经功效、方剂组成功效主治、证候、疾病症状检查治疗、西药、检验参考值），"
        "不含任何患者数据，也未复制任何外部语料。生成器只使用 Python 标准库，随机数种子固定为 2026，重复运行输出逐字节一致。",
        "数据量很小，仅用于冒烟测试、微型模型演示（观察 loss 下降）和评测代码的单元测试，不能用于临床决策。",
        "",
        "| 文件 | 格式 | 条数 |",
        "| --- | --- | --- |",
        "| `medical_pt_sample.jsonl` | 预训练语料，每行一个 JSON：`{\"text\": ...}`，80～400字的百科段落 | %d 行 |" % c["pt"],
        "| `medical_sft_sample.json` | alpaca 列表，字段 instruction / input / output / system / history / category（tcm、western、integrated）；history 为 [问, 答] 对列表 | %d 条 |" % c["sft"],
        "| `medical_dialogue_sample.json` | ShareGPT 列表：`{\"conversations\": [{\"from\": \"system\"/\"human\"/\"gpt\", \"value\": ...}], \"category\": ...}`，多轮医患问诊，human/gpt 严格交替并以 gpt 结尾 | %d 条 |" % c["dialogue"],
        "| `medical_preference_sample.json` | 偏好数据（alpaca，`ranking: true`）：instruction / input / chosen / rejected / category；chosen 为安全、审慎的回答，rejected 为不安全或过度自信的回答，category ∈ herb_pairing（十八反、十九畏）、pregnancy（妊娠禁忌）、drug_interaction（药物相互作用）、emergency（急症分诊）、caution（审慎与武断） | %d 对 |" % c["preference"],
        "| `medical_kto_sample.json` | 同一批问题的 KTO 非成对格式（ShareGPT + 布尔 `kto_tag`）：每题只有一个回答，true 为可取、false 为不可取 | %d 条 |" % c["kto"],
        "| `medical_grpo_sample.json` | GRPO 提示集（`formatting: mcq`，注册表中 `stage: grpo`）：id / question / options(A～E) / answer / category；只由训练侧知识条目生成（不含留出条目），供 mcq_correct、format 奖励使用；与偏好数据一样不进入内置模型的分词器语料 | %d 条 |" % c["grpo"],
        "| `clinical_qa_sample.json` | 评测用问答（alpaca 风格）：id / instruction / input / output / category；只由留出的知识条目生成（见下文），问法与 SFT 数据不同 | %d 条 |" % c["qa"],
        "| `medical_mcq_sample.json` | 单选题：id / question / options(A～E) / answer / category / explanation；只由留出的知识条目生成 | %d 条 |" % c["mcq"],
        "| `medical_terms.txt` | 术语词表：`term<TAB>type`，type ∈ herb, formula, syndrome, disease, symptom, drug, exam, treatment；# 开头为注释 | %d 个术语 |" % c["terms"],
        "| `dataset_info.json` | 兼容 LLaMA-Factory 的数据集注册表 | %d 项 |" % c["info"],
        "",
        "## 评测集与训练集的隔离",
        "",
        "评测集（`clinical_qa_sample.json`、`medical_mcq_sample.json`）只由留出的知识条目生成：`build.py` 中的 `HELD_OUT` "
        "列出约四分之一的条目（疾病 %d、证候 %d、方剂 %d、中药 %d、西药 %d、检查 %d），"
        "预训练、SFT 和对话数据完全不使用它们的知识，其他条目的文字里也不复述它们的事实（证候段落不给出留出方剂的组成，"
        "中药、西药、检查段落所附的相关方剂或疾病只列训练条目，训练疾病不写留出的证候），"
        "最多出现名称（方剂组成中的一味留出中药、训练疾病药物列表中的一种留出西药、训练西药适应证里提到的一种留出疾病）。"
        "这样演示中微调前后的对比衡量的是对未见事实的作答，而不是对训练文本近似原文的背诵。" % (
            held["disease"], held["syndrome"], held["formula"], held["herb"], held["drug"], held["exam"]),
        "",
        "`check.py` 的包含度检查：对每条问答的参考答案（output）和每道选择题（题干 + 正确选项 + 解析），"
        "取去掉空白后的字符 4-gram 集合，计算其中出现在同一篇训练文档（预训练的一行；SFT 的一条记录，"
        "instruction + input + output + history；一段对话的全部轮次；一对偏好数据的问题与两个回答）里的比例，取所有训练文档中的最大值；"
        "任何一条超过 30%% 即校验失败。当前：问答参考答案中位数 %s、最大 %s；选择题中位数 %s、最大 %s；"
        "全部 %d 条中位数 %s、最大 %s（留出之前，问答参考答案的中位数为 73.2%%，全部最大为 92.3%%）。" % (
            pct("qa", 0), pct("qa", 1), pct("mcq", 0), pct("mcq", 1), figures["all"][2], pct("all", 0), pct("all", 1)),
        "",
        "重新生成与校验（在仓库根目录执行）：",
        "",
        "```bash",
        "python scripts/sample_data/build.py",
        "python scripts/sample_data/check.py",
        "```",
        "",
        "如需修改内容，请编辑知识表或生成器，而不要手工编辑本目录下的文件。",
        "大规模真实数据集位于 `../shared/data`，训练时通过 `--dataset_dir ../shared/data` 注册使用。",
        "",
        "## English",
        "",
        "Every file in this directory is generated deterministically by `python scripts/sample_data/build.py` "
        "(standard library only, `random.Random(2026)`, byte-identical output across runs) from hand-written "
        "knowledge tables of textbook facts on Traditional Chinese and Western medicine; there is no patient data "
        "and no text copied from any corpus. The files are tiny on purpose: they exist for smoke tests, tiny-model "
        "demos and evaluator unit tests, not for clinical use. Run `python scripts/sample_data/check.py` to validate "
        "them. The large real datasets live in `../shared/data` and are registered with `--dataset_dir ../shared/data`.",
        "",
        "The evaluation sets (`clinical_qa_sample.json`, `medical_mcq_sample.json`) are built from held-out facts only: "
        "`HELD_OUT` in `build.py` lists about a quarter of the entities of each table, and the pre-training, SFT and "
        "dialogue generators never state their facts, so the demo's before/after gain measures answers about unseen "
        "facts rather than recall of near-copies. `check.py` measures containment: for each reference answer (`output`) "
        "and each MCQ item (question + correct option + explanation), the share of its character 4-grams (whitespace "
        "removed) found in any one training document (a PT line; an SFT record's instruction + input + output + history; "
        "a dialogue's joined turns; a preference pair's question and both answers), maximised over documents, and fails above 30%%. Now: QA answers median %s, max %s; "
        "MCQ items median %s, max %s; all items median %s, max %s (before the split the QA answers' median was 73.2%%, "
        "the maximum over all items 92.3%%)." % (
            pct("qa", 0), pct("qa", 1), pct("mcq", 0), pct("mcq", 1), pct("all", 0), pct("all", 1)),
        "",
    ])


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------

def write_json(path, obj):
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=2)
        fh.write("\n")


def write_text(path, text):
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def main(out_dir=None):
    out_dir = out_dir or DATA_DIR
    validate_tables()
    rng = random.Random(SEED)
    pt = build_pt(rng)
    sft = build_sft(rng)
    dialogues = build_dialogues(rng)
    qa = build_clinical_qa(rng)
    # An evaluation answer must not be a training answer word for word (the integrated-treatment answers are
    # built from the same tables): the quickstart's before/after figures would measure recall, not learning.
    references = {record["output"] for record in qa}
    sft = [record for record in sft if record["output"] not in references]
    mcq = build_mcq(rng)
    terms = build_lexicon()
    pairs = preference.build_preference(random.Random(SEED + 1), held_out)  # its own stream: the other files stay as they were
    kto = preference.build_kto(pairs)
    grpo_items = grpo.build_grpo(random.Random(SEED + 2), TRAIN_HERBS, [x for x in T.SYNDROMES if not held_out("syndrome", x["name"])
                                                                       and not held_out("formula", x["fang"])],
                                 TRAIN_FORMULAS, TRAIN_DRUGS, T.HERBS, T.FORMULAS, W.DRUGS, make_mcq, classes_overlap)
    info = dataset_info()

    os.makedirs(out_dir, exist_ok=True)
    write_text(os.path.join(out_dir, "medical_pt_sample.jsonl"),
               "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in pt))
    write_json(os.path.join(out_dir, "medical_sft_sample.json"), sft)
    write_json(os.path.join(out_dir, "medical_dialogue_sample.json"), dialogues)
    write_json(os.path.join(out_dir, "medical_preference_sample.json"), pairs)
    write_json(os.path.join(out_dir, "medical_kto_sample.json"), kto)
    write_json(os.path.join(out_dir, "medical_grpo_sample.json"), grpo_items)
    write_json(os.path.join(out_dir, "clinical_qa_sample.json"), qa)
    write_json(os.path.join(out_dir, "medical_mcq_sample.json"), mcq)
    write_text(os.path.join(out_dir, "medical_terms.txt"),
               "\n".join(LEXICON_HEADER) + "\n" + "".join("%s\t%s\n" % kv for kv in terms))
    write_json(os.path.join(out_dir, "dataset_info.json"), info)
    counts = {"pt": len(pt), "sft": len(sft), "dialogue": len(dialogues), "preference": len(pairs), "kto": len(kto), "grpo": len(grpo_items), "qa": len(qa),
              "mcq": len(mcq), "terms": len(terms), "info": len(info)}
    import check  # check.py imports this module; its containment figures of the files just written go into the README

    write_text(os.path.join(out_dir, "README.md"), readme(counts, check.data_containment(out_dir)))
    print("wrote %s: %s" % (out_dir, ", ".join("%s=%d" % kv for kv in counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
