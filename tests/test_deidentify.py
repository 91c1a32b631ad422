"""deidentify: planted identifiers are scrubbed and counted; look-alike clinical text survives; linear time; the CLI.

The corpus test (tests/data/deid_corpus.jsonl, invented sentences) is the measure the README quotes: recall per
kind of identifier and the share of near-miss sentences changed. Run with -s to see the figures.
"""

import json
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from llmtuner.cli import main
from llmtuner.data.deidentify import REPLACEMENTS, Pseudonyms, deidentify_messages, deidentify_text, is_valid_id_number
from llmtuner.data.deidentify.evaluation import leaked, load_corpus, score_corpus

CORPUS = Path(__file__).parent / "data" / "deid_corpus.jsonl"
MIN_RECALL = 0.99
MAX_NEAR_MISS_CHANGED = 0.02
VALID_ID = "11010519491231002X"  # the GB 11643 standard's own example number
VALID_ID_2 = "440308199901011234"


def scrub(text: str) -> str:
    return deidentify_text(text)[0]


# ---- the corpus -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def corpus():
    return load_corpus(CORPUS)


def test_the_corpus_is_large_and_covers_every_kind(corpus):
    planted = Counter(identifier["kind"] for record in corpus for identifier in record["identifiers"])
    near_misses = [record for record in corpus if not record["identifiers"]]
    assert len(corpus) >= 300 and len(near_misses) >= 150
    assert set(planted) == set(REPLACEMENTS) and min(planted.values()) >= 19
    assert {record["source"] for record in corpus} >= {"admission", "discharge", "lab", "prescription", "consent", "followup"}
    for record in corpus:
        for identifier in record["identifiers"]:
            assert identifier["value"] in record["text"], record["text"]


def test_recall_per_kind_and_near_miss_false_positives_meet_the_goal(corpus):
    score = score_corpus(corpus, scrub)
    report = score.format()
    print("\n" + report)
    missed = "\n".join(f"  line {line}: {kind} {value}" for line, kind, value in score.missed)
    changed = "\n".join(f"  line {line}: {scrub(corpus[line - 1]['text'])}" for line in score.changed_lines)
    low = [kind for kind in REPLACEMENTS if score.recall(kind) < MIN_RECALL]
    assert not low and score.false_positive_rate <= MAX_NEAR_MISS_CHANGED, (
        f"\n{report}\nbelow {MIN_RECALL:.0%}: {low}\nmissed:\n{missed}\nnear-misses changed:\n{changed}")


def test_scrubbing_twice_changes_nothing(corpus):
    for record in corpus:
        once = scrub(record["text"])
        assert scrub(once) == once, once


def test_a_piece_of_a_value_left_behind_counts_as_a_leak():
    source = "电话：0571-8765 4321，复查2024-03-15。"
    assert leaked("landline", "0571-8765 4321", source, "电话：[电话] 4321，复查2024-03-15。")
    assert not leaked("landline", "0571-8765 4321", source, "电话：[电话]，复查2024-03-15。")
    assert leaked("name", "李秀英", "患者李秀英，女", "患者李[姓名]，女") is False  # the surname alone is no leak
    assert leaked("name", "李秀英", "患者李秀英，女", "患者[姓名]秀英，女")


# ---- unit cases -------------------------------------------------------------------------------------

@pytest.mark.parametrize("number", [VALID_ID, VALID_ID.lower(), VALID_ID_2])
def test_valid_id_numbers_pass_the_checksum(number):
    assert is_valid_id_number(number)


@pytest.mark.parametrize(
    "number",
    ["110105194912310021", "440308199901011230", "11010519491331002X", "1101051949123100", "A10105194912310021"],
)
def test_bad_checksum_date_or_shape_fails(number):
    assert not is_valid_id_number(number)


