"""Expand a tokenizer's vocabulary with medical-domain tokens: `python scripts/expand_vocab.py --help`.

Trains a sentencepiece BPE model on the corpus, keeps the pieces that the base tokenizer splits and that
measurably shorten the corpus encoding, adds every --terms entry the base tokenizer splits, and saves the
expanded tokenizer (normal, non-special added tokens) to --output_dir with expand_vocab_report.json.
Training then resizes the model's embeddings to the new tokenizer and trains them (see model/embeddings.py).

Example (the embedded tiny model, then a LoRA run on it):
  python scripts/expand_vocab.py --base_tokenizer embedded \\
      --corpus data/medical_pt_sample.jsonl,data/medical_sft_sample.json --terms data/medical_terms.txt \\
      --copy_model --output_dir models/tiny-shuzhiqihuang-expanded
  llmtuner train configs/tiny_sft_expanded_vocab.yaml
"""

import argparse
import sys
from pathlib import Path

try:
    import llmtuner  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def _split(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--base_tokenizer", required=True,
                        help="folder of the tokenizer to expand (usually the base model's folder); `embedded` = "
                             "the project's tiny model")
    parser.add_argument("--corpus", required=True,
                        help="comma-separated .txt (one document per line) or .json/.jsonl files "
                             "(`text` field, or alpaca instruction/input/output)")
    parser.add_argument("--terms", help="`term<TAB>type` file (# comments); terms the tokenizer splits are added")
    parser.add_argument("--term_types", help="only terms of these types, comma-separated, e.g. herb,formula")
    parser.add_argument("--output_dir", required=True, help="where the expanded tokenizer is written")
    parser.add_argument("--vocab_size", type=int, default=8000,
                        help="size of the sentencepiece model that proposes candidate pieces")
    parser.add_argument("--min_frequency", type=int, default=5,
                        help="a corpus piece must be used at least this often in the corpus")
    parser.add_argument("--max_new_tokens", type=int, default=5000,
                        help="cap on added tokens (terms first); each adds embedding rows to train")
    parser.add_argument("--copy_model", action="store_true",
                        help="also copy the model's config and weights from --base_tokenizer, so --output_dir can be "
                             "used as model_name_or_path (embeddings are resized when it loads)")
    parser.add_argument("--trust_remote_code", action="store_true", help="run tokenizer code shipped with the base")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output_dir")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.vocab_size < 300 or args.max_new_tokens < 1 or args.min_frequency < 1:
        print("error: need --vocab_size >= 300 (256 byte pieces come first), --max_new_tokens >= 1 and "
              "--min_frequency >= 1.", file=sys.stderr)
        return 2

    import json

    # heavy imports (transformers, sentencepiece) happen inside these functions
    from llmtuner.extras.errors import UserError
    from llmtuner.model.corpus import read_corpus, read_terms
    from llmtuner.model.loader import resolve_model_path
    from llmtuner.model.vocab_expansion import expand_tokenizer, load_base_tokenizer, model_embedding_rows, save_expanded

    try:
        # cheap input checks first, so a typo fails before the tokenizer loads
        lines = read_corpus(_split(args.corpus))
        terms = read_terms(args.terms, _split(args.term_types)) if args.terms else []
        args.base_tokenizer = resolve_model_path(args.base_tokenizer)  # `embedded`: built from data/ if missing
        tokenizer = load_base_tokenizer(args.base_tokenizer, args.trust_remote_code)
        report = expand_tokenizer(tokenizer, lines, terms, vocab_size=args.vocab_size,
                                  min_frequency=args.min_frequency, max_new_tokens=args.max_new_tokens)
        report = {"base_tokenizer": str(Path(args.base_tokenizer).absolute()),
                  "corpus_files": [str(Path(p).absolute()) for p in _split(args.corpus)],
                  "terms_file": str(Path(args.terms).absolute()) if args.terms else None,
                  "term_types": _split(args.term_types) or None, **report}
        rows = model_embedding_rows(args.base_tokenizer)
        report["model_embedding_rows"] = rows
        folder = save_expanded(tokenizer, args.base_tokenizer, args.output_dir, report,
                               copy_model=args.copy_model, overwrite=args.overwrite)
    except UserError as error:  # user mistakes: a short message, no traceback
        print(f"error: {error}", file=sys.stderr)
        return 2

    r = report
    print(f"wrote            {folder}")
    print(f"vocab size       {r['base_vocab_size']} -> {r['new_vocab_size']} (+{r['new_tokens_added']}: "
          f"{r['added_from_terms']} terms, {r['added_from_corpus_pieces']} corpus pieces)")
    print(f"chars per token  {r['chars_per_token_before']:.3f} -> {r['chars_per_token_after']:.3f} "
          f"({r['measured_chars']:,} chars, {r['tokens_before']:,} -> {r['tokens_after']:,} tokens)")
    print(f"exact round trip {r['round_trip_exact_lines_after']}/{r['measured_lines']} lines "
          f"(base: {r['round_trip_exact_lines_before']})")
    sample = r["sample_added_tokens"][:20]
    print("sample tokens    " + " ".join(json.dumps(t["token"], ensure_ascii=False) for t in sample))
    if r["terms_left_out_by_max_new_tokens"]:
        print(f"note: {r['terms_left_out_by_max_new_tokens']} terms were left out by --max_new_tokens "
              f"{args.max_new_tokens} (the least used in the corpus).")
    if rows is not None and rows >= r["new_vocab_size"]:
        print(f"note: the model already has {rows} embedding rows, enough for {r['new_vocab_size']} tokens, so "
              "loading will not resize it; set `resize_vocab: true` so the embeddings train.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
