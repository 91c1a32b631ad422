"""The release's README.md: what the model is, how it was made and checked, how to run it, and what not to use it for."""

import json
from pathlib import Path
from typing import Any

from .. import __version__
from ..hparams import ExportConfig
from .merge import MergeStep
from .preflight import ExportPlan
from .provenance import TrainingFacts

DISCLAIMER_ZH = (
    "本模型是科研与辅助工具，**不是医疗器械**，未经任何药品监督管理部门审批，不能替代执业医师的诊断、治疗或处方。"
    "模型输出可能不完整、过时或错误（包括中药配伍禁忌、剂量与西药相互作用），任何用于患者的内容都必须由具备资质的"
    "执业医师（中医、西医或中西医结合）审核后方可采用。急症请立即就医或拨打 120。"
)
DISCLAIMER_EN = (
    "This model is a research and assistance tool. It is **not a medical device**, has not been cleared or approved by "
    "any regulator, and does not replace diagnosis, treatment or prescriptions by a licensed clinician. Its outputs can "
    "be incomplete, outdated or wrong (including herb-herb contraindications, doses and herb-drug interactions); "
    "anything used for a patient must be reviewed by a licensed physician (TCM, Western or integrated medicine). "
    "In an emergency, seek care immediately."
)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]


def _base_name(plan: ExportPlan) -> str:
    """A hub id stays as given; a local folder is named by its last component (paths mean nothing elsewhere)."""
    path = Path(plan.base_source)
    return path.name if path.exists() else plan.base_source


def _adapter_rows(plan: ExportPlan) -> list[list[Any]]:
    rows = []
    for adapter in plan.adapters:
        config = adapter.config
        rows.append([adapter.path.name, adapter.kind, config.get("r"), config.get("lora_alpha"),
                     config.get("lora_dropout"), sorted(config.get("target_modules") or []),
                     config.get("modules_to_save") or "-"])
    return rows


def _evaluation(folder: Path) -> list[str]:
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    run = metrics.get("run") or {}
    lines = [f"### {metrics.get('task', '?')}: {run.get('eval_dataset') or folder.name}", "",
             f"Samples: {metrics.get('samples', '?')}. Source: `{folder.name}/metrics.json`.", ""]
    lines += _table(["metric", "value"], [[name, value] for name, value in metrics["overall"].items()
                                          if isinstance(value, (int, float, str))])
    categories = metrics.get("by_category") or {}
    if categories:
        names = list(next(iter(categories.values())))
        lines += ["", *_table(["category / 类别", *names],
                              [[category, *(values.get(n, "") for n in names)] for category, values in categories.items()])]
    return lines + [""]


