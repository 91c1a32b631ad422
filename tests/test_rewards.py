"""GRPO reward functions (llmtuner.train.grpo.rewards): each on its own, in both completion shapes TRL passes, and
the config side (names, dotted paths, weights, error messages)."""

import functools
import subprocess
import sys

import pytest

from llmtuner.eval.terms import TermLexicon
from llmtuner.extras.errors import ConfigError, DataError
from llmtuner.train.grpo import rewards
from llmtuner.train.grpo.rewards import (
    REWARD_COLUMNS,
    REWARDS,
    format_reward,
    length_reward,
    mcq_correct_reward,
    resolve_rewards,
    split_reply,
    tcm_safety_reward,
    term_recall_reward,
)

OPTIONS = {"A": "麻黄汤", "B": "桂枝汤", "C": "小青龙汤", "D": "银翘散", "E": "桑菊饮"}


def chat(text: str) -> list[dict[str, str]]:
    """One completion as TRL passes it for a conversational dataset."""
    return [{"role": "assistant", "content": text}]


def prompts_for(completions: list, question: str = "风寒表实证用什么方？") -> list[str]:
    return [question] * len(completions)


# ---- mcq_correct ---------------------------------------------------------------------------------------------


def test_mcq_correct_reads_letters_the_way_the_evaluator_does():
    completions = [
        "恶寒重、无汗而喘，为风寒表实证。\n答案：A",
        "本题选A。",
        "**答案：A**",
        "正确答案为（A）",
        "B项错误，应选A",  # a letter ruled out first: the evaluator reads A
        "我认为是B",
        "答案：C",
        "风寒表实证当发汗解表，不确定。",  # no letter at all: wrong, not skipped
    ]
    got = mcq_correct_reward(prompts_for(completions), completions, answer=["A"] * len(completions),
                             options=[OPTIONS] * len(completions))
    assert got == [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]


def test_mcq_correct_multi_answer_needs_the_whole_set():
    completions = ["答案：A、C", "答案是AC", "答案：C和A", "答案：A", "答案：ACD", "选A、B"]
    got = mcq_correct_reward(prompts_for(completions), completions, answer=["AC"] * 6)
    assert got == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    # gold letters written as a list or with separators mean the same set
    assert mcq_correct_reward(["q", "q"], ["答案：AC", "答案：AC"], answer=[["A", "C"], "C、A"]) == [1.0, 1.0]


def test_mcq_correct_skips_the_reasoning_and_an_unclosed_one():
    completions = ["<think>A和C都像，但C无汗……</think>\n答案：A", "<think>先看A……答案：A", "A还是C？</think>答案：C"]
    assert mcq_correct_reward(prompts_for(completions), completions, answer=["A", "A", "C"]) == [1.0, 0.0, 1.0]


def test_mcq_correct_uses_the_option_texts_and_conversational_completions():
    completions = [chat("应当用麻黄汤发汗解表。"), chat("应当用银翘散。"), chat("答案：A")]
    got = mcq_correct_reward(prompts_for(completions), completions, answer=["A", "A", "A"], options=[OPTIONS] * 3)
    assert got == [1.0, 0.0, 1.0]


def test_mcq_correct_is_not_applicable_without_gold_letters_and_needs_the_column():
    assert mcq_correct_reward(["q", "q"], ["答案：A", "答案：A"], answer=["A", "麻黄汤"]) == [1.0, None]
    with pytest.raises(DataError, match="'answer'.*Add the column, or drop 'mcq_correct'"):
        mcq_correct_reward(["q"], ["答案：A"], reference=["..."])


def test_mcq_options_from_a_datasets_struct_column_drop_the_missing_letters():
    # datasets fills the letters another row has with None: F is no option of this row, so "答案：F" is malformed
    options = {**OPTIONS, "F": None}
    assert format_reward(["q"], ["分析。\n答案：F"], answer=["A"], options=[options]) == [0.5]
    assert format_reward(["q"], ["分析。\n答案：E"], answer=["A"], options=[options]) == [1.0]
    # options given as a string of letters set the valid letters too
    assert format_reward(["q", "q"], ["答案：F", "答案：F"], options=["ABCD", "ABCDEF"]) == [0.5, 1.0]


# ---- format ----------------------------------------------------------------------------------------------------


