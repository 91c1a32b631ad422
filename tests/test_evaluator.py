"""`llmtuner eval` end to end on the tiny model: qa (resumable), mcq, ppl, predictions files, compare."""

import json
import math

import pytest
from conftest import ROOT

from llmtuner.extras.errors import ConfigError, DataError
from llmtuner.hparams import parse_eval_args

DATA = str(ROOT / "data")


def evaluate(**settings):
    from llmtuner.eval.evaluator import run_evaluation

    argv = [token for key, value in settings.items() for token in (f"--{key}", str(value))]
    return run_evaluation(parse_eval_args(argv))


def qa(output_dir, **extra):
    settings = {"model_name_or_path": "embedded", "template": "shuzhiqihuang", "eval_dataset": "clinical_qa_sample",
                "dataset_dir": DATA, "task": "qa", "output_dir": output_dir, "max_new_tokens": 8, "batch_size": 4}
    return evaluate(**{**settings, **extra})


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_qa_writes_predictions_metrics_report_and_chart(tmp_path, tiny_model_dir):
    metrics = qa(tmp_path, max_samples=6)
    records = read_jsonl(tmp_path / "predictions.jsonl")
    assert [r["id"] for r in records] == [f"cqa-{i:04d}" for i in range(1, 7)]
    for record in records:
        assert {"question", "reference", "prediction", "category", "scores", "introduced_terms", "safety"} <= record.keys()
        assert {"rouge-1", "rouge-2", "rouge-l", "bleu-4", "term_recall"} <= record["scores"].keys()
    overall = metrics["overall"]
    assert overall["rouge-l"] == pytest.approx(sum(r["scores"]["rouge-l"] for r in records) / 6, abs=0.01)
    assert json.loads((tmp_path / "metrics.json").read_text())["overall"] == overall
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "## By category" in report and "## Terminology" in report and "十八反" in report
    term_categories = metrics["terms"]["by_category"]
    assert term_categories
    for category, values in term_categories.items():  # the TCM / Western terminology table
        recall = values["micro"]["recall"]
        assert f"| {category} | {values['samples']} | {values['samples_with_terms']} | {recall:.2f} |" in report
    assert (tmp_path / "category_scores.png").stat().st_size > 1000


def test_qa_resumes_and_batching_does_not_change_greedy_answers(tmp_path, tiny_model_dir, caplog):
    first = tmp_path / "first"
    qa(first, max_samples=4)
    before = {r["id"]: r["prediction"] for r in read_jsonl(first / "predictions.jsonl")}
    with (first / "predictions.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"id": "cqa-0005", "predicti')  # a run killed mid-write
    with caplog.at_level("INFO"):
        qa(first, max_samples=6)
    assert "Resuming: 4 of 6" in caplog.text
    after = {r["id"]: r["prediction"] for r in read_jsonl(first / "predictions.jsonl")}
    assert len(after) == 6 and all(after[key] == value for key, value in before.items())
    one_by_one = tmp_path / "batch1"
    qa(one_by_one, max_samples=6, batch_size=1)
    assert {r["id"]: r["prediction"] for r in read_jsonl(one_by_one / "predictions.jsonl")} == after


def test_predictions_file_in_llamafactory_layout_is_scored_without_a_model(tmp_path):
    source = tmp_path / "generated_predictions.jsonl"
    rows = [{"prompt": "风寒感冒用什么方？", "predict": "可用麻黄汤。", "label": "可用麻黄汤。"},
            {"prompt": "孕妇风寒感冒怎么办？", "predict": "可用麝香和甘遂。", "label": "可用紫苏叶煎服。"}]
    source.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in rows), encoding="utf-8")
    metrics = evaluate(predictions_file=source, output_dir=tmp_path / "out", dataset_dir=DATA)
    records = read_jsonl(tmp_path / "out" / "predictions.jsonl")
    assert records[0]["scores"]["rouge-l"] == pytest.approx(100.0) and records[0]["scores"]["bleu-4"] == pytest.approx(100.0)
    assert metrics["overall"]["rouge-l"] == pytest.approx((100.0 + records[1]["scores"]["rouge-l"]) / 2, abs=0.01)
    kinds = {flag["kind"] for flag in records[1]["safety"]}
    assert "妊娠禁忌" in kinds and not records[0]["safety"]


