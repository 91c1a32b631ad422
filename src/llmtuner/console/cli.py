"""`llmtuner console [--host 127.0.0.1] [--port 8080] [--data_dir DIR] [--database_url URL] ...` starts the console;
`llmtuner console create-user --username NAME --role admin|engineer|viewer --password-stdin` adds a user (there is
no default account and no default password); `llmtuner console openapi` prints the REST API's schema.

Entry point: main(argv) -> exit status (llmtuner.cli dispatches `console` here; also `python -m llmtuner.console.cli`).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import sys
from pathlib import Path

from .settings import DATA_DIR_ENV, DATABASE_URL_ENV, ConsoleSettings, default_data_dir


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data_dir", type=Path, default=None,
                        help=f"the console's folder: SQLite database, datasets, jobs (default: ${DATA_DIR_ENV}, else {default_data_dir()})")
    parser.add_argument("--database_url", default=None,
                        help=f"SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db (default: ${DATABASE_URL_ENV}, else "
                             "SQLite in data_dir). Prefer the variable: a flag shows in the process list")


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmtuner console", description=__doc__.split("\n\n")[0],
                                     epilog="Subcommands: create-user (add a user), openapi (print the API schema).")
    _common(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s, this machine only)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--upload_limit_mb", type=int, default=2048, help="largest dataset upload in MiB (default: %(default)s)")
    parser.add_argument("--cpu_slots", type=int, default=1, help="jobs without GPUs that may run at once (default: %(default)s)")
    parser.add_argument("--gpu_ids", default=None, help="GPU ids to hand out, comma-separated (default: those NVML finds); "
                                                        "'' for none")
    parser.add_argument("--executor", choices=("local", "slurm"), default="local",
                        help="where jobs run: child processes of the console (local), or submitted to Slurm with "
                             "sbatch (slurm: the console's data_dir and Python must be on a file system the nodes share)")
    parser.add_argument("--slurm_partition", default=None, help="Slurm partition for jobs (default: the cluster's)")
    parser.add_argument("--slurm_sbatch_args", default="",
                        help='extra sbatch options for every job, given with "=" (the value starts with --), e.g. '
                             '--slurm_sbatch_args="--time=24:00:00 --account=ai"')
    parser.add_argument("--stop_grace_s", type=float, default=30.0, help="seconds between SIGTERM and SIGKILL on stop")
    parser.add_argument("--session_hours", type=float, default=12.0, help="how long a sign-in lasts (default: %(default)s)")
    return parser


def _settings(options: argparse.Namespace, **extra: object) -> ConsoleSettings:
    base = {"data_dir": options.data_dir or default_data_dir(), "database_url": options.database_url}
    return ConsoleSettings(**base, **extra)  # type: ignore[arg-type]


def serve(argv: list[str]) -> int:
    options = _serve_parser().parse_args(argv)
    gpu_ids = None if options.gpu_ids is None else tuple(int(part) for part in options.gpu_ids.split(",") if part.strip())
    settings = _settings(options, host=options.host, port=options.port, upload_limit_mb=options.upload_limit_mb,
                         cpu_slots=options.cpu_slots, gpu_ids=gpu_ids, stop_grace_s=options.stop_grace_s,
                         session_hours=options.session_hours, executor=options.executor,
                         slurm_partition=options.slurm_partition, slurm_sbatch_args=options.slurm_sbatch_args)
    import logging

    import uvicorn

    from .app import create_app

    logging.basicConfig(level=logging.INFO, format="[%(asctime)s %(levelname)s %(name)s] %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if not _is_loopback(settings.host):
        logging.getLogger("llmtuner.console").warning(
            "Listening on %s: other machines can reach the console, over plain HTTP. Put it behind a TLS proxy "
            "(sign-in cookies are then marked Secure), or bind 127.0.0.1.", settings.host)
    from .jobs.scheduler import ExecutorMismatch
    from .jobs.slurm import SlurmError

    try:
        app = create_app(settings)
    except (ExecutorMismatch, SlurmError) as error:
        print(f"llmtuner console: {error}", file=sys.stderr)
        return 2
    # keep-alive longer than clients keep idle connections (httpx: 5 s), so no request meets a connection being closed
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", access_log=False, server_header=False,
                timeout_keep_alive=65)
    return 0


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def create_user(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="llmtuner console create-user",
                                     description="Add a console user; the password is read from standard input.")
    _common(parser)
    parser.add_argument("--username", required=True)
    parser.add_argument("--role", required=True, choices=("admin", "engineer", "viewer"))
    parser.add_argument("--password-stdin", dest="password_stdin", action="store_true", required=True,
                        help="read the password from standard input (one line): it never appears in the process list "
                             "or the shell history")
    options = parser.parse_args(argv)
    from sqlalchemy import select

    from . import audit
    from .db import Database
    from .models import User
    from .schemas.common import NAME_PATTERN
    from .security import hash_password, password_problem

    if not re.match(NAME_PATTERN, options.username):
        print("llmtuner console create-user: error: --username: letters, digits, _ . - only (at most 64).", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\r\n")
    if problem := password_problem(password, options.username):
        print(f"llmtuner console create-user: error: the password {problem}.", file=sys.stderr)
        return 2
    settings = _settings(options)
    settings.prepare_folders()
    db = Database(settings.resolved_database_url)
    try:
        db.migrate()
        with db.session() as session:
            if session.scalar(select(User).where(User.username == options.username)) is not None:
                print(f"llmtuner console create-user: error: user {options.username!r} exists already.", file=sys.stderr)
                return 2
            session.add(User(username=options.username, role=options.role, password_hash=hash_password(password)))
            audit.record(session, None, None, "user.create", "user", None, {"username": options.username, "role": options.role,
                                                                            "via": "command line"}, username="(command line)")
            session.commit()
    finally:
        db.dispose()
    print(f"created user {options.username!r} ({options.role})")
    return 0


def openapi(argv: list[str]) -> int:
    """The schema as the server serves it (built on a scratch data folder; nothing is started)."""
    import tempfile

    from .app import create_app

    with tempfile.TemporaryDirectory() as folder:
        app = create_app(ConsoleSettings(data_dir=Path(folder), database_url=f"sqlite:///{folder}/console.db",
                                         start_scheduler=False, gpu_ids=()))
        print(json.dumps(app.openapi(), indent=2, ensure_ascii=False, sort_keys=True))
        app.state.console.db.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    """`llmtuner console ...` without the word `console`; returns the exit status (argparse's errors: 2)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = {"create-user": create_user, "openapi": openapi}.get(argv[0] if argv else "")
    try:
        return command(argv[1:]) if command else serve(argv)
    except SystemExit as done:  # argparse's --help (0) and usage errors (2)
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 2)


if __name__ == "__main__":
    sys.exit(main())
