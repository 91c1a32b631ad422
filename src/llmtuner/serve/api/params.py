"""A validated chat request turned into what the engine takes: the model (base or adapter), the prompt ids
rendered by our template, and one SamplingOptions per choice.

Decoding follows the server's GeneratingArguments for every parameter the request leaves out (greedy by
default), so an answer is the one `llmtuner eval` generated for the same prompt. `temperature` decides
between greedy (0) and sampling (> 0); without it the server's do_sample decides.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...hparams import ServeConfig
from ..prompts import InvalidRequest, render_prompt, split_messages
from ..requests import SamplingOptions
from ..safety import safety_question
from .errors import ApiError
from .schemas import ChatCompletionRequest

# OpenAI parameters the engine cannot honour -> whether a value is what the engine does anyway
NEUTRAL: dict[str, Callable[[Any], bool]] = {
    "presence_penalty": lambda value: value == 0,
    "frequency_penalty": lambda value: value == 0,
    "logit_bias": lambda value: not value,
    "response_format": lambda value: value.get("type") == "text",
    "tools": lambda value: not value,
    "functions": lambda value: not value,
    "tool_choice": lambda value: value == "none",
    "function_call": lambda value: value == "none",
    "modalities": lambda value: value == ["text"],
    "audio": lambda value: False,
    "prediction": lambda value: False,
    "reasoning_effort": lambda value: False,
    "verbosity": lambda value: False,
    "web_search_options": lambda value: False,
}
WHY_NOT = {"presence_penalty": "use repetition_penalty", "frequency_penalty": "use repetition_penalty",
           "response_format": "only {'type': 'text'} is served", "tools": "this model is not served with tool calling",
           "functions": "this model is not served with tool calling", "tool_choice": "only 'none' is served",
           "function_call": "only 'none' is served", "modalities": "only ['text'] is served"}
TEMPLATE_KWARGS = ("enable_thinking",)


@dataclass
class PreparedChat:
    model: str
    adapter: str | None
    prompt_ids: list[int]
    options: list[SamplingOptions]
    """One per choice (n)."""
    question: str
    """Every user turn: what the safety check reads as the question."""


def resolve_model(requested: str | None, served: list[str]) -> tuple[str, str | None]:
    """(the served name, the adapter to use or None for the base); 404 for an unknown name."""
    name = requested or served[0]
    if name == served[0]:
        return name, None
    if name in served[1:]:
        return name, name
    raise ApiError(404, f"The model {name[:100]!r} does not exist; served: {', '.join(served)} (GET /v1/models).",
                   param="model", code="model_not_found")


def check_unsupported(body: ChatCompletionRequest) -> None:
    for name, neutral in NEUTRAL.items():
        value = getattr(body, name)
        if value is not None and not neutral(value):
            why = WHY_NOT.get(name, "the engine does not support it")
            raise ApiError(400, f"{name} is not supported by this server ({why}).", param=name, code="unsupported_parameter")
    if body.top_logprobs is not None and not body.logprobs:
        raise ApiError(400, "top_logprobs needs logprobs: true.", param="top_logprobs")
    if body.stream_options is not None and not body.stream:
        raise ApiError(400, "stream_options is only allowed with stream: true.", param="stream_options")


def enable_thinking(body: ChatCompletionRequest, default: bool) -> bool:
    kwargs = body.chat_template_kwargs or {}
    for key, value in kwargs.items():
        if key not in TEMPLATE_KWARGS:
            raise ApiError(400, f"chat_template_kwargs.{key[:80]} is not supported; supported: {', '.join(TEMPLATE_KWARGS)}.",
                           param=f"chat_template_kwargs.{key[:80]}", code="unsupported_parameter")
        if not isinstance(value, bool):
            raise ApiError(400, "chat_template_kwargs.enable_thinking must be true or false.",
                           param="chat_template_kwargs.enable_thinking")
    return kwargs.get("enable_thinking", default)


def sampling_options(body: ChatCompletionRequest, config: ServeConfig) -> list[SamplingOptions]:
    stop = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ())
    overrides: dict[str, Any] = {
        "max_new_tokens": body.max_completion_tokens or body.max_tokens, "temperature": body.temperature,
        "top_p": body.top_p, "top_k": 0 if body.top_k == -1 else body.top_k, "repetition_penalty": body.repetition_penalty,
        "stop": stop, "logprobs": (body.top_logprobs or 0) if body.logprobs else None,
    }
    if body.temperature is not None:
        overrides["do_sample"] = body.temperature > 0
    # n choices: the seed of choice i is seed + i, so that they differ and each is reproducible
    return [SamplingOptions.from_arguments(config.generating, **overrides,
                                           seed=None if body.seed is None else body.seed + index)
            for index in range(body.n)]


def prepare_chat(body: ChatCompletionRequest, config: ServeConfig, engine: Any) -> PreparedChat:
    """Everything checked before anything is submitted; ApiError (400/404) names the parameter."""
    model, adapter = resolve_model(body.model, list(engine.model_names))
    check_unsupported(body)
    thinking = enable_thinking(body, config.data.enable_thinking)
    try:
        system, turns = split_messages(body.messages)
    except InvalidRequest as error:
        raise ApiError(400, str(error), param=error.param) from None
    prompt_ids = render_prompt(engine.template, engine.tokenizer, system, turns, config.data.default_system, thinking)
    return PreparedChat(model, adapter, list(prompt_ids), sampling_options(body, config), safety_question(turns))