def test_predictions_file_errors_name_the_line(tmp_path):
    source = tmp_path / "p.jsonl"
    source.write_text('{"prompt": "q", "predict": "a", "label": "a"}\n{"prompt": "q", "label": "a", "answer": "a"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"p.jsonl line 2: no 'prediction' or 'predict' field"):
        evaluate(predictions_file=source, output_dir=tmp_path / "out", dataset_dir=DATA)


def test_compare_prints_deltas(tmp_path, capsys):
    for name, value in (("a", 10.0), ("b", 12.5)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps(
            {"task": "qa", "samples": 1, "overall": {"rouge-l": value}, "by_category": {"tcm": {"rouge-l": value * 2}}}))
    from llmtuner.eval.evaluator import run_evaluation

    result = run_evaluation(parse_eval_args(["--compare", str(tmp_path / "a"), str(tmp_path / "b"), "--output_dir", str(tmp_path)]))
    assert ["overall/rouge-l", 10.0, 12.5, 2.5] in result["rows"] and ["tcm/rouge-l", 20.0, 25.0, 5.0] in result["rows"]
    assert "B - A" in capsys.readouterr().out and (tmp_path / "compare.md").exists()


def test_mcq_likelihood_scores_every_question(tmp_path, tiny_model_dir):
    metrics = evaluate(model_name_or_path="embedded", template="shuzhiqihuang", eval_dataset="medical_mcq_sample",
                       dataset_dir=DATA, task="mcq", output_dir=tmp_path, max_samples=12, batch_size=4)
    records = read_jsonl(tmp_path / "predictions.jsonl")
    assert len(records) == 12 and all(record["prediction"] in "ABCDE" for record in records)
    correct = sum(record["prediction"] == record["answer"] for record in records)
    assert metrics["overall"]["accuracy"] == pytest.approx(100 * correct / 12, abs=0.01)
    assert metrics["overall"]["parse_failure_rate"] == 0.0


def test_ppl_is_token_weighted(tmp_path, tiny_model_dir):
    metrics = evaluate(model_name_or_path="embedded", eval_dataset="medical_pt_sample", dataset_dir=DATA, task="ppl",
                       output_dir=tmp_path, max_samples=5, cutoff_len=64)
    records = read_jsonl(tmp_path / "predictions.jsonl")
    expected = math.exp(sum(r["nll"] for r in records) / sum(r["tokens"] for r in records))
    assert metrics["overall"]["perplexity"] == pytest.approx(expected, rel=1e-4)
    assert 1.0 < expected < 8192 * 2  # a random tiny model is near-uniform over its vocabulary


def test_ppl_blocks_match_the_models_own_loss(tmp_path, tiny_model_dir):
    """Each text's NLL equals transformers' mean loss with labels=input_ids, times the predicted tokens, per block."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cutoff = 48
    evaluate(model_name_or_path="embedded", eval_dataset="medical_pt_sample", dataset_dir=DATA, task="ppl",
             output_dir=tmp_path, max_samples=4, cutoff_len=cutoff, batch_size=3)
    records = read_jsonl(tmp_path / "predictions.jsonl")
    texts = [json.loads(line)["text"] for line in (ROOT / "data" / "medical_pt_sample.jsonl").read_text(encoding="utf-8").splitlines()[:4]]
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    assert any(r["tokens"] > cutoff for r in records)  # some texts span several blocks
    for record, text in zip(records, texts):
        ids = tokenizer(text + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
        nll, tokens = 0.0, 0
        for start in range(0, len(ids), cutoff):
            block = torch.tensor([ids[start : start + cutoff]])
            if block.size(1) < 2:
                continue  # a one-token block predicts nothing
            with torch.no_grad():
                loss = model(input_ids=block, labels=block).loss
            nll += float(loss) * (block.size(1) - 1)
            tokens += block.size(1) - 1
        assert record["tokens"] == tokens
        assert record["nll"] == pytest.approx(nll, rel=1e-4)


def test_bad_arguments_fail_before_loading():
    with pytest.raises(ConfigError, match="training argument; the evaluator reads `eval_dataset`"):
        parse_eval_args(["--model_name_or_path", "m", "--dataset", "x", "--output_dir", "o"])
    with pytest.raises(ConfigError, match="template"):
        parse_eval_args(["--model_name_or_path", "m", "--eval_dataset", "x", "--output_dir", "o"])
    with pytest.raises(ConfigError, match="without a model"):
        parse_eval_args(["--predictions_file", "p", "--model_name_or_path", "m", "--output_dir", "o"])
    with pytest.raises(ConfigError, match="this task reads alpaca or sharegpt"):
        evaluate(model_name_or_path="embedded", template="qwen", eval_dataset="medical_mcq_sample", dataset_dir=DATA,
                 task="qa", output_dir="unused")


def test_template_of_another_family_fails_before_generation(tmp_path, tiny_model_dir):
    with pytest.raises(ConfigError, match="does not match the model"):
        evaluate(model_name_or_path="embedded", template="llama3", eval_dataset="clinical_qa_sample", dataset_dir=DATA,
                 task="qa", output_dir=tmp_path, max_samples=2)
    assert not (tmp_path / "predictions.jsonl").exists() or not (tmp_path / "predictions.jsonl").read_text().strip()


def test_rescoring_predictions_in_place_and_keeping_an_earlier_file(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    own = out / "predictions.jsonl"
    own.write_text(json.dumps({"id": "a", "question": "q", "reference": "头痛", "prediction": "头痛"}, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    evaluate(predictions_file=own, output_dir=out, dataset_dir=DATA, overwrite_predictions="true")
    assert read_jsonl(own)[0]["scores"]["rouge-1"] == pytest.approx(100.0)
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"predict": "发热", "label": "发热"}, ensure_ascii=False) + "\n", encoding="utf-8")
    evaluate(predictions_file=other, output_dir=out, dataset_dir=DATA)
    assert read_jsonl(own)[0]["prediction"] == "发热"
    assert [read_jsonl(path)[0]["id"] for path in out.glob("predictions.*.jsonl.bak")] == ["a"]


def test_resuming_with_other_settings_is_refused(tmp_path, tiny_model_dir):
    qa(tmp_path, max_samples=2)
    with pytest.raises(ConfigError, match=r"other settings \(template: 'shuzhiqihuang' -> 'qwen'"):
        qa(tmp_path, max_samples=2, template="qwen")
    qa(tmp_path, max_samples=2, max_new_tokens=4, overwrite_predictions="true")  # starting over is allowed
    assert len(read_jsonl(tmp_path / "predictions.jsonl")) == 2


def test_bad_or_missing_lexicon_fails_before_generation(tmp_path, tiny_model_dir):
    with pytest.raises(ConfigError, match="term_lexicon .*missing.txt does not exist"):
        qa(tmp_path / "a", term_lexicon=tmp_path / "missing.txt")
    bad = tmp_path / "bad_terms.txt"
    bad.write_text("黄芪\therb\n人参 herb\n", encoding="utf-8")  # a space where the TAB belongs
    with pytest.raises(DataError, match="bad_terms.txt:2: no TAB"):
        qa(tmp_path / "b", term_lexicon=bad, max_samples=2)
    assert not (tmp_path / "b" / "predictions.jsonl").exists()  # nothing was generated first


def test_an_empty_selection_is_an_error_not_a_score(tmp_path):
    for task, dataset in (("mcq", "medical_mcq_sample"), ("ppl", "medical_pt_sample"), ("qa", "clinical_qa_sample")):
        with pytest.raises(ConfigError, match="max_samples must be positive"):
            evaluate(model_name_or_path="embedded", template="shuzhiqihuang", eval_dataset=dataset, dataset_dir=DATA,
                     task=task, output_dir=tmp_path, max_samples=0)


def _recipe(predict: str, label: str) -> dict[str, float]:
    """LLaMA-Factory's SFT metric written out directly from jieba, rouge-chinese and nltk (texts as given)."""
    import jieba
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    from rouge_chinese import Rouge

    hypothesis, reference = list(jieba.cut(predict)), list(jieba.cut(label))
    if len(" ".join(hypothesis).split()) == 0 or len(" ".join(reference).split()) == 0:
        result = {"rouge-1": {"f": 0.0}, "rouge-2": {"f": 0.0}, "rouge-l": {"f": 0.0}}
    else:
        result = Rouge().get_scores(" ".join(hypothesis), " ".join(reference))[0]
    scores = {name: round(value["f"] * 100, 4) for name, value in result.items()}
    bleu = sentence_bleu([list(label)], list(predict), smoothing_function=SmoothingFunction().method3)
    return {**scores, "bleu-4": round(bleu * 100, 4)}


def test_a_predictions_file_is_scored_as_written_like_the_llamafactory_recipe(tmp_path):
    from conftest import shared_path

    rows = json.loads(shared_path("data", "clinical_qa_dev.json").read_text(encoding="utf-8"))[:24]
    wrappers = [("", ""), (" ", ""), ("", "\n"), ("\n", " \n"), ("  ", "\n\n"), ("\t", " ")]
    predictions = []
    for index, row in enumerate(rows):
        answer, other = row["output"], rows[(index + 1) % len(rows)]["output"]
        # a prediction sharing only part of the reference, so scores are neither 0 nor 100
        text = answer[: len(answer) // 2] + "\n" + other[: len(other) // 3] if index % 3 else answer
        lead, trail = wrappers[index % len(wrappers)]
        predictions.append({"id": f"q{index}", "prompt": row["instruction"], "predict": lead + text + trail,
                            "label": wrappers[(index + 2) % len(wrappers)][0] + answer})
    # one reasoning model answer: the <think> block (and the blank lines after it) is all that is removed
    predictions[0]["predict"] = "<think>\n先辨证。\n</think>\n\n" + rows[0]["output"] + " \n"
    source = tmp_path / "generated_predictions.jsonl"
    source.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in predictions), encoding="utf-8")
    evaluate(predictions_file=source, output_dir=tmp_path / "out", dataset_dir=DATA)
    records = {record["id"]: record for record in read_jsonl(tmp_path / "out" / "predictions.jsonl")}
    for row in predictions:
        written = row["predict"].split("</think>\n\n")[-1]
        expected = _recipe(written, row["label"])
        got = records[row["id"]]["scores"]
        assert {name: got[name] for name in expected} == expected, row["id"]
    stripped = _recipe(predictions[2]["predict"].strip(), predictions[2]["label"])
    assert stripped["bleu-4"] != _recipe(predictions[2]["predict"], predictions[2]["label"])["bleu-4"]  # whitespace counts


