"""`llmtuner api`: an OpenAI-compatible HTTP API over a serving engine (FastAPI + uvicorn).

  server.py         run_api (the command) and BackgroundServer (in-process, for tests and the benchmark)
  app.py            create_app(config, engine): routers, middleware, error handlers, app.state.api
  routes_models.py  GET /v1/models                 routes_ops.py  GET /health, GET /metrics
  routes_chat.py    POST /v1/chat/completions      streaming.py   its server-sent events
  params.py         a request -> model, prompt ids, SamplingOptions   schemas.py  the bodies (Pydantic)
  generation.py     the n generations of a request: submit, read, cancel, count
  answers.py        completion -> choice (safety review, logprobs)
  auth.py  keys    errors.py  OpenAI's error shape    limits.py  body size    observe.py  per-request records
  metrics.py  Prometheus (own registry)    audit.py  the audit log
"""

from .app import create_app
from .server import BackgroundServer, run_api

__all__ = ["BackgroundServer", "create_app", "run_api"]
