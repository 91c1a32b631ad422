"""Alembic migrations of the console's database (run by db.upgrade_to_head when the console starts)."""
