"""POST /v1/chat/completions: OpenAI's chat completions, JSON or streamed (streaming.py), on the base model
or a served adapter, with the TCM safety check of every answer (annotate, refuse or off)."""

import time
import uuid

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from .answers import check_finished, review
from .audit import prompt_digest
from .generation import submit_choices
from .params import prepare_chat
from .schemas import AssistantMessage, ChatCompletion, ChatCompletionRequest, Choice, ErrorResponse, Usage
from .state import api_state, request_record, require_key
from .streaming import SSEResponse, chat_stream

CLIENT_CLOSED = 499  # nginx's status for a client that left before the answer: shows in metrics and the audit log

router = APIRouter(dependencies=[Depends(require_key)])
ERRORS = {status: {"model": ErrorResponse} for status in (400, 401, 404, 413, 429, 500)}


@router.post("/v1/chat/completions", response_model=ChatCompletion, responses=ERRORS)
async def create_chat_completion(body: ChatCompletionRequest, request: Request) -> Response:
    state, record = api_state(request), request_record(request)
    prepared = prepare_chat(body, state.config, state.engine)
    record.update(model=prepared.model, prompt_tokens=len(prepared.prompt_ids), prompt_sha256=prompt_digest(prepared.prompt_ids))
    group = submit_choices(state.engine, prepared, state.metrics, record)
    response_id, created, safety = f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), state.config.serving.safety
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return SSEResponse(chat_stream(group, prepared, safety, include_usage, response_id, created, record), group.abandon)
    try:
        completions = await group.completions(request.is_disconnected)
    except BaseException:  # cancelled by a server shutdown: the engine must not go on for nobody
        group.abandon()
        raise
    if completions is None:
        record["status"] = CLIENT_CLOSED
        return Response(status_code=CLIENT_CLOSED)
    for completion in completions:
        check_finished(completion)
    choices = []
    for index, completion in enumerate(completions):
        answer = review(completion, safety, prepared.question)
        choices.append(Choice(index=index, message=AssistantMessage(content=answer.text), logprobs=answer.logprobs,
                              finish_reason=answer.finish_reason, x_safety=answer.safety))
    generated = sum(completion.completion_tokens for completion in completions)
    usage = Usage(prompt_tokens=len(prepared.prompt_ids), completion_tokens=generated,
                  total_tokens=len(prepared.prompt_ids) + generated)
    result = ChatCompletion(id=response_id, created=created, model=prepared.model, choices=choices, usage=usage)
    return JSONResponse(result.model_dump(mode="json"))
