"""The transformers serving engine: the evaluator's model loading, named LoRA adapters, a batching scheduler.

The base is loaded as `llmtuner eval` loads it (adapter_name_or_path merged in), so the base's answers are the
evaluated ones. Adapters named in `adapters` are loaded beside it with peft and chosen per row of a batch
(`adapter_names`): several adapters and the base share one generate() without merging or reloading.
"""

import asyncio
from typing import Any

from ..eval.engine import load_for_eval
from ..extras.errors import ConfigError
from ..extras.logging import get_logger
from ..hparams import ServeConfig
from ..hparams.validate_serve import parse_adapters
from .handle import RequestHandle
from .hf_batch import BASE_ADAPTER, generate_batch
from .requests import GenerationRequest, fit_to_context, served_base_name
from .scheduler import BatchScheduler, Job

logger = get_logger(__name__)


def model_context_length(model: Any) -> int:
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    return int(getattr(config, "max_position_embeddings", None) or getattr(config, "seq_length", None) or 2048)


def load_named_adapters(model: Any, adapters: list[tuple[str, str]]) -> Any:
    """The base wrapped by peft with every named adapter loaded, none merged; the base stays reachable."""
    from peft import PeftModel

    for index, (name, path) in enumerate(adapters):
        if index == 0:
            model = PeftModel.from_pretrained(model, path, adapter_name=name, is_trainable=False)
        else:
            model.load_adapter(path, adapter_name=name, is_trainable=False)
        logger.info("Serving adapter %s from %s.", name, path)
    return model.eval()


class HfServingEngine:
    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.model, self.tokenizer, self.template = load_for_eval(config)
        adapters = parse_adapters(config.serving.adapters, [])
        if adapters:
            self.model = load_named_adapters(self.model, adapters)
        self.adapters = [name for name, _ in adapters]
        self.model_names = [served_base_name(config), *self.adapters]
        self.context_length = model_context_length(self.model)
        self.stop_ids = self.template.stop_token_ids(self.tokenizer) if self.template else [self.tokenizer.eos_token_id]
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        self.pad_id = pad if pad is not None else 0
        serving = config.serving
        self.scheduler = BatchScheduler(self._run_batch, serving.max_concurrency, serving.max_queue,
                                        serving.batch_wait_ms / 1000)

    def _run_batch(self, jobs: list[Job]) -> None:
        names = None
        if self.adapters:
            names = [job.request.adapter or BASE_ADAPTER for job in jobs]
        generate_batch(self.model, self.tokenizer, jobs, self.stop_ids, self.pad_id, names)

    def submit(self, request: GenerationRequest) -> RequestHandle:
        if request.adapter is not None and request.adapter not in self.adapters:
            raise ConfigError(f"no adapter named {request.adapter!r} is served; served: {', '.join(self.model_names)}.")
        handle = RequestHandle(fit_to_context(request, self.context_length), asyncio.get_running_loop())
        self.scheduler.submit(handle.request, handle.sink)
        return handle

    def queue_depth(self) -> int:
        return self.scheduler.queue_depth

    def close(self) -> None:
        self.scheduler.close()
