"""Arguments of `llmtuner check-data`: which training and evaluation data to compare, and when to flag."""

from dataclasses import dataclass, field


@dataclass
class CheckDataArguments:
    dataset: list[str] | None = field(
        default=None,
        metadata={"help": "Training dataset names from dataset_info.json, or file paths (alpaca, sharegpt or "
                          "pre-training text), comma-separated: checked for duplicates, and indexed."},
    )
    eval_dataset: list[str] | None = field(
        default=None,
        metadata={"help": "Evaluation dataset names or paths (alpaca/sharegpt with reference answers, or exam "
                          "questions), comma-separated: each question and reference answer is looked up in the "
                          "training documents. Leave it out to check the training data for duplicates only."},
    )
    dataset_dir: str = field(default="data", metadata={"help": "Folder holding dataset_info.json and the dataset files."})
    threshold: float = field(
        default=0.3,
        metadata={"help": "Flag an evaluation question or answer when at least this share of its character "
                          "4-grams lies in one training document."},
    )
    near_duplicate_threshold: float = field(
        default=0.8,
        metadata={"help": "Two training documents are near duplicates when the Jaccard similarity of their "
                          "4-gram sets is at least this."},
    )
    min_chars: int = field(
        default=16,
        metadata={"help": "Texts shorter than this (after normalisation) are only checked for exact duplicates, "
                          "and a flagged text shares at least this long a passage's worth of 4-grams: a drug name "
                          "or a stock phrase is found in many documents by chance."},
    )
    common_gram_share: float = field(
        default=0.01,
        metadata={"help": "Boilerplate 4-grams, found in more than this share of the training documents (and in at "
                          "least 100) or of the evaluation texts (and in at least 10), e.g. a prompt template or a "
                          "stock closing sentence, are left out of the share unless they are most of the text; "
                          "1 counts every 4-gram."},
    )
    output: str | None = field(
        default=None,
        metadata={"help": "Write the full report here as JSON (sample ids, shares and positions; text only "
                          "with show_text)."},
    )
    show_text: bool = field(
        default=False,
        metadata={"help": "Print and write excerpts of the matched texts. Off by default: the data may be "
                          "patients' records, and the report names samples by id only."},
    )
    fail_on_contamination: bool = field(
        default=False,
        metadata={"help": "Exit with status 1 when an evaluation text is flagged (for CI)."},
    )
