"""The chat playground: ask the models of a running serve job (`llmtuner api`, base and adapters) the same question
side by side.

The console calls the job's server on 127.0.0.1 with the job's own key (read from its 0600 file, never sent to the
browser), so the browser needs no key and the server stays unreachable from elsewhere. Reading the servers is for
every role; chatting is a write (engineer or admin): it uses a model server, and it is audited. The audit row
holds the model, counts, the status and the SHA-256 of the conversation, never its text (it may be a patient's).

Errors: the job not running is a 409 naming it; its server still loading (no answer from /health yet) a 503 with
Retry-After; the server's own refusals (400, 404 unknown model, 429 busy, ...) keep their status and message; a
server that does not answer in time a 504, one that broke the connection a 502.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import httpx
from fastapi import APIRouter, HTTPException, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..deps import DB, Reader, Writer
from ..errors import conflict
from ..jobs import states
from ..jobs.configs import SERVE, SERVE_HOST, read_api_key
from ..models import Job
from ..schemas.common import CONFLICT, NOT_FOUND, WRITE_ERRORS, ErrorOut, Id
from ..schemas.playground import PlaygroundAnswer, PlaygroundChat, ServerList, ServerOut

router = APIRouter(prefix="/api/playground", tags=["playground"])

PROBE_TIMEOUT_S = 3.0
"""/health and /v1/models: a loaded server answers at once; one still loading its model does not answer at all."""
CHAT_TIMEOUT_S = 300.0
"""A whole answer (non-streaming) on a CPU may take minutes; beyond this the playground gives up."""
RETRY_AFTER_S = "5"
UNAVAILABLE = {502: {"model": ErrorOut, "description": "The job's server broke the connection or refused the console"},
               503: {"model": ErrorOut, "description": "The job's server is still loading its model"},
               504: {"model": ErrorOut, "description": "The job's server did not answer in time"}}


class ServerUnavailable(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _serve_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None or job.kind != SERVE:
        what = f"is a {job.kind} job" if job is not None else "does not exist"
        raise HTTPException(404, f"Job {job_id} {what}: the playground talks to serve jobs. List the running ones with "
                                 "GET /api/playground/servers, or create one (kind serve) with POST /api/jobs.")
    return job


def _url(job: Job) -> str:
    return f"http://{SERVE_HOST}:{int(job.config['port'])}"


def _client(job: Job, timeout: float) -> httpx.Client:
    try:
        key = read_api_key(job.config)
    except (OSError, KeyError):
        raise ServerUnavailable(502, f"The API key file of job {job.id} is gone or unreadable, so the console cannot "
                                     "call its server. Stop the job and create a new serve job.") from None
    # trust_env=False: a proxy from the environment must not carry the key or the conversation off this machine
    return httpx.Client(base_url=_url(job), headers={"Authorization": f"Bearer {key}"}, timeout=timeout,
                        trust_env=False)


def _loading(job: Job) -> ServerUnavailable:
    return ServerUnavailable(503, f"The server of job {job.id} is still loading its model (it does not answer on "
                                  f"{_url(job)} yet): try again in a few seconds. If it stays so, read the job's log.")


def _refusal(job: Job, response: httpx.Response) -> ServerUnavailable | HTTPException:
    """The server's error answer ({"error": {"message"}}: it never quotes the request) as the console's."""
    try:
        message = str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = f"status {response.status_code}"
    if response.status_code == 401:
        return ServerUnavailable(502, f"The server of job {job.id} refused the console's key ({message}): was its key "
                                      "file changed? Stop the job and create a new serve job.")
    headers = {"Retry-After": response.headers["retry-after"]} if "retry-after" in response.headers else None
    return HTTPException(response.status_code, f"The server of job {job.id} answered: {message}", headers=headers)


def _served_models(job: Job) -> list[str]:
    if job.status != states.RUNNING:
        raise ServerUnavailable(409, f"Job {job.id} is {job.status}: its server is not running.")
    with _client(job, PROBE_TIMEOUT_S) as client:
        try:
            response = client.get("/v1/models")
        except (httpx.ConnectError, httpx.TimeoutException):
            raise _loading(job) from None
        except httpx.HTTPError as error:
            raise ServerUnavailable(502, f"The server of job {job.id} broke the connection ({type(error).__name__}): "
                                         "read the job's log.") from None
    if response.status_code != 200:
        refusal = _refusal(job, response)
        raise refusal if isinstance(refusal, ServerUnavailable) else ServerUnavailable(502, str(refusal.detail))
    return [str(card["id"]) for card in response.json().get("data", [])]


def _server(job: Job) -> ServerOut:
    try:
        models, message = _served_models(job), None
    except ServerUnavailable as unavailable:
        models, message = [], unavailable.message
    if job.status in (states.PENDING, states.PREPARING):
        message = f"Job {job.id} is {job.status}: it waits for a free {'GPU' if job.gpus else 'CPU slot'}."
    return ServerOut(job_id=job.id, name=job.name, status=job.status, ready=bool(models), models=models,
                     base=models[0] if models else None, adapters=models[1:], message=message)


@router.get("/servers", response_model=ServerList, responses=WRITE_ERRORS)
def list_servers(session: DB, user: Reader) -> ServerList:
    """The serve jobs waiting or running, newest first, with the models each serves once it is ready."""
    jobs = session.scalars(select(Job).where(Job.kind == SERVE, Job.status.in_(states.ACTIVE)).order_by(Job.id.desc())).all()
    return ServerList(items=[_server(job) for job in jobs])


def _conversation_facts(body: PlaygroundChat) -> dict[str, Any]:
    """What the audit may keep of a conversation: counts and a hash, never the text."""
    canonical = json.dumps([message.model_dump() for message in body.messages], ensure_ascii=False, sort_keys=True)
    return {"model": body.model, "messages": len(body.messages),
            "prompt_chars": sum(len(message.content) for message in body.messages),
            "prompt_sha256": hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
            "max_tokens": body.max_tokens, "temperature": body.temperature}


def _ask(job: Job, body: PlaygroundChat) -> tuple[dict[str, Any], float]:
    if job.status != states.RUNNING:
        raise conflict(f"Job {job.id} is {job.status}: its server is not running. Restart it (POST /api/jobs/{job.id}"
                       "/restart) or choose a running server (GET /api/playground/servers).")
    request = {"model": body.model, "messages": [message.model_dump() for message in body.messages],
               **body.model_dump(include={"max_tokens", "temperature", "top_p", "seed"}, exclude_none=True)}
    with _client(job, CHAT_TIMEOUT_S) as client:
        try:
            client.get("/health", timeout=PROBE_TIMEOUT_S).raise_for_status()
        except httpx.HTTPError:  # refused (not listening yet), no answer (loading), or not healthy
            raise _loading(job) from None
        started = time.monotonic()
        try:
            response = client.post("/v1/chat/completions", json=request)
        except httpx.TimeoutException:
            raise ServerUnavailable(504, f"The server of job {job.id} did not answer within {CHAT_TIMEOUT_S:.0f} s: ask "
                                         "for fewer max_tokens, or read the job's log.") from None
        except httpx.HTTPError as error:
            raise ServerUnavailable(502, f"The server of job {job.id} broke the connection ({type(error).__name__}): it "
                                         "may have been stopped meanwhile; read the job's log.") from None
    if response.status_code != 200:
        raise _refusal(job, response)
    return response.json(), time.monotonic() - started


@router.post("/{job_id}/chat", response_model=PlaygroundAnswer,
             responses={**WRITE_ERRORS, **NOT_FOUND, **CONFLICT, **UNAVAILABLE})
def chat(job_id: Id, body: PlaygroundChat, request: Request, session: DB, user: Writer) -> PlaygroundAnswer:
    """Send the conversation to one model of the job's server and return its answer (temperature 0 or the
    server's default: greedy decoding, as `llmtuner eval` answers)."""
    job = _serve_job(session, job_id)
    facts = _conversation_facts(body)
    try:
        reply, latency = _ask(job, body)
    except (HTTPException, ServerUnavailable) as error:
        status = error.status_code if isinstance(error, HTTPException) else error.status
        audit.record(session, request, user, "playground.chat", "job", job.id, {**facts, "status": status}, outcome="error")
        session.commit()
        if isinstance(error, ServerUnavailable):
            headers = {"Retry-After": RETRY_AFTER_S} if error.status == 503 else None
            raise HTTPException(error.status, error.message, headers=headers) from None
        raise
    choice = (reply.get("choices") or [{}])[0]
    usage = reply.get("usage")
    answer = PlaygroundAnswer(model=str(reply.get("model", body.model)),
                              content=str(choice.get("message", {}).get("content") or ""),
                              finish_reason=choice.get("finish_reason"), usage=usage, safety=choice.get("x_safety"),
                              latency_s=round(latency, 3))
    audit.record(session, request, user, "playground.chat", "job", job.id, {
        **facts, "status": 200, "finish_reason": answer.finish_reason, "latency_ms": round(latency * 1000),
        "prompt_tokens": usage.get("prompt_tokens") if usage else None,
        "completion_tokens": usage.get("completion_tokens") if usage else None})
    session.commit()
    return answer
