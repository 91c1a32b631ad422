"""From an engine Completion to what a choice shows: the safety-reviewed text, finish_reason, x_safety and
OpenAI's logprobs shape. Shared by the JSON and the streaming responses, so both say the same."""

from dataclasses import dataclass

from ..requests import Completion
from ..requests import TokenLogprob as EngineLogprob
from ..safety import review_answer
from .errors import ApiError, server_error
from .schemas import ChoiceLogprobs, SafetyInfo, TokenLogprob, TopLogprob


@dataclass(frozen=True)
class ReviewedAnswer:
    text: str
    finish_reason: str
    safety: SafetyInfo | None
    logprobs: ChoiceLogprobs | None


def token_logprob(item: EngineLogprob) -> TokenLogprob:
    return TokenLogprob(token=item.token, logprob=item.logprob, bytes=list(item.token_bytes),
                        top_logprobs=[TopLogprob(token=token, logprob=value, bytes=list(raw))
                                      for _, token, value, raw in item.top])


def choice_logprobs(items: tuple[EngineLogprob, ...] | list[EngineLogprob] | None) -> ChoiceLogprobs | None:
    return None if items is None else ChoiceLogprobs(content=[token_logprob(item) for item in items])


def check_finished(completion: Completion) -> None:
    """An engine error is a 500 with a generic message (the engine logged what happened)."""
    if completion.finish_reason == "error":
        raise server_error()
    if completion.finish_reason == "cancelled":  # not the client's doing (it is still here): the engine is closing
        raise ApiError(503, "The server is shutting down; retry on another server.", type="server_error",
                       code="server_shutting_down")


def review(completion: Completion, mode: str, question: str) -> ReviewedAnswer:
    """The answer as the client gets it. A refused answer becomes the warning with finish_reason
    `content_filter`, and loses its logprobs (their tokens would spell out the answer)."""
    result = review_answer(mode, completion.text, question)
    safety = None if mode == "off" else SafetyInfo(flags=result.flags, refused=result.refused)
    if result.refused:
        return ReviewedAnswer(result.text, "content_filter", safety, None)
    return ReviewedAnswer(result.text, completion.finish_reason, safety, choice_logprobs(completion.logprobs))
