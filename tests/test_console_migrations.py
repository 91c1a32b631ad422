"""The console's schema comes only from its Alembic migrations: on SQLite and PostgreSQL they build exactly the ORM's
metadata (alembic's compare_metadata finds nothing), run again as a no-op, and go down and up again."""

from __future__ import annotations

import pytest
from console_support import DATABASES, database_url
from sqlalchemy import inspect


@pytest.mark.parametrize("kind", DATABASES)
def test_migrations_build_exactly_the_models(tmp_path, kind):
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from llmtuner.console import models  # noqa: F401 - fills the metadata
    from llmtuner.console.db import Base, Database, alembic_config

    with database_url(kind, tmp_path) as url:
        db = Database(url)
        try:
            db.migrate()
            db.migrate()  # up to date: nothing to do
            with db.engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
                assert compare_metadata(context, Base.metadata) == []
                assert context.get_current_revision() is not None
            tables = set(inspect(db.engine).get_table_names())
            assert set(Base.metadata.tables) <= tables
            with db.engine.begin() as connection:
                command.downgrade(alembic_config(connection), "base")
            assert set(inspect(db.engine).get_table_names()) & set(Base.metadata.tables) == set()
            db.migrate()
            assert set(Base.metadata.tables) <= set(inspect(db.engine).get_table_names())
        finally:
            db.dispose()


def test_one_line_of_migrations():
    from alembic.script import ScriptDirectory

    from llmtuner.console.db import alembic_config

    script = ScriptDirectory.from_config(alembic_config(None))
    assert len(script.get_heads()) == 1  # two heads would be two histories of one database
