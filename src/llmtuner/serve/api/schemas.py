"""The API's request and response bodies as Pydantic models: OpenAI's chat completion shapes, plus
`x_safety` (the TCM safety check of each answer) and vLLM's `chat_template_kwargs`.

Unknown request fields are refused (400 naming them) rather than ignored: a clinician's tool that sets a
parameter this server silently dropped would believe in an answer it did not ask for. OpenAI parameters that
change nothing here (user, metadata, ...) are accepted; those the engine cannot honour are accepted only at
their neutral value (`params.NEUTRAL`).
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_STOP = 4
MAX_TOP_LOGPROBS = 20
MAX_N = 8


def _is_none(value: Any) -> bool:
    return value is None


Omitted = Field(default=None, exclude_if=_is_none)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: list[Any] = Field(min_length=1, description="system?, then user/assistant turns ending with user.")
    model: str | None = Field(default=None, description="A name from /v1/models; default the base model.")
    stop: str | list[str] | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = Field(default=None, description="0 = greedy.")
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=MAX_N)
    logprobs: bool = False
    top_logprobs: Annotated[int, Field(ge=0, le=MAX_TOP_LOGPROBS)] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    chat_template_kwargs: dict[str, Any] | None = Field(default=None, description="vLLM's: {'enable_thinking': bool}.")
    # vLLM's sampling extensions that the engine honours
    top_k: Annotated[int, Field(ge=-1)] | None = Field(default=None, description="-1 or 0 = off.")
    repetition_penalty: Annotated[float, Field(gt=0)] | None = None
    # accepted, with no effect on the answer
    user: str | None = None
    metadata: dict[str, Any] | None = None
    store: bool | None = None
    service_tier: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    parallel_tool_calls: bool | None = None
    # OpenAI parameters the engine cannot honour: only their neutral values pass (params.NEUTRAL)
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    tools: list[Any] | None = None
    tool_choice: Any = None
    functions: list[Any] | None = None
    function_call: Any = None
    modalities: list[str] | None = None
    audio: Any = None
    prediction: Any = None
    reasoning_effort: Any = None
    verbosity: Any = None
    web_search_options: Any = None

    @field_validator("stop")
    @classmethod
    def check_stop(cls, value: str | list[str] | None) -> str | list[str] | None:
        stops = [value] if isinstance(value, str) else value or []
        if len(stops) > MAX_STOP:
            raise ValueError(f"at most {MAX_STOP} stop sequences")
        if any(not stop for stop in stops):
            raise ValueError("a stop sequence must not be empty")
        return value


class TopLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None = None


class TokenLogprob(TopLogprob):
    top_logprobs: list[TopLogprob] = []


class ChoiceLogprobs(BaseModel):
    content: list[TokenLogprob] | None = None
    refusal: list[TokenLogprob] | None = None


class SafetyInfo(BaseModel):
    """The evaluator's safety check of this answer: flags (十八反, 十九畏, 妊娠禁忌) and whether it was replaced."""

    flags: list[dict[str, Any]]
    refused: bool = False


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: str | None = None


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    logprobs: ChoiceLogprobs | None = None
    finish_reason: str
    x_safety: SafetyInfo | None = Omitted


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    system_fingerprint: str | None = None


class Delta(BaseModel):
    role: Literal["assistant"] | None = Omitted
    content: str | None = Omitted


class ChunkChoice(BaseModel):
    index: int
    delta: Delta
    logprobs: ChoiceLogprobs | None = None
    finish_reason: str | None = None
    x_safety: SafetyInfo | None = Omitted


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = Omitted
    system_fingerprint: str | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "llmtuner"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    models: list[str]
