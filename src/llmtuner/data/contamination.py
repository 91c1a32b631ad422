"""`llmtuner check-data`: duplicates in a training set, and evaluation items it already contains.

A model scored on questions it was trained on scores well for the wrong reason, and online medical QA data is
full of reposted answers. This check reads the training and evaluation data the way `train` and `eval` do
(dataset_info.json names or file paths, the same loader and format converters), then reports:

* exact duplicates within the training set (identical after light normalisation: NFKC full/half width, case,
  whitespace) and near duplicates (Jaccard of 4-gram sets >= `near_duplicate_threshold`; ``data.duplicates``);
* for every evaluation question and reference answer, the one training document holding the largest share of
  its character 4-grams (containment, exact, from an inverted index; ``data.ngrams`` explains the choice), and
  flags it when the share reaches `threshold`.

Boilerplate is left out of the share: 4-grams in over 1% of the training documents or of the evaluation texts.
On the shared medical data, stock sentences of online doctors ("根据你的叙述", "建议...饮食清淡") and prompt
templates ("请根据以下患者的病情描述...") gave clean answers shares of 0.3-0.57; the share over every 4-gram (the
plain definition) is reported beside it. Texts shorter than `min_chars` are not judged, and a flagged text must
share at least a `min_chars`-long passage's worth of 4-grams, so a 16-character question is not flagged for one
common 7-character phrase.
Samples are named by dataset, index and id, never by their text, unless `show_text` asks for excerpts.
"""

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..extras.errors import DataError
from ..extras.files import write_json
from ..extras.logging import get_logger
from ..hparams import DataArguments
from ..hparams.check_data_args import CheckDataArguments
from .align import FORMATS, check_columns
from .duplicates import exact_duplicates, near_duplicates
from .loader import load_raw
from .ngrams import NGRAM, GramIndex, gram_keys, normalise, original_span
from .registry import DatasetAttr, get_dataset_attrs

logger = get_logger(__name__)

TRAIN_FORMATS = ("alpaca", "sharegpt")
EVAL_FORMATS = ("alpaca", "sharegpt", "mcq")
EXCERPT_CHARS = 120
MAX_ROWS = 50  # flagged rows printed; the JSON report has them all


@dataclass(frozen=True)
class SampleRef:
    """A sample by position and id (its `id` column, else `<dataset>-<index>`, as `llmtuner eval` names it)."""

    dataset: str
    index: int
    id: str

    def to_json(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "index": self.index, "id": self.id}


@dataclass
class EvalText:
    ref: SampleRef
    field: str  # question, answer, or text (a sample without a reference answer)
    text: str


def _rows(names: list[str], dataset_dir: str, formats: tuple[str, ...]) -> Any:
    """(attr, index, row) of every sample of the named datasets, read by the training loader."""
    data_args = DataArguments(dataset_dir=dataset_dir)
    for attr in get_dataset_attrs(names, dataset_dir, formats=formats):
        dataset = load_raw(attr, data_args)
        if attr.formatting == "mcq":
            column = attr.columns.get("question", "question")
            if column not in dataset.column_names:
                raise DataError(f"Dataset {attr.name!r} ({attr.path}) has no question column {column!r}; its columns are "
                                f"{sorted(dataset.column_names)}. Map it in dataset_info.json: \"columns\": {{\"question\": ...}}.")
        else:
            check_columns(attr, dataset.column_names, attr.path)
        for index, row in enumerate(dataset):
            yield attr, index, row


def _ref(attr: DatasetAttr, index: int, row: dict[str, Any]) -> SampleRef:
    return SampleRef(attr.name, index, str(row.get("id") or f"{attr.name}-{index}"))


def read_training(names: list[str], dataset_dir: str) -> tuple[list[SampleRef], list[str]]:
    """Every training sample as one document: its turns' contents joined by line breaks (system prompts left out:
    they repeat across samples and are not what a model memorises from the data)."""
    refs, texts = [], []
    for attr, index, row in _rows(names, dataset_dir, TRAIN_FORMATS):
        messages, _ = FORMATS[attr.formatting](row, attr, index)
        refs.append(_ref(attr, index, row))
        texts.append("\n".join(message["content"] for message in messages if message["content"]))
    return refs, texts


def _eval_fields(attr: DatasetAttr, index: int, row: dict[str, Any]) -> list[tuple[str, str]]:
    if attr.formatting == "mcq":
        fields = [("question", row.get(attr.columns.get("question", "question"))), ("answer", row.get("explanation"))]
    else:
        messages, _ = FORMATS[attr.formatting](row, attr, index)
        if len(messages) >= 2 and messages[-1]["role"] == "assistant" and messages[-1]["content"].strip():
            fields = [("question", messages[-2]["content"]), ("answer", messages[-1]["content"])]
        else:
            fields = [("text", "\n".join(message["content"] for message in messages))]
    return [(name, value) for name, value in fields if isinstance(value, str) and value.strip()]


