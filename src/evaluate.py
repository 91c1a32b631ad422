"""`python src/evaluate.py --model_name_or_path M --template T --eval_dataset D --task qa|mcq|ppl --output_dir O`.

Same as `llmtuner eval`; see `python src/evaluate.py --help` for every argument.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run from a checkout without `pip install -e .`

from llmtuner.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["eval", *sys.argv[1:]]))
