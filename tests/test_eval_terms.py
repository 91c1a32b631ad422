"""Terminology accuracy: lexicon loading, leftmost-longest extraction and hand-worked scores."""

import logging

import pytest
from conftest import ROOT, shared_path

from llmtuner.eval.terms import TERM_TYPES, TermLexicon, aggregate, score_terms
from llmtuner.extras.errors import DataError

LINES = """# test lexicon
柴胡\therb
黄芩\therb
人参\therb
小柴胡汤\tformula
头痛\tsymptom
发热\tsymptom
痛经\tdisease
感冒\tdisease
胃肠炎\tdisease
急性胃肠炎\tdisease
布洛芬\tdrug
CT\texam
CT检查\texam
人参皂苷\tmedical
医院\tgeneral
"""


@pytest.fixture
def lexicon_file(tmp_path):
    path = tmp_path / "terms.txt"
    path.write_text(LINES, encoding="utf-8")
    return path


@pytest.fixture
def lexicon(lexicon_file):
    return TermLexicon.load([lexicon_file])


def test_longest_match_takes_the_formula_not_the_herb_inside(lexicon):
    assert lexicon.extract("小柴胡汤加柴胡") == [("小柴胡汤", "formula"), ("柴胡", "herb")]
    assert lexicon.extract("急性胃肠炎") == [("急性胃肠炎", "disease")]


def test_matches_do_not_overlap_and_the_leftmost_wins(lexicon):
    # 头痛 (0-2) and 痛经 (1-3) overlap: the leftmost is kept, 痛经 is not matched inside it
    assert lexicon.extract("头痛经常发作") == [("头痛", "symptom")]
    assert lexicon.extract("发热头痛，发热") == [("发热", "symptom"), ("头痛", "symptom"), ("发热", "symptom")]


def test_untyped_words_are_boundaries_but_never_reported(lexicon_file):
    assert TermLexicon.load([lexicon_file]).extract("人参皂苷与人参") == [("人参", "herb")]
    loose = TermLexicon.load([lexicon_file], untyped_boundaries=False)
    assert loose.extract("人参皂苷与人参") == [("人参", "herb"), ("人参", "herb")]
    assert loose.extract("去医院") == []


def test_latin_terms_fold_case_and_width_and_respect_word_edges(lexicon):
    assert lexicon.extract("做ＣＴ，再做ct检查") == [("CT", "exam"), ("CT检查", "exam")]
    assert lexicon.extract("SPECT与CTA") == []  # CT inside longer Latin words
    assert lexicon.extract("头颅CT示") == [("CT", "exam")]


def test_scores_by_hand(lexicon):
    # reference terms {头痛, 发热, 小柴胡汤, 黄芩}; answer terms {头痛, 小柴胡汤, 布洛芬}; hits {头痛, 小柴胡汤}
    score = score_terms("头痛者用小柴胡汤，或服布洛芬。", "头痛发热，方用小柴胡汤，可加黄芩。", "头痛怎么办", lexicon=lexicon)
    assert score.reference == {"头痛", "发热", "小柴胡汤", "黄芩"}
    assert score.predicted == {"头痛", "小柴胡汤", "布洛芬"}
    assert score.hits == {"头痛", "小柴胡汤"}
    assert score.recall == pytest.approx(50.0)  # 2 / 4
    assert score.precision == pytest.approx(200 / 3)  # 2 / 3
    assert score.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3) * 100)  # 57.14
    assert score.per_type == {
        "herb": {"reference": 1, "hit": 0, "predicted": 0},
        "formula": {"reference": 1, "hit": 1, "predicted": 1},
        "symptom": {"reference": 2, "hit": 1, "predicted": 1},
        "drug": {"reference": 0, "hit": 0, "predicted": 1},
    }
    assert score.introduced == ["布洛芬"]


def test_introduced_is_a_substring_test_on_question_and_reference(lexicon):
    # 柴胡 is written inside the question's 小柴胡汤, so it is not introduced; 人参 and 感冒 are
    score = score_terms("柴胡、人参，治感冒", "多休息", "服小柴胡汤后仍不适", lexicon=lexicon)
    assert score.introduced == ["人参", "感冒"]