@pytest.mark.parametrize(
    "text, kind, scrubbed",
    [
        (f"身份证号：{VALID_ID}。", "id_card", "身份证号：[身份证号]。"),
        (f"证件{VALID_ID_2}，", "id_card", "证件[身份证号]，"),
        ("身份证号：110105194912310021（校验位错）", "id_card", "身份证号：[身份证号]（校验位错）"),  # labelled: any checksum
        ("身份证 110105491231002", "id_card", "身份证 [身份证号]"),  # 15 digits
        ("联系方式13812345678。", "mobile", "联系方式[手机号]。"),
        ("请拨打13812345678.", "mobile", "请拨打[手机号]."),  # an ASCII full stop ends the sentence, not a decimal
        ("手机 +86 139-1234-5678 联系", "mobile", "手机 [手机号] 联系"),
        ("手机：１３９８７６５４３２１", "mobile", "手机：[手机号]"),
        ("电话：010-62345678.", "landline", "电话：[电话]."),
        ("（0571）87654321转802", "landline", "[电话]"),
        ("座机 62345678。", "landline", "座机 [电话]。"),
        ("住院号：ZY2024031501，", "record_number", "住院号：[病历号]，"),
        ("病案号 00123456", "record_number", "病案号 [病历号]"),
        ("门诊号:MZ-778899", "record_number", "门诊号:[病历号]"),
        ("MRN: 7788123 ", "record_number", "MRN: [病历号] "),
        ("发至 zhang.san@example.com 。", "email", "发至 [邮箱] 。"),
        ("姓名：李四。", "name", "姓名：[姓名]。"),
        ("姓名：李四性别：男", "name", "姓名：[姓名]性别：男"),
        ("患者张三，男，45岁", "name", "患者[姓名]，男，45岁"),
        ("患者王某某 女 32岁", "name", "患者[姓名] 女 32岁"),
        ("患者：欧阳娜娜，", "name", "患者：[姓名]，"),
        ("患儿刘小明，6岁", "name", "患儿[姓名]，6岁"),
        ("患者李静因胸痛入院", "name", "患者[姓名]因胸痛入院"),
        ("张三，男，45岁，因咳嗽入院", "name", "[姓名]，男，45岁，因咳嗽入院"),
        ("由张伟医师接诊", "name", "由[姓名]医师接诊"),
        ("姓名为王五。", "name", "姓名为[姓名]。"),
        ("现住址：浙江省杭州市西湖区文三路259号，", "address", "现住址：[地址]，"),
        ("出生日期：1978-02-14，", "birth_date", "出生日期：[出生日期]，"),
        ("微信号：zhangli_1985", "wechat", "微信号：[微信号]"),
        ("QQ：123456789", "qq", "QQ：[QQ号]"),
        ("护照号：E58621437", "passport", "护照号：[护照号]"),
    ],
)
def test_planted_identifiers_are_replaced_and_counted(text, kind, scrubbed):
    result, counts = deidentify_text(text)
    assert result == scrubbed
    assert counts == {kind: 1}


@pytest.mark.parametrize(
    "text",
    [
        "患者高龄，男，85岁，因跌倒入院。",  # a symptom, not a name, before gender and age
        "HBV-DNA 15300000000 IU/mL，提示病毒高复制。",  # a viral load, not a phone
        "样本编号110105194912310021（校验位不符）。",  # unlabelled, wrong checksum: a sample number
        "国药准字H20054321，批号：230915。",
        "2024年3月15日生化全套：ALT 56U/L。",
        "转至浙江大学医学院附属第一医院进一步治疗。",
        "管床医生已向患者交代注意事项。",
        "患者于夜间因胸痛就诊。患者和家属均同意手术。家属高度紧张。",
    ],
)
def test_near_misses_survive(text):
    result, counts = deidentify_text(text)
    assert result == text and sum(counts.values()) == 0


def test_a_name_found_once_is_removed_wherever_it_recurs():
    assert scrub("患者张三，男，45岁。张三本人签字。") == "患者[姓名]，男，45岁。[姓名]本人签字。"
    scrubbed, counts = deidentify_messages([{"role": "user", "content": "我叫王建国，男，50岁"},
                                            {"role": "assistant", "content": "王建国您好，请复查血常规。"}])
    assert scrubbed[1]["content"] == "[姓名]您好，请复查血常规。" and counts == {"name": 2}


def test_pseudonyms_keep_one_person_one_placeholder_within_a_document():
    pseudonyms = Pseudonyms()
    first, _ = deidentify_text("患者张三因胸痛入院，家属刘建平陪同，电话13812345678。", pseudonyms)
    second, _ = deidentify_text("张三出院，刘建平签字，电话13812345678。", pseudonyms)
    assert first == "患者[姓名A]因胸痛入院，家属[姓名B]陪同，电话[手机号A]。"
    assert second == "[姓名A]出院，[姓名B]签字，电话[手机号A]。"
    assert scrub(first) == first


