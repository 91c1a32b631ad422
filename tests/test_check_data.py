"""`llmtuner check-data`: planted copies are found with the right sample and share, clean items are not, and no
sample text reaches the output unless --show_text asks for it."""

import json

import numpy as np
import pytest

from llmtuner.cli import main
from llmtuner.data.contamination import run_check_data
from llmtuner.data.ngrams import GramIndex, gram_keys, hash32, minhash_signatures, normalise
from llmtuner.hparams.check_data_parser import parse_check_data_args

# An evaluation answer, and the copy planted in a training document with three characters changed.
ANSWER = "急性胰腺炎患者应立即禁食禁水，给予胃肠减压，静脉补液纠正水电解质紊乱，并使用抑制胰酶分泌的药物，密切观察腹痛和血淀粉酶的变化。"
CHANGED = {10: "与", 30: "和", 50: "新"}  # positions >= 4 apart and away from the ends: each breaks exactly 4 4-grams
PLANTED = "".join(CHANGED.get(i, char) for i, char in enumerate(ANSWER))
# Another answer, and a training document that says it again in other words.
REWORDED_ANSWER = "高血压患者应当低盐饮食，每日食盐摄入量不超过5克，同时规律服用降压药物，定期监测血压，避免情绪激动和过度劳累。"
REWORDED_DOC = "高血压病人需要低盐饮食，每天食盐摄入量不超过5克，同时按时服用降压药物，定期测量血压，避免情绪激动和过度劳累。"
CLEAN_ANSWER = "骨质疏松症的预防重在年轻时积累骨量，应保证充足的钙和维生素D摄入，多晒太阳，坚持负重运动，老年人还要注意防跌倒。"
CORONARY = ("冠心病心绞痛发作时应立即停止活动，舌下含服硝酸甘油，若含服三片仍不缓解，疼痛持续超过十五分钟，应警惕急性心肌梗死，"
            "立即拨打急救电话。平时应戒烟限酒，控制血压血脂，遵医嘱长期服用阿司匹林和他汀类药物，保持情绪稳定，避免饱餐和寒冷刺激。")
CT = ("请解读这份检查报告。", "CT检查提示右肺下叶结节，直径约8毫米，边缘光滑，建议三个月后复查胸部CT，必要时行穿刺活检明确性质。")

TRAIN = [
    ("糖尿病患者饮食要注意什么？", "糖尿病患者需要控制饮食，减少精制碳水化合物的摄入，增加膳食纤维，坚持规律运动，并按医嘱使用降糖药物。"),
    ("小儿发热怎么办？", "小儿发热时应先物理降温，多饮温水，体温超过38.5摄氏度时可在医生指导下使用退热药，如出现抽搐应立即就医。"),
    CT,
    ("这位患者应该如何处理？", "患者男，45岁，饮酒后上腹部剧烈疼痛6小时，伴恶心呕吐。" + PLANTED + "治疗一周后症状缓解，复查指标正常。"),
    ("慢性胃炎中医怎么治？", "慢性胃炎常见脾胃虚弱证和肝胃不和证，前者宜健脾益气，用香砂六君子汤加减，后者宜疏肝和胃，用柴胡疏肝散。"),
    ("冠心病心绞痛发作怎么办？", CORONARY),
    ("针灸能治失眠吗？", "针灸治疗失眠常取神门、三阴交、百会、安眠等穴位，配合耳穴压豆，每日一次，十次为一个疗程，睡前避免浓茶和咖啡。"),
    ("高血压平时要注意什么？", REWORDED_DOC),
    ("请解读这份检查报告。", "ＣＴ检查提示右肺下叶结节， 直径约８毫米，边缘光滑，\n建议三个月后复查胸部ＣＴ，必要时行穿刺活检明确性质。"),
    ("冠心病心绞痛发作怎么办？", CORONARY.replace("停止活动", "停下活动").replace("阿司匹林", "阿斯匹林")),
]
EVAL = [
    {"id": "qa-pancreatitis", "instruction": "饮酒后上腹剧痛、血淀粉酶升高的患者，初步处理措施有哪些？", "output": ANSWER},
    {"id": "qa-hypertension", "instruction": "高血压患者日常生活中需要注意哪些方面？", "output": REWORDED_ANSWER},
    {"id": "qa-osteoporosis", "instruction": "骨质疏松症如何预防？", "output": CLEAN_ANSWER},
]
COLUMNS = {"prompt": "instruction", "query": "input", "response": "output"}


def grams(text: str) -> set[str]:
    """The reference: distinct character 4-grams as strings, after the same normalisation."""
    text = normalise(text)
    return {text[i : i + 4] for i in range(len(text) - 3)}