@pytest.mark.parametrize("prediction, reference, expected", [
    ("头痛", "多休息", (None, 0.0, None)),  # reference without terms: recall and F1 undefined
    ("多休息", "头痛", (0.0, None, 0.0)),  # answer without terms: precision undefined, F1 0
    ("", "", (None, None, None)),
    ("头痛", "头痛", (100.0, 100.0, 100.0)),
])
def test_empty_sides(lexicon, prediction, reference, expected):
    score = score_terms(prediction, reference, lexicon=lexicon)
    assert (score.recall, score.precision, score.f1) == expected


def test_aggregate_micro_macro_per_type_and_category(lexicon):
    scores = [
        score_terms("头痛者用小柴胡汤，或服布洛芬。", "头痛发热，方用小柴胡汤，可加黄芩。", lexicon=lexicon),  # R 50, P 66.67, F1 57.14
        score_terms("布洛芬", "发热可服布洛芬。", lexicon=lexicon),  # R 50, P 100, F1 66.67
        score_terms("感冒", "多休息", lexicon=lexicon),  # R None, P 0, F1 None
    ]
    result = aggregate(scores, ["tcm", "western", "western"])
    assert result["samples"] == 3 and result["samples_with_terms"] == 2 and result["samples_with_predicted_terms"] == 3
    # micro: hits 3, reference 6, answer 5 -> R 50, P 60, F1 2*.5*.6/1.1
    assert result["micro"] == {"recall": 50.0, "precision": 60.0, "f1": 54.55}
    # macro: R mean(50, 50); P mean(66.67, 100, 0); F1 mean(57.14, 66.67)
    assert result["macro"] == {"recall": 50.0, "precision": 55.56, "f1": 61.9}
    assert result["by_type"]["drug"] == {"reference": 1, "hit": 1, "predicted": 2, "recall": 100.0, "precision": 50.0, "f1": 66.67}
    assert result["by_type"]["exam"] == {"reference": 0, "hit": 0, "predicted": 0, "recall": None, "precision": None, "f1": None}
    assert set(result["by_type"]) == set(TERM_TYPES)
    western = result["by_category"]["western"]
    assert western["samples"] == 2 and western["samples_with_terms"] == 1
    assert western["micro"] == {"recall": 50.0, "precision": 50.0, "f1": 50.0}
    assert result["by_category"]["tcm"]["micro"] == {"recall": 50.0, "precision": 66.67, "f1": 57.14}
    assert result["introduced_top"] == [("布洛芬", 1), ("感冒", 1)]
    with pytest.raises(ValueError):
        aggregate(scores, ["tcm"])
    assert aggregate([])["micro"] == {"recall": None, "precision": None, "f1": None}


@pytest.mark.parametrize("line, problem", [
    ("头痛 symptom", "no TAB"),
    ("头痛,symptom", "no TAB"),
    ("头痛\t", "an empty type"),
    ("\tsymptom", "an empty term"),
    ("头痛\tsymptom\textra", "3 TAB-separated fields"),
])
def test_malformed_line_names_file_line_content_and_format(tmp_path, line, problem):
    path = tmp_path / "bad.txt"
    path.write_text(f"柴胡\therb\n{line}\n", encoding="utf-8")
    with pytest.raises(DataError) as error:
        TermLexicon.load([path])
    message = str(error.value)
    assert f"{path}:2:" in message and problem in message and repr(line) in message and "term<TAB>type" in message


def test_other_types_are_dropped_and_counted_in_the_log(lexicon_file, caplog):
    logger = logging.getLogger("llmtuner")  # the package logger does not propagate to the root
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="llmtuner"):
            lexicon = TermLexicon.load([lexicon_file])
    finally:
        logger.removeHandler(caplog.handler)
    assert len(lexicon) == 13 and "医院" not in lexicon.terms
    assert "13 typed terms; 2 of other types not reported (general 1, medical 1)" in caplog.text