def render_card(plan: ExportPlan, args: ExportConfig, facts: TrainingFacts, steps: list[MergeStep],
                verification: dict[str, Any], chat_template: str, vocab_rows: int) -> str:
    """The model card as Markdown with Hugging Face front matter."""
    export = args.export
    name = plan.export_dir.name
    base = _base_name(plan)
    kinds = sorted({adapter.kind for adapter in plan.adapters}) or ["full model"]
    method = ("QLoRA (4-bit base during training; merged into the unquantised base)" if plan.qlora
              else " + ".join(kinds))
    weights = f"{plan.export_dtype}, safetensors shards of at most {export.export_size:g} GB"
    if export.export_quantization_bit:
        weights += f"; quantised to {export.export_quantization_bit}-bit with bitsandbytes"
    lines = [
        "---", f"base_model: {base}", "library_name: transformers", "pipeline_tag: text-generation",
        "language:", "- zh", "- en", "tags:", "- medical", "- traditional-chinese-medicine", "- llmtuner",
        *(["- lora", "- merged"] if plan.adapters else []), "---", "",
        f"# {name}", "",
        f"数智岐黄中西医结合医学模型：在 `{base}` 上以 {method} 微调、合并后的完整模型。",
        f"A merged release of `{base}` fine-tuned with {method} by 数智岐黄 finetune (llmtuner {__version__}) "
        "for integrated Chinese-Western medicine.", "",
        f"> **免责声明：** {DISCLAIMER_ZH}", ">", f"> **Disclaimer:** {DISCLAIMER_EN}", "",
        "## 模型信息 / Model details", "",
        *_table(["", ""], [
            ["基座模型 / Base model", f"`{base}`"],
            ["微调方式 / Fine-tuning", method],
            ["训练数据 / Datasets", plan.datasets or "未记录 / not recorded (pass `--dataset` when exporting)"],
            ["对话模板 / Chat template", f"`{plan.template.name}` ({chat_template}); stops on "
                                      f"{', '.join(plan.template.stop_words) or 'the tokenizer EOS'}"],
            ["权重 / Weights", weights],
            ["词表 / Vocabulary rows", vocab_rows],
        ]), "",
    ]
    if plan.adapters:
        lines += ["## 适配器 / Adapters (merged in this order)", "",
                  *_table(["adapter", "type", "r", "alpha", "dropout", "target modules", "trained in full"],
                          _adapter_rows(plan)), ""]
    if facts.hyperparameters:
        lines += ["## 训练超参数 / Training hyperparameters", "",
                  *_table(["parameter", "value"], [[k, v] for k, v in facts.hyperparameters.items() if v is not None]),
                  "", f"Read from {', '.join(facts.sources)} in the training output folder.", ""]
    if facts.results:
        lines += ["## 训练结果 / Training results", "", *_table(["metric", "value"], [[k, v] for k, v in facts.results.items()]), ""]
    if plan.eval_reports:
        lines += ["## 评测 / Evaluation", ""]
        for folder in plan.eval_reports:
            lines += _evaluation(folder)
    lines += ["## 导出校验 / Export verification", ""]
    if verification.get("skipped"):
        lines += ["Verification was skipped (`--skip_verify`).", ""]
    else:
        rows = [[f"merge {Path(step.adapter).name} ({plan.merge_dtype})", step.check["max_abs_diff"], step.check["limit"]]
                for step in steps if step.check]
        rows += [[what, result["max_abs_diff"], result.get("limit", "-")] for what, result in verification.items()
                 if isinstance(result, dict)]
        lines += ["Max |logit difference| on probe prompts (limits relative to the largest logit):", "",
                  *_table(["check", "max abs diff", "limit"], rows), "",
                  "The release was reloaded with `AutoModelForCausalLM` / `AutoTokenizer` (offline) and generated text; "
                  "`apply_chat_template` was checked token for token against the training encoding.", ""]
    lines += [
        "## 使用 / Usage", "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        f'tokenizer = AutoTokenizer.from_pretrained("{name}")',
        f'model = AutoModelForCausalLM.from_pretrained("{name}", dtype="auto", device_map="auto")',
        'messages = [{"role": "user", "content": "黄芪有什么功效？"}]',
        "inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True, "
        'return_tensors="pt").to(model.device)',
        "output = model.generate(**inputs, max_new_tokens=256)  # stops on generation_config's eos_token_id",
        'print(tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True))',
        "```", "",
        f"vLLM: `vllm serve {name}` (OpenAI-compatible API; the chat template and stop tokens come from this folder).", "",
        "## 预期用途 / Intended use", "",
        "- 中西医结合医学教学、科研与临床辅助（如病历整理、文献与知识问答），输出须经执业医师审核。",
        "- Education, research and clinician-facing assistance in integrated Chinese-Western medicine, with every "
        "output reviewed by a licensed clinician.",
        "- 不用于 / Not for: 直接面向患者的诊断、处方或分诊；急症处置；无人审核的自动化决策。 Direct-to-patient "
        "diagnosis, prescribing or triage, emergencies, or unreviewed automated decisions.", "",
        "## 局限 / Limitations", "",
        "- 模型可能产生看似合理但错误的内容（幻觉），知识截止于训练数据。 The model can state wrong things fluently and "
        "knows only its training data.",
        "- 中药剂量、十八反/十九畏、妊娠禁忌及中西药相互作用须人工核对。 Herb doses, classical contraindications "
        "(十八反/十九畏), pregnancy cautions and herb-drug interactions must be checked by a person.", "",
        "## 免责声明 / Medical disclaimer", "", DISCLAIMER_ZH, "", DISCLAIMER_EN, "",
    ]
    return "\n".join(lines)