def test_format_wants_a_final_answer_line_for_mcq():
    completions = [
        "恶寒发热，无汗而喘，脉浮紧，为风寒表实证。\n答案：A",
        "分析……\nAnswer: A, C",
        "分析……\n**最终答案：AC**。",
        "答案：A\n因为恶寒无汗。",  # the answer line is not the last line
        "分析……\n答案：A项，麻黄汤",  # more than letters
        "分析……\n答案：F",  # not an option letter
        "分析……\n答案：AA",  # a letter twice
        "故答案是A。",
        "麻黄汤发汗解表，故选A。",  # a choice, but not in the form asked for
        "",
    ]
    got = format_reward(prompts_for(completions), completions, options=[OPTIONS] * len(completions))
    assert got == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.0, 0.0]


def test_format_does_not_judge_correctness():
    assert format_reward(["q"], ["分析。\n答案：B"], answer=["A"]) == [1.0]


def test_format_reasoning_rules():
    completions = [
        "<think>恶寒无汗，脉浮紧。</think>\n\n此为风寒表实证，治宜麻黄汤。",
        "恶寒无汗，脉浮紧。</think>\n此为风寒表实证。",  # the opening tag was in the prompt
        "此为风寒表实证，治宜麻黄汤。",
        "<think></think>\n此为风寒表实证。",  # an empty block is no reasoning
        "<think>恶寒无汗，脉浮紧……",  # never closed: no answer
        "<think>恶寒无汗。</think>\n",  # reasoning, then nothing
    ]
    prompts = prompts_for(completions)
    assert format_reward(prompts, completions) == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    assert format_reward(prompts, completions, think=True) == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    assert format_reward(prompts, completions, think=False) == [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]
    # MCQ rows under think=True need both the reasoning and the answer line
    mcq = ["<think>无汗而喘。</think>\n答案：A", "答案：A"]
    assert format_reward(["q", "q"], mcq, think=True, answer=["A", "A"]) == [1.0, 0.0]


def test_format_reads_reasoning_a_response_schema_split_off():
    completion = [{"role": "assistant", "reasoning_content": "恶寒无汗。", "content": "答案：A"}]
    assert format_reward(["q"], [completion], think=True, answer=["A"]) == [1.0]
    assert split_reply(completion) == ("恶寒无汗。", "答案：A", True)


def test_the_instruction_asks_for_the_form_format_rewards():
    assert "答案：" in rewards.MCQ_FORMAT_INSTRUCTION
    assert format_reward(["q"], ["分析……\n答案：AB"], answer=["AB"]) == [1.0]


# ---- term_recall -----------------------------------------------------------------------------------------------

REFERENCE = "此为风寒表实证，症见恶寒、头痛，方用麻黄汤。"  # lexicon terms: 风寒表实证, 头痛, 麻黄汤


def test_term_recall_is_the_share_of_reference_terms_in_the_default_lexicon():
    completions = [
        "辨为风寒表实证，可用麻黄汤加减，头痛者加川芎。",
        "此为风寒表实证。",
        "<think>风寒表实证？麻黄汤？头痛？</think>\n多喝热水。",  # terms only in the reasoning do not count
        "建议多休息。",
    ]
    got = term_recall_reward(prompts_for(completions), completions, reference=[REFERENCE] * 4)
    assert got == pytest.approx([1.0, 1 / 3, 0.0, 0.0])


def test_term_recall_matches_longest_terms_and_conversational_completions(tmp_path):
    lexicon_file = tmp_path / "terms.txt"
    lexicon_file.write_text("柴胡\therb\n小柴胡汤\tformula\n黄芩\therb\n", encoding="utf-8")
    lexicon = TermLexicon.load(lexicon_file)
    # "小柴胡汤" is one formula: an answer naming it has not said the herb 柴胡
    completions = [chat("方用小柴胡汤。"), chat("柴胡、黄芩。")]
    got = term_recall_reward(["q", "q"], completions, reference=["柴胡配黄芩。"] * 2, lexicon=lexicon)
    assert got == [0.0, 1.0]
    # a path loads the file (as the eval config's term_lexicon does)
    assert term_recall_reward(["q"], ["柴胡"], reference=["柴胡配黄芩"], lexicon=str(lexicon_file)) == [0.5]


def test_term_recall_is_not_applicable_without_reference_terms():
    got = term_recall_reward(["q"] * 3, ["多休息。"] * 3, reference=["注意休息，清淡饮食。", "", None])
    assert got == [None, None, None]
    with pytest.raises(DataError, match="'reference'"):
        term_recall_reward(["q"], ["麻黄汤"], answer=["A"])


# ---- tcm_safety ------------------------------------------------------------------------------------------------