def containment(small: str, large: str) -> float:
    return len(grams(small) & grams(large)) / len(grams(small))


def doc_text(index: int) -> str:
    return "\n".join(TRAIN[index])  # how a training sample becomes one document: its turns joined by line breaks


@pytest.fixture()
def data_dir(tmp_path):
    train = [{"instruction": question, "input": "", "output": answer} for question, answer in TRAIN]
    (tmp_path / "train.json").write_text(json.dumps(train, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "eval.json").write_text(json.dumps(EVAL, ensure_ascii=False), encoding="utf-8")
    info = {"mytrain": {"file_name": "train.json", "columns": COLUMNS}, "myeval": {"file_name": "eval.json", "columns": COLUMNS}}
    (tmp_path / "dataset_info.json").write_text(json.dumps(info), encoding="utf-8")
    return tmp_path


def check(data_dir, **extra):
    config = {"dataset": "mytrain", "eval_dataset": "myeval", "dataset_dir": str(data_dir), **extra}
    return run_check_data(parse_check_data_args(config=config))


def entry(report, eval_id: str, field: str) -> dict:
    return next(e for e in report["contamination"] if e["eval"]["id"] == eval_id and e["field"] == field)


def test_a_planted_answer_is_found_with_its_sample_share_and_position(data_dir):
    report = check(data_dir)
    found = entry(report, "qa-pancreatitis", "answer")
    total = len(ANSWER) - 3
    assert len(grams(ANSWER)) == total  # all 4-grams distinct, so the hand count below is exact
    by_hand = (total - 4 * len(CHANGED)) / total  # each changed character breaks the four 4-grams that hold it
    assert found["flagged"] and found["train"] == {"dataset": "mytrain", "index": 3, "id": "mytrain-3"}
    assert found["share"] == pytest.approx(by_hand, abs=1e-4) == pytest.approx(containment(ANSWER, doc_text(3)), abs=1e-4)
    assert found["share_all_grams"] == found["share"]  # nothing is boilerplate in ten documents
    start = doc_text(3).index(PLANTED)
    assert found["train_span"] == [start, start + len(PLANTED)]
    assert found["train_documents_over_threshold"] == 1


def test_a_reworded_answer_is_found_and_a_clean_one_is_not(data_dir):
    report = check(data_dir)
    reworded = entry(report, "qa-hypertension", "answer")
    assert reworded["flagged"] and reworded["train"]["index"] == 7
    assert reworded["share"] == pytest.approx(containment(REWORDED_ANSWER, doc_text(7)), abs=1e-4)
    assert 0.3 < reworded["share"] < 0.7
    clean = entry(report, "qa-osteoporosis", "answer")
    assert not clean["flagged"] and clean["share"] < 0.1
    assert report["summary"]["flagged_samples"] == 2
    assert report["evaluation"]["texts_too_short"] == 1  # "骨质疏松症如何预防？": 10 characters
    raised = check(data_dir, threshold=0.9)
    assert not entry(raised, "qa-hypertension", "answer")["flagged"]


def test_exact_and_near_duplicates_within_the_training_set(data_dir):
    report = check(data_dir)
    assert report["exact_duplicates"] == [[{"dataset": "mytrain", "index": i, "id": f"mytrain-{i}"} for i in (2, 8)]]
    (group,) = report["near_duplicates"]
    assert [ref["index"] for ref in group["samples"]] == [5, 9]
    (link,) = group["links"]
    a, b = grams(doc_text(5)), grams(doc_text(9))
    assert link["jaccard"] == pytest.approx(len(a & b) / len(a | b), abs=1e-4) and link["jaccard"] > 0.8
    assert report["summary"]["exact_duplicate_copies"] == 1


def test_boilerplate_is_left_out_of_the_share(data_dir):
    """A prompt every evaluation item and many training documents repeat does not make a clean item look copied."""
    prompt = "请根据以下患者的病情描述，给出病情摘要、初步印象和总结建议。"
    train = [{"instruction": prompt + f"病例{i}：" + "咳嗽" * (i % 7 + 2), "output": f"建议{i}"} for i in range(120)]
    train.append({"instruction": TRAIN[3][0], "output": TRAIN[3][1]})
    evaluation = [{"instruction": prompt + question, "output": ""} for question in (CLEAN_ANSWER, ANSWER)]
    (data_dir / "train.json").write_text(json.dumps(train, ensure_ascii=False), encoding="utf-8")
    (data_dir / "eval.json").write_text(json.dumps(evaluation, ensure_ascii=False), encoding="utf-8")
    report = check(data_dir)
    clean, copied = entry(report, "myeval-0", "text"), entry(report, "myeval-1", "text")
    assert not clean["flagged"] and clean["share"] == 0 and clean["common_grams"] == len(grams(prompt))
    assert copied["flagged"] and copied["train"]["index"] == 120
    informative = grams(prompt + ANSWER) - grams(prompt)  # the prompt's 4-grams are in 120 of 121 documents
    assert copied["share"] == pytest.approx(len(informative & grams(doc_text(3))) / len(informative), abs=1e-4)
    plain = entry(check(data_dir, common_gram_share=1), "myeval-0", "text")  # every 4-gram counted: flagged
    assert plain["flagged"] and plain["share"] == pytest.approx(containment(prompt + CLEAN_ANSWER, train[0]["instruction"]), abs=1e-4)


def test_cli_prints_ids_and_shares_never_text(data_dir, capsys):
    output = data_dir / "report.json"
    assert main(["check-data", "--dataset", "mytrain", "--eval_dataset", "myeval", "--dataset_dir", str(data_dir),
                 "--output", str(output)]) == 0
    captured = capsys.readouterr()
    printed, written = captured.out + captured.err, output.read_text(encoding="utf-8")
    assert "mytrain-3" in printed and "qa-pancreatitis" in printed and "2 texts of 2 samples flagged" in printed
    assert "mytrain-2, mytrain-8" in printed and "0.80" in printed
    texts = [text for pair in TRAIN for text in pair] + [item[key] for item in EVAL for key in ("instruction", "output")]
    leaked = {text[i : i + 6] for text in texts for i in range(len(text) - 5)} & {
        chunk[i : i + 6] for chunk in (printed, written) for i in range(len(chunk) - 5)}
    assert leaked == set()
    assert json.loads(written)["summary"]["flagged_texts"] == 2

    assert main(["check-data", "--dataset", "mytrain", "--eval_dataset", "myeval", "--dataset_dir", str(data_dir),
                 "--show_text", "--fail_on_contamination"]) == 1
    assert PLANTED[:20] in capsys.readouterr().out


def test_plain_files_and_a_clean_run_pass_in_ci(data_dir, capsys):
    code = main(["check-data", "--dataset", str(data_dir / "train.json"), "--eval_dataset", str(data_dir / "eval.json"),
                 "--threshold", "0.95", "--fail_on_contamination"])
    assert code == 0 and "0 texts of 0 samples flagged" in capsys.readouterr().out


def test_errors_name_the_problem_and_the_fix(data_dir, capsys):
    assert main(["check-data", "--dataset", "nosuch", "--dataset_dir", str(data_dir)]) == 2
    err = capsys.readouterr().err
    assert "Unknown dataset 'nosuch'" in err and "mytrain" in err and "Traceback" not in err
    broken = data_dir / "broken.jsonl"
    broken.write_text('{"text": "第一条"}\n{"text": 第二条}\n{"text": "第三条"}\n', encoding="utf-8")
    assert main(["check-data", "--dataset", str(broken)]) == 2
    err = capsys.readouterr().err
    assert f"{broken} line 2" in err and "第二条" not in err
    assert main(["check-data", "--eval_dataset", "myeval", "--threshold", "1.5", "--output", str(data_dir / "no/r.json")]) == 2
    err = capsys.readouterr().err
    assert "dataset is missing" in err and "threshold is a share" in err and "does not exist" in err
    assert main(["check-data", "--help"]) == 0 and "--fail_on_contamination" in capsys.readouterr().out


def test_the_index_finds_the_best_containment_exactly():
    rng = np.random.default_rng(0)
    alphabet = list("心肝脾肺肾气血阴阳寒热虚实表里痰湿")
    docs = ["".join(rng.choice(alphabet, size=rng.integers(5, 80))) for _ in range(60)]
    index = GramIndex([normalise(doc) for doc in docs])
    for _ in range(30):
        query = "".join(rng.choice(alphabet, size=25))
        match = index.best_match(gram_keys(normalise(query)), common_limit=len(docs), share_floor=0.3)
        shares = [containment(query, doc) for doc in docs]
        assert match.share == pytest.approx(max(shares)) and shares[match.doc] == pytest.approx(max(shares))


def test_signatures_are_datasketch_minhashes():
    from datasketch import MinHash

    docs = [normalise(text) for pair in TRAIN for text in pair]
    index = GramIndex(docs)
    permutations = MinHash(num_perm=128, seed=1, scheme="affine32").permutations
    signatures = minhash_signatures(index, np.arange(len(docs)), permutations)
    for doc in (0, 5, 17):
        reference = MinHash(num_perm=128, seed=1, scheme="affine32", hashfunc=int)
        reference.update_batch(hash32(gram_keys(docs[doc])).tolist())
        assert (signatures[doc] == reference.hashvalues).all()
