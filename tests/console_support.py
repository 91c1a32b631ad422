"""What the console's tests share: databases (SQLite, and PostgreSQL when LLMTUNER_TEST_DATABASE_URL is set; under
CI=true it must be), a console on a temporary data folder with three users, sign-in, waiting for a job's state."""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import skip_or_fail

PG_ENV = "LLMTUNER_TEST_DATABASE_URL"
PASSWORDS = {"admin": "admin-passphrase-1", "engineer": "engineer-passphrase-2", "viewer": "viewer-passphrase-3"}
DATABASES = ["sqlite", "postgresql"]


@contextmanager
def database_url(kind: str, folder: Path) -> Iterator[str]:
    """A database of its own for one test: a SQLite file, or a fresh schema on the PostgreSQL server."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'console.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        skip_or_fail(f"{PG_ENV} is not set (bash scripts/ci_services.sh starts a PostgreSQL server and prints its URL)")
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def add_users(db: Any) -> None:
    from llmtuner.console.models import User
    from llmtuner.console.security import hash_password

    with db.session() as session:
        for role, password in PASSWORDS.items():
            session.add(User(username=role, role=role, password_hash=hash_password(password)))
        session.commit()


@dataclass
class Console:
    client: Any
    app: Any
    settings: Any
    tokens: dict[str, str]

    @property
    def state(self) -> Any:
        return self.app.state.console

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def get(self, path: str, role: str = "admin", **kwargs: Any) -> Any:
        return self.client.get(path, headers=self.headers(role), **kwargs)

    def post(self, path: str, role: str = "admin", **kwargs: Any) -> Any:
        return self.client.post(path, headers=self.headers(role), **kwargs)

    def delete(self, path: str, role: str = "admin", **kwargs: Any) -> Any:
        return self.client.delete(path, headers=self.headers(role), **kwargs)

    def wait_for(self, job_id: int, statuses: tuple[str, ...], timeout: float = 180.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(f"/api/jobs/{job_id}").json()
            if job["status"] in statuses:
                return job
            if time.monotonic() > deadline:
                log = Path(job["job_dir"]) / "job.log"
                raise AssertionError(f"job {job_id} is {job['status']}, not {statuses}, after {timeout} s; log tail:\n"
                                     f"{log.read_text()[-3000:] if log.is_file() else '(none)'}")
            time.sleep(0.2)


def settings_for(folder: Path, url: str, **overrides: Any) -> Any:
    from llmtuner.console.settings import ConsoleSettings

    values: dict[str, Any] = dict(data_dir=folder / "console", database_url=url, gpu_ids=(), cpu_slots=1,
                                  poll_interval_s=0.2, stop_grace_s=10.0, upload_limit_mb=1)
    values.update(overrides)
    return ConsoleSettings(**values)


def login(client: Any, role: str) -> str:
    response = client.post("/api/auth/login", json={"username": role, "password": PASSWORDS[role]})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@contextmanager
def running_console(settings: Any, users: bool = True, executor: Any = None) -> Iterator[Console]:
    from fastapi.testclient import TestClient

    from llmtuner.console.app import create_app

    app = create_app(settings, executor)
    if users:
        from sqlalchemy import select

        from llmtuner.console.models import User

        with app.state.console.db.session() as session:
            have = session.scalar(select(User.id).limit(1)) is not None
        if not have:
            add_users(app.state.console.db)
    with TestClient(app) as client:
        tokens = {role: login(client, role) for role in PASSWORDS} if users else {}
        client.cookies.clear()  # the tests sign in by bearer token unless they say otherwise
        yield Console(client, app, settings, tokens)


SFT_ROWS = [{"instruction": f"问题{i}：头痛、失眠应如何调理？", "input": "", "output": "规律作息，清淡饮食，必要时就医。" * 2}
            for i in range(16)]


def alpaca_bytes(rows: list[dict[str, Any]] | None = None) -> bytes:
    return json.dumps(rows or SFT_ROWS, ensure_ascii=False).encode("utf-8")


def sft_config(dataset: str, **overrides: Any) -> dict[str, Any]:
    config = {"model_name_or_path": "embedded", "stage": "sft", "finetuning_type": "lora", "template": "shuzhiqihuang",
              "dataset": dataset, "cutoff_len": 128, "max_steps": 4, "logging_steps": 1, "save_steps": 2,
              "per_device_train_batch_size": 4, "report_to": "none", "plot_loss": False, "gradient_checkpointing": False,
              "dataloader_num_workers": 0}
    config.update(overrides)
    return config


def upload(console: Console, name: str, content: bytes, filename: str, role: str = "engineer") -> Any:
    return console.post("/api/datasets", role, files={"file": (filename, content)}, data={"name": name})


def group_gone(pgid: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        with contextlib.suppress(ChildProcessError):  # our own child (the test process started it): reap the zombie
            os.waitpid(pgid, os.WNOHANG)
        time.sleep(0.1)
    return False


def pytest_database_params() -> Any:
    return pytest.mark.parametrize("db_kind", DATABASES)
