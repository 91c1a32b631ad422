"""vllm.engine.arg_utils.AsyncEngineArgs (test double): a record of the EngineArgs fields our serving engine sets.

Unknown names raise TypeError, as a dataclass constructor does, so a misspelt field fails here as in vLLM.
"""

from typing import Any

from .. import _LLM_ARGS

_ENGINE_ARGS = (_LLM_ARGS - {"runner", "convert"}) | {"model", "max_num_seqs"}


class AsyncEngineArgs:
    def __init__(self, **kwargs: Any) -> None:
        unknown = set(kwargs) - _ENGINE_ARGS
        if unknown:
            raise TypeError(f"AsyncEngineArgs got unexpected arguments {sorted(unknown)}")
        if "model" not in kwargs:
            raise TypeError("AsyncEngineArgs needs model")
        self.settings = dict(kwargs)
