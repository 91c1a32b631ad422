"""Alembic environment: runs on the connection db.upgrade_to_head hands over (online mode only).

`alembic revision --autogenerate` from the command line needs a connection too; make one with
`python -m llmtuner.console.migrations.revise "message"` (see that module), which compares with models.py.
"""

from alembic import context

from llmtuner.console import models  # noqa: F401 - fills Base.metadata
from llmtuner.console.db import Base

target_metadata = Base.metadata


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("the console's migrations run on a connection: use llmtuner.console.db.upgrade_to_head(engine)")
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