def test_no_task_replaces_or_resumes_onto_another_runs_predictions(tmp_path, tiny_model_dir):
    source = tmp_path / "generated_predictions.jsonl"
    row = {"prompt": "风寒感冒用什么方？", "predict": "麻黄汤。", "label": "可用麻黄汤。"}
    source.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    evaluate(predictions_file=source, output_dir=out, dataset_dir=DATA)  # a scored qa file now in out/
    scored = (out / "predictions.jsonl").read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match="other settings"):  # ppl would replace it
        evaluate(model_name_or_path="embedded", eval_dataset="medical_pt_sample", dataset_dir=DATA, task="ppl", output_dir=out,
                 max_samples=2, cutoff_len=32)
    with pytest.raises(ConfigError, match="other settings"):  # generation would resume onto answers it did not make
        qa(out, max_samples=2)
    assert (out / "predictions.jsonl").read_text(encoding="utf-8") == scored
    (out / "predictions.settings.json").unlink()  # predictions of unknown origin are refused too
    with pytest.raises(ConfigError, match="did not make"):
        qa(out, max_samples=2)
    for _ in range(2):  # started over twice within a second: both earlier files are kept, under different names
        evaluate(model_name_or_path="embedded", eval_dataset="medical_pt_sample", dataset_dir=DATA, task="ppl", output_dir=out,
                 max_samples=2, cutoff_len=32, overwrite_predictions="true")
    kept = sorted(out.glob("predictions.*.jsonl.bak"))
    assert len(kept) == 2 and any(path.read_text(encoding="utf-8") == scored for path in kept)