def read_evaluation(names: list[str], dataset_dir: str) -> tuple[list[EvalText], int]:
    """(question / answer texts of every evaluation sample, number of samples)."""
    texts, samples = [], 0
    for attr, index, row in _rows(names, dataset_dir, EVAL_FORMATS):
        samples += 1
        ref = _ref(attr, index, row)
        texts += [EvalText(ref, name, value) for name, value in _eval_fields(attr, index, row)]
    return texts, samples


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1] + "…"


def eval_boilerplate(keyed: list[np.ndarray], common_gram_share: float) -> np.ndarray:
    """Sorted 4-gram keys found in more than ``common_gram_share`` of the evaluation texts (and in at least 10):
    a prompt template every item repeats, which a training set of the same origin repeats too."""
    if common_gram_share >= 1 or not keyed:
        return np.zeros(0, dtype=np.uint64)
    keys, counts = np.unique(np.concatenate(keyed), return_counts=True)
    return keys[counts > max(int(common_gram_share * len(keyed)), 10)]


def check_contamination(index: GramIndex, refs: list[SampleRef], texts: list[str], items: list[EvalText],
                        args: CheckDataArguments) -> tuple[list[dict[str, Any]], int]:
    """(one entry per evaluation text long enough to judge, closest training document first; number too short)."""
    limit = index.common_limit(args.common_gram_share)
    normals = [normalise(item.text) for item in items]
    keyed = [(item, gram_keys(normal)) for item, normal in zip(items, normals) if len(normal) >= args.min_chars]
    boilerplate = eval_boilerplate([keys for _, keys in keyed], args.common_gram_share)
    entries, too_short = [], len(items) - len(keyed)
    min_shared = args.min_chars - NGRAM + 1  # a min_chars-long passage's worth of 4-grams
    for item, keys in keyed:
        match = index.best_match(keys, limit, args.threshold, boilerplate)
        flagged = match.doc >= 0 and match.share >= args.threshold and match.shared >= min_shared
        entry: dict[str, Any] = {"eval": item.ref.to_json(), "field": item.field, "flagged": flagged,
                                 "share": round(match.share, 4), "grams": match.grams, "common_grams": match.common}
        if match.doc >= 0:
            shared_all = np.intersect1d(keys, index.document_keys(match.doc), assume_unique=True).size
            entry.update(share_all_grams=round(shared_all / len(keys), 4), train=refs[match.doc].to_json(),
                         train_documents_over_threshold=match.docs_over)
        if flagged:
            span = original_span(texts[match.doc], match.keys)
            entry["train_span"] = list(span) if span else None
            if args.show_text:
                entry["eval_text"] = _excerpt(item.text)
                entry["train_text"] = _excerpt(texts[match.doc][span[0] : span[1]] if span else texts[match.doc])
        entries.append(entry)
    entries.sort(key=lambda entry: -entry["share"])  # stable: equal shares keep the evaluation order
    return entries, too_short


