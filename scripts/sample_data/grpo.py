"""Multiple-choice prompts for the online stage (grpo): exam items on the TRAINING side of the tables, for the
mcq_correct and format rewards (train/grpo/rewards.py), in the evaluator's exam format (question / options A-E /
answer / category).

No held-out entity of build.py (HELD_OUT) is asked about or is the answer, so medical_mcq_sample.json (built from the
held-out entities only) stays an unseen evaluation set; distractors may come from every table, as in build_mcq. The
caller passes the training entries, `make_mcq` and `classes_overlap` of build.py and its own random.Random; standard
library only.
"""


def build_grpo(rng, herbs, syndromes, formulas, drugs, all_herbs, all_formulas, all_drugs, make_mcq, classes_overlap):
    qs = []
    for h in rng.sample(herbs, 12):
        others = [x["name"] for x in all_herbs if x["name"] != h["name"] and x["gongxiao"] != h["gongxiao"]]
        qs.append(make_mcq("以下哪一味中药具有“%s”的功效？" % h["gongxiao"], h["name"], rng.sample(others, 4), "tcm",
                           "%s能%s。" % (h["name"], h["gongxiao"]), rng))
    for s in rng.sample(syndromes, min(10, len(syndromes))):
        others = [x["name"] for x in all_formulas if x["name"] != s["fang"]]
        qs.append(make_mcq("治疗%s，宜首选哪一首方剂？" % s["name"], s["fang"], rng.sample(others, 4), "tcm",
                           "%s治当%s，代表方为%s。" % (s["name"], s["zhifa"], s["fang"]), rng))
    books = sorted({f["source"] for f in all_formulas})
    for f in rng.sample(formulas, 8):
        others = [b for b in books if b != f["source"]]
        qs.append(make_mcq("方剂%s的出处是" % f["name"], f["source"], rng.sample(others, 4), "tcm",
                           "%s出自%s。" % (f["name"], f["source"]), rng))
    all_classes = sorted({x["cls"] for x in all_drugs})
    for d in rng.sample(drugs, 10):
        others = [c for c in all_classes if not classes_overlap(c, d["cls"])]
        qs.append(make_mcq("西药%s的药物类别是" % d["name"], d["cls"], rng.sample(others, 4), "western",
                           "%s为%s。" % (d["name"], d["cls"]), rng))
    rng.shuffle(qs)
    out = []
    for i, q in enumerate(qs):
        rec = {"id": "grpo-%04d" % (i + 1)}
        rec.update({key: q[key] for key in ("question", "options", "answer", "category")})
        out.append(rec)
    return out
