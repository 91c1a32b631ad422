"""Write a new migration for a change of models.py: `python -m llmtuner.console.migrations.revise "what changed"`.

Compares models.py with a scratch SQLite database built by the existing migrations (so no server is needed),
and writes versions/NNNN_<slug>.py. Read it before committing: autogenerate misses some changes (renames).
"""

import re
import sys
import tempfile
from pathlib import Path

from alembic import command

from llmtuner.console.db import MIGRATIONS, alembic_config, make_engine


def main(message: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'scratch.db'}")
        with engine.begin() as connection:
            config = alembic_config(connection)
            command.upgrade(config, "head")
            number = len(list((MIGRATIONS / "versions").glob("[0-9]*.py"))) + 1
            slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:40]
            command.revision(config, message=message, autogenerate=True, rev_id=f"{number:04d}")
            print(f"written: versions/{number:04d}_{slug}.py (rename it if alembic chose another name)")
        engine.dispose()


if __name__ == "__main__":
    main(" ".join(sys.argv[1:]) or "schema change")