def run_check_data(args: CheckDataArguments) -> dict[str, Any]:
    """Read, index, compare; the report as a JSON-ready dict (also written to `args.output` when set)."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    refs, texts = read_training(args.dataset or [], args.dataset_dir)
    items, samples = read_evaluation(args.eval_dataset, args.dataset_dir) if args.eval_dataset else ([], 0)
    timings["read_s"] = time.perf_counter() - start
    if not texts:
        raise DataError(f"dataset {','.join(args.dataset or [])} has no samples; nothing to check.")

    start = time.perf_counter()
    normalised = [normalise(text) for text in texts]
    index = GramIndex(normalised)
    timings["index_s"] = time.perf_counter() - start
    logger.info("Indexed %d training documents (%d distinct %d-grams) in %.1f s.", len(texts), len(index.vocab),
                NGRAM, timings["index_s"])

    start = time.perf_counter()
    exact = exact_duplicates(normalised)
    copies = {doc for group in exact for doc in group[1:]}
    long_enough = [doc for doc, text in enumerate(normalised) if len(text) >= args.min_chars and doc not in copies]
    near = near_duplicates(index, long_enough, args.near_duplicate_threshold)
    timings["duplicates_s"] = time.perf_counter() - start

    start = time.perf_counter()
    entries, too_short = check_contamination(index, refs, texts, items, args)
    timings["contamination_s"] = time.perf_counter() - start
    flagged = [entry for entry in entries if entry["flagged"]]
    report = {
        "settings": {"ngram": NGRAM, "threshold": args.threshold, "near_duplicate_threshold": args.near_duplicate_threshold,
                     "min_chars": args.min_chars, "common_gram_share": args.common_gram_share,
                     "common_gram_documents": index.common_limit(args.common_gram_share)},
        "training": {"datasets": list(args.dataset or []), "documents": len(texts),
                     "empty_documents": sum(1 for text in normalised if not text)},
        "evaluation": {"datasets": list(args.eval_dataset or []), "samples": samples, "texts": len(items),
                       "texts_too_short": too_short},
        "summary": {"exact_duplicate_groups": len(exact), "exact_duplicate_copies": len(copies),
                    "near_duplicate_groups": len(near), "near_duplicate_documents": sum(len(g.members) for g in near),
                    "flagged_texts": len(flagged),
                    "flagged_samples": len({(e["eval"]["dataset"], e["eval"]["index"]) for e in flagged})},
        "exact_duplicates": [[refs[doc].to_json() for doc in group] for group in exact],
        "near_duplicates": [{"samples": [refs[doc].to_json() for doc in group.members],
                             "links": [{"sample": refs[a].to_json(), "like": refs[b].to_json(), "jaccard": round(j, 4)}
                                       for a, b, j in group.links]} for group in near],
        "contamination": entries,
        "timings": {name: round(value, 3) for name, value in timings.items()},
    }
    if args.output:
        write_json(args.output, report)
    return report


def _name(ref: dict[str, Any]) -> str:
    default = f"{ref['dataset']}-{ref['index']}"
    return default if ref["id"] == default else f"{default} (id {ref['id']})"


def format_summary(report: dict[str, Any], output: str | None = None) -> str:
    """The stdout table: counts, the largest duplicate groups, then every flagged text (ids, shares, spans)."""
    summary, training, evaluation, settings = report["summary"], report["training"], report["evaluation"], report["settings"]
    lines = [f"training: {training['documents']:,} documents ({', '.join(training['datasets'])})"]
    lines.append(f"exact duplicates: {summary['exact_duplicate_groups']:,} groups, {summary['exact_duplicate_copies']:,} "
                 "extra copies")
    for group in sorted(report["exact_duplicates"], key=len, reverse=True)[:5]:
        lines.append(f"  {len(group)}x  {', '.join(_name(ref) for ref in group[:4])}{' ...' if len(group) > 4 else ''}")
    lines.append(f"near duplicates (4-gram Jaccard >= {settings['near_duplicate_threshold']}): "
                 f"{summary['near_duplicate_groups']:,} groups, {summary['near_duplicate_documents']:,} documents")
    for group in sorted(report["near_duplicates"], key=lambda g: len(g["samples"]), reverse=True)[:5]:
        lowest = min(link["jaccard"] for link in group["links"])
        lines.append(f"  {len(group['samples'])} docs, Jaccard >= {lowest:.2f}: "
                     f"{', '.join(_name(ref) for ref in group['samples'][:4])}{' ...' if len(group['samples']) > 4 else ''}")
    if evaluation["datasets"]:
        lines.append(f"evaluation: {evaluation['samples']:,} samples, {evaluation['texts']:,} questions/answers "
                     f"({evaluation['texts_too_short']:,} shorter than {settings['min_chars']} characters not checked)")
        lines.append(f"contamination (share of a text's 4-grams in one training document >= {settings['threshold']}): "
                     f"{summary['flagged_texts']:,} texts of {summary['flagged_samples']:,} samples flagged")
        flagged = [entry for entry in report["contamination"] if entry["flagged"]]
        if flagged:
            lines.append(f"  {'share':>5} {'all':>5}  {'field':8} {'evaluation sample':32} {'closest training sample':36} "
                         f"{'span':>13} {'docs':>5}")
        for entry in flagged[:MAX_ROWS]:
            span = entry.get("train_span")
            where = f"[{span[0]}:{span[1]}]" if span else "-"
            lines.append(f"  {entry['share']:5.2f} {entry['share_all_grams']:5.2f}  {entry['field']:8} "
                         f"{_name(entry['eval']):32} {_name(entry['train']):36} {where:>13} "
                         f"{entry['train_documents_over_threshold']:5d}")
            if "eval_text" in entry:
                lines += [f"      eval:  {entry['eval_text']}", f"      train: {entry['train_text']}"]
        if len(flagged) > MAX_ROWS:
            lines.append(f"  ... {len(flagged) - MAX_ROWS:,} more in the JSON report (--output)")
        if flagged:
            lines.append("  share: of the text's informative 4-grams; all: of every 4-gram; span: characters of the "
                         "training document; docs: training documents over the threshold")
    if output:
        lines.append(f"report: {output}")
    return "\n".join(lines)


def check_data(args: CheckDataArguments) -> tuple[str, int]:
    """(the summary to print, the exit status: 1 when `fail_on_contamination` and a text is flagged)."""
    report = run_check_data(args)
    status = 1 if args.fail_on_contamination and report["summary"]["flagged_texts"] else 0
    return format_summary(report, args.output), status