def test_later_files_override_and_untyped_never_does(tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("丹参\tmedical\n柴胡\therb\n黄芩\therb\n", encoding="utf-8")
    second.write_text("丹参\therb\n柴胡\tsymptom\n黄芩\tmedical\n", encoding="utf-8")
    lexicon = TermLexicon.load([first, second])
    assert lexicon.terms == {"丹参": "herb", "柴胡": "symptom", "黄芩": "herb"}


def test_empty_or_missing_lexicon(tmp_path):
    only_untyped = tmp_path / "untyped.txt"
    only_untyped.write_text("# nothing typed\n医院\tgeneral\n", encoding="utf-8")
    with pytest.raises(DataError, match="only types general"):
        TermLexicon.load([only_untyped])
    with pytest.raises(DataError, match="not found"):
        TermLexicon.load([tmp_path / "absent.txt"])
    with pytest.raises(ValueError):
        TermLexicon({"头痛": "sign"})


def test_project_lexicon_loads():
    lexicon = TermLexicon.load([ROOT / "data" / "medical_terms.txt"])
    assert len(lexicon) == 795 and set(lexicon.terms.values()) == set(TERM_TYPES)
    assert lexicon.extract("方用小柴胡汤") == [("小柴胡汤", "formula")]


def test_real_shared_lexicon():
    lexicon = TermLexicon.load([shared_path("data", "medical_terms.txt")])
    counts = {kind: list(lexicon.terms.values()).count(kind) for kind in TERM_TYPES}
    assert counts == {"herb": 238, "formula": 936, "syndrome": 226, "disease": 2400, "symptom": 410, "drug": 3132,
                      "exam": 308, "treatment": 59}
    assert ("小柴胡汤", "formula") in lexicon.extract("予小柴胡汤和解少阳")
    assert ("柴胡", "herb") not in lexicon.extract("予小柴胡汤和解少阳")


@pytest.mark.parametrize("name, content, expected", [
    ("terms.json", '[\n  {"term": "柴胡", "type": "herb"}\n]\n', r"terms\.json:1: no TAB .*This looks like JSON"),
    ("terms.csv", "term,type\n柴胡,herb\n", r"terms\.csv:1: no TAB .*This looks like CSV: separate the two columns with a TAB"),
    ("gbk.txt", "柴胡\therb\n黄芩\therb\n".encode("gbk"), r"gbk\.txt:1: not UTF-8 text .*iconv -f GB18030 -t UTF-8"),
    ("later.txt", "柴胡\therb\n".encode() + "黄芩\therb\n".encode("gbk"), r"later\.txt:2: not UTF-8 text"),
    ("sheet.xlsx", b"PK\x03\x04\x00\x00binary", r"sheet\.xlsx is a binary file \(a spreadsheet\?\)"),
    ("typeless.txt", "柴胡\therb\n黄芩\n", r"typeless\.txt:2: no TAB"),
])
def test_an_unreadable_lexicon_is_a_data_error_naming_file_line_and_fix(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    with pytest.raises(DataError, match=expected):
        TermLexicon.load([path])


def test_a_lexicon_folder_is_refused_when_parsing_and_when_loading(tmp_path):
    from llmtuner.extras.errors import ConfigError
    from llmtuner.hparams import parse_eval_args

    with pytest.raises(DataError, match=r"is a folder; give the `term<TAB>type` file\(s\) in it"):
        TermLexicon.load([tmp_path])
    with pytest.raises(ConfigError, match=r"term_lexicon .* is a folder: give the `term<TAB>type` file\(s\) in it"):
        parse_eval_args(["--predictions_file", str(tmp_path / "p.jsonl"), "--output_dir", str(tmp_path / "out"),
                         "--term_lexicon", str(tmp_path)])


def test_eval_with_a_bad_lexicon_is_one_error_line_naming_file_and_line(tmp_path, capsys):
    import json

    from llmtuner.cli import main

    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text(json.dumps({"question": "头痛", "reference": "柴胡", "prediction": "柴胡"}, ensure_ascii=False) + "\n",
                           encoding="utf-8")
    lexicon = tmp_path / "terms.csv"
    lexicon.write_text("柴胡\therb\n黄芩,herb\n", encoding="utf-8")
    code = main(["eval", "--predictions_file", str(predictions), "--term_lexicon", str(lexicon), "--output_dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and f"{lexicon}:2: no TAB" in err and "This looks like CSV" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
