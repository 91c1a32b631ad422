"""deidentify: planted identifiers are scrubbed and counted; look-alike clinical numbers survive."""

import pytest

from llmtuner.data.deidentify import REPLACEMENTS, deidentify_messages, deidentify_text, is_valid_id_number

VALID_ID = "11010519491231002X"  # the GB 11643 standard's own example number
VALID_ID_2 = "440308199901011234"


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
        ("联系方式13812345678。", "mobile", "联系方式[手机号]。"),
        ("请拨打13812345678.", "mobile", "请拨打[手机号]."),  # an ASCII full stop ends the sentence, not a decimal
        ("电话：010-62345678.", "landline", "电话：[电话]."),
        ("手机 +86 139-1234-5678 联系", "mobile", "手机 [手机号] 联系"),
        ("电话：010-62345678", "landline", "电话：[电话]"),
        ("（0571）87654321转", "landline", "[电话]转"),
        ("座机 62345678。", "landline", "座机 [电话]。"),
        ("住院号：ZY2024031501，", "record_number", "住院号：[病历号]，"),
        ("病案号 00123456", "record_number", "病案号 [病历号]"),
        ("门诊号:MZ-778899", "record_number", "门诊号:[病历号]"),
        ("发至 zhang.san@example.com 。", "email", "发至 [邮箱] 。"),
        ("姓名：李四。", "name", "姓名：[姓名]。"),
        ("姓名：李四性别：男", "name", "姓名：[姓名]性别：男"),
        ("患者张三，男，45岁", "name", "患者[姓名]，男，45岁"),
        ("患者王某某 女 32岁", "name", "患者[姓名] 女 32岁"),
        ("患者：欧阳娜娜，", "name", "患者：[姓名]，"),
        ("患儿刘小明，6岁", "name", "患儿[姓名]，6岁"),
        ("患者王某，咳嗽三天。", "name", "患者[姓名]，咳嗽三天。"),
        ("患者李某某于昨日入院", "name", "患者[姓名]于昨日入院"),
        ("姓名张三，", "name", "姓名[姓名]，"),
        ("患者姓名张三主诉头痛", "name", "患者姓名[姓名]主诉头痛"),
        ("姓名为王五。", "name", "姓名为[姓名]。"),
    ],
)
def test_planted_identifiers_are_replaced_and_counted(text, kind, scrubbed):
    result, counts = deidentify_text(text)
    assert result == scrubbed
    assert counts == {kind: 1}


@pytest.mark.parametrize(
    "text",
    [
        "阿莫西林0.5g，每日3次，连服7剂。",
        "麻黄6g，桂枝9g，杏仁9g，炙甘草3g。",
        "2024年3月15日复诊，2024-03-15 10:30 抽血。",
        "WBC 12.5×10^9/L，血糖 7.8 mmol/L，HbA1c 6.5%。",
        "血压 130/80mmHg，心率 88次/分，体温 39.5℃。",
        "诊断：社区获得性肺炎（ICD-10 J18.9）。",
        "样本编号110105194912310021（校验位不符）。",
        "检验单号12345678901。",
        "患者高热，体温39.5℃，患者自述头痛3天。",
        "患者于3天前出现咳嗽，患者常年吸烟。",
        "患者高热，男，45岁。患者于今日，女，入院。病人马上，男性，送检。",  # surname-like first characters
        "剂量 3.13812345678 为计算值。",
        "住院3天后出院，门诊随访。",
        "剂量 0.25-0.5g，疗程 10-14 天。",
        "患者安静，生命体征平稳。患者和家属，均同意手术。患者康复，予出院。患者应卧床，低盐饮食。",
        "患者于今日上午，出现胸闷。患者常年吸烟，患者时有心悸。",
        # a bare 患者 before a word that starts with a surname character, then punctuation or 因/于
        "患者高血压，规律服药。患者黄疸，皮肤巩膜黄染。患者房颤因甲亢。患者焦虑，失眠。患者高龄，手术风险大。",
        "患者于夜间因胸痛就诊。患者于凌晨，突发胸痛。患者阳虚，畏寒肢冷。患者石淋，腰痛。患者方药：黄芪30g。",
    ],
)
def test_near_misses_survive(text):
    result, counts = deidentify_text(text)
    assert result == text
    assert sum(counts.values()) == 0


def test_mixed_record_counts_every_kind_and_is_idempotent():
    text = (
        f"患者张三，男，45岁，身份证号{VALID_ID}，手机13812345678，电话010-62345678，"
        "住院号：ZY2024031501，邮箱 zhang.san@example.com。阿莫西林0.5g tid，2024-03-15 复查血常规 WBC 12.5。"
    )
    once, counts = deidentify_text(text)
    assert counts == dict.fromkeys(REPLACEMENTS, 1)
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
