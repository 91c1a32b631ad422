"""Decoding arguments for prediction and evaluation."""

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class GeneratingArguments:
    do_sample: bool = field(default=False, metadata={"help": "Sample instead of greedy decoding."})
    temperature: float = field(default=0.7, metadata={"help": "Sampling temperature (with do_sample)."})
    top_p: float = field(default=0.8, metadata={"help": "Nucleus sampling: smallest token set with this mass."})
    top_k: int = field(default=50, metadata={"help": "Sample among the k most likely tokens."})
    num_beams: int = field(default=1, metadata={"help": "Beam search width; 1 = no beam search."})
    max_new_tokens: int = field(default=512, metadata={"help": "Maximum tokens to generate per answer."})
    repetition_penalty: float = field(default=1.0, metadata={"help": "Penalty > 1 discourages repeated tokens."})

    def to_generate_kwargs(self) -> dict[str, Any]:
        kwargs = asdict(self)
        if not self.do_sample:  # sampling knobs would only trigger warnings under greedy decoding
            for key in ("temperature", "top_p", "top_k"):
                kwargs.pop(key)
        return kwargs