def test_tcm_safety_penalises_recommended_incompatible_pairs():
    completions = [
        "可用甘草10g、甘遂3g，水煎服，以逐水消肿。",  # 十八反
        "方用附子15g（先煎）、半夏9g、干姜6g，温阳化饮。",  # 十八反 (乌头类 反 半夏)
        "人参10g配五灵脂10g，益气活血。",  # 十九畏
        "方用麻黄汤：麻黄9g、桂枝6g、杏仁9g、甘草3g。",
    ]
    assert tcm_safety_reward(prompts_for(completions), completions) == [-1.0, -1.0, -1.0, 0.0]


def test_tcm_safety_does_not_penalise_a_warning():
    completions = ["附子与半夏不宜同用，可改用干姜温中。", "甘草反甘遂，两者切不可同用。", chat("附子与半夏不宜同用。")]
    assert tcm_safety_reward(prompts_for(completions), completions) == [0.0, 0.0, 0.0]


def test_tcm_safety_pregnancy_comes_from_the_question():
    answer = "可用红花6g、桃仁9g活血化瘀。"
    pregnant = "患者孕8周，小腹隐痛，能用活血药吗？"
    assert tcm_safety_reward([pregnant], [answer]) == [-1.0]
    assert tcm_safety_reward(["痛经，经色紫暗有块，怎么治？"], [answer]) == [0.0]
    # a `question` column wins over the prompt text; a conversational prompt gives its user turns
    assert tcm_safety_reward(["(rendered prompt)"], [answer], question=[pregnant]) == [-1.0]
    conversation = [{"role": "system", "content": "你是数智岐黄。"}, {"role": "user", "content": "我怀孕了，孕8周。"},
                    {"role": "assistant", "content": "请说说症状。"}, {"role": "user", "content": "小腹隐痛，能用什么药？"}]
    assert tcm_safety_reward([conversation], [chat(answer)]) == [-1.0]
    # the reasoning is not scored, as in the evaluator
    assert tcm_safety_reward([pregnant], ["<think>红花、桃仁？不行。</think>\n请尽快到产科就诊。"]) == [0.0]


def test_tcm_safety_penalty_per_finding_and_cap_are_keywords():
    answer = "可用甘草10g、甘遂3g，人参10g配五灵脂10g。"  # two findings
    assert tcm_safety_reward(["q"], [answer]) == [-1.0]
    assert tcm_safety_reward(["q"], [answer], penalty=0.5, max_penalty=5.0) == [-1.0]
    assert tcm_safety_reward(["q"], [answer], max_penalty=3.0) == [-2.0]


# ---- length ----------------------------------------------------------------------------------------------------


def test_length_penalises_only_outside_the_range():
    completions = ["好" * 100, "好" * 20, "好" * 1000, "好" * 10, "", "好" * 1500, "好" * 5000]
    got = length_reward(prompts_for(completions), completions)
    assert got == pytest.approx([0.0, 0.0, 0.0, -0.5, -1.0, -0.5, -1.0])


def test_length_keywords_and_reasoning():
    completion = "<think>" + "想" * 300 + "</think>\n" + "答" * 50
    assert length_reward(["q"], [completion], max_chars=100) == [0.0]
    assert length_reward(["q"], [completion], max_chars=100, include_reasoning=True) == pytest.approx([-1.0])
    assert length_reward(["q"], [chat("答案：A")], min_chars=0, max_chars=50) == [0.0]
    with pytest.raises(ConfigError, match="min_chars"):
        length_reward(["q"], ["x"], min_chars=50, max_chars=10)


# ---- the registry and resolve_rewards -------------------------------------------------------------------------


def test_registry_holds_the_issue_rewards_with_their_columns():
    assert set(REWARDS) == {"mcq_correct", "format", "term_recall", "tcm_safety", "length"}
    assert REWARD_COLUMNS["mcq_correct"] == ("answer",) and REWARD_COLUMNS["term_recall"] == ("reference",)
    with pytest.raises(ValueError, match="registered twice"):
        rewards.register_reward("length")(lambda prompts, completions, **kwargs: [])


def test_rewards_take_trl_keywords():
    """TRL calls with keywords only, adding completion_ids, trainer_state, log_extra and log_metric."""
    extra = {"completion_ids": [[1, 2]], "trainer_state": object(), "log_extra": print, "log_metric": print}
    row = {"answer": ["A"], "options": [OPTIONS], "reference": [REFERENCE], "question": ["风寒表实证用什么方？"]}
    for name, func in REWARDS.items():
        got = func(prompts=["q"], completions=[chat("辨为风寒表实证，方用麻黄汤。\n答案：A")], **row, **extra)
        assert len(got) == 1 and (got[0] is None or isinstance(got[0], float)), name


