"""The app factory: one FastAPI app around one engine, with everything it needs on `app.state.api`.

`create_app(config, engine)` does not start or stop the engine (the caller owns it), so tests and the
benchmark can serve an engine in-process and several apps never share state (each has its own metrics).
"""

import time
from typing import Any

from fastapi import FastAPI

from ... import __version__
from ...hparams import ServeConfig
from ...hparams.serve_args import ApiArguments
from ...hparams.validate_serve import collect_api_keys
from . import routes_chat, routes_models, routes_ops
from .audit import AuditLog
from .auth import KeyCheck
from .errors import install_error_handlers
from .limits import BodyLimit
from .metrics import ApiMetrics
from .observe import Observer
from .state import ApiState


def create_app(config: ServeConfig, engine: Any) -> FastAPI:
    """The API for `engine` (a ServingEngine: submit, model_names, tokenizer, template, queue_depth)."""
    api = config.api or ApiArguments()
    metrics = ApiMetrics(engine.queue_depth)
    audit = AuditLog(api.audit_log) if api.audit_log else None
    state = ApiState(config=config, engine=engine, metrics=metrics, key_check=KeyCheck(collect_api_keys(api.api_key, api.api_key_file)),
                     audit=audit, created=int(time.time()))
    # No /docs, /redoc or /openapi.json: they would be served without a key, and a clinic's server should
    # show the outside nothing but /health.
    app = FastAPI(title="llmtuner OpenAI-compatible API", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.api = state
    install_error_handlers(app, lambda request: state.key_check(request))
    for module in (routes_models, routes_chat, routes_ops):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, max_bytes=api.max_body_bytes)
    app.add_middleware(Observer, metrics=metrics, audit=audit)  # added last = outermost: it sees every answer, 413s too
    return app