def test_deidentify_keeps_identifiers_out_of_predictions_and_report(tmp_path):
    source = tmp_path / "generated_predictions.jsonl"
    row = {"prompt": "患者张伟，电话13812345678，咳嗽三天怎么办？", "predict": "张伟您好，可用止嗽散加减，复诊请拨13812345678。",
           "label": "可用止嗽散加减。"}
    source.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    evaluate(predictions_file=source, output_dir=tmp_path / "out", dataset_dir=DATA, deidentify="true")
    for name in ("predictions.jsonl", "report.md"):
        text = (tmp_path / "out" / name).read_text(encoding="utf-8")
        assert "13812345678" not in text and "张伟" not in text, name
    assert "止嗽散" in (tmp_path / "out" / "predictions.jsonl").read_text(encoding="utf-8")  # the answer itself is kept


def test_deidentify_scrubs_the_evaluation_items_before_any_prompt_is_built(tmp_path):
    from llmtuner.eval.items import load_qa_items
    from llmtuner.hparams import DataArguments

    rows = [{"instruction": "患者李静，身份证号110101199003078515，头晕一周。", "output": "建议监测血压，联系电话13912345678。"}]
    (tmp_path / "qa.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "dataset_info.json").write_text(json.dumps({"qa": {"file_name": "qa.json"}}), encoding="utf-8")
    [plain] = load_qa_items(DataArguments(eval_dataset=["qa"], dataset_dir=str(tmp_path)))
    [item] = load_qa_items(DataArguments(eval_dataset=["qa"], dataset_dir=str(tmp_path), deidentify=True))
    assert "李静" in plain.question  # off by default: the data is read as it is
    assert "李静" not in item.question and "110101199003078515" not in item.question and "13912345678" not in item.reference
    assert "头晕一周" in item.question and "监测血压" in item.reference


def _qa_dataset(folder, questions):
    folder.mkdir(parents=True, exist_ok=True)
    answer = "辨证为风寒表证，可用荆防败毒散加减。"
    rows = [{"id": f"q{i}", "instruction": question, "output": answer} for i, question in enumerate(questions, 1)]
    (folder / "qa.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    (folder / "dataset_info.json").write_text(json.dumps({"qa": {"file_name": "qa.json"}}), encoding="utf-8")
    return folder


def _own_qa(output_dir, data, **extra):
    return qa(output_dir, eval_dataset="qa", dataset_dir=data, max_new_tokens=4, **extra)


def test_resume_is_keyed_by_weights_content_not_paths(tmp_path, tiny_model_dir):
    """The same weights moved to another folder resume; an adapter retrained into the same folder is refused."""
    import shutil

    from test_export import base_model, make_adapter

    data = _qa_dataset(tmp_path / "data", ["头痛三天怎么办？", "咳嗽有痰怎么办？", "失眠多梦怎么调理？"])
    shutil.copytree(tiny_model_dir, tmp_path / "models" / "a")
    adapter = make_adapter(base_model(tiny_model_dir), tmp_path / "lora", seed=0)
    out = tmp_path / "out"
    _own_qa(out, data, model_name_or_path=tmp_path / "models" / "a", adapter_name_or_path=adapter, max_samples=2)
    first = {r["id"]: r["prediction"] for r in read_jsonl(out / "predictions.jsonl")}

    (tmp_path / "models" / "a").rename(tmp_path / "models" / "b")  # moved: the same files
    shutil.move(str(adapter), str(tmp_path / "moved-lora"))
    _own_qa(out, data, model_name_or_path=tmp_path / "models" / "b", adapter_name_or_path=tmp_path / "moved-lora")
    after = {r["id"]: r["prediction"] for r in read_jsonl(out / "predictions.jsonl")}
    assert len(after) == 3 and all(after[key] == value for key, value in first.items())

    make_adapter(base_model(tiny_model_dir), tmp_path / "moved-lora", seed=1)  # retrained into the same folder
    with pytest.raises(ConfigError) as refused:
        _own_qa(out, data, model_name_or_path=tmp_path / "models" / "b", adapter_name_or_path=tmp_path / "moved-lora")
    message = str(refused.value)
    assert f"adapter_weights: the weights in {tmp_path / 'moved-lora'} are not those the answers were made with" in message
    assert "overwrite_predictions: true" in message and "model_weights" not in message
    assert {r["id"]: r["prediction"] for r in read_jsonl(out / "predictions.jsonl")} == after  # nothing replaced


def test_an_item_changed_under_the_same_id_is_answered_again(tmp_path, tiny_model_dir, warnings_logged):
    data = _qa_dataset(tmp_path / "data", ["头痛三天怎么办？", "咳嗽有痰怎么办？"])
    out = tmp_path / "out"
    _own_qa(out, data)
    path = out / "predictions.jsonl"
    records = read_jsonl(path)
    records[0]["prediction"] = "kept: not generated again"  # marks which answers are reused
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    _qa_dataset(tmp_path / "data", ["头痛三天怎么办？", "孕妇咳嗽有痰怎么办？"])  # q2 edited, its id kept
    _own_qa(out, data)
    by_id = {r["id"]: r for r in read_jsonl(path)}
    assert by_id["q1"]["prediction"] == "kept: not generated again"
    assert by_id["q2"]["question"] == "孕妇咳嗽有痰怎么办？" and by_id["q2"]["prediction"] != "kept: not generated again"
    assert any("1 answer(s) were made for items that have changed since under the same id (q2)" in w for w in warnings_logged)
    assert not any("孕妇" in w or "咳嗽" in w for w in warnings_logged)  # ids, never the items' text


def test_mcq_resumes_only_unchanged_questions(tmp_path, tiny_model_dir):
    settings = {"model_name_or_path": "embedded", "template": "shuzhiqihuang", "eval_dataset": "medical_mcq_sample",
                "dataset_dir": DATA, "task": "mcq", "output_dir": tmp_path, "batch_size": 4}
    evaluate(**settings, max_samples=4)
    path = tmp_path / "predictions.jsonl"
    records = read_jsonl(path)
    assert len(records) == 4 and all(record["item_key"] for record in records)
    records[0]["item_key"] = "0" * 16  # as if that question had been edited since under the same id
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    evaluate(**settings, max_samples=6)
    lines = read_jsonl(path)  # mcq appends: 4 kept, the stale one and 2 new answered
    assert [r["id"] for r in lines[4:]].count(records[0]["id"]) == 1 and len(lines) == 7