def test_resolve_rewards_names_and_weights():
    functions, weights = resolve_rewards(["mcq_correct", "format", "tcm_safety"], [1.0, 0.2, 2])
    assert functions == [mcq_correct_reward, format_reward, tcm_safety_reward]
    assert weights == [1.0, 0.2, 2.0] and all(isinstance(weight, float) for weight in weights)
    assert resolve_rewards(["length"], None) == ([length_reward], [1.0])


def test_resolve_rewards_imports_a_users_function(tmp_path, monkeypatch):
    (tmp_path / "my_grpo_rewards.py").write_text(
        "def brevity(prompts, completions, **kwargs):\n"
        "    return [1.0 if len(str(c)) < 10 else 0.0 for c in completions]\n"
        "NOT_A_FUNCTION = 3\n"
        "def no_kwargs(prompts, completions):\n"
        "    return [0.0]\n"
        "class Scorer:\n"
        "    def __call__(self, prompts, completions, **kwargs):\n"
        "        return [0.5] * len(completions)\n"
        "scorer = Scorer()\n", encoding="utf-8")
    (tmp_path / "needs_missing.py").write_text("import surely_not_installed_pkg\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    functions, weights = resolve_rewards(["my_grpo_rewards:brevity", "my_grpo_rewards.scorer", "format"], [0.5, 1, 1])
    assert [function(prompts=["q"], completions=["短"]) for function in functions[:2]] == [[1.0], [0.5]]
    assert weights == [0.5, 1.0, 1.0]
    # a partial keeps its keyword defaults (TRL names it after the wrapped function)
    assert functools.partial(length_reward, min_chars=0)(prompts=["q"], completions=[""]) == [0.0]

    with pytest.raises(ConfigError, match=r"entry 1 \('my_grpo_rewards:brevty'\).*no 'brevty'.*Did you mean 'brevity'"):
        resolve_rewards(["my_grpo_rewards:brevty"])
    with pytest.raises(ConfigError, match="no module 'no_such_module_xyz'.*PYTHONPATH"):
        resolve_rewards(["format", "no_such_module_xyz:reward"])
    with pytest.raises(ConfigError, match="imports 'surely_not_installed_pkg', which is not installed"):
        resolve_rewards(["needs_missing:reward"])
    with pytest.raises(ConfigError, match="is a int, not a function"):
        resolve_rewards(["my_grpo_rewards:NOT_A_FUNCTION"])
    with pytest.raises(ConfigError, match="is a type, not a function"):
        resolve_rewards(["my_grpo_rewards:Scorer"])
    with pytest.raises(ConfigError, match=r"takes no \*\*kwargs"):
        resolve_rewards(["my_grpo_rewards:no_kwargs"])
    with pytest.raises(ConfigError, match="not a dotted path"):
        resolve_rewards(["my_grpo_rewards:"])


def test_resolve_rewards_errors_name_the_entry_and_the_fix():
    with pytest.raises(ConfigError) as caught:
        resolve_rewards(["format", "mcq_corect"])
    message = str(caught.value)
    assert "reward_funcs entry 2 ('mcq_corect')" in message and "Did you mean 'mcq_correct'?" in message
    assert "format, length, mcq_correct, tcm_safety, term_recall" in message
    with pytest.raises(ConfigError, match="2 values for 3 rewards.*one weight per reward"):
        resolve_rewards(["mcq_correct", "format", "length"], [1.0, 0.5])
    with pytest.raises(ConfigError, match="value 2.*for 'format'.*not a finite number"):
        resolve_rewards(["mcq_correct", "format"], [1.0, float("nan")])
    with pytest.raises(ConfigError, match="not a finite number"):
        resolve_rewards(["mcq_correct"], ["1.0"])
    with pytest.raises(ConfigError, match="already entry 1.*weigh it more"):
        resolve_rewards(["format", "format"])
    with pytest.raises(ConfigError, match="reward_funcs is empty"):
        resolve_rewards([])


def test_importing_the_rewards_loads_no_torch_or_transformers():
    code = ("import sys, llmtuner.train.grpo.rewards\n"
            "print([m for m in ('torch', 'transformers', 'trl', 'datasets') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
