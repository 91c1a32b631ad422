"""Last step of scripts/quickstart.sh: the exported model answers two questions, then a before/after table.

    python scripts/quickstart_summary.py saves/quickstart

Loads the release with plain transformers (as a deployment would), so this also shows the export works.
"""

import json
import sys
from pathlib import Path

QUESTIONS = [
    "患者恶寒重、发热轻、无汗、头身疼痛、舌苔薄白、脉浮紧，应如何辨证，可选用什么方剂？",
    "高血压患者在生活方式上应注意哪些方面？",
]


def metric(out: Path, run: str, name: str) -> float | None:
    path = out / "eval" / run / "metrics.json"
    return json.loads(path.read_text(encoding="utf-8"))["overall"].get(name) if path.is_file() else None


def throughput(folder: Path) -> str:
    path = folder / "trainer_log.jsonl"
    if not path.is_file():
        return "-"
    rates = [json.loads(line).get("tokens_per_s") for line in path.read_text().splitlines() if line.strip()]
    rates = [rate for rate in rates if rate]
    return f"{rates[-1]:,.0f} tokens/s" if rates else "-"


def answer(release: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(release)
    model = AutoModelForCausalLM.from_pretrained(release).eval()
    for question in QUESTIONS:
        ids = tokenizer.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                            return_tensors="pt", return_dict=True)
        with torch.no_grad():
            output = model.generate(**ids, max_new_tokens=80, do_sample=False, repetition_penalty=1.1)
        text = tokenizer.decode(output[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()
        print(f"\n  问：{question}\n  答：{text}")


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "saves/quickstart")
    answer(out / "release")
    rows = [
        ("clinical QA ROUGE-L", "qa", "rouge-l"), ("clinical QA BLEU-4", "qa", "bleu-4"),
        ("clinical QA term accuracy (recall)", "qa", "term_recall"), ("exam (MCQ) accuracy", "mcq", "accuracy"),
        # ../shared's clinical_qa_dev: written apart from data/, so nothing in it was trained on
        ("shared clinical_qa_dev ROUGE-L", "dev", "rouge-l"), ("shared clinical_qa_dev BLEU-4", "dev", "bleu-4"),
    ]
    print("\n  " + "-" * 66)
    print(f"  {'metric (x100)':38s}{'before':>9s}  ->  {'after':>9s}")
    for label, task, name in rows:
        before, after = metric(out, f"base_{task}", name), metric(out, f"tuned_{task}", name)
        if before is None and after is None:
            continue  # the shared dev set is evaluated only where ../shared is present
        show = lambda value: "-" if value is None else f"{value:.2f}"  # noqa: E731
        print(f"  {label:38s}{show(before):>9s}  ->  {show(after):>9s}")
    print("  " + "-" * 66)
    # timing is the one line that differs between runs: kept out of the table, which must reproduce
    print(f"  {'training throughput, PT / SFT':30s}{throughput(out / 'pt')} / {throughput(out / 'sft')}")
    for label, path in [("continued-pretraining model", "pt"), ("LoRA adapter", "sft"), ("evaluation reports", "eval"),
                        ("base vs tuned table", "eval/compare_qa/compare.md"), ("exported release", "release"),
                        ("loss curves", "pt/training_loss.png, sft/training_loss.png")]:
        print(f"  {label:30s}{out / path}")


if __name__ == "__main__":
    main()
