"""create_app(settings): the console's FastAPI application.

At creation the database is migrated (`alembic upgrade head`), the embedded model registered and the jobs
reconciled with the processes that still run (scheduler.reconcile); the scheduler thread runs for the lifespan of
the app. The REST API is under /api (schema: /openapi.json; no /docs page, whose script would come from a CDN);
the built web interface (frontend/dist) is served at /, else a one-line page says how to build it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.routing import APIRoute
from sqlalchemy import select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from .db import Database, safe_url
from .errors import install_error_handlers
from .jobs.executor import Executor, LocalExecutor
from .jobs.scheduler import Scheduler
from .model_info import EMBEDDED, embedded_path, inspect_model
from .models import Model, User
from .ratelimit import LoginLimiter
from .routers import audit, auth, dashboard, datasets, health, job_logs, jobs, models, playground, users
from .schemas.common import BODY_ERRORS
from .settings import ConsoleSettings
from .state import ConsoleState, StatusCache
from .system import SystemMonitor, detected_gpu_ids

logger = logging.getLogger("llmtuner.console")
FRONTEND_DIST = Path(__file__).resolve().parent / "frontend" / "dist"
NOT_BUILT = ("<!doctype html><title>llmtuner console</title><p>The web interface is not built: run <code>npm ci &amp;&amp; "
             "npm run build</code> in src/llmtuner/console/frontend, then reload. The REST API is at /api "
             "(schema: /openapi.json).</p>")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
}
"""Every answer: the interface loads nothing from elsewhere, and no other site may frame it."""


class SecurityHeaders:
    """Pure ASGI (no BaseHTTPMiddleware: it would buffer nothing, but costs every request, streams included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in self.headers if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)


def _register_embedded(db: Database) -> None:
    folder = embedded_path()
    with db.session() as session:
        model = session.scalar(select(Model).where(Model.kind == EMBEDDED))
        if model is None:
            model = Model(name=EMBEDDED, kind=EMBEDDED, path=str(folder))
            session.add(model)
        if folder.is_dir():
            facts = inspect_model(folder, EMBEDDED)
            model.architecture, model.num_parameters, model.size_bytes = facts.architecture, facts.num_parameters, facts.size_bytes
        model.template = "shuzhiqihuang"  # the tiny model's tokenizer is trained for this template (model.tiny)
        session.commit()


def make_executor(settings: ConsoleSettings) -> Executor:
    if settings.executor == "slurm":
        from .jobs.slurm import SlurmExecutor

        return SlurmExecutor(settings.slurm_partition, settings.slurm_sbatch_args)
    if settings.executor != "local":
        raise ValueError(f"executor {settings.executor!r} is not one of local, slurm.")
    return LocalExecutor()


def build_state(settings: ConsoleSettings, executor: Executor | None = None) -> ConsoleState:
    settings.prepare_folders()
    db = Database(settings.resolved_database_url)
    db.migrate()
    _register_embedded(db)
    executor = executor or make_executor(settings)
    gpu_ids = settings.gpu_ids if settings.gpu_ids is not None else detected_gpu_ids()
    scheduler = Scheduler(settings, db, executor, tuple(gpu_ids))
    scheduler.reconcile()
    with db.session() as session:
        if session.scalar(select(User.id).limit(1)) is None:
            logger.warning("The console has no users yet: create one with `llmtuner console create-user --data_dir %s "
                           "--username NAME --role admin --password-stdin`.", settings.data_dir)
    logger.info("console database: %s", safe_url(db.url))
    limiter = LoginLimiter(settings.login_failures_per_user, settings.login_attempts_per_address, settings.login_window_s)
    return ConsoleState(settings=settings, db=db, executor=executor, scheduler=scheduler, limiter=limiter,
                        monitor=SystemMonitor(settings.data_dir), statuses=StatusCache(db))


def _operation_id(route: APIRoute) -> str:
    return route.name  # the handler's name (upload_dataset): what a generated client calls


def create_app(settings: ConsoleSettings, executor: Executor | None = None) -> FastAPI:
    state = build_state(settings, executor)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.start_scheduler:
            state.scheduler.start()
        try:
            yield
        finally:
            state.scheduler.close()
            state.db.dispose()

    app = FastAPI(title="llmtuner console", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  generate_unique_id_function=_operation_id, responses=BODY_ERRORS,
                  telemetry={"tracing": False, "metrics": False, "logs": False, "auto_configure": False},
                  description="REST API of the 数智岐黄 fine-tuning console: datasets, models, jobs. Sign in with POST "
                              "/api/auth/login; send the access_token as `Authorization: Bearer`, or (browsers) the "
                              "session cookie plus the X-CSRF-Token header on writes.")
    app.state.console = state
    install_error_handlers(app)
    for module in (health, auth, users, audit, datasets, models, jobs, job_logs, dashboard, playground):
        app.include_router(module.router, max_body_size=settings.json_limit_bytes)
    app.include_router(datasets.upload_router, max_body_size=settings.upload_limit_bytes + 2**20)  # + multipart framing

    app.add_middleware(SecurityHeaders)

    @app.get("/{path:path}", include_in_schema=False)
    def frontend(path: str):  # noqa: ANN202 - a file or the page
        if path == "api" or path.startswith("api/"):
            raise HTTPException(404, f"No API route /{path}: the routes are listed in /openapi.json.")
        if not (FRONTEND_DIST / "index.html").is_file():
            if path:
                raise HTTPException(404, "Not found.")
            return HTMLResponse(NOT_BUILT)
        target = (FRONTEND_DIST / path).resolve()
        if path and target.is_file() and target.is_relative_to(FRONTEND_DIST):
            return FileResponse(target)
        return FileResponse(FRONTEND_DIST / "index.html")  # the interface's own routes

    return app