def test_a_field_label_makes_a_bare_value_labelled():
    assert deidentify_text("62345678", label="电话") == ("[电话]", Counter(landline=1))
    assert deidentify_text("62345678")[0] == "62345678"


def test_mixed_record_counts_every_kind_and_is_idempotent():
    text = (
        f"患者张三，男，45岁，身份证号{VALID_ID}，手机13812345678，电话010-62345678，"
        "住院号：ZY2024031501，邮箱 zhang.san@example.com。阿莫西林0.5g tid，2024-03-15 复查血常规 WBC 12.5。"
    )
    once, counts = deidentify_text(text)
    assert counts == dict.fromkeys(("name", "id_card", "mobile", "landline", "record_number", "email"), 1)
    assert "阿莫西林0.5g tid，2024-03-15 复查血常规 WBC 12.5" in once
    for secret in ("张三", VALID_ID, "13812345678", "62345678", "ZY2024031501", "zhang.san"):
        assert secret not in once
    twice, counts_again = deidentify_text(once)
    assert twice == once and sum(counts_again.values()) == 0


def test_messages_are_scrubbed_without_touching_roles_or_input():
    messages = [
        {"role": "user", "content": "我是患者李雷，男，30岁，手机13900001111，最近咳嗽。"},
        {"role": "assistant", "content": "建议查血常规，复诊请带门诊号。"},
    ]
    scrubbed, counts = deidentify_messages(messages)
    assert [m["role"] for m in scrubbed] == ["user", "assistant"]
    assert scrubbed[0]["content"] == "我是患者[姓名]，男，30岁，手机[手机号]，最近咳嗽。"
    assert scrubbed[1] == messages[1]
    assert counts == {"name": 1, "mobile": 1}
    assert messages[0]["content"].startswith("我是患者李雷")  # the input list is not modified


# ---- linear time --------------------------------------------------------------------------------------

