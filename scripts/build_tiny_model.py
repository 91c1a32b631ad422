"""Build the embedded tiny model (Qwen2 + ChatML tokenizer) from data/: `python scripts/build_tiny_model.py`.

A thin CLI over `llmtuner.model.tiny.build_tiny_model`; the folder it writes is what
`model_name_or_path: embedded` and the test suite load.
"""

import argparse
import json
import sys
from pathlib import Path

try:
    import llmtuner  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from llmtuner.extras.constants import DEFAULT_TINY_MODEL_DIR, PROJECT_ROOT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output_dir", default=str(PROJECT_ROOT / DEFAULT_TINY_MODEL_DIR))
    parser.add_argument("--data_dir", default=str(PROJECT_ROOT / "data"))
    parser.add_argument("--vocab_size", type=int, default=8000, help="including the 3 ChatML special tokens")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    args = parser.parse_args(argv)

    from llmtuner.extras.errors import UserError
    from llmtuner.model.tiny import BUILD_INFO_NAME, build_tiny_model  # heavy imports happen in here

    try:
        folder = build_tiny_model(args.output_dir, args.data_dir, args.vocab_size, args.seed, args.overwrite)
    except UserError as error:  # user mistakes: a short message, no traceback
        print(f"error: {error}", file=sys.stderr)
        return 2
    info = json.loads((folder / BUILD_INFO_NAME).read_text(encoding="utf-8"))
    print(f"wrote           {folder}")
    print(f"parameters      {info['num_parameters']:,}")
    print(f"vocab size      {info['vocab_size']} (model embedding rows: {info['model_vocab_size']})")
    print(f"chars per token {info['chars_per_token']} (on the training text)")
    print(f"data files      {len(info['data_files'])} ({info['corpus_chars']:,} chars)")
    print(f"seconds         {info['seconds']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
