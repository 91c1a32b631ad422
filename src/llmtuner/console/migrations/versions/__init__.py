"""One file per schema change, oldest first (each names its down_revision)."""
