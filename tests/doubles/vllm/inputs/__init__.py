"""vllm.inputs.TokensPrompt: in vLLM a TypedDict, so a plain dict with `prompt_token_ids`."""

from typing import TypedDict


class TokensPrompt(TypedDict):
    prompt_token_ids: list[int]
