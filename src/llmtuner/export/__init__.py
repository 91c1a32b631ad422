"""Export: merge LoRA adapters into the base and publish a verified, deployable release (see workflow.py)."""

from .workflow import run_export

__all__ = ["run_export"]
