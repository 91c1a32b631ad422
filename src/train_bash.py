"""Entry point kept for LLaMA-Factory habits: `python src/train_bash.py CONFIG.yaml [--key value ...]`.

Same as `llmtuner train`; also what the DeepSpeed/torchrun launchers start (they add --local_rank).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run from a checkout without `pip install -e .`

from llmtuner.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