def _best_time(text: str, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        deidentify_text(text)
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize("kind", ["ascii", "letters", "clinical"])
def test_time_grows_linearly_with_the_length_of_a_line(kind, corpus):
    """20 times the text may take about 20 times as long (a quadratic pattern would take 400 times); 40 leaves
    room for a busy machine. No wall-clock limit here: scripts/benchmark.py --only deidentify measures that."""
    rng = random.Random(0)
    scrub("患者田野。")  # jieba's dictionary loads on first use
    if kind == "ascii":  # the characters e-mail, phone and ID patterns start on
        make = lambda n: "".join(rng.choice("@@..aZ09-_+ ") for _ in range(n))  # noqa: E731
    elif kind == "letters":  # one long run: the old e-mail pattern took 8 s on 80k of these
        make = lambda n: "a" * n  # noqa: E731
    else:
        clinical = "".join(record["text"] for record in corpus)
        make = lambda n: (clinical * (n // len(clinical) + 1))[:n]  # noqa: E731
    small, large = (20_000, 400_000) if kind == "clinical" else (50_000, 1_000_000)
    ratio = _best_time(make(large)) / _best_time(make(small))
    assert ratio < 40, f"{large // small}x the text took {ratio:.0f}x as long"


# ---- the command ----------------------------------------------------------------------------------------

def test_cli_scrubs_a_text_file_line_by_line_and_prints_only_counts(tmp_path, capsys):
    source, target = tmp_path / "notes.txt", tmp_path / "notes.scrubbed.txt"
    source.write_text("患者张三，男，45岁，手机13812345678。\n\n麻黄6g，桂枝9g。\r\n联系人：李四\n", encoding="utf-8")
    assert main(["deidentify", str(source), str(target)]) == 0
    out = capsys.readouterr().out
    lines = target.read_bytes().decode("utf-8").split("\n")
    assert lines == ["患者[姓名]，男，45岁，手机[手机号]。", "", "麻黄6g，桂枝9g。\r", "联系人：[姓名]", ""]
    assert "4 records" in out and "name          2" in out and "mobile        1" in out
    assert "张三" not in out and "13812345678" not in out


def test_cli_scrubs_every_string_of_json_jsonl_and_csv(tmp_path, capsys):
    rows = [{"instruction": "患者李静因胸痛入院，怎么办？", "output": "建议复查。", "电话": "62345678", "id": 7},
            {"instruction": "麻黄6g可以吗？", "output": "遵医嘱。", "phone": 13812345678, "tags": ["联系人：王五"]}]
    (tmp_path / "in.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    (tmp_path / "in.csv").write_text("姓名,电话,主诉\n李静,62345678,胸痛\n", encoding="utf-8")
    for suffix in (".json", ".jsonl"):
        assert main(["deidentify", str(tmp_path / f"in{suffix}"), str(tmp_path / f"out{suffix}")]) == 0
        text = (tmp_path / f"out{suffix}").read_text(encoding="utf-8")
        records = json.loads(text) if suffix == ".json" else [json.loads(line) for line in text.splitlines()]
        assert records[0] == {"instruction": "患者[姓名]因胸痛入院，怎么办？", "output": "建议复查。", "电话": "[电话]", "id": 7}
        assert records[1] == {**rows[1], "phone": "[手机号]", "tags": ["联系人：[姓名]"]}
    assert main(["deidentify", str(tmp_path / "in.csv"), str(tmp_path / "out.csv")]) == 0
    assert (tmp_path / "out.csv").read_text(encoding="utf-8") == "姓名,电话,主诉\n[姓名],[电话],胸痛\n"
    assert "李静" not in capsys.readouterr().out


def test_cli_refuses_to_overwrite_or_to_write_over_its_input(tmp_path, capsys):
    source, target = tmp_path / "a.txt", tmp_path / "b.txt"
    source.write_text("患者张三，男，45岁\n", encoding="utf-8")
    target.write_text("keep me\n", encoding="utf-8")
    assert main(["deidentify", str(source), str(target)]) == 2
    assert "--overwrite" in capsys.readouterr().err and target.read_text(encoding="utf-8") == "keep me\n"
    assert main(["deidentify", str(source), str(source), "--overwrite"]) == 2
    assert "is INPUT itself" in capsys.readouterr().err
    assert main(["deidentify", str(source), str(target), "--overwrite"]) == 0
    assert target.read_text(encoding="utf-8") == "患者[姓名]，男，45岁\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.txt", "b.txt"]  # no temporary file left


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.txt", None, "no such file"),
        ("notes.docx", "患者张三", "unsupported format '.docx'"),
        ("bad.jsonl", '{"text": "患者张三"}\n{"text": "患者李四"\n{"text": "x"}\n', "bad.jsonl:2: not valid JSON"),
        ("bad.json", '[{"text": "患者张三"},]', "bad.json:1: not valid JSON"),
    ],
)
def test_cli_errors_name_the_file_and_line_never_the_text(tmp_path, capsys, name, content, message):
    source = tmp_path / name
    if content is not None:
        source.write_text(content, encoding="utf-8")
    assert main(["deidentify", str(source), str(tmp_path / f"out{source.suffix}")]) == 2
    err = capsys.readouterr().err
    assert message in err and "张三" not in err and "李四" not in err
    assert not (tmp_path / f"out{source.suffix}").exists()


# ---- the datasets cache ----------------------------------------------------------------------------------

def test_a_new_scrubber_version_is_not_served_from_an_old_cache(tmp_path, monkeypatch):
    from llmtuner.data import deidentify
    from llmtuner.data.loader import load_datasets
    from llmtuner.hparams import DataArguments

    (tmp_path / "qa.json").write_text(json.dumps([{"instruction": "患者张三，男，45岁", "output": "好"}], ensure_ascii=False),
                                      encoding="utf-8")
    (tmp_path / "dataset_info.json").write_text(json.dumps({"qa": {"file_name": "qa.json"}}), encoding="utf-8")
    args = DataArguments(dataset=["qa"], dataset_dir=str(tmp_path), deidentify=True)
    first = load_datasets(args, cache_dir=str(tmp_path / "cache"))["train"]
    monkeypatch.setattr(deidentify, "DEIDENTIFY_VERSION", deidentify.DEIDENTIFY_VERSION + "-next")
    second = load_datasets(args, cache_dir=str(tmp_path / "cache"))["train"]
    assert first._fingerprint != second._fingerprint
