"""Logging setup: one format for the whole package, rank-aware under distributed launchers."""

import logging
import os
import sys

_FORMAT = "[%(asctime)s %(levelname)s %(name)s] %(message)s"


def get_logger(name: str) -> logging.Logger:
    """Logger under the ``llmtuner`` hierarchy, configured once with a stderr handler."""
    root = logging.getLogger("llmtuner")
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT, datefmt="%H:%M:%S"))
        root.addHandler(handler)
        # Non-zero ranks only warn: eight GPUs printing the same INFO line helps nobody.
        rank = int(os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0")) or 0)
        root.setLevel(logging.INFO if rank == 0 else logging.WARNING)
        root.propagate = False
    return logging.getLogger(name if name.startswith("llmtuner") else f"llmtuner.{name}")
