"""Deterministic generator for the project's own small sample datasets (see build.py)."""
