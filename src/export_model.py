"""`python src/export_model.py --model_name_or_path BASE --adapter_name_or_path A[,B] --template T --export_dir OUT`.

Same as `llmtuner export`; see `python src/export_model.py --help` for every argument.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run from a checkout without `pip install -e .`

from llmtuner.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["export", *sys.argv[1:]]))
